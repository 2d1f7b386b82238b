//! Ollama's native API wire format: `POST /api/chat` (one JSON answer, or
//! NDJSON lines with `"stream": true`), `POST /api/embed`, `GET /api/tags`
//! and `POST /api/show`, and the mapping of its failures onto
//! [`ProviderError`].
//!
//! How the WIT request maps onto `/api/chat`:
//! - messages keep their roles; a message's text parts are its `content`
//!   and its images its `images` (base64 bytes: Ollama fetches no URLs and
//!   reads no documents, so those are unsupported); an assistant's
//!   reasoning is its `thinking`, its tool calls carry their arguments as
//!   JSON objects (Ollama's form), and a tool result names its tool with
//!   `tool_name` (looked up by the call's id in the conversation);
//! - `temperature`, `top-p`, `max-tokens` and `stop` go into `options`
//!   (`num_predict` for the token limit); `json-mode` is `format: "json"`;
//! - Ollama has no `tool_choice`: `none` sends no tools, `named` only that
//!   tool, `auto` and `required` all of them;
//! - Ollama gives no answer id: one is derived from the model and
//!   `created_at` of the (first) answer line; tool calls without an id get
//!   a stable synthesized one; an answer's `thinking` is its reasoning (one
//!   entry, unsigned).

use crate::content::{base64_encode, parse_data_url, text_content};
use crate::http::ReadChunk;
use crate::provider::{
    Capabilities, ChatChunk, ChatRequest, ChatResponse, ChatStream, ContentPart, EmbedRequest,
    EmbedResponse, FinishReason, MediaSource, Message, ProviderError, RateLimit, Reasoning,
    ReasoningDelta, Role, ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use crate::wire::{self, NdjsonSource, Pulled};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::task::Poll;

/// Request fields that `extra` may not override.
const RESERVED_FIELDS: &[&str] = &["model", "messages", "stream"];
/// Fields of `extra` merged into ours instead of replacing them.
const DEEP_FIELDS: &[&str] = &["options"];

/// Operator settings applied to every chat request (the request's `extra`
/// still overrides them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatDefaults {
    /// `options.num_ctx`: the context window to load the model with.
    pub num_ctx: Option<u32>,
    /// `keep_alive`: how long the model stays loaded (`"5m"`, `"-1"`).
    pub keep_alive: Option<String>,
    /// `truncate`: `false` makes Ollama refuse a conversation longer than
    /// the context window (context-too-long) instead of dropping its oldest
    /// messages.
    pub truncate: Option<bool>,
}

// ---------------------------------------------------------------- requests

/// The body of `POST /api/chat`.
pub fn chat_request_body(
    request: &ChatRequest,
    stream: bool,
    defaults: &ChatDefaults,
) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    body.insert("messages".into(), messages_json(&request.messages)?.into());

    let tools: Vec<_> = match &request.tool_choice {
        Some(ToolChoice::None) => Vec::new(),
        Some(ToolChoice::Named(name)) => request.tools.iter().filter(|t| &t.name == name).collect(),
        _ => request.tools.iter().collect(),
    };
    if !tools.is_empty() {
        let mut out = Vec::with_capacity(tools.len());
        for tool in tools {
            let mut function = Map::new();
            function.insert("name".into(), tool.name.clone().into());
            if !tool.description.is_empty() {
                function.insert("description".into(), tool.description.clone().into());
            }
            function.insert("parameters".into(), wire::tool_parameters(tool)?);
            out.push(json!({ "type": "function", "function": function }));
        }
        body.insert("tools".into(), out.into());
    }

    let mut options = Map::new();
    if let Some(t) = request.temperature {
        options.insert("temperature".into(), wire::float_json("temperature", t)?);
    }
    if let Some(p) = request.top_p {
        options.insert("top_p".into(), wire::float_json("top-p", p)?);
    }
    if let Some(max) = request.max_tokens {
        options.insert("num_predict".into(), max.into());
    }
    if !request.stop.is_empty() {
        options.insert("stop".into(), request.stop.clone().into());
    }
    if let Some(n) = defaults.num_ctx {
        options.insert("num_ctx".into(), n.into());
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    if request.json_mode {
        body.insert("format".into(), "json".into());
    }
    if let Some(k) = &defaults.keep_alive {
        // A number of seconds is sent as a number, a duration as text.
        let value = k
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| k.clone().into());
        body.insert("keep_alive".into(), value);
    }
    if let Some(t) = defaults.truncate {
        body.insert("truncate".into(), t.into());
    }
    wire::merge_extra(
        &mut body,
        request.extra.as_deref(),
        "ollama",
        RESERVED_FIELDS,
        DEEP_FIELDS,
    )?;
    body.insert("stream".into(), stream.into());
    Ok(Value::Object(body))
}

fn messages_json(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    let names = wire::tool_names_by_id(messages);
    let mut out = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let mut m = json!({ "role": role, "content": message.text() });
        let images = images_json(index, &message.content)?;
        if !images.is_empty() {
            m["images"] = images.into();
        }
        if message.role == Role::Assistant {
            // Another provider's redacted reasoning has no text to send.
            let thinking: Vec<&str> = message
                .reasoning
                .iter()
                .filter(|r| !r.redacted && !r.text.is_empty())
                .map(|r| r.text.as_str())
                .collect();
            if !thinking.is_empty() {
                m["thinking"] = thinking.join("\n\n").into();
            }
        }
        if message.role == Role::Assistant && !message.tool_calls.is_empty() {
            let calls = message
                .tool_calls
                .iter()
                .map(|c| {
                    Ok(json!({
                        "function": {
                            "name": c.name,
                            "arguments": wire::arguments_object(index, &c.name, &c.arguments)?,
                        }
                    }))
                })
                .collect::<Result<Vec<_>, ProviderError>>()?;
            m["tool_calls"] = calls.into();
        }
        if message.role == Role::Tool
            && let Some(name) = wire::tool_result_name(&names, message)
        {
            m["tool_name"] = name.into();
        }
        out.push(m);
    }
    Ok(out)
}

/// A message's images as the base64 strings `images` takes. Ollama reads
/// bytes only: an image URL (other than a `data:` URL) and any document are
/// unsupported.
fn images_json(index: usize, content: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut images = Vec::new();
    for part in content {
        match part {
            ContentPart::Text(_) => {}
            ContentPart::Image(image) => {
                let data = match &image.source {
                    MediaSource::Inline(blob) => base64_encode(&blob.data),
                    MediaSource::Url(url) => match parse_data_url(url) {
                        Some(blob) => base64_encode(&blob.data),
                        None => {
                            return Err(ProviderError::Unsupported(format!(
                                "message {index}: ollama takes images as bytes, not URLs"
                            )));
                        }
                    },
                };
                images.push(data.into());
            }
            ContentPart::Document(_) => {
                return Err(ProviderError::Unsupported(format!(
                    "message {index}: ollama does not read documents"
                )));
            }
        }
    }
    Ok(images)
}

/// The body of `POST /api/embed`.
pub fn embed_request_body(request: &EmbedRequest, truncate: Option<bool>) -> Value {
    let mut body = json!({ "model": request.model, "input": request.inputs });
    if let Some(d) = request.dimensions {
        body["dimensions"] = d.into();
    }
    if let Some(t) = truncate {
        body["truncate"] = t.into();
    }
    body
}

// ---------------------------------------------------------------- responses

#[derive(Deserialize, Default)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    #[serde(default)]
    content: String,
    #[serde(default)]
    thinking: String,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireChat {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u32>,
    #[serde(default)]
    eval_count: Option<u32>,
    #[serde(default)]
    error: Option<Value>,
}

impl WireChat {
    fn usage(&self) -> Option<Usage> {
        if self.prompt_eval_count.is_none() && self.eval_count.is_none() {
            return None;
        }
        let prompt = self.prompt_eval_count.unwrap_or(0);
        let completion = self.eval_count.unwrap_or(0);
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        })
    }
}

/// The answer id Ollama does not give: stable for one answer.
fn answer_id(model: &str, created_at: &str) -> String {
    format!(
        "ollama-{:016x}",
        wire::fnv1a(&[model.as_bytes(), created_at.as_bytes()])
    )
}

fn tool_calls(calls: Vec<WireToolCall>, first: usize) -> Vec<ToolCall> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let arguments = match c.function.arguments {
                None | Some(Value::Null) => "{}".to_string(),
                // Arguments are an object in Ollama; some models emit text.
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
            };
            ToolCall {
                id: c.id.filter(|id| !id.is_empty()).unwrap_or_else(|| {
                    wire::synthesize_call_id(first + i, &c.function.name, &arguments)
                }),
                name: c.function.name,
                arguments,
                signature: None,
            }
        })
        .collect()
}

/// Maps a `done_reason`.
pub fn finish_reason(reason: &str, has_tool_calls: bool) -> FinishReason {
    match reason {
        "stop" if has_tool_calls => FinishReason::ToolCalls,
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        // "load", "unload" and anything new.
        _ => FinishReason::Other,
    }
}

/// Parses a non-streamed `/api/chat` answer.
pub fn parse_chat_response(
    body: &[u8],
    requested_model: &str,
) -> Result<ChatResponse, ProviderError> {
    let wire: WireChat = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if let Some(error) = wire.error.as_ref().filter(|e| !e.is_null()) {
        return Err(error_from_message(None, &error_text(error), &[]));
    }
    let usage = wire.usage();
    let model = wire
        .model
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| requested_model.to_string());
    let message = wire.message.unwrap_or_default();
    let calls = tool_calls(message.tool_calls, 0);
    let finish = match wire.done_reason.as_deref() {
        Some(reason) => finish_reason(reason, !calls.is_empty()),
        None if !calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id: answer_id(&model, wire.created_at.as_deref().unwrap_or("")),
        model,
        message: Message {
            role: Role::Assistant,
            content: text_content(message.content),
            tool_calls: calls,
            tool_call_id: None,
            name: None,
            reasoning: if message.thinking.is_empty() {
                Vec::new()
            } else {
                vec![Reasoning {
                    text: message.thinking,
                    signature: None,
                    redacted: false,
                }]
            },
        },
        finish_reason: finish,
        // Ollama does not say which stop sequence ended an answer.
        stop_sequence: None,
        usage,
    })
}

/// Parses an `/api/embed` response for `expected` inputs.
pub fn parse_embed_response(
    body: &[u8],
    requested_model: &str,
    expected: usize,
) -> Result<EmbedResponse, ProviderError> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(default)]
        model: Option<String>,
        embeddings: Vec<Vec<f32>>,
        #[serde(default)]
        prompt_eval_count: Option<u32>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if wire.embeddings.len() != expected {
        return Err(wire::invalid_upstream(format!(
            "{} embeddings for {expected} inputs",
            wire.embeddings.len()
        )));
    }
    Ok(EmbedResponse {
        model: wire
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        embeddings: wire.embeddings,
        usage: wire.prompt_eval_count.map(|n| Usage {
            prompt_tokens: n,
            completion_tokens: 0,
            total_tokens: n,
        }),
    })
}

/// One model of `GET /api/tags`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// The name to send as `model` (`llama3.2:latest`).
    pub name: String,
    /// `details.family` (`llama`, `bert`, `nomic-bert`).
    pub family: Option<String>,
}

/// Parses `GET /api/tags`.
pub fn parse_tags(body: &[u8]) -> Result<Vec<ModelEntry>, ProviderError> {
    #[derive(Deserialize, Default)]
    struct Details {
        #[serde(default)]
        family: Option<String>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        details: Option<Details>,
    }
    #[derive(Deserialize)]
    struct Wire {
        models: Vec<Item>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    Ok(wire
        .models
        .into_iter()
        .filter_map(|m| {
            let name = m.name.or(m.model).filter(|n| !n.is_empty())?;
            Some(ModelEntry {
                name,
                family: m.details.and_then(|d| d.family),
            })
        })
        .collect())
}

/// What `POST /api/show` says about a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelDetails {
    /// `capabilities` (Ollama 0.6+): `completion`, `tools`, `vision`,
    /// `embedding`, `thinking`, `insert`.
    pub capabilities: Option<Vec<String>>,
    /// `model_info["{architecture}.context_length"]`: the trained window.
    pub context_length: Option<u32>,
}

/// The body of `POST /api/show` for `model`.
pub fn show_request_body(model: &str) -> Value {
    json!({ "model": model })
}

/// Parses a `POST /api/show` response.
pub fn parse_show(body: &[u8]) -> Result<ModelDetails, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    let capabilities = value
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
    let info = value.get("model_info");
    let architecture = info
        .and_then(|i| i.get("general.architecture"))
        .and_then(Value::as_str);
    let context_length = match (info, architecture) {
        (Some(info), Some(arch)) => info
            .get(format!("{arch}.context_length"))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        _ => None,
    };
    Ok(ModelDetails {
        capabilities,
        context_length,
    })
}

/// Capabilities of a model: from `/api/show` when it says, else guessed
/// from the name and family (embedding models are BERT-like or named
/// `*embed*`; everything else chats, with tools assumed).
pub fn capabilities(entry: &ModelEntry, details: Option<&ModelDetails>) -> Capabilities {
    if let Some(list) = details.and_then(|d| d.capabilities.as_ref()) {
        let has = |c: &str| list.iter().any(|x| x == c);
        let mut caps = Capabilities::empty();
        if has("completion") {
            caps |= Capabilities::CHAT | Capabilities::STREAMING | Capabilities::JSON_MODE;
        }
        if has("tools") {
            caps |= Capabilities::TOOLS;
        }
        if has("vision") {
            caps |= Capabilities::VISION;
        }
        if has("embedding") {
            caps |= Capabilities::EMBEDDINGS;
        }
        return caps;
    }
    let family = entry.family.as_deref().unwrap_or("").to_ascii_lowercase();
    if entry.name.to_ascii_lowercase().contains("embed") || family.contains("bert") {
        Capabilities::EMBEDDINGS
    } else {
        Capabilities::CHAT | Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::JSON_MODE
    }
}

// ---------------------------------------------------------------- errors

fn error_text(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        other => other
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| other.to_string()),
    }
}

fn error_from_message(
    status: Option<u16>,
    detail: &str,
    headers: &[(String, Vec<u8>)],
) -> ProviderError {
    let message = match status {
        Some(s) => wire::status_message(s, detail),
        None => format!("upstream error: {detail}"),
    };
    let lower = detail.to_ascii_lowercase();
    let busy = lower.contains("server busy") || lower.contains("maximum pending requests");
    match status {
        Some(429) => ProviderError::RateLimited(RateLimit {
            retry_after_ms: crate::upstream::retry_after_ms(headers),
            message,
        }),
        // OLLAMA_MAX_QUEUE reached: try again later.
        Some(503) | None if busy => ProviderError::RateLimited(RateLimit {
            retry_after_ms: crate::upstream::retry_after_ms(headers),
            message,
        }),
        Some(401 | 403) => ProviderError::Auth(message),
        Some(404) => ProviderError::NotFound(message),
        Some(408 | 504) => ProviderError::Timeout(message),
        Some(400 | 413 | 500) | None if wire::mentions_context_overflow(detail) => {
            ProviderError::ContextTooLong(message)
        }
        None if lower.contains("not found") => ProviderError::NotFound(message),
        Some(400..=499) => ProviderError::BadRequest(message),
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// Maps a non-2xx response (`{"error":"..."}`): 404 (model not found, pull
/// it first) not-found, 400 bad-request (context-too-long when about the
/// context length, which Ollama reports when `truncate` is false), 429 and
/// 503 "server busy" rate-limited, 401/403 auth (ollama.com), 500 and
/// other 5xx upstream-unavailable.
pub fn error_from_response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> ProviderError {
    let detail = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) if o.contains_key("error") => error_text(&o["error"]),
        _ => wire::quote_body(body),
    };
    error_from_message(Some(status), &detail, headers)
}

// ---------------------------------------------------------------- streaming

/// A streamed `/api/chat` answer: one chunk per NDJSON line with content,
/// thinking (reasoning deltas, all of index 0) or tool calls (which Ollama
/// sends whole), and the `done` line the chunk with the finish reason and
/// the usage (`prompt_eval_count`, `eval_count`).
///
/// A body that ends before the `done` line is an upstream-unavailable error
/// (the answer was cut); an `{"error": ...}` line is the matching error.
pub struct NdjsonChatStream<R: ReadChunk> {
    source: NdjsonSource<R>,
    model: String,
    id: Option<String>,
    calls: usize,
    finished: bool,
    done: bool,
}

impl<R: ReadChunk> NdjsonChatStream<R> {
    /// A stream over `source` (a 2xx response body) for a request to
    /// `requested_model`.
    pub fn new(source: R, requested_model: impl Into<String>) -> Self {
        NdjsonChatStream {
            source: NdjsonSource::new(source),
            model: requested_model.into(),
            id: None,
            calls: 0,
            finished: false,
            done: false,
        }
    }

    fn fail(&mut self, error: ProviderError) -> Option<Result<ChatChunk, ProviderError>> {
        self.done = true;
        Some(Err(error))
    }

    fn on_line(&mut self, value: Value) -> Result<Option<ChatChunk>, ProviderError> {
        let wire: WireChat = serde_json::from_value(value).map_err(wire::invalid_upstream)?;
        if let Some(error) = wire.error.as_ref().filter(|e| !e.is_null()) {
            return Err(error_from_message(None, &error_text(error), &[]));
        }
        if let Some(model) = wire.model.as_ref().filter(|m| !m.is_empty()) {
            self.model = model.clone();
        }
        let id = self
            .id
            .get_or_insert_with(|| answer_id(&self.model, wire.created_at.as_deref().unwrap_or("")))
            .clone();
        let usage = wire.usage();
        let message = wire.message.unwrap_or_default();
        let calls = tool_calls(message.tool_calls, self.calls);
        let deltas: Vec<ToolCallDelta> = calls
            .into_iter()
            .map(|call| {
                let index = self.calls as u32;
                self.calls += 1;
                ToolCallDelta {
                    index,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                    signature: call.signature,
                }
            })
            .collect();
        let reasoning = if message.thinking.is_empty() {
            Vec::new()
        } else {
            vec![ReasoningDelta {
                index: 0,
                text: message.thinking,
                signature: None,
                redacted: false,
            }]
        };
        let mut chunk = ChatChunk {
            id,
            model: self.model.clone(),
            content: Some(message.content).filter(|c| !c.is_empty()),
            tool_calls: deltas,
            reasoning,
            finish_reason: None,
            stop_sequence: None,
            usage: None,
        };
        if wire.done {
            self.finished = true;
            chunk.finish_reason = Some(match wire.done_reason.as_deref() {
                Some(reason) => finish_reason(reason, self.calls > 0),
                None if self.calls > 0 => FinishReason::ToolCalls,
                None => FinishReason::Stop,
            });
            chunk.usage = usage;
        }
        let empty = chunk.content.is_none()
            && chunk.tool_calls.is_empty()
            && chunk.reasoning.is_empty()
            && chunk.finish_reason.is_none();
        Ok((!empty).then_some(chunk))
    }
}

impl<R: ReadChunk> NdjsonChatStream<R> {
    /// The next chunk; with `wait`, reading the body as needed, else
    /// `Pending` when the next chunk needs a read.
    fn produce(&mut self, wait: bool) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        while !self.done {
            if self.finished {
                // Nothing follows the done line.
                self.done = true;
                break;
            }
            match self.source.pull(wait) {
                Pulled::Item(value) => match self.on_line(value) {
                    Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(self.fail(e)),
                },
                Pulled::End { .. } => {
                    return Poll::Ready(self.fail(wire::cut_stream("final `done` line")));
                }
                Pulled::Failed(e) => return Poll::Ready(self.fail(e)),
                Pulled::Wait => return Poll::Pending,
            }
        }
        Poll::Ready(None)
    }
}

impl<R: ReadChunk + 'static> ChatStream for NdjsonChatStream<R> {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        wire::waited(self.produce(true))
    }

    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        self.produce(false)
    }
}

#[cfg(test)]
mod tests;
