//! Test plugin `provider-v0-3`: a provider built against `hanzo:node@0.3.3`
//! (`wit/since_v0.3.3`) with wit-bindgen alone, as a plugin released before
//! `next-many` was. It answers `<prefix>: <last user text>`, streamed as one
//! chunk per word; with config `cut_after = N` the stream fails with
//! `upstream-unavailable` after N words.

wit_bindgen::generate!({
    path: "../../../wit/since_v0.3.3",
    world: "hanzo:node/provider",
    generate_all,
});

use exports::hanzo::node::model_provider::{ChatStream, Guest, GuestChatStream};
use hanzo::node::config;
use hanzo::node::llm_types::{
    Capabilities, ChatChunk, ChatRequest, ChatResponse, ContentPart, EmbedRequest, EmbedResponse,
    FinishReason, Message, ModelInfo, ProviderError, Role,
};
use std::cell::{Cell, RefCell};

struct EchoV03;

/// The answer to `request`: the prefix and the last user message's text.
fn answer(request: &ChatRequest) -> String {
    let question: String = (request.messages.iter().rev())
        .find(|m| m.role == Role::User)
        .map(|m| {
            (m.content.iter())
                .filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let prefix = config::get("prefix").unwrap_or_else(|| "echo".into());
    format!("{prefix}: {question}")
}

/// The words still to stream (the first last), and how many more may go
/// before the stream fails (none: it does not).
struct Words {
    left: RefCell<Vec<String>>,
    cut_after: Cell<Option<u32>>,
}

impl GuestChatStream for Words {
    fn next(&self) -> Option<Result<ChatChunk, ProviderError>> {
        match self.cut_after.get() {
            Some(0) => {
                self.left.borrow_mut().clear();
                self.cut_after.set(None);
                return Some(Err(ProviderError::UpstreamUnavailable("cut".into())));
            }
            Some(n) => self.cut_after.set(Some(n - 1)),
            None => {}
        }
        let word = self.left.borrow_mut().pop()?;
        let last = self.left.borrow().is_empty();
        Some(Ok(ChatChunk {
            id: "v03".into(),
            model: "echo".into(),
            content: Some(word),
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: last.then_some(FinishReason::Stop),
            stop_sequence: None,
            usage: None,
        }))
    }
}

impl Guest for EchoV03 {
    type ChatStream = Words;

    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        Ok(vec![ModelInfo {
            id: "echo".into(),
            capabilities: Capabilities::CHAT | Capabilities::STREAMING,
            context_length: 0,
            max_output_tokens: None,
            input_price_per_mtok: None,
            output_price_per_mtok: None,
        }])
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        Ok(ChatResponse {
            id: "v03".into(),
            model: request.model.clone(),
            message: Message {
                role: Role::Assistant,
                content: vec![ContentPart::Text(answer(&request))],
                tool_calls: Vec::new(),
                tool_call_id: None,
                name: None,
                reasoning: Vec::new(),
            },
            finish_reason: FinishReason::Stop,
            stop_sequence: None,
            usage: None,
        })
    }

    fn stream_chat(request: ChatRequest) -> Result<ChatStream, ProviderError> {
        let text = answer(&request);
        let mut words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        words.reverse();
        let cut_after = config::get("cut_after").and_then(|n| n.parse().ok());
        Ok(ChatStream::new(Words {
            left: RefCell::new(words),
            cut_after: Cell::new(cut_after),
        }))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "model `{}`: no embeddings",
            request.model
        )))
    }

    fn count_tokens(request: ChatRequest) -> Result<u32, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "model `{}`: no token counts",
            request.model
        )))
    }
}

export!(EchoV03);
