//! LLM provider plugins (`hanzo:node/provider` world).
//!
//! Implement [`Provider`] on a type and export it with
//! [`export_provider!`](crate::export_provider):
//!
//! ```no_run
//! use hanzo_node_sdk::provider::*;
//!
//! struct Echo;
//!
//! impl Provider for Echo {
//!     fn models() -> Result<Vec<ModelInfo>, ProviderError> {
//!         Ok(vec![ModelInfo {
//!             id: "echo".into(),
//!             capabilities: Capabilities::CHAT | Capabilities::STREAMING,
//!             context_length: 0,
//!             max_output_tokens: None,
//!             input_price_per_mtok: None,
//!             output_price_per_mtok: None,
//!         }])
//!     }
//!     fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
//!         let last = request.messages.last().map(|m| m.text()).unwrap_or_default();
//!         Ok(ChatResponse {
//!             id: "echo-1".into(),
//!             model: request.model,
//!             message: Message::assistant(last),
//!             finish_reason: FinishReason::Stop,
//!             stop_sequence: None,
//!             usage: None,
//!         })
//!     }
//! }
//!
//! hanzo_node_sdk::export_provider!(Echo);
//! ```
//!
//! `stream_chat` defaults to one chunk holding the whole [`Provider::chat`]
//! answer, `embed` to a `bad-request` error and `count_tokens` to
//! `unsupported`, so chat-only providers need not implement them.
//!
//! A message's content is a list of parts (text, images, documents; see
//! [`crate::content`]): map the parts your upstream takes and answer
//! [`ProviderError::Unsupported`] for the rest.

use std::cell::RefCell;
use std::task::Poll;

pub use crate::content::{is_text_only, text_content, text_of};
pub use crate::wit::hanzo::node::llm_types::{
    Blob, Capabilities, ChatChunk, ChatRequest, ChatResponse, ContentPart, Document, EmbedRequest,
    EmbedResponse, FinishReason, Image, MediaSource, Message, ModelInfo, ProviderError, RateLimit,
    Reasoning, ReasoningDelta, Role, ToolCall, ToolCallDelta, ToolChoice, ToolDefinition, Usage,
};

/// A streamed answer, pulled by the host: each pull takes the next chunk
/// and then every chunk that [`try_next`](ChatStream::try_next) has ready,
/// so chunks the upstream sent together cross to the host in one call.
pub trait ChatStream: 'static {
    /// The next chunk; `None` once the stream ended. After an error or the
    /// end the SDK stops calling this and reports the end itself.
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>>;

    /// What [`next`](ChatStream::next) would answer, when it can answer
    /// without waiting on the upstream (from bytes already received);
    /// `Pending` when it would wait. By default always `Pending`: the host
    /// then gets one chunk per pull.
    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        Poll::Pending
    }
}

/// An LLM provider. Every method is a call from the host; plugin instances
/// may be reused or discarded between calls, so keep no state that must
/// survive one.
pub trait Provider {
    /// The models this provider serves, with capabilities and prices.
    fn models() -> Result<Vec<ModelInfo>, ProviderError>;

    /// One complete answer.
    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// A streamed answer. By default a single chunk with the whole
    /// [`chat`](Provider::chat) answer.
    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let response = Self::chat(request)?;
        Ok(Box::new(SingleChunk(Some(ChatChunk::from(response)))))
    }

    /// Embeddings for `request.inputs`, in order. By default unsupported.
    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "model `{}`: this provider does not support embeddings",
            request.model
        )))
    }

    /// The request's input tokens, counted by the upstream's own endpoint.
    /// By default `unsupported`: the caller then estimates.
    fn count_tokens(request: ChatRequest) -> Result<u32, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "model `{}`: this provider cannot count tokens",
            request.model
        )))
    }
}

/// A stream of one chunk (the default [`Provider::stream_chat`]).
struct SingleChunk(Option<ChatChunk>);

impl ChatStream for SingleChunk {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        self.0.take().map(Ok)
    }

    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        Poll::Ready(self.next())
    }
}

impl From<ChatResponse> for ChatChunk {
    /// The whole response as one final chunk (content, complete tool calls,
    /// finish reason and usage).
    fn from(response: ChatResponse) -> Self {
        ChatChunk {
            id: response.id,
            model: response.model,
            content: Some(response.message.text()).filter(|c| !c.is_empty()),
            tool_calls: response
                .message
                .tool_calls
                .into_iter()
                .enumerate()
                .map(|(index, call)| ToolCallDelta {
                    index: index as u32,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                    signature: call.signature,
                })
                .collect(),
            reasoning: response
                .message
                .reasoning
                .into_iter()
                .enumerate()
                .map(|(index, r)| ReasoningDelta {
                    index: index as u32,
                    text: r.text,
                    signature: r.signature,
                    redacted: r.redacted,
                })
                .collect(),
            finish_reason: Some(response.finish_reason),
            stop_sequence: response.stop_sequence,
            usage: response.usage,
        }
    }
}

impl ProviderError {
    /// The error's message, whatever its kind.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::RateLimited(r) => &r.message,
            ProviderError::ContextTooLong(m)
            | ProviderError::Auth(m)
            | ProviderError::BadRequest(m)
            | ProviderError::NotFound(m)
            | ProviderError::UpstreamUnavailable(m)
            | ProviderError::Timeout(m)
            | ProviderError::Internal(m)
            | ProviderError::Unsupported(m) => m,
        }
    }
}

/// Generated bindings of the `provider` world; used by the export macro.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.3.4",
        world: "hanzo:node/provider",
        with: {
            "hanzo:node/log@0.3.4": crate::wit::hanzo::node::log,
            "hanzo:node/config@0.3.4": crate::wit::hanzo::node::config,
            "hanzo:node/kv@0.3.4": crate::wit::hanzo::node::kv,
            "hanzo:node/fetch@0.3.4": crate::wit::hanzo::node::fetch,
            "hanzo:node/tee@0.3.4": crate::wit::hanzo::node::tee,
            "hanzo:node/gpu@0.3.4": crate::wit::hanzo::node::gpu,
            "hanzo:node/llm-types@0.3.4": crate::wit::hanzo::node::llm_types,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "hanzo_node_sdk::provider::bindings",
    });
}

use bindings::exports::hanzo::node::model_provider as wit_export;
pub use wit_export::ChunkBatch;

/// The `chat-stream` resource handed to the host: a boxed [`ChatStream`]
/// that is fused after its end or first error.
#[doc(hidden)]
pub struct StreamResource(RefCell<Option<Box<dyn ChatStream>>>);

impl StreamResource {
    pub fn new(stream: Box<dyn ChatStream>) -> Self {
        StreamResource(RefCell::new(Some(stream)))
    }

    /// Up to `max` chunks (0 counts as 1): the next, then those ready
    /// without waiting, and whether the stream ended with them (an error is
    /// the last chunk and ends it).
    pub fn next_many(&self, max: u32) -> ChunkBatch {
        let mut slot = self.0.borrow_mut();
        let mut chunks = Vec::new();
        let Some(stream) = slot.as_mut() else {
            return ChunkBatch {
                chunks,
                ended: true,
            };
        };
        let mut item = stream.next();
        let ended = loop {
            match item {
                Some(Ok(chunk)) => chunks.push(Ok(chunk)),
                Some(Err(e)) => {
                    chunks.push(Err(e));
                    break true;
                }
                None => break true,
            }
            if chunks.len() >= max.max(1) as usize {
                break false;
            }
            match stream.try_next() {
                Poll::Ready(next) => item = next,
                Poll::Pending => break false,
            }
        };
        if ended {
            // Drop the upstream connection now rather than when the host
            // drops the resource.
            *slot = None;
        }
        ChunkBatch { chunks, ended }
    }
}

impl wit_export::GuestChatStream for StreamResource {
    fn next(&self) -> Option<Result<ChatChunk, ProviderError>> {
        let mut slot = self.0.borrow_mut();
        let item = slot.as_mut()?.next();
        if !matches!(item, Some(Ok(_))) {
            // Drop the upstream connection now rather than when the host
            // drops the resource.
            *slot = None;
        }
        item
    }

    fn next_many(&self, max: u32) -> ChunkBatch {
        StreamResource::next_many(self, max)
    }
}

impl<T: Provider> wit_export::Guest for T {
    type ChatStream = StreamResource;

    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        T::models()
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        T::chat(request)
    }

    fn stream_chat(request: ChatRequest) -> Result<wit_export::ChatStream, ProviderError> {
        let stream = T::stream_chat(request)?;
        Ok(wit_export::ChatStream::new(StreamResource::new(stream)))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        T::embed(request)
    }

    fn count_tokens(request: ChatRequest) -> Result<u32, ProviderError> {
        T::count_tokens(request)
    }
}

/// Exports a [`Provider`] implementation as the component's
/// `hanzo:node/model-provider` interface. Use once, at the crate root of a
/// `cdylib` built for `wasm32-wasip2`: `export_provider!(MyProvider);`
///
/// On other targets it expands to nothing, so the crate's logic can be
/// unit-tested natively.
#[macro_export]
macro_rules! export_provider {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::provider::bindings::export!($ty with_types_in $crate::provider::bindings);
        // Natively nothing is exported; naming the impl keeps the plugin's
        // code from being reported as dead in native builds and tests.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::provider::Provider>::chat;
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that only implements `next`: numbered chunks, then an
    /// optional error.
    struct Numbered {
        left: u32,
        then_fail: bool,
        calls_after_end: u32,
    }

    impl ChatStream for Numbered {
        fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
            if self.left == 0 {
                if std::mem::take(&mut self.then_fail) {
                    return Some(Err(ProviderError::Timeout("upstream went quiet".into())));
                }
                self.calls_after_end += 1;
                assert!(self.calls_after_end <= 1, "pulled again after its end");
                return None;
            }
            self.left -= 1;
            Some(Ok(ChatChunk {
                id: format!("c{}", self.left),
                model: "m".into(),
                content: Some(self.left.to_string()),
                tool_calls: Vec::new(),
                reasoning: Vec::new(),
                finish_reason: None,
                stop_sequence: None,
                usage: None,
            }))
        }
    }

    #[test]
    fn a_stream_without_try_next_gives_one_chunk_a_pull() {
        let resource = StreamResource::new(Box::new(Numbered {
            left: 3,
            then_fail: false,
            calls_after_end: 0,
        }));
        for expected in ["2", "1", "0"] {
            let batch = resource.next_many(64);
            assert_eq!(batch.chunks.len(), 1);
            assert!(!batch.ended);
            let chunk = batch.chunks[0].as_ref().unwrap();
            assert_eq!(chunk.content.as_deref(), Some(expected));
        }
        // Without try_next the end takes a pull of its own.
        let batch = resource.next_many(64);
        assert!(batch.chunks.is_empty() && batch.ended);
        let batch = resource.next_many(64);
        assert!(
            batch.chunks.is_empty() && batch.ended,
            "fused: not pulled again"
        );
    }

    #[test]
    fn an_error_ends_the_batch_and_the_stream() {
        let resource = StreamResource::new(Box::new(Numbered {
            left: 1,
            then_fail: true,
            calls_after_end: 0,
        }));
        assert_eq!(resource.next_many(64).chunks.len(), 1);
        let batch = resource.next_many(64);
        assert!(matches!(batch.chunks[..], [Err(ProviderError::Timeout(_))]));
        assert!(batch.ended);
        assert!(resource.next_many(64).chunks.is_empty());
    }

    #[test]
    fn the_default_stream_is_one_ended_batch() {
        let chunk = ChatChunk {
            id: "x".into(),
            model: "m".into(),
            content: Some("whole".into()),
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: Some(FinishReason::Stop),
            stop_sequence: None,
            usage: None,
        };
        let resource = StreamResource::new(Box::new(SingleChunk(Some(chunk))));
        let batch = resource.next_many(64);
        assert_eq!(batch.chunks.len(), 1);
        assert!(batch.ended, "the end is known with the chunk");
    }
}
