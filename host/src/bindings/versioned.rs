//! A provider's or tool's exports, whichever version of the package the
//! plugin was built against: the host calls the newest interface, a 0.2.0
//! plugin is converted to and from it (`v0_2::convert`), and a 0.3.0 to
//! 0.3.3 provider, which has no `next-many`, is pulled a chunk per call.

use super::llm_types::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo, ProviderError,
};
use super::tool_types::{ToolError, ToolSpec};
use super::v0_2::convert;
use super::{provider, tool, v0_2, v0_3};
use wasmtime::Store;
use wasmtime::component::{InstancePre, ResourceAny};

type Called<R> = wasmtime::Result<Result<R, ProviderError>>;

/// A provider component, ready to instantiate.
pub enum ProviderPre<T: 'static> {
    Newest(provider::ProviderPre<T>),
    V0_3(v0_3::provider::ProviderPre<T>),
    V0_2(v0_2::provider::ProviderPre<T>),
}

impl<T: 'static> Clone for ProviderPre<T> {
    fn clone(&self) -> Self {
        match self {
            ProviderPre::Newest(p) => ProviderPre::Newest(p.clone()),
            ProviderPre::V0_3(p) => ProviderPre::V0_3(p.clone()),
            ProviderPre::V0_2(p) => ProviderPre::V0_2(p.clone()),
        }
    }
}

/// A provider instance's exports.
pub enum Provider {
    Newest(provider::Provider),
    V0_3(v0_3::provider::Provider),
    V0_2(v0_2::provider::Provider),
}

impl<T: Send + 'static> ProviderPre<T> {
    /// `Err` (the newest version's) when `pre` exports no version's
    /// `model-provider`.
    pub fn new(pre: InstancePre<T>) -> wasmtime::Result<ProviderPre<T>> {
        let newest = match provider::ProviderPre::new(pre.clone()) {
            Ok(p) => return Ok(ProviderPre::Newest(p)),
            Err(e) => e,
        };
        if let Ok(p) = v0_3::provider::ProviderPre::new(pre.clone()) {
            return Ok(ProviderPre::V0_3(p));
        }
        v0_2::provider::ProviderPre::new(pre)
            .map(ProviderPre::V0_2)
            .map_err(|_| newest)
    }

    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<Provider> {
        Ok(match self {
            ProviderPre::Newest(p) => Provider::Newest(p.instantiate_async(store).await?),
            ProviderPre::V0_3(p) => Provider::V0_3(p.instantiate_async(store).await?),
            ProviderPre::V0_2(p) => Provider::V0_2(p.instantiate_async(store).await?),
        })
    }
}

impl Provider {
    pub async fn models<T: Send>(&self, s: &mut Store<T>) -> Called<Vec<ModelInfo>> {
        match self {
            Provider::Newest(p) => p.hanzo_node_model_provider().call_models(s).await,
            Provider::V0_3(p) => p.hanzo_node_model_provider().call_models(s).await,
            Provider::V0_2(p) => Ok(p
                .hanzo_node_model_provider()
                .call_models(s)
                .await?
                .map(|m| m.into_iter().map(convert::up_model_info).collect())
                .map_err(convert::up_provider_error)),
        }
    }

    pub async fn chat<T: Send>(&self, s: &mut Store<T>, r: &ChatRequest) -> Called<ChatResponse> {
        match self {
            Provider::Newest(p) => p.hanzo_node_model_provider().call_chat(s, r).await,
            Provider::V0_3(p) => p.hanzo_node_model_provider().call_chat(s, r).await,
            Provider::V0_2(p) => {
                let r = match convert::down_request(r) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(ProviderError::Unsupported(e))),
                };
                Ok(p.hanzo_node_model_provider()
                    .call_chat(s, &r)
                    .await?
                    .map(convert::up_response)
                    .map_err(convert::up_provider_error))
            }
        }
    }

    /// Starts a stream; its chunks come from [`Provider::next`].
    pub async fn stream_chat<T: Send>(
        &self,
        s: &mut Store<T>,
        r: &ChatRequest,
    ) -> Called<ResourceAny> {
        match self {
            Provider::Newest(p) => p.hanzo_node_model_provider().call_stream_chat(s, r).await,
            Provider::V0_3(p) => p.hanzo_node_model_provider().call_stream_chat(s, r).await,
            Provider::V0_2(p) => {
                let r = match convert::down_request(r) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(ProviderError::Unsupported(e))),
                };
                Ok(p.hanzo_node_model_provider()
                    .call_stream_chat(s, &r)
                    .await?
                    .map_err(convert::up_provider_error))
            }
        }
    }

    /// Up to `max` chunks: the next, then those the provider has ready,
    /// and whether the stream ended with them. A provider built before
    /// 0.3.4 answers one chunk per call.
    pub async fn next_many<T: Send>(
        &self,
        s: &mut Store<T>,
        stream: ResourceAny,
        max: u32,
    ) -> wasmtime::Result<Batch> {
        let one = match self {
            Provider::Newest(p) => {
                let batch = p
                    .hanzo_node_model_provider()
                    .chat_stream()
                    .call_next_many(s, stream, max)
                    .await?;
                return Ok(checked_batch(batch.chunks, batch.ended, max));
            }
            Provider::V0_3(p) => {
                p.hanzo_node_model_provider()
                    .chat_stream()
                    .call_next(s, stream)
                    .await?
            }
            Provider::V0_2(p) => p
                .hanzo_node_model_provider()
                .chat_stream()
                .call_next(s, stream)
                .await?
                .map(|r| r.map(convert::up_chunk).map_err(convert::up_provider_error)),
        };
        let ended = !matches!(one, Some(Ok(_)));
        Ok(Batch {
            chunks: one.into_iter().collect(),
            ended,
        })
    }

    pub async fn embed<T: Send>(
        &self,
        s: &mut Store<T>,
        r: &EmbedRequest,
    ) -> Called<EmbedResponse> {
        match self {
            Provider::Newest(p) => p.hanzo_node_model_provider().call_embed(s, r).await,
            Provider::V0_3(p) => p.hanzo_node_model_provider().call_embed(s, r).await,
            Provider::V0_2(p) => Ok(p
                .hanzo_node_model_provider()
                .call_embed(s, &convert::down_embed_request(r))
                .await?
                .map(convert::up_embed_response)
                .map_err(convert::up_provider_error)),
        }
    }

    pub async fn count_tokens<T: Send>(&self, s: &mut Store<T>, r: &ChatRequest) -> Called<u32> {
        match self {
            Provider::Newest(p) => p.hanzo_node_model_provider().call_count_tokens(s, r).await,
            Provider::V0_3(p) => p.hanzo_node_model_provider().call_count_tokens(s, r).await,
            Provider::V0_2(_) => Ok(Err(ProviderError::Unsupported(
                "a hanzo:node@0.2.0 provider has no count-tokens".into(),
            ))),
        }
    }
}

/// What one pull of a provider's stream took.
#[derive(Debug)]
pub struct Batch {
    /// In order; an error is the last.
    pub chunks: Vec<Result<ChatChunk, ProviderError>>,
    /// Nothing follows: the stream ended, cleanly or with the last error.
    pub ended: bool,
}

/// A provider's batch as the host takes it: nothing after an error (the
/// stream ended there), an empty batch is the end whatever the plugin says
/// (or the host would call it forever), and more than `max` chunks is the
/// plugin's fault, reported as an error after the first `max`, so no chunk
/// is silently lost nor a limit silently ignored.
fn checked_batch(
    mut chunks: Vec<Result<ChatChunk, ProviderError>>,
    ended: bool,
    max: u32,
) -> Batch {
    let mut ended = ended || chunks.is_empty();
    if let Some(end) = chunks.iter().position(|c| c.is_err()) {
        chunks.truncate(end + 1);
        ended = true;
    }
    let max = max as usize;
    if chunks.len() > max {
        let sent = chunks.len();
        chunks.truncate(max);
        chunks.push(Err(ProviderError::Internal(format!(
            "the provider's next-many returned {sent} chunks where at most {max} were asked for"
        ))));
        ended = true;
    }
    Batch { chunks, ended }
}

/// A tool component, ready to instantiate. The toolbox did not change
/// between versions: both return the same types.
pub enum ToolPre<T: 'static> {
    Newest(tool::ToolPre<T>),
    V0_2(v0_2::tool::ToolPre<T>),
}

impl<T: 'static> Clone for ToolPre<T> {
    fn clone(&self) -> Self {
        match self {
            ToolPre::Newest(t) => ToolPre::Newest(t.clone()),
            ToolPre::V0_2(t) => ToolPre::V0_2(t.clone()),
        }
    }
}

pub enum Tool {
    Newest(tool::Tool),
    V0_2(v0_2::tool::Tool),
}

impl<T: Send + 'static> ToolPre<T> {
    /// `Err` (the newest version's) when `pre` exports no version's `toolbox`.
    pub fn new(pre: InstancePre<T>) -> wasmtime::Result<ToolPre<T>> {
        match tool::ToolPre::new(pre.clone()) {
            Ok(t) => Ok(ToolPre::Newest(t)),
            Err(e) => v0_2::tool::ToolPre::new(pre)
                .map(ToolPre::V0_2)
                .map_err(|_| e),
        }
    }

    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<Tool> {
        Ok(match self {
            ToolPre::Newest(t) => Tool::Newest(t.instantiate_async(store).await?),
            ToolPre::V0_2(t) => Tool::V0_2(t.instantiate_async(store).await?),
        })
    }
}

impl Tool {
    pub async fn describe<T: Send>(&self, s: &mut Store<T>) -> wasmtime::Result<Vec<ToolSpec>> {
        match self {
            Tool::Newest(t) => t.hanzo_node_toolbox().call_describe(s).await,
            Tool::V0_2(t) => t.hanzo_node_toolbox().call_describe(s).await,
        }
    }

    pub async fn invoke<T: Send>(
        &self,
        s: &mut Store<T>,
        name: &str,
        arguments: &str,
    ) -> wasmtime::Result<Result<String, ToolError>> {
        match self {
            Tool::Newest(t) => t.hanzo_node_toolbox().call_invoke(s, name, arguments).await,
            Tool::V0_2(t) => t.hanzo_node_toolbox().call_invoke(s, name, arguments).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error() -> ProviderError {
        ProviderError::Timeout("quiet".into())
    }

    #[test]
    fn a_batch_ends_at_its_first_error_and_at_max() {
        let ok = |t: &str| Ok(ChatChunk::text_only(t));
        let batch = checked_batch(vec![ok("a"), Err(error()), ok("after")], false, 64);
        assert_eq!(batch.chunks.len(), 2);
        assert!(batch.chunks[1].is_err());
        assert!(batch.ended, "an error ends the stream");

        let batch = checked_batch(vec![ok("a"), ok("b")], false, 2);
        assert!(batch.chunks.iter().all(Result::is_ok));
        assert!(!batch.ended);
        assert!(checked_batch(vec![ok("a")], true, 2).ended);

        let batch = checked_batch(vec![ok("a"), ok("b"), ok("c")], false, 2);
        assert_eq!(batch.chunks.len(), 3);
        assert!(batch.chunks[..2].iter().all(Result::is_ok));
        assert!(
            matches!(&batch.chunks[2], Err(ProviderError::Internal(m)) if m.contains("3 chunks where at most 2")),
            "{batch:?}"
        );
        assert!(batch.ended);
        // Empty is the end, even when the plugin says it is not.
        assert!(checked_batch(Vec::new(), false, 64).ended);
    }
}
