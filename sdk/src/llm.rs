//! The node's LLM router (`hanzo:node/llm`), for API plugins and agents.
//!
//! A request names a model *alias*; the host picks a deployment (a provider
//! plugin plus its upstream model) by capability and strategy, and handles
//! failover, retries with backoff, circuit breaking, rpm/tpm limits, the
//! response cache and usage accounting. Aliases of the form `provider/model`
//! reach a provider plugin directly. The plugin never sees upstream
//! credentials or addresses: it only speaks the WIT types.
//!
//! ```no_run
//! use hanzo_node_sdk::llm::{self, CallOptions, ChatRequest, Message};
//!
//! let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Hello")]);
//! match llm::chat(&request, &CallOptions::default()) {
//!     Ok(result) => {
//!         let text = result.response.message.content;
//!         let served_by = result.route.deployment;
//!         # let _ = (text, served_by);
//!     }
//!     Err(e) => hanzo_node_sdk::log::warn(&e.message()),
//! }
//!
//! // Streamed: `route()` tells which deployment serves it; `next()` gives
//! // one chunk at a time, and the stream is also an iterator.
//! // (Underneath, each call to the host takes every chunk that is ready.)
//! if let Ok(stream) = llm::stream_chat(&request, &CallOptions::default()) {
//!     for chunk in stream {
//!         match chunk {
//!             Ok(chunk) => { let _ = chunk.content; }
//!             Err(e) => { hanzo_node_sdk::log::warn(&e.message()); }
//!         }
//!     }
//! }
//! ```
//!
//! Outside a component (native builds and tests) [`models`] is empty and
//! every call fails with [`LlmError::Provider`]`(`[`ProviderError::Internal`]`)`
//! saying that no host is present.

pub use crate::wit::hanzo::node::llm::{
    CallOptions, ChatResult, EmbedResult, LlmError, Model, Route,
};
pub use crate::wit::hanzo::node::llm_types::{
    Blob, Capabilities, ChatChunk, ChatRequest, ChatResponse, ContentPart, Document, EmbedRequest,
    EmbedResponse, FinishReason, Image, MediaSource, Message, ProviderError, RateLimit, Reasoning,
    ReasoningDelta, Role, ToolCall, ToolCallDelta, ToolChoice, ToolDefinition, Usage,
};

#[cfg(target_arch = "wasm32")]
use crate::wit::hanzo::node::llm as host;

#[allow(clippy::derivable_impls)]
impl Default for CallOptions {
    /// The response cache in use (read and written).
    fn default() -> Self {
        CallOptions {
            bypass_cache: false,
        }
    }
}

impl ChatRequest {
    /// A request for `model` (an alias) with `messages` and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            tools: Vec::new(),
            tool_choice: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop: Vec::new(),
            json_mode: false,
            extra: None,
        }
    }
}

impl LlmError {
    /// The error in words (the generated `Display` only names the case).
    pub fn message(&self) -> String {
        match self {
            LlmError::Denied(m) | LlmError::OverBudget(m) => m.clone(),
            LlmError::UnknownModel(m) => m.clone(),
            LlmError::Unsupported(m) => m.clone(),
            LlmError::RateLimited(r) => r.message.clone(),
            LlmError::Provider(e) => e.message().to_string(),
        }
    }

    /// How long to wait before retrying, when the error is a rate limit that
    /// said so.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            LlmError::RateLimited(r) | LlmError::Provider(ProviderError::RateLimited(r)) => {
                r.retry_after_ms
            }
            _ => None,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn no_host<T>() -> Result<T, LlmError> {
    Err(LlmError::Provider(ProviderError::Internal(
        crate::NO_HOST.to_string(),
    )))
}

/// The model aliases the router serves.
pub fn models() -> Result<Vec<Model>, LlmError> {
    #[cfg(target_arch = "wasm32")]
    return host::models();
    #[cfg(not(target_arch = "wasm32"))]
    Ok(Vec::new())
}

/// One complete answer, with the route that served it.
pub fn chat(request: &ChatRequest, options: &CallOptions) -> Result<ChatResult, LlmError> {
    #[cfg(target_arch = "wasm32")]
    return host::chat(request, *options);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (request, options);
        no_host()
    }
}

/// A streamed answer. The router fails over to another deployment only
/// before the first chunk; errors after it arrive through the stream.
pub fn stream_chat(request: &ChatRequest, options: &CallOptions) -> Result<ChatStream, LlmError> {
    #[cfg(target_arch = "wasm32")]
    return host::stream_chat(request, *options).map(|inner| ChatStream {
        inner,
        ready: std::collections::VecDeque::new(),
        done: false,
    });
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (request, options);
        no_host()
    }
}

/// Embeddings of `request.inputs`, in order, with the route that served them.
pub fn embed(request: &EmbedRequest, options: &CallOptions) -> Result<EmbedResult, LlmError> {
    #[cfg(target_arch = "wasm32")]
    return host::embed(request, *options);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (request, options);
        no_host()
    }
}

/// The request's input tokens as the upstream of its model counts them;
/// `LlmError::Unsupported` when that upstream cannot count (estimate then).
pub fn count_tokens(request: &ChatRequest) -> Result<u32, LlmError> {
    #[cfg(target_arch = "wasm32")]
    return host::count_tokens(request);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = request;
        no_host()
    }
}

/// A streamed answer from [`stream_chat`], handed out chunk by chunk.
///
/// Each call to the host takes the next chunk and every other one already
/// there (`next-many`), so the chunks an upstream sent together cross the
/// boundary once, with the stream's end when it came with them;
/// [`ready`](ChatStream::ready) tells whether the next answer is already
/// here (an API handler writes those together).
///
/// It is fused: after the end or the first error, [`next`](ChatStream::next)
/// returns `None` without calling the host. Dropping it ends the stream
/// early (the host drops the upstream connection).
pub struct ChatStream {
    #[cfg(target_arch = "wasm32")]
    inner: host::ChatStream,
    /// Taken from the host, not yet handed out; an error is last.
    ready: std::collections::VecDeque<Result<ChatChunk, LlmError>>,
    /// Nothing more to take from the host.
    done: bool,
}

/// The most chunks taken from the host in one call (the host takes at most
/// as many from a provider).
#[cfg(target_arch = "wasm32")]
const BATCH_MAX: u32 = 64;

impl ChatStream {
    /// The deployment serving this stream. Ask after the first chunk for
    /// the final answer: failover may change it until then.
    pub fn route(&self) -> Route {
        #[cfg(target_arch = "wasm32")]
        return self.inner.route();
        // Natively no stream can be made; this is unreachable.
        #[cfg(not(target_arch = "wasm32"))]
        unreachable!("{}", crate::NO_HOST)
    }

    /// The next chunk; `None` once the stream ended.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        if self.ready.is_empty() && !self.done {
            self.take();
        }
        self.ready.pop_front()
    }

    /// Whether [`next`](ChatStream::next) answers without waiting: the next
    /// chunk is here already, or the stream's end is known.
    pub fn ready(&self) -> bool {
        !self.ready.is_empty() || self.done
    }

    /// Takes what the host has: the next chunk, waiting for it, those ready
    /// with it, and whether the stream ended with them.
    fn take(&mut self) {
        #[cfg(target_arch = "wasm32")]
        let (chunks, ended) = {
            let batch = self.inner.next_many(BATCH_MAX);
            (batch.chunks, batch.ended)
        };
        #[cfg(not(target_arch = "wasm32"))]
        let (chunks, ended): (Vec<Result<ChatChunk, LlmError>>, bool) = (Vec::new(), true);
        if ended || chunks.is_empty() || chunks.last().is_some_and(Result::is_err) {
            self.done = true;
        }
        self.ready.extend(chunks);
    }
}

impl Iterator for ChatStream {
    type Item = Result<ChatChunk, LlmError>;

    fn next(&mut self) -> Option<Self::Item> {
        ChatStream::next(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_calls_report_no_host() {
        assert!(models().unwrap().is_empty());
        let request = ChatRequest::new("m", vec![Message::user("hi")]);
        let err = chat(&request, &CallOptions::default()).unwrap_err();
        assert!(err.message().contains("no Hanzo Node host"), "{err:?}");
        assert!(stream_chat(&request, &CallOptions::default()).is_err());
        let embed_request = EmbedRequest {
            model: "m".into(),
            inputs: vec!["x".into()],
            dimensions: None,
        };
        assert!(matches!(
            embed(&embed_request, &CallOptions { bypass_cache: true }),
            Err(LlmError::Provider(ProviderError::Internal(_)))
        ));
    }

    #[test]
    fn retry_after_of_both_rate_limits() {
        let limit = RateLimit {
            retry_after_ms: Some(1500),
            message: "slow down".into(),
        };
        assert_eq!(
            LlmError::RateLimited(limit.clone()).retry_after_ms(),
            Some(1500)
        );
        let e = LlmError::Provider(ProviderError::RateLimited(limit));
        assert_eq!(e.retry_after_ms(), Some(1500));
        assert_eq!(e.message(), "slow down");
        assert_eq!(LlmError::UnknownModel("x".into()).retry_after_ms(), None);
    }
}
