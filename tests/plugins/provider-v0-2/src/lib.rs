//! Test plugin `provider-v0-2`: a provider built against `hanzo:node@0.2.0`
//! (`wit/since_v0.2.0`) with wit-bindgen alone, as a plugin released before
//! 0.3.0 was. It answers `<prefix>: <last user text>` (the prefix read with
//! the 0.2.0 `config` import, each answer logged with the 0.2.0 `log`
//! import), streamed as one chunk per word, and serves one model, `echo`.

wit_bindgen::generate!({
    path: "../../../wit/since_v0.2.0",
    world: "hanzo:node/provider",
    generate_all,
});

use exports::hanzo::node::model_provider::{ChatStream, Guest, GuestChatStream};
use hanzo::node::llm_types::{
    Capabilities, ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, FinishReason,
    Message, ModelInfo, ProviderError, Role,
};
use hanzo::node::{config, log};
use std::cell::RefCell;

struct EchoV02;

/// The answer to `request`, logged.
fn answer(request: &ChatRequest) -> String {
    let question = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let prefix = config::get("prefix").unwrap_or_else(|| "echo".into());
    let text = format!("{prefix}: {question}");
    log::log(log::Level::Info, &format!("answered {} bytes", text.len()));
    text
}

/// The words of an answer still to stream, the first chunk first.
struct Words(RefCell<Vec<String>>);

impl GuestChatStream for Words {
    fn next(&self) -> Option<Result<ChatChunk, ProviderError>> {
        let word = self.0.borrow_mut().pop()?;
        let last = self.0.borrow().is_empty();
        Some(Ok(ChatChunk {
            id: "v02".into(),
            model: "echo".into(),
            content: Some(word),
            tool_calls: Vec::new(),
            finish_reason: last.then_some(FinishReason::Stop),
            usage: None,
        }))
    }
}

impl Guest for EchoV02 {
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
            id: "v02".into(),
            model: request.model.clone(),
            message: Message {
                role: Role::Assistant,
                content: answer(&request),
                tool_calls: Vec::new(),
                tool_call_id: None,
                name: None,
            },
            finish_reason: FinishReason::Stop,
            usage: None,
        })
    }

    fn stream_chat(request: ChatRequest) -> Result<ChatStream, ProviderError> {
        let text = answer(&request);
        let mut words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        words.reverse();
        Ok(ChatStream::new(Words(RefCell::new(words))))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "model `{}`: no embeddings",
            request.model
        )))
    }
}

export!(EchoV02);
