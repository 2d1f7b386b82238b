//! The OpenAI-compatible wire format, shared by every provider that speaks
//! it (OpenAI itself, vLLM, llama.cpp, Ollama's `/v1`, LM Studio, Together,
//! Groq, ...): request bodies from the WIT types, response and stream-chunk
//! parsing back into them, and the mapping of upstream failures onto
//! [`ProviderError`], on which the node's routing depends.
//!
//! Everything here is pure except [`SseChatStream`], which pulls from any
//! [`ReadChunk`] source (an [`http::Body`](crate::http::Body) in a plugin).

use crate::content::{is_text_only, part_kind, source_url, text_content, text_of};
use crate::http::ReadChunk;
use crate::provider::{
    ChatChunk, ChatRequest, ChatResponse, ChatStream, ContentPart, EmbedRequest, EmbedResponse,
    FinishReason, MediaSource, Message, ProviderError, RateLimit, Reasoning, ReasoningDelta, Role,
    ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use crate::sse;
use crate::upstream::{error_from_http, retry_after_ms};
use crate::wire::{
    float_json, invalid_upstream, merge_extra, quote_body, shortest_f64, status_message,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::task::Poll;

/// Request fields that `extra` may not override, because the SDK sets them
/// from the call itself and parses the answer accordingly.
const RESERVED_FIELDS: &[&str] = &["model", "messages", "stream"];

// ---------------------------------------------------------------- requests

/// The body of `POST /chat/completions` for `request`. With `stream` the
/// upstream is asked for SSE chunks and for usage on the final chunk.
pub fn chat_request_body(request: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    let messages = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_json(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    body.insert("messages".into(), messages.into());

    if !request.tools.is_empty() {
        let mut tools = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            let parameters = if tool.parameters.trim().is_empty() {
                json!({ "type": "object", "properties": {} })
            } else {
                serde_json::from_str::<Value>(&tool.parameters).map_err(|e| {
                    ProviderError::BadRequest(format!(
                        "tool `{}`: parameters are not valid JSON: {e}",
                        tool.name
                    ))
                })?
            };
            let mut function = Map::new();
            function.insert("name".into(), tool.name.clone().into());
            if !tool.description.is_empty() {
                function.insert("description".into(), tool.description.clone().into());
            }
            function.insert("parameters".into(), parameters);
            tools.push(json!({ "type": "function", "function": function }));
        }
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = &request.tool_choice {
        let value = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) => json!({ "type": "function", "function": { "name": name } }),
        };
        body.insert("tool_choice".into(), value);
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), float_json("temperature", t)?);
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), float_json("top-p", p)?);
    }
    if let Some(max) = request.max_tokens {
        body.insert("max_tokens".into(), max.into());
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), request.stop.clone().into());
    }
    if request.json_mode {
        body.insert("response_format".into(), json!({ "type": "json_object" }));
    }
    merge_extra(
        &mut body,
        request.extra.as_deref(),
        "openai",
        RESERVED_FIELDS,
        &[],
    )?;
    if stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Value::Object(body))
}

/// How a service departs from OpenAI's chat body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyQuirks {
    /// The service takes `stream_options` (usage on the last chunk).
    pub stream_usage_option: bool,
    /// The model takes `max_completion_tokens` instead of `max_tokens`
    /// (OpenAI's reasoning models).
    pub max_completion_tokens: bool,
}

impl Default for BodyQuirks {
    fn default() -> Self {
        BodyQuirks {
            stream_usage_option: true,
            max_completion_tokens: false,
        }
    }
}

/// The body of `POST /chat/completions` for `request`, as JSON text, with
/// `quirks` applied: [`chat_request_body`] adjusted, or, for a plain request
/// (text messages, no tools, no `extra`), the same document written straight
/// from the request with no `Value` tree in between.
pub fn chat_request_json(
    request: &ChatRequest,
    stream: bool,
    quirks: BodyQuirks,
) -> Result<Vec<u8>, ProviderError> {
    // Only maps with non-string keys fail to serialize; there are none.
    Ok(match PlainBody::of(request, stream, quirks) {
        Some(plain) => serde_json::to_vec(&plain),
        None => serde_json::to_vec(&quirked_chat_request_body(request, stream, quirks)?),
    }
    .unwrap_or_default())
}

/// [`chat_request_body`] with `quirks` applied: what [`chat_request_json`]
/// writes for any request.
fn quirked_chat_request_body(
    request: &ChatRequest,
    stream: bool,
    quirks: BodyQuirks,
) -> Result<Value, ProviderError> {
    let mut body = chat_request_body(request, stream)?;
    if let Some(map) = body.as_object_mut() {
        if !quirks.stream_usage_option {
            map.remove("stream_options");
        }
        if quirks.max_completion_tokens
            && let Some(max) = map.remove("max_tokens")
        {
            // An explicit `max_completion_tokens` in `extra` wins.
            map.entry("max_completion_tokens").or_insert(max);
        }
    }
    Ok(body)
}

/// A plain request's chat body, borrowed from the request.
#[derive(serde::Serialize)]
struct PlainBody<'a> {
    model: &'a str,
    messages: Vec<PlainMessage<'a>>,
    /// As [`float_json`] writes them (`0.7`, not `0.699999988079071`).
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<JsonObjectFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(serde::Serialize)]
struct PlainMessage<'a> {
    role: &'static str,
    content: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct JsonObjectFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> PlainBody<'a> {
    /// `None` unless `request` is plain; a value [`chat_request_body`]
    /// refuses (a non-finite number) is not.
    fn of(request: &'a ChatRequest, stream: bool, quirks: BodyQuirks) -> Option<PlainBody<'a>> {
        let finite = |v: Option<f32>| v.is_none_or(f32::is_finite);
        if request.extra.is_some()
            || !request.tools.is_empty()
            || request.tool_choice.is_some()
            || !finite(request.temperature)
            || !finite(request.top_p)
        {
            return None;
        }
        let mut messages = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            if m.role == Role::Tool || !m.tool_calls.is_empty() || !is_text_only(&m.content) {
                return None;
            }
            messages.push(PlainMessage {
                role: role_name(m.role),
                content: match m.content.as_slice() {
                    [ContentPart::Text(t)] => t.as_str().into(),
                    parts => text_of(parts).into(),
                },
                name: m.name.as_deref(),
            });
        }
        let (max_tokens, max_completion_tokens) = if quirks.max_completion_tokens {
            (None, request.max_tokens)
        } else {
            (request.max_tokens, None)
        };
        Some(PlainBody {
            model: &request.model,
            messages,
            temperature: request.temperature.map(shortest_f64),
            top_p: request.top_p.map(shortest_f64),
            max_tokens,
            max_completion_tokens,
            stop: &request.stop,
            response_format: request.json_mode.then_some(JsonObjectFormat {
                kind: "json_object",
            }),
            stream: stream.then_some(true),
            stream_options: (stream && quirks.stream_usage_option).then_some(StreamOptions {
                include_usage: true,
            }),
        })
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// A message's `content`: a string when it is all text (what every
/// OpenAI-compatible server takes), else an array of parts, which OpenAI
/// takes in user messages only: `image_url` parts (a URL or a `data:` URL)
/// and `file` parts for inline documents.
fn content_json(index: usize, message: &Message) -> Result<Value, ProviderError> {
    if is_text_only(&message.content) {
        return Ok(text_of(&message.content).into());
    }
    let unsupported = |what: &str| {
        ProviderError::Unsupported(format!(
            "message {index}: the OpenAI chat API does not take {what}"
        ))
    };
    if message.role != Role::User {
        let kind = message
            .content
            .iter()
            .map(part_kind)
            .find(|k| *k != "text")
            .unwrap_or("media");
        return Err(unsupported(&format!(
            "an {kind} in a {} message (only in user messages)",
            role_name(message.role)
        )));
    }
    let mut parts = Vec::with_capacity(message.content.len());
    for part in &message.content {
        parts.push(match part {
            ContentPart::Text(t) => json!({ "type": "text", "text": t }),
            ContentPart::Image(image) => {
                let mut url = json!({ "url": source_url(&image.source) });
                if let Some(detail) = &image.detail {
                    url["detail"] = detail.clone().into();
                }
                json!({ "type": "image_url", "image_url": url })
            }
            ContentPart::Document(doc) => match &doc.source {
                MediaSource::Inline(_) => {
                    let mut file = json!({ "file_data": source_url(&doc.source) });
                    file["filename"] = doc
                        .title
                        .clone()
                        .unwrap_or_else(|| "document".into())
                        .into();
                    json!({ "type": "file", "file": file })
                }
                MediaSource::Url(_) => {
                    return Err(unsupported("a document by URL (send its bytes)"));
                }
            },
        });
    }
    Ok(parts.into())
}

fn message_json(index: usize, message: &Message) -> Result<Value, ProviderError> {
    let mut obj = Map::new();
    obj.insert("role".into(), role_name(message.role).into());
    if message.role == Role::Assistant && !message.tool_calls.is_empty() {
        // OpenAI wants `null`, not "", for an assistant turn that only calls tools.
        let content = if message.content.is_empty() {
            Value::Null
        } else {
            content_json(index, message)?
        };
        obj.insert("content".into(), content);
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect();
        obj.insert("tool_calls".into(), calls.into());
    } else {
        obj.insert("content".into(), content_json(index, message)?);
    }
    if message.role == Role::Tool {
        let id = message.tool_call_id.as_ref().ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "message {index}: a tool message needs the tool-call-id it answers"
            ))
        })?;
        obj.insert("tool_call_id".into(), id.clone().into());
    }
    if let Some(name) = &message.name {
        obj.insert("name".into(), name.clone().into());
    }
    Ok(Value::Object(obj))
}

/// The body of `POST /embeddings`.
pub fn embeddings_request_body(request: &EmbedRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "input": request.inputs,
        "encoding_format": "float",
    });
    if let Some(d) = request.dimensions {
        body["dimensions"] = d.into();
    }
    body
}

// ---------------------------------------------------------------- wire types

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            // Some servers leave the total out.
            total_tokens: if u.total_tokens == 0 {
                u.prompt_tokens.saturating_add(u.completion_tokens)
            } else {
                u.total_tokens
            },
        }
    }
}

#[derive(Deserialize, Default)]
struct WireFunction {
    name: Option<String>,
    /// A JSON string per the spec; some servers send the object itself.
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireToolCall {
    index: Option<u32>,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
    refusal: Option<String>,
    /// The reasoning of servers that show it (DeepSeek, vLLM, llama.cpp,
    /// OpenRouter's `reasoning`).
    #[serde(alias = "reasoning")]
    reasoning_content: Option<String>,
    /// The pre-`tools` single function call, still sent by some servers.
    function_call: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    message: Option<WireMessage>,
    delta: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireCompletion {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

/// Text of a `content` field: a string, or an array of parts of which the
/// text parts are concatenated.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect(),
        _ => String::new(),
    }
}

fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// Maps an OpenAI `finish_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "stop_sequence" | "eos" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Picks choice 0 (the SDK never asks for more than one).
fn first_choice(choices: Vec<WireChoice>) -> Option<WireChoice> {
    let mut choices = choices;
    let at = choices.iter().position(|c| c.index == 0).unwrap_or(0);
    if at < choices.len() {
        Some(choices.swap_remove(at))
    } else {
        None
    }
}

// ---------------------------------------------------------------- responses

/// Parses a `/chat/completions` response. `requested_model` fills in a
/// missing `model`.
pub fn parse_chat_response(
    body: &[u8],
    requested_model: &str,
) -> Result<ChatResponse, ProviderError> {
    let wire: WireCompletion = serde_json::from_slice(body).map_err(invalid_upstream)?;
    if let Some(error) = wire.error.filter(|e| !e.is_null()) {
        return Err(error_from_stream_error(&error));
    }
    let choice = first_choice(wire.choices).ok_or_else(|| invalid_upstream("no choices"))?;
    let message = choice
        .message
        .ok_or_else(|| invalid_upstream("choice without a message"))?;
    let mut content = content_text(message.content.as_ref());
    if content.is_empty()
        && let Some(refusal) = message.refusal
    {
        content = refusal;
    }
    let mut tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let function = c.function.unwrap_or_default();
            ToolCall {
                id: c.id.unwrap_or_else(|| format!("call_{i}")),
                name: function.name.unwrap_or_default(),
                arguments: arguments_text(function.arguments),
                signature: None,
            }
        })
        .collect();
    if tool_calls.is_empty()
        && let Some(f) = message.function_call
    {
        tool_calls.push(ToolCall {
            id: "call_0".to_string(),
            name: f.name.unwrap_or_default(),
            arguments: arguments_text(f.arguments),
            signature: None,
        });
    }
    let finish = match choice.finish_reason.as_deref() {
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
            reasoning: message
                .reasoning_content
                .filter(|r| !r.is_empty())
                .map(|text| Reasoning {
                    text,
                    signature: None,
                    redacted: false,
                })
                .into_iter()
                .collect(),
            ..Message::with_parts(Role::Assistant, text_content(content))
        },
        finish_reason: finish,
        stop_sequence: None,
        usage: wire.usage.map(Usage::from),
    })
}

/// Parses the `data` of one stream event (not `[DONE]`) into a chunk.
/// `Ok(None)` for chunks that carry nothing (such as the first, role-only
/// one); an `error` object in the stream becomes the matching error.
pub fn parse_stream_chunk(
    data: &str,
    requested_model: &str,
) -> Result<Option<ChatChunk>, ProviderError> {
    let wire: WireCompletion = serde_json::from_str(data).map_err(invalid_upstream)?;
    if let Some(error) = wire.error.filter(|e| !e.is_null()) {
        return Err(error_from_stream_error(&error));
    }
    let mut chunk = ChatChunk {
        id: wire.id.unwrap_or_default(),
        model: wire
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        content: None,
        tool_calls: Vec::new(),
        reasoning: Vec::new(),
        finish_reason: None,
        stop_sequence: None,
        usage: wire.usage.map(Usage::from),
    };
    if let Some(choice) = first_choice(wire.choices) {
        chunk.finish_reason = choice.finish_reason.as_deref().map(finish_reason);
        // Some servers send a full `message` instead of a `delta` on the last chunk.
        if let Some(delta) = choice.delta.or(choice.message) {
            let mut text = content_text(delta.content.as_ref());
            if text.is_empty() {
                text = delta.refusal.unwrap_or_default();
            }
            chunk.content = Some(text).filter(|t| !t.is_empty());
            if let Some(text) = delta.reasoning_content.filter(|r| !r.is_empty()) {
                chunk.reasoning.push(ReasoningDelta {
                    index: 0,
                    text,
                    signature: None,
                    redacted: false,
                });
            }
            chunk.tool_calls = delta
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(position, c)| {
                    let function = c.function.unwrap_or_default();
                    ToolCallDelta {
                        index: c.index.unwrap_or(position as u32),
                        id: c.id,
                        name: function.name,
                        arguments: arguments_text(function.arguments),
                        signature: None,
                    }
                })
                .collect();
            if chunk.tool_calls.is_empty()
                && let Some(f) = delta.function_call
            {
                chunk.tool_calls.push(ToolCallDelta {
                    index: 0,
                    id: None,
                    name: f.name,
                    arguments: arguments_text(f.arguments),
                    signature: None,
                });
            }
        }
    }
    let empty = chunk.content.is_none()
        && chunk.tool_calls.is_empty()
        && chunk.reasoning.is_empty()
        && chunk.finish_reason.is_none()
        && chunk.usage.is_none();
    Ok(if empty { None } else { Some(chunk) })
}

/// Parses a `/embeddings` response for `expected` inputs, putting the
/// vectors back in input order.
pub fn parse_embeddings_response(
    body: &[u8],
    requested_model: &str,
    expected: usize,
) -> Result<EmbedResponse, ProviderError> {
    #[derive(Deserialize)]
    struct Item {
        index: Option<usize>,
        embedding: Vec<f32>,
    }
    #[derive(Deserialize)]
    struct Wire {
        model: Option<String>,
        data: Vec<Item>,
        usage: Option<WireUsage>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(invalid_upstream)?;
    if wire.data.len() != expected {
        return Err(invalid_upstream(format!(
            "{} embeddings for {expected} inputs",
            wire.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in wire.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        match slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => return Err(invalid_upstream(format!("bad embedding index {index}"))),
        }
    }
    Ok(EmbedResponse {
        model: wire
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        // Every slot is filled: `expected` items, each index used once.
        embeddings: slots.into_iter().flatten().collect(),
        usage: wire.usage.map(Usage::from),
    })
}

/// One entry of a `/models` list.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// The model id to send as `model`.
    pub id: String,
    /// `owned_by`, when given.
    pub owned_by: Option<String>,
    /// Context window reported by the server itself, when it says (vLLM's
    /// `max_model_len`, llama.cpp's `meta.n_ctx_train`, or a
    /// `context_length` / `context_window` field).
    pub context_length: Option<u32>,
}

/// Parses a `GET /models` response (`{"object":"list","data":[...]}`; a
/// bare array is accepted too).
pub fn parse_model_list(body: &[u8]) -> Result<Vec<ModelEntry>, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(invalid_upstream)?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(o) => match o.get("data").or_else(|| o.get("models")) {
            Some(Value::Array(items)) => items,
            _ => return Err(invalid_upstream("model list without `data`")),
        },
        _ => return Err(invalid_upstream("model list is not an object")),
    };
    let as_u32 = |v: Option<&Value>| {
        v.and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let id = item.get("id").and_then(Value::as_str)?.to_string();
            let context_length = as_u32(item.get("max_model_len"))
                .or_else(|| as_u32(item.get("context_length")))
                .or_else(|| as_u32(item.get("context_window")))
                .or_else(|| as_u32(item.pointer("/meta/n_ctx_train")));
            Some(ModelEntry {
                id,
                owned_by: item
                    .get("owned_by")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                context_length,
            })
        })
        .collect())
}

// ---------------------------------------------------------------- errors

/// The useful parts of an error body.
#[derive(Debug, Default, PartialEq)]
struct ErrorDetail {
    message: String,
    code: Option<String>,
    kind: Option<String>,
}

impl ErrorDetail {
    fn from_value(error: &Value) -> ErrorDetail {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match error {
            Value::String(s) => ErrorDetail {
                message: s.clone(),
                ..ErrorDetail::default()
            },
            Value::Object(o) => {
                // `{"error":{...}}`, or the error object itself.
                if let Some(inner @ (Value::Object(_) | Value::String(_))) = o.get("error") {
                    return ErrorDetail::from_value(inner);
                }
                let message = text(o.get("message"))
                    .or_else(|| text(o.get("detail")))
                    .or_else(|| o.get("detail").map(Value::to_string))
                    .unwrap_or_default();
                ErrorDetail {
                    message,
                    code: text(o.get("code")),
                    kind: text(o.get("type")),
                }
            }
            other => ErrorDetail {
                message: other.to_string(),
                ..ErrorDetail::default()
            },
        }
    }

    fn from_body(body: &[u8]) -> ErrorDetail {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => ErrorDetail::from_value(&value),
            Err(_) => ErrorDetail {
                message: quote_body(body),
                ..ErrorDetail::default()
            },
        }
    }

    fn mentions_context_length(&self) -> bool {
        let is = |s: &Option<String>, what: &str| s.as_deref() == Some(what);
        if is(&self.code, "context_length_exceeded")
            || is(&self.kind, "context_length_exceeded")
            || is(&self.kind, "exceed_context_size_error")
        {
            return true;
        }
        let m = self.message.to_ascii_lowercase();
        [
            "context length",
            "context_length",
            "maximum context",
            "context window",
            "context size",
        ]
        .iter()
        .any(|needle| m.contains(needle))
    }

    fn mentions_rate_limit(&self) -> bool {
        [&self.code, &self.kind]
            .iter()
            .any(|s| s.as_deref().is_some_and(|s| s.contains("rate_limit")))
    }
}

/// Maps a non-2xx upstream response onto the provider error the router
/// acts on: 429 rate-limited, 401/403 auth, 400 about the context length
/// context-too-long, 404 not-found, 408 timeout, other 4xx bad-request, 5xx
/// (and anything else) upstream-unavailable.
pub fn error_from_response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> ProviderError {
    let detail = ErrorDetail::from_body(body);
    let message = status_message(status, &detail.message);
    match status {
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_ms: retry_after_ms(headers),
            message,
        }),
        401 | 403 => ProviderError::Auth(message),
        400 | 413 | 422 if detail.mentions_context_length() => {
            ProviderError::ContextTooLong(message)
        }
        404 => ProviderError::NotFound(message),
        408 => ProviderError::Timeout(message),
        400..=499 => ProviderError::BadRequest(message),
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// Maps an `error` object received inside a 200 response or a stream.
fn error_from_stream_error(error: &Value) -> ProviderError {
    let detail = ErrorDetail::from_value(error);
    let message = format!("upstream error: {}", detail.message);
    if detail.mentions_context_length() {
        ProviderError::ContextTooLong(message)
    } else if detail.mentions_rate_limit() {
        ProviderError::RateLimited(RateLimit {
            retry_after_ms: None,
            message,
        })
    } else if detail.kind.as_deref() == Some("invalid_request_error") {
        ProviderError::BadRequest(message)
    } else {
        ProviderError::UpstreamUnavailable(message)
    }
}

// ---------------------------------------------------------------- streaming

/// A streamed `/chat/completions` answer: SSE events decoded incrementally
/// from `source`, one [`ChatChunk`] per [`ChatStream::next`].
///
/// The stream ends at `data: [DONE]`. A body that ends without it is an
/// upstream-unavailable error (the answer was cut), unless a chunk with a
/// finish reason already arrived and no event was left half-received: some
/// compatible servers omit `[DONE]`, and by then the answer is complete.
pub struct SseChatStream<R: ReadChunk> {
    source: R,
    decoder: sse::Decoder,
    model: String,
    saw_finish: bool,
    done: bool,
}

impl<R: ReadChunk> SseChatStream<R> {
    /// A stream over `source` (a response body with status 2xx) for a
    /// request to `requested_model`.
    pub fn new(source: R, requested_model: impl Into<String>) -> Self {
        SseChatStream {
            source,
            decoder: sse::Decoder::new(),
            model: requested_model.into(),
            saw_finish: false,
            done: false,
        }
    }

    fn fail(&mut self, error: ProviderError) -> Option<Result<ChatChunk, ProviderError>> {
        self.done = true;
        Some(Err(error))
    }
}

impl<R: ReadChunk> SseChatStream<R> {
    /// The next chunk; with `wait`, reading the body as needed, else
    /// `Pending` when the next chunk needs a read.
    fn produce(&mut self, wait: bool) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        while !self.done {
            while let Some(event) = self.decoder.next_event() {
                let data = event.data.trim();
                if data == "[DONE]" {
                    self.done = true;
                    return Poll::Ready(None);
                }
                if data.is_empty() {
                    continue;
                }
                if event.event == "error" {
                    let value = serde_json::from_str(data).unwrap_or_else(|_| json!(data));
                    return Poll::Ready(self.fail(error_from_stream_error(&value)));
                }
                match parse_stream_chunk(data, &self.model) {
                    Ok(Some(chunk)) => {
                        self.saw_finish |= chunk.finish_reason.is_some();
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(self.fail(e)),
                }
            }
            if !wait {
                return Poll::Pending;
            }
            match self.source.read_chunk() {
                Ok(Some(bytes)) => {
                    if let Err(e) = self.decoder.feed(&bytes) {
                        return Poll::Ready(self.fail(ProviderError::UpstreamUnavailable(
                            format!("upstream stream: {e}"),
                        )));
                    }
                }
                Ok(None) if self.saw_finish && !self.decoder.has_partial_event() => {
                    self.done = true;
                }
                Ok(None) => {
                    return Poll::Ready(
                        self.fail(ProviderError::UpstreamUnavailable(
                            "the upstream stream ended before the answer was complete (no [DONE])"
                                .to_string(),
                        )),
                    );
                }
                Err(e) if self.saw_finish => {
                    // The answer is complete; only the trailing usage or
                    // [DONE] was lost, which is not worth failing it for.
                    crate::log::warn(&format!("stream ended with an error after finishing: {e}"));
                    self.done = true;
                }
                Err(e) => return Poll::Ready(self.fail(error_from_http(&e))),
            }
        }
        Poll::Ready(None)
    }
}

impl<R: ReadChunk + 'static> ChatStream for SseChatStream<R> {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        crate::wire::waited(self.produce(true))
    }

    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        self.produce(false)
    }
}

#[cfg(test)]
mod tests;
