//! Between `hanzo:node@0.2.0`'s LLM types and the newest. Going down to 0.2.0
//! loses only what it cannot say: reasoning, signatures and which stop
//! sequence ended an answer are dropped, a `stop-sequence` finish becomes
//! `stop`; a message part other than text cannot be sent to a 0.2.0 provider
//! at all, which [`down_request`] refuses.

use super::llm as old_llm;
use super::llm_types as old;
use crate::bindings::llm as new_llm;
use crate::bindings::llm_types as new;

/// What a 0.2.0 provider is told when a request holds an image or document.
pub const TEXT_ONLY: &str = "this provider plugin was built against hanzo:node@0.2.0, whose \
     messages carry text only: rebuild it against hanzo:node@0.3.0 to send it images and documents";

/// Each capability in both versions.
const CAPABILITIES: [(new::Capabilities, old::Capabilities); 6] = [
    (new::Capabilities::CHAT, old::Capabilities::CHAT),
    (new::Capabilities::STREAMING, old::Capabilities::STREAMING),
    (new::Capabilities::TOOLS, old::Capabilities::TOOLS),
    (new::Capabilities::VISION, old::Capabilities::VISION),
    (new::Capabilities::JSON_MODE, old::Capabilities::JSON_MODE),
    (new::Capabilities::EMBEDDINGS, old::Capabilities::EMBEDDINGS),
];

// ---- newest → 0.2.0 -------------------------------------------------------

/// A request for a 0.2.0 provider; `Err` when a message holds a part other
/// than text.
pub fn down_request(r: &new::ChatRequest) -> Result<old::ChatRequest, String> {
    let mut messages = Vec::with_capacity(r.messages.len());
    for m in &r.messages {
        messages.push(down_message(m).ok_or_else(|| TEXT_ONLY.to_string())?);
    }
    Ok(old::ChatRequest {
        model: r.model.clone(),
        messages,
        tools: r.tools.iter().map(down_tool).collect(),
        tool_choice: r.tool_choice.clone().map(down_choice),
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_tokens,
        stop: r.stop.clone(),
        json_mode: r.json_mode,
        extra: r.extra.clone(),
    })
}

/// `None` when the message holds a part other than text.
fn down_message(m: &new::Message) -> Option<old::Message> {
    Some(old::Message {
        role: down_role(m.role),
        content: text_of(&m.content)?,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| old::ToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect(),
        tool_call_id: m.tool_call_id.clone(),
        name: m.name.clone(),
    })
}

/// The text of `parts`, when they are all text.
fn text_of(parts: &[new::ContentPart]) -> Option<String> {
    let mut text = String::new();
    for p in parts {
        match p {
            new::ContentPart::Text(t) => text.push_str(t),
            _ => return None,
        }
    }
    Some(text)
}

fn down_role(r: new::Role) -> old::Role {
    match r {
        new::Role::System => old::Role::System,
        new::Role::User => old::Role::User,
        new::Role::Assistant => old::Role::Assistant,
        new::Role::Tool => old::Role::Tool,
    }
}

fn down_tool(t: &new::ToolDefinition) -> old::ToolDefinition {
    old::ToolDefinition {
        name: t.name.clone(),
        description: t.description.clone(),
        parameters: t.parameters.clone(),
    }
}

fn down_choice(c: new::ToolChoice) -> old::ToolChoice {
    match c {
        new::ToolChoice::Auto => old::ToolChoice::Auto,
        new::ToolChoice::None => old::ToolChoice::None,
        new::ToolChoice::Required => old::ToolChoice::Required,
        new::ToolChoice::Named(n) => old::ToolChoice::Named(n),
    }
}

fn down_finish(f: new::FinishReason) -> old::FinishReason {
    match f {
        new::FinishReason::Stop | new::FinishReason::StopSequence => old::FinishReason::Stop,
        new::FinishReason::Length => old::FinishReason::Length,
        new::FinishReason::ToolCalls => old::FinishReason::ToolCalls,
        new::FinishReason::ContentFilter => old::FinishReason::ContentFilter,
        new::FinishReason::Other => old::FinishReason::Other,
    }
}

fn down_usage(u: new::Usage) -> old::Usage {
    old::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
    }
}

pub fn down_response(r: new::ChatResponse) -> old::ChatResponse {
    old::ChatResponse {
        id: r.id,
        model: r.model,
        message: old::Message {
            role: down_role(r.message.role),
            // What a 0.2.0 plugin can read of an answer: its text.
            content: r.message.text(),
            tool_calls: r
                .message
                .tool_calls
                .into_iter()
                .map(|c| old::ToolCall {
                    id: c.id,
                    name: c.name,
                    arguments: c.arguments,
                })
                .collect(),
            tool_call_id: r.message.tool_call_id,
            name: r.message.name,
        },
        finish_reason: down_finish(r.finish_reason),
        usage: r.usage.map(down_usage),
    }
}

pub fn down_chunk(c: new::ChatChunk) -> old::ChatChunk {
    old::ChatChunk {
        id: c.id,
        model: c.model,
        content: c.content,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|d| old::ToolCallDelta {
                index: d.index,
                id: d.id,
                name: d.name,
                arguments: d.arguments,
            })
            .collect(),
        finish_reason: c.finish_reason.map(down_finish),
        usage: c.usage.map(down_usage),
    }
}

pub fn down_embed_request(r: &new::EmbedRequest) -> old::EmbedRequest {
    old::EmbedRequest {
        model: r.model.clone(),
        inputs: r.inputs.clone(),
        dimensions: r.dimensions,
    }
}

pub fn down_embed_response(r: new::EmbedResponse) -> old::EmbedResponse {
    old::EmbedResponse {
        model: r.model,
        embeddings: r.embeddings,
        usage: r.usage.map(down_usage),
    }
}

fn down_capabilities(c: new::Capabilities) -> old::Capabilities {
    CAPABILITIES
        .iter()
        .filter(|(n, _)| c.contains(*n))
        .fold(old::Capabilities::empty(), |out, (_, o)| out | *o)
}

fn down_provider_error(e: new::ProviderError) -> old::ProviderError {
    match e {
        new::ProviderError::RateLimited(r) => old::ProviderError::RateLimited(old::RateLimit {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        }),
        new::ProviderError::ContextTooLong(m) => old::ProviderError::ContextTooLong(m),
        new::ProviderError::Auth(m) => old::ProviderError::Auth(m),
        new::ProviderError::BadRequest(m) | new::ProviderError::Unsupported(m) => {
            old::ProviderError::BadRequest(m)
        }
        new::ProviderError::NotFound(m) => old::ProviderError::NotFound(m),
        new::ProviderError::UpstreamUnavailable(m) => old::ProviderError::UpstreamUnavailable(m),
        new::ProviderError::Timeout(m) => old::ProviderError::Timeout(m),
        new::ProviderError::Internal(m) => old::ProviderError::Internal(m),
    }
}

pub fn down_route(r: new_llm::Route) -> old_llm::Route {
    old_llm::Route {
        deployment: r.deployment,
        provider: r.provider,
        model: r.model,
        cached: r.cached,
        attempts: r.attempts,
        cost_usd: r.cost_usd,
    }
}

pub fn down_model(m: new_llm::Model) -> old_llm::Model {
    old_llm::Model {
        id: m.id,
        owned_by: m.owned_by,
        capabilities: down_capabilities(m.capabilities),
        context_length: m.context_length,
        input_price_per_mtok: m.input_price_per_mtok,
        output_price_per_mtok: m.output_price_per_mtok,
    }
}

pub fn down_llm_error(e: new_llm::LlmError) -> old_llm::LlmError {
    match e {
        new_llm::LlmError::Denied(m) => old_llm::LlmError::Denied(m),
        new_llm::LlmError::UnknownModel(m) => old_llm::LlmError::UnknownModel(m),
        new_llm::LlmError::Unsupported(m) => old_llm::LlmError::Unsupported(m),
        new_llm::LlmError::RateLimited(r) => old_llm::LlmError::RateLimited(old::RateLimit {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        }),
        new_llm::LlmError::OverBudget(m) => old_llm::LlmError::OverBudget(m),
        new_llm::LlmError::Provider(p) => old_llm::LlmError::Provider(down_provider_error(p)),
    }
}

pub fn down_chat_result(r: new_llm::ChatResult) -> old_llm::ChatResult {
    old_llm::ChatResult {
        response: down_response(r.response),
        route: down_route(r.route),
    }
}

pub fn down_embed_result(r: new_llm::EmbedResult) -> old_llm::EmbedResult {
    old_llm::EmbedResult {
        response: down_embed_response(r.response),
        route: down_route(r.route),
    }
}

// ---- 0.2.0 → newest -------------------------------------------------------

fn up_role(r: old::Role) -> new::Role {
    match r {
        old::Role::System => new::Role::System,
        old::Role::User => new::Role::User,
        old::Role::Assistant => new::Role::Assistant,
        old::Role::Tool => new::Role::Tool,
    }
}

fn up_message(m: old::Message) -> new::Message {
    new::Message {
        role: up_role(m.role),
        content: new::ContentPart::text(m.content),
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| new::ToolCall {
                id: c.id,
                name: c.name,
                arguments: c.arguments,
                signature: None,
            })
            .collect(),
        tool_call_id: m.tool_call_id,
        name: m.name,
        reasoning: Vec::new(),
    }
}

/// A 0.2.0 API plugin's request to the router.
pub fn up_request(r: old::ChatRequest) -> new::ChatRequest {
    new::ChatRequest {
        model: r.model,
        messages: r.messages.into_iter().map(up_message).collect(),
        tools: r
            .tools
            .into_iter()
            .map(|t| new::ToolDefinition {
                name: t.name,
                description: t.description,
                parameters: t.parameters,
            })
            .collect(),
        tool_choice: r.tool_choice.map(|c| match c {
            old::ToolChoice::Auto => new::ToolChoice::Auto,
            old::ToolChoice::None => new::ToolChoice::None,
            old::ToolChoice::Required => new::ToolChoice::Required,
            old::ToolChoice::Named(n) => new::ToolChoice::Named(n),
        }),
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_tokens,
        stop: r.stop,
        json_mode: r.json_mode,
        extra: r.extra,
    }
}

pub fn up_embed_request(r: old::EmbedRequest) -> new::EmbedRequest {
    new::EmbedRequest {
        model: r.model,
        inputs: r.inputs,
        dimensions: r.dimensions,
    }
}

pub fn up_call_options(o: old_llm::CallOptions) -> new_llm::CallOptions {
    new_llm::CallOptions {
        bypass_cache: o.bypass_cache,
    }
}

fn up_finish(f: old::FinishReason) -> new::FinishReason {
    match f {
        old::FinishReason::Stop => new::FinishReason::Stop,
        old::FinishReason::Length => new::FinishReason::Length,
        old::FinishReason::ToolCalls => new::FinishReason::ToolCalls,
        old::FinishReason::ContentFilter => new::FinishReason::ContentFilter,
        old::FinishReason::Other => new::FinishReason::Other,
    }
}

fn up_usage(u: old::Usage) -> new::Usage {
    new::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
    }
}

/// A 0.2.0 provider's answer.
pub fn up_response(r: old::ChatResponse) -> new::ChatResponse {
    new::ChatResponse {
        id: r.id,
        model: r.model,
        message: up_message(r.message),
        finish_reason: up_finish(r.finish_reason),
        stop_sequence: None,
        usage: r.usage.map(up_usage),
    }
}

pub fn up_chunk(c: old::ChatChunk) -> new::ChatChunk {
    new::ChatChunk {
        id: c.id,
        model: c.model,
        content: c.content,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|d| new::ToolCallDelta {
                index: d.index,
                id: d.id,
                name: d.name,
                arguments: d.arguments,
                signature: None,
            })
            .collect(),
        reasoning: Vec::new(),
        finish_reason: c.finish_reason.map(up_finish),
        stop_sequence: None,
        usage: c.usage.map(up_usage),
    }
}

pub fn up_embed_response(r: old::EmbedResponse) -> new::EmbedResponse {
    new::EmbedResponse {
        model: r.model,
        embeddings: r.embeddings,
        usage: r.usage.map(up_usage),
    }
}

fn up_capabilities(c: old::Capabilities) -> new::Capabilities {
    CAPABILITIES
        .iter()
        // A 0.2.0 provider cannot be sent an image, whatever its model reads.
        .filter(|(n, o)| *n != new::Capabilities::VISION && c.contains(*o))
        .fold(new::Capabilities::empty(), |out, (n, _)| out | *n)
}

pub fn up_model_info(m: old::ModelInfo) -> new::ModelInfo {
    new::ModelInfo {
        id: m.id,
        capabilities: up_capabilities(m.capabilities),
        context_length: m.context_length,
        max_output_tokens: m.max_output_tokens,
        input_price_per_mtok: m.input_price_per_mtok,
        output_price_per_mtok: m.output_price_per_mtok,
    }
}

pub fn up_provider_error(e: old::ProviderError) -> new::ProviderError {
    match e {
        old::ProviderError::RateLimited(r) => new::ProviderError::RateLimited(new::RateLimit {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        }),
        old::ProviderError::ContextTooLong(m) => new::ProviderError::ContextTooLong(m),
        old::ProviderError::Auth(m) => new::ProviderError::Auth(m),
        old::ProviderError::BadRequest(m) => new::ProviderError::BadRequest(m),
        old::ProviderError::NotFound(m) => new::ProviderError::NotFound(m),
        old::ProviderError::UpstreamUnavailable(m) => new::ProviderError::UpstreamUnavailable(m),
        old::ProviderError::Timeout(m) => new::ProviderError::Timeout(m),
        old::ProviderError::Internal(m) => new::ProviderError::Internal(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: Vec<new::ContentPart>) -> new::Message {
        new::Message {
            role: new::Role::User,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        }
    }

    fn request(messages: Vec<new::Message>) -> new::ChatRequest {
        new::ChatRequest {
            model: "m".into(),
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

    #[test]
    fn text_parts_join_and_anything_else_is_refused() {
        let text = request(vec![message(vec![
            new::ContentPart::Text("a".into()),
            new::ContentPart::Text("b".into()),
        ])]);
        assert_eq!(down_request(&text).unwrap().messages[0].content, "ab");
        let image = request(vec![message(vec![new::ContentPart::Image(new::Image {
            source: new::MediaSource::Url("https://example.com/a.png".into()),
            detail: None,
        })])]);
        assert_eq!(down_request(&image).unwrap_err(), TEXT_ONLY);
    }

    #[test]
    fn a_0_2_provider_never_claims_vision() {
        let all = old::Capabilities::all();
        let up = up_capabilities(all);
        assert!(!up.contains(new::Capabilities::VISION));
        assert!(up.contains(new::Capabilities::CHAT | new::Capabilities::EMBEDDINGS));
    }

    #[test]
    fn empty_text_is_no_part() {
        let m = up_message(old::Message {
            role: old::Role::Assistant,
            content: String::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        });
        assert!(m.content.is_empty());
    }
}
