//! The Anthropic Messages API wire format (`POST /v1/messages`,
//! `anthropic-version: 2023-06-01`): request bodies from the WIT types,
//! responses and the SSE event sequence back into them, the model list, and
//! the mapping of Anthropic's failures onto [`ProviderError`].
//!
//! How the WIT conversation maps onto Messages:
//! - system messages (wherever they are) become the top-level `system`;
//! - an assistant message's tool calls become `tool_use` blocks, and a
//!   `role::tool` message a `tool_result` block in a user turn;
//! - consecutive turns of the same role are merged into one (the API wants
//!   user and assistant to alternate, and all results of one assistant
//!   turn in the next user turn);
//! - content parts map onto blocks: text, `image` and `document` (base64,
//!   a URL, or for a `text/plain` document its text); Anthropic reads them in
//!   user turns and tool results, so media elsewhere is `unsupported`;
//! - an assistant message's reasoning goes back first, as `thinking` blocks
//!   with their signatures (`redacted_thinking` for redacted ones), which
//!   the API checks; thinking in an answer comes back as reasoning, and a
//!   `stop_sequence` stop as [`FinishReason::StopSequence`] naming it;
//! - `json-mode` has no Messages field: it adds an instruction to `system`
//!   asking for one JSON object and nothing else;
//! - tool-call ids are kept, except that characters outside
//!   `[A-Za-z0-9_-]` (which the API rejects, for ids made by other
//!   providers) are replaced the same way in `tool_use` and `tool_result`.
//!
//! Everything here is pure except [`SseMessageStream`], which pulls from
//! any [`ReadChunk`] source.

use crate::content::{is_text_only, part_kind, text_content, text_of};
use crate::http::ReadChunk;
use crate::provider::{
    ChatChunk, ChatRequest, ChatResponse, ChatStream, ContentPart, FinishReason, MediaSource,
    Message, ProviderError, RateLimit, Reasoning, ReasoningDelta, Role, ToolCall, ToolCallDelta,
    ToolChoice, Usage,
};
use crate::wire::{self, Pulled, SseSource};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::task::Poll;

/// The API version every request is sent with.
pub const API_VERSION: &str = "2023-06-01";

/// What `json-mode` adds to the system prompt.
pub const JSON_MODE_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else: no prose, no code fences.";

/// Request fields that `extra` may not override.
const RESERVED_FIELDS: &[&str] = &["model", "messages", "stream"];

// ---------------------------------------------------------------- requests

/// The body of `POST /v1/messages`. `default_max_tokens` is used when the
/// request sets none (the API requires `max_tokens`).
pub fn messages_request_body(
    request: &ChatRequest,
    default_max_tokens: u32,
    stream: bool,
) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    body.insert(
        "max_tokens".into(),
        request.max_tokens.unwrap_or(default_max_tokens).into(),
    );

    let mut system: Vec<String> = Vec::new();
    for (index, m) in request.messages.iter().enumerate() {
        if m.role != Role::System {
            continue;
        }
        if !is_text_only(&m.content) {
            return Err(media_refused(index, m));
        }
        let text = text_of(&m.content);
        if !text.trim().is_empty() {
            system.push(text);
        }
    }
    if request.json_mode {
        system.push(JSON_MODE_INSTRUCTION.to_string());
    }
    if !system.is_empty() {
        body.insert("system".into(), system.join("\n\n").into());
    }
    body.insert("messages".into(), messages_json(&request.messages)?.into());

    if !request.tools.is_empty() {
        let mut tools = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            let mut t = Map::new();
            t.insert("name".into(), tool.name.clone().into());
            if !tool.description.is_empty() {
                t.insert("description".into(), tool.description.clone().into());
            }
            t.insert("input_schema".into(), wire::tool_parameters(tool)?);
            tools.push(Value::Object(t));
        }
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = &request.tool_choice {
        let value = match choice {
            // Without tools, "auto" and "none" say nothing; the API refuses
            // a tool_choice without tools.
            ToolChoice::Auto | ToolChoice::None if request.tools.is_empty() => None,
            ToolChoice::Auto => Some(json!({ "type": "auto" })),
            ToolChoice::None => Some(json!({ "type": "none" })),
            ToolChoice::Required => Some(json!({ "type": "any" })),
            ToolChoice::Named(name) => Some(json!({ "type": "tool", "name": name })),
        };
        if let Some(value) = value {
            body.insert("tool_choice".into(), value);
        }
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), wire::float_json("temperature", t)?);
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), wire::float_json("top-p", p)?);
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), request.stop.clone().into());
    }
    wire::merge_extra(
        &mut body,
        request.extra.as_deref(),
        "anthropic",
        RESERVED_FIELDS,
        &[],
    )?;
    if stream {
        body.insert("stream".into(), true.into());
    }
    Ok(Value::Object(body))
}

/// The body of `POST /v1/messages/count_tokens`: the fields of a messages
/// request that count (`model`, `system`, `messages`, `tools`,
/// `tool_choice`, `thinking`), mapped the same way.
pub fn count_tokens_request_body(request: &ChatRequest) -> Result<Value, ProviderError> {
    let Value::Object(mut body) = messages_request_body(request, 1, false)? else {
        unreachable!("a request body is an object")
    };
    body.retain(|k, _| {
        matches!(
            k.as_str(),
            "model" | "system" | "messages" | "tools" | "tool_choice" | "thinking"
        )
    });
    Ok(Value::Object(body))
}

/// The `input_tokens` of a count_tokens answer.
pub fn parse_count_tokens_response(body: &[u8]) -> Result<u32, ProviderError> {
    #[derive(Deserialize)]
    struct Count {
        input_tokens: u32,
    }
    let count: Count = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    Ok(count.input_tokens)
}

/// A tool-use id the API accepts (`^[a-zA-Z0-9_-]+$`): ids from other
/// providers are mapped, the same way wherever they appear.
pub fn tool_use_id(id: &str) -> String {
    if id.is_empty() {
        return "toolu_empty".to_string();
    }
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn messages_json(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    // (role, blocks) per turn, merging consecutive turns of one role.
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => ("user", content_blocks(message)?),
            Role::Assistant => {
                let mut blocks: Vec<Value> = message.reasoning.iter().map(thinking_block).collect();
                if !is_text_only(&message.content) {
                    return Err(media_refused(index, message));
                }
                blocks.extend(text_block(&text_of(&message.content)));
                for call in &message.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": tool_use_id(&call.id),
                        "name": call.name,
                        "input": wire::arguments_object(index, &call.name, &call.arguments)?,
                    }));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let id = message.tool_call_id.as_deref().ok_or_else(|| {
                    ProviderError::BadRequest(format!(
                        "message {index}: a tool message needs the tool-call-id it answers"
                    ))
                })?;
                let mut block = json!({ "type": "tool_result", "tool_use_id": tool_use_id(id) });
                if is_text_only(&message.content) {
                    let text = text_of(&message.content);
                    if !text.is_empty() {
                        block["content"] = text.into();
                    }
                } else {
                    block["content"] = content_blocks(message)?.into();
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => {
                // Tool results must come first in a user turn.
                if role == "user" && blocks[0]["type"] == "tool_result" {
                    let at = existing
                        .iter()
                        .position(|b| b["type"] != "tool_result")
                        .unwrap_or(existing.len());
                    existing.splice(at..at, blocks);
                } else {
                    existing.extend(blocks);
                }
            }
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(ProviderError::BadRequest(
            "the request has no user or assistant message".to_string(),
        ));
    }
    Ok(turns
        .into_iter()
        .map(|(role, blocks)| {
            // One text block is sent as a plain string, as most clients do.
            let content = match blocks.as_slice() {
                [only] if only["type"] == "text" => only["text"].clone(),
                _ => Value::Array(blocks),
            };
            json!({ "role": role, "content": content })
        })
        .collect())
}

/// A user turn's or tool result's parts as blocks.
fn content_blocks(message: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::with_capacity(message.content.len());
    for part in &message.content {
        match part {
            ContentPart::Text(t) => blocks.extend(text_block(t)),
            ContentPart::Image(image) => blocks.push(json!({
                "type": "image",
                "source": source_json(&image.source, false),
            })),
            ContentPart::Document(doc) => {
                let mut block =
                    json!({ "type": "document", "source": source_json(&doc.source, true) });
                if let Some(title) = &doc.title {
                    block["title"] = title.clone().into();
                }
                blocks.push(block);
            }
        }
    }
    Ok(blocks)
}

/// An image's or document's `source`: bytes as base64 (a plain-text
/// document as its text), or a URL the API fetches.
fn source_json(source: &MediaSource, document: bool) -> Value {
    match source {
        MediaSource::Url(url) => json!({ "type": "url", "url": url }),
        MediaSource::Inline(blob) if document && blob.media_type.starts_with("text/plain") => {
            json!({
                "type": "text",
                "media_type": "text/plain",
                "data": String::from_utf8_lossy(&blob.data),
            })
        }
        MediaSource::Inline(blob) => json!({
            "type": "base64",
            "media_type": blob.media_type,
            "data": crate::content::base64_encode(&blob.data),
        }),
    }
}

/// Reasoning as the block the API gave it in, signature and all.
fn thinking_block(r: &Reasoning) -> Value {
    if r.redacted {
        json!({ "type": "redacted_thinking", "data": r.signature.clone().unwrap_or_default() })
    } else {
        json!({
            "type": "thinking",
            "thinking": r.text,
            "signature": r.signature.clone().unwrap_or_default(),
        })
    }
}

fn media_refused(index: usize, message: &Message) -> ProviderError {
    let kind = message
        .content
        .iter()
        .map(part_kind)
        .find(|k| *k != "text")
        .unwrap_or("media");
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    ProviderError::Unsupported(format!(
        "message {index}: Anthropic takes an {kind} only in a user turn or a tool result, \
         not in a {role} message"
    ))
}

/// The API refuses empty text blocks, so empty text is no block at all.
fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({ "type": "text", "text": text })]
    }
}

// ---------------------------------------------------------------- responses

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
}

impl WireUsage {
    /// Prompt tokens include the cached ones, which Anthropic counts apart.
    fn prompt(&self) -> u32 {
        self.input_tokens
            .unwrap_or(0)
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
    }

    fn usage(&self) -> Usage {
        let prompt = self.prompt();
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// Maps a `stop_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" => FinishReason::Stop,
        "stop_sequence" => FinishReason::StopSequence,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // "pause_turn" (a server tool paused the turn) and anything new.
        _ => FinishReason::Other,
    }
}

/// Parses a `/v1/messages` response. `requested_model` fills in a missing
/// `model`. Text blocks are concatenated; `tool_use` blocks become tool
/// calls, `thinking` and `redacted_thinking` reasoning; server-tool blocks
/// are left out.
pub fn parse_messages_response(
    body: &[u8],
    requested_model: &str,
) -> Result<ChatResponse, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_from_event(&value));
    }
    let wire: WireMessage = serde_json::from_value(value).map_err(wire::invalid_upstream)?;
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = Vec::new();
    for block in &wire.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => content.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or("").to_string(),
                name: block["name"].as_str().unwrap_or("").to_string(),
                arguments: match block.get("input") {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(input) => input.to_string(),
                },
                signature: None,
            }),
            Some("thinking") => reasoning.push(Reasoning {
                text: block["thinking"].as_str().unwrap_or("").to_string(),
                signature: block["signature"].as_str().map(str::to_string),
                redacted: false,
            }),
            Some("redacted_thinking") => reasoning.push(Reasoning {
                text: String::new(),
                signature: block["data"].as_str().map(str::to_string),
                redacted: true,
            }),
            _ => {}
        }
    }
    let finish = match wire.stop_reason.as_deref() {
        Some(reason) => finish_reason(reason),
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id: wire.id.unwrap_or_default(),
        model: wire
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        message: Message {
            tool_calls,
            reasoning,
            ..Message::with_parts(Role::Assistant, text_content(content))
        },
        stop_sequence: wire
            .stop_sequence
            .filter(|_| finish == FinishReason::StopSequence),
        finish_reason: finish,
        usage: wire.usage.map(|u| u.usage()),
    })
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub id: String,
    pub display_name: Option<String>,
}

/// One page of `GET /v1/models`: the entries, and the `after_id` of the
/// next page when `has_more`.
pub fn parse_model_list(body: &[u8]) -> Result<(Vec<ModelEntry>, Option<String>), ProviderError> {
    #[derive(Deserialize)]
    struct Item {
        id: String,
        #[serde(default)]
        display_name: Option<String>,
    }
    #[derive(Deserialize)]
    struct Page {
        data: Vec<Item>,
        #[serde(default)]
        has_more: bool,
        #[serde(default)]
        last_id: Option<String>,
    }
    let page: Page = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    let next = if page.has_more {
        page.last_id
            .or_else(|| page.data.last().map(|m| m.id.clone()))
    } else {
        None
    };
    Ok((
        page.data
            .into_iter()
            .map(|m| ModelEntry {
                id: m.id,
                display_name: m.display_name,
            })
            .collect(),
        next,
    ))
}

// ---------------------------------------------------------------- errors

/// `(type, message)` of an Anthropic error body
/// (`{"type":"error","error":{"type":..,"message":..}}`).
fn error_parts(value: &Value) -> (Option<String>, String) {
    let error = value.get("error").unwrap_or(value);
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = match error.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    (kind, message)
}

/// Maps an Anthropic error `type` (from a body or a stream `error` event).
fn error_from_kind(
    kind: Option<&str>,
    message: String,
    retry_after_ms: Option<u64>,
) -> ProviderError {
    match kind {
        Some("rate_limit_error") => ProviderError::RateLimited(RateLimit {
            retry_after_ms,
            message,
        }),
        Some("authentication_error" | "permission_error" | "billing_error") => {
            ProviderError::Auth(message)
        }
        Some("invalid_request_error") if wire::mentions_context_overflow(&message) => {
            ProviderError::ContextTooLong(message)
        }
        Some("invalid_request_error" | "request_too_large") => ProviderError::BadRequest(message),
        Some("not_found_error") => ProviderError::NotFound(message),
        Some("timeout_error") => ProviderError::Timeout(message),
        // api_error, overloaded_error and anything unknown.
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// Maps a non-2xx response: 429 rate-limited (with `retry-after`), 529
/// overloaded and 5xx upstream-unavailable (504 timeout), 401/403 (and 402
/// billing) auth, 400 about the prompt's length context-too-long, other 400
/// and 413 bad-request, 404 not-found.
pub fn error_from_response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> ProviderError {
    let (kind, detail) = match serde_json::from_slice::<Value>(body) {
        Ok(value) => error_parts(&value),
        Err(_) => (None, wire::quote_body(body)),
    };
    let message = wire::status_message(status, &detail);
    let kind = kind.as_deref();
    match status {
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_ms: crate::upstream::retry_after_ms(headers),
            message,
        }),
        401..=403 => ProviderError::Auth(message),
        404 => ProviderError::NotFound(message),
        408 | 504 => ProviderError::Timeout(message),
        400 | 413 | 422 => match error_from_kind(kind, message.clone(), None) {
            e @ (ProviderError::ContextTooLong(_) | ProviderError::BadRequest(_)) => e,
            _ if wire::mentions_context_overflow(&message) => {
                ProviderError::ContextTooLong(message)
            }
            _ => ProviderError::BadRequest(message),
        },
        400..=499 => ProviderError::BadRequest(message),
        // 500 api_error, 529 overloaded_error, 502/503 from proxies.
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// Maps an `error` event of a stream, or an error object in a 200 body.
fn error_from_event(value: &Value) -> ProviderError {
    let (kind, detail) = error_parts(value);
    error_from_kind(kind.as_deref(), format!("upstream error: {detail}"), None)
}

// ---------------------------------------------------------------- streaming

/// What the stream has seen so far.
#[derive(Default)]
struct StreamState {
    id: String,
    model: String,
    usage: WireUsage,
    /// Content-block index → tool-call ordinal, for `tool_use` blocks.
    tool_blocks: HashMap<u64, u32>,
    /// Content-block index → reasoning ordinal, for thinking blocks.
    thinking_blocks: HashMap<u64, u32>,
    stop_reason_seen: bool,
    stopped: bool,
}

impl StreamState {
    fn chunk(&self) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            model: self.model.clone(),
            content: None,
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: None,
            stop_sequence: None,
            usage: None,
        }
    }

    /// A chunk with a reasoning delta of the thinking block at `index`.
    fn reasoning(
        &mut self,
        index: u64,
        text: &str,
        signature: Option<&str>,
        redacted: bool,
    ) -> ChatChunk {
        let next = self.thinking_blocks.len() as u32;
        let ordinal = *self.thinking_blocks.entry(index).or_insert(next);
        let mut chunk = self.chunk();
        chunk.reasoning.push(ReasoningDelta {
            index: ordinal,
            text: text.to_string(),
            signature: signature.map(str::to_string),
            redacted,
        });
        chunk
    }

    /// Handles one event; `Ok(Some(chunk))` when it carries something.
    fn on_event(&mut self, event: &str, data: &str) -> Result<Option<ChatChunk>, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(wire::invalid_upstream)?;
        // The `type` in the data is authoritative; `event:` repeats it.
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event)
            .to_string();
        match kind.as_str() {
            "message_start" => {
                let message = &value["message"];
                if let Some(id) = message["id"].as_str() {
                    self.id = id.to_string();
                }
                if let Some(model) = message["model"].as_str().filter(|m| !m.is_empty()) {
                    self.model = model.to_string();
                }
                if let Ok(usage) = WireUsage::deserialize(&message["usage"]) {
                    self.merge_usage(usage);
                }
                Ok(None)
            }
            "content_block_start" => {
                let block = &value["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or("");
                        let mut chunk = self.chunk();
                        chunk.content = Some(text.to_string()).filter(|t| !t.is_empty());
                        Ok(chunk.content.is_some().then_some(chunk))
                    }
                    Some("tool_use") => {
                        let ordinal = self.tool_blocks.len() as u32;
                        let index = value["index"].as_u64().unwrap_or(u64::from(ordinal));
                        self.tool_blocks.insert(index, ordinal);
                        // The input arrives as input_json_delta; a non-empty
                        // object here would be the whole input.
                        let arguments = match block.get("input") {
                            Some(Value::Object(o)) if !o.is_empty() => block["input"].to_string(),
                            _ => String::new(),
                        };
                        let mut chunk = self.chunk();
                        chunk.tool_calls.push(ToolCallDelta {
                            index: ordinal,
                            id: block["id"].as_str().map(str::to_string),
                            name: block["name"].as_str().map(str::to_string),
                            arguments,
                            signature: None,
                        });
                        Ok(Some(chunk))
                    }
                    Some("thinking") => {
                        let index = value["index"].as_u64().unwrap_or(0);
                        let text = block["thinking"].as_str().unwrap_or("");
                        let signature = block["signature"].as_str().filter(|s| !s.is_empty());
                        Ok(Some(self.reasoning(index, text, signature, false)))
                    }
                    Some("redacted_thinking") => {
                        let index = value["index"].as_u64().unwrap_or(0);
                        Ok(Some(self.reasoning(
                            index,
                            "",
                            block["data"].as_str(),
                            true,
                        )))
                    }
                    // Server tool blocks.
                    _ => Ok(None),
                }
            }
            "content_block_delta" => {
                let delta = &value["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or("");
                        if text.is_empty() {
                            return Ok(None);
                        }
                        let mut chunk = self.chunk();
                        chunk.content = Some(text.to_string());
                        Ok(Some(chunk))
                    }
                    Some("input_json_delta") => {
                        let index = value["index"].as_u64().unwrap_or(0);
                        let Some(&ordinal) = self.tool_blocks.get(&index) else {
                            // Input of a block that is not a client tool call
                            // (server tools): not ours to report.
                            return Ok(None);
                        };
                        let part = delta["partial_json"].as_str().unwrap_or("");
                        if part.is_empty() {
                            return Ok(None);
                        }
                        let mut chunk = self.chunk();
                        chunk.tool_calls.push(ToolCallDelta {
                            index: ordinal,
                            id: None,
                            name: None,
                            arguments: part.to_string(),
                            signature: None,
                        });
                        Ok(Some(chunk))
                    }
                    Some("thinking_delta") => {
                        let index = value["index"].as_u64().unwrap_or(0);
                        let text = delta["thinking"].as_str().unwrap_or("");
                        Ok(Some(self.reasoning(index, text, None, false)))
                    }
                    Some("signature_delta") => {
                        let index = value["index"].as_u64().unwrap_or(0);
                        Ok(Some(self.reasoning(
                            index,
                            "",
                            delta["signature"].as_str(),
                            false,
                        )))
                    }
                    // citations_delta.
                    _ => Ok(None),
                }
            }
            "content_block_stop" | "ping" => Ok(None),
            "message_delta" => {
                if let Ok(usage) = WireUsage::deserialize(&value["usage"]) {
                    self.merge_usage(usage);
                }
                let reason = value["delta"]["stop_reason"].as_str();
                let mut chunk = self.chunk();
                if let Some(reason) = reason {
                    self.stop_reason_seen = true;
                    chunk.finish_reason = Some(finish_reason(reason));
                    if reason == "stop_sequence" {
                        chunk.stop_sequence =
                            value["delta"]["stop_sequence"].as_str().map(str::to_string);
                    }
                    chunk.usage = Some(self.usage.usage());
                    Ok(Some(chunk))
                } else {
                    Ok(None)
                }
            }
            "message_stop" => {
                self.stopped = true;
                Ok(None)
            }
            "error" => Err(error_from_event(&value)),
            // New event types are to be ignored, per Anthropic's versioning policy.
            _ => Ok(None),
        }
    }

    /// `message_delta` usage is cumulative and may repeat or add to the
    /// input counts of `message_start`: keep the latest of each.
    fn merge_usage(&mut self, usage: WireUsage) {
        let keep = |old: &mut Option<u32>, new: Option<u32>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(&mut self.usage.input_tokens, usage.input_tokens);
        keep(&mut self.usage.output_tokens, usage.output_tokens);
        keep(
            &mut self.usage.cache_creation_input_tokens,
            usage.cache_creation_input_tokens,
        );
        keep(
            &mut self.usage.cache_read_input_tokens,
            usage.cache_read_input_tokens,
        );
    }
}

/// A streamed `/v1/messages` answer: the SSE events (`message_start`,
/// `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`,
/// `ping`, `error`) turned into chunks. Text deltas become `content`,
/// `tool_use` blocks and their `input_json_delta`s tool-call deltas indexed
/// by the call's position among the tool calls, and `message_delta` the
/// chunk with the finish reason and the usage.
///
/// The stream ends at `message_stop`. A body that ends before it is an
/// upstream-unavailable error (the answer was cut), unless the stop reason
/// already arrived and no event was left half-received.
pub struct SseMessageStream<R: ReadChunk> {
    source: SseSource<R>,
    state: StreamState,
    done: bool,
}

impl<R: ReadChunk> SseMessageStream<R> {
    /// A stream over `source` (a 2xx response body) for a request to
    /// `requested_model`.
    pub fn new(source: R, requested_model: impl Into<String>) -> Self {
        SseMessageStream {
            source: SseSource::new(source),
            state: StreamState {
                model: requested_model.into(),
                ..StreamState::default()
            },
            done: false,
        }
    }

    fn fail(&mut self, error: ProviderError) -> Option<Result<ChatChunk, ProviderError>> {
        self.done = true;
        Some(Err(error))
    }
}

impl<R: ReadChunk> SseMessageStream<R> {
    /// The next chunk; with `wait`, reading the body as needed, else
    /// `Pending` when the next chunk needs a read.
    fn produce(&mut self, wait: bool) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        while !self.done {
            match self.source.pull(wait) {
                Pulled::Item(event) => {
                    if event.data.trim().is_empty() {
                        continue;
                    }
                    match self.state.on_event(&event.event, &event.data) {
                        Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                        Ok(None) if self.state.stopped => self.done = true,
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(self.fail(e)),
                    }
                }
                Pulled::End { partial } => {
                    if self.state.stop_reason_seen && !partial {
                        self.done = true;
                    } else {
                        return Poll::Ready(self.fail(wire::cut_stream("message_stop")));
                    }
                }
                Pulled::Failed(e) if self.state.stop_reason_seen => {
                    crate::log::warn(&format!(
                        "stream ended with an error after finishing: {e:?}"
                    ));
                    self.done = true;
                }
                Pulled::Failed(e) => return Poll::Ready(self.fail(e)),
                Pulled::Wait => return Poll::Pending,
            }
        }
        Poll::Ready(None)
    }
}

impl<R: ReadChunk + 'static> ChatStream for SseMessageStream<R> {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        wire::waited(self.produce(true))
    }

    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        self.produce(false)
    }
}

#[cfg(test)]
mod tests;
