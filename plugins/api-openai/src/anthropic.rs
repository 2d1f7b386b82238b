//! The Anthropic Messages API (`POST /v1/messages`, and `/v1/models` for
//! clients that send `anthropic-version`) to and from the router's WIT
//! types. Pure: no host calls.
//!
//! Any alias works: an Anthropic client can talk to an OpenAI-backed
//! deployment, since everything goes through the router's neutral types.

use crate::error::{ApiError, Kind};
use crate::parts::{self, Parts};
use crate::wire::{
    self, absent, optional_bool, optional_f32, optional_string, optional_u32, required_string,
    type_name,
};
use hanzo_node_sdk::llm::{
    ChatChunk, ChatRequest, ChatResponse, ContentPart, FinishReason, Message, Model, Reasoning,
    Role, ToolCall, ToolChoice, ToolDefinition, Usage,
};
use serde_json::{Map, Value, json};

/// Fields of a Messages request this module maps itself. Every other
/// non-null field goes to the provider as `extra`, except [`DROPPED_FIELDS`].
const MESSAGE_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "stop_sequences",
    "stream",
];

/// Anthropic-only request fields, dropped rather than handed to upstreams
/// that would refuse them: bookkeeping (`metadata`, `user_profile_id`, …),
/// prompt-cache, context-management (beta) and container controls, and
/// `output_config` (`format`, structured output, is mapped to JSON mode).
const DROPPED_FIELDS: &[&str] = &[
    "metadata",
    "cache_control",
    "container",
    "context_management",
    "diagnostics",
    "inference_geo",
    "mcp_servers",
    "output_config",
    "service_tier",
    "speed",
    "user_profile_id",
    "workspace_id",
];

/// A parsed `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesCall {
    pub request: ChatRequest,
    pub stream: bool,
}

// ---------------------------------------------------------------- requests

/// Parses a Messages request body.
pub fn parse_messages_request(body: &[u8]) -> Result<MessagesCall, ApiError> {
    parse_messages_object(wire::parse_object(body)?)
}

/// Parses a `POST /v1/messages/count_tokens` body: a Messages request
/// without `max_tokens` (and without `stream`).
pub fn parse_count_tokens_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let mut obj = wire::parse_object(body)?;
    if absent(obj.get("max_tokens")) {
        obj.insert("max_tokens".into(), 1.into());
    }
    Ok(parse_messages_object(obj)?.request)
}

fn parse_messages_object(obj: Map<String, Value>) -> Result<MessagesCall, ApiError> {
    let model = required_string(&obj, "model", "model")?;
    let max_tokens = match optional_u32(&obj, "max_tokens", "max_tokens")? {
        Some(n) if n >= 1 => n,
        Some(_) => {
            return Err(ApiError::invalid(
                "max_tokens",
                "max_tokens: must be greater than or equal to 1",
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "max_tokens",
                "max_tokens: Field required",
            ));
        }
    };

    let mut messages = Vec::new();
    match obj.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !s.is_empty() {
                messages.push(Message::system(s.clone()));
            }
        }
        Some(Value::Array(blocks)) => {
            let text = text_blocks(blocks, "system")?;
            if !text.is_empty() {
                messages.push(Message::system(text));
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "system",
                format!(
                    "system: must be a string or an array of text blocks, not {}",
                    type_name(other)
                ),
            ));
        }
    }
    match obj.get("messages") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                convert_message(i, item, &mut messages)?;
            }
        }
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "messages",
                "messages: at least one message is required",
            ));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("messages", "messages: Field required"));
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "messages",
                format!("messages: must be an array, not {}", type_name(other)),
            ));
        }
    }

    let tools = parse_tools(obj.get("tools"))?;
    let tool_choice = parse_tool_choice(obj.get("tool_choice"))?;
    let stop = match obj.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid(
                    "stop_sequences",
                    "stop_sequences: must be an array of strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "stop_sequences",
                "stop_sequences: must be an array of strings",
            ));
        }
    };

    let mut extra = Map::new();
    for (key, value) in &obj {
        if key == "thinking" {
            // Anthropic upstreams think (and sign what they thought, which
            // comes back as thinking blocks); others never see it.
            if !value.is_null() {
                extra.insert("anthropic".into(), json!({ "thinking": value }));
            }
        } else if !MESSAGE_FIELDS.contains(&key.as_str())
            && !DROPPED_FIELDS.contains(&key.as_str())
            && !value.is_null()
        {
            extra.insert(key.clone(), value.clone());
        }
    }

    Ok(MessagesCall {
        request: ChatRequest {
            model,
            messages,
            tools,
            tool_choice,
            temperature: optional_f32(&obj, "temperature", "temperature")?,
            top_p: optional_f32(&obj, "top_p", "top_p")?,
            max_tokens: Some(max_tokens),
            stop,
            json_mode: matches!(
                obj.get("output_config").and_then(|c| c.get("format")),
                Some(Value::Object(_))
            ),
            extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        },
        stream: optional_bool(&obj, "stream", "stream")?.unwrap_or(false),
    })
}

/// The text of an array of `text` blocks, joined with newlines.
fn text_blocks(blocks: &[Value], at: &str) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        match (kind, block.get("text")) {
            ("text", Some(Value::String(text))) => texts.push(text.as_str()),
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.{i}"),
                    format!("{at}.{i}: expected a text block"),
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

/// One Anthropic message as WIT messages. A user turn's `tool_result`
/// blocks become `tool` messages (first, as OpenAI-style providers need
/// them right after the assistant's calls), its text, images and documents
/// a user message after them; an assistant turn's `tool_use` blocks become
/// tool calls and its `thinking` blocks its reasoning, signatures kept.
fn convert_message(index: usize, value: &Value, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let at = format!("messages.{index}");
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid(
            at.clone(),
            format!("{at}: must be an object, not {}", type_name(value)),
        ));
    };
    let content_at = format!("{at}.content");
    let role = match required_string(obj, "role", &format!("{at}.role"))?.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        // Claude Code sends system turns inside the conversation (reminders,
        // compaction summaries); they stay where they were sent.
        "system" => {
            let text = match obj.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(blocks)) => text_blocks(blocks, &content_at)?,
                _ => {
                    return Err(ApiError::invalid(
                        content_at.clone(),
                        format!("{content_at}: must be a string or an array of text blocks"),
                    ));
                }
            };
            out.push(Message::system(text));
            return Ok(());
        }
        other => {
            return Err(ApiError::invalid(
                format!("{at}.role"),
                format!(
                    "{at}.role: Input should be 'user', 'assistant' or 'system', not '{other}'"
                ),
            ));
        }
    };
    let blocks = match obj.get("content") {
        Some(Value::String(text)) => {
            out.push(Message::new(role, text.clone()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                content_at.clone(),
                format!("{content_at}: Field required"),
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(
                content_at.clone(),
                format!(
                    "{content_at}: must be a string or an array of content blocks, not {}",
                    type_name(other)
                ),
            ));
        }
    };

    let mut content = Parts::default();
    let mut calls = Vec::new();
    let mut reasoning = Vec::new();
    let mut results = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let block_at = format!("{content_at}.{i}");
        let Value::Object(block) = block else {
            return Err(ApiError::invalid(
                block_at.clone(),
                format!("{block_at}: must be an object"),
            ));
        };
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        match (role, kind) {
            (_, "text") => match block.get("text") {
                Some(Value::String(text)) => content.text(text),
                _ => {
                    return Err(ApiError::invalid(
                        format!("{block_at}.text"),
                        format!("{block_at}.text: Field required"),
                    ));
                }
            },
            (Role::Assistant, "tool_use") => {
                let id = required_string(block, "id", &format!("{block_at}.id"))?;
                let name = required_string(block, "name", &format!("{block_at}.name"))?;
                let arguments = match block.get("input") {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(input) => input.to_string(),
                };
                calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                    signature: None,
                });
            }
            // Reasoning of an earlier turn: an Anthropic upstream checks its
            // signature; others leave it out.
            (Role::Assistant, "thinking") => reasoning.push(Reasoning {
                text: optional_string(block, "thinking", &format!("{block_at}.thinking"))?
                    .unwrap_or_default(),
                signature: optional_string(block, "signature", &format!("{block_at}.signature"))?,
                redacted: false,
            }),
            (Role::Assistant, "redacted_thinking") => reasoning.push(Reasoning {
                text: String::new(),
                signature: optional_string(block, "data", &format!("{block_at}.data"))?,
                redacted: true,
            }),
            (Role::User, "tool_result") => {
                let id = required_string(block, "tool_use_id", &format!("{block_at}.tool_use_id"))?;
                let result_at = format!("{block_at}.content");
                let mut result = Parts::default();
                let is_error = optional_bool(block, "is_error", &format!("{block_at}.is_error"))?
                    .unwrap_or(false);
                match block.get("content") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => result.text(s),
                    Some(Value::Array(items)) => {
                        for (j, item) in items.iter().enumerate() {
                            let item_at = format!("{result_at}.{j}");
                            let item_kind = item.get("type").and_then(Value::as_str).unwrap_or("");
                            match (item_kind, item.as_object()) {
                                ("text", _) => match item.get("text") {
                                    Some(Value::String(t)) => result.text(t),
                                    _ => {
                                        return Err(ApiError::invalid(
                                            format!("{item_at}.text"),
                                            format!("{item_at}.text: Field required"),
                                        ));
                                    }
                                },
                                ("image" | "document", Some(fields)) => result
                                    .push(parts::anthropic_media(item_kind, fields, &item_at)?),
                                _ => {
                                    return Err(ApiError::invalid(
                                        format!("{item_at}.type"),
                                        format!(
                                            "{item_at}: content blocks of type '{item_kind}' are \
                                             not supported in a tool result by this node"
                                        ),
                                    )
                                    .with_code(parts::UNSUPPORTED));
                                }
                            }
                        }
                    }
                    Some(other) => {
                        return Err(ApiError::invalid(
                            result_at.clone(),
                            format!(
                                "{result_at}: must be a string or an array of content \
                                 blocks, not {}",
                                type_name(other)
                            ),
                        ));
                    }
                };
                let mut message = Message::tool_result(id, "");
                message.content = result.into_vec();
                if is_error {
                    // Providers have no error flag on a result: say it in the text.
                    match message.content.first_mut() {
                        Some(ContentPart::Text(t)) => t.insert_str(0, "Error: "),
                        _ => message
                            .content
                            .insert(0, ContentPart::Text("Error:".into())),
                    }
                }
                results.push(message);
            }
            (Role::User, "image" | "document") => {
                content.push(parts::anthropic_media(kind, block, &block_at)?);
            }
            (_, "search_result") => {
                return Err(ApiError::invalid(
                    format!("{block_at}.type"),
                    format!(
                        "{block_at}: content blocks of type '{kind}' are not supported by this \
                         node"
                    ),
                )
                .with_code(parts::UNSUPPORTED));
            }
            _ => {
                return Err(ApiError::invalid(
                    format!("{block_at}.type"),
                    format!(
                        "{block_at}: content blocks of type '{kind}' are not allowed in {} messages",
                        if role == Role::User {
                            "user"
                        } else {
                            "assistant"
                        }
                    ),
                ));
            }
        }
    }
    let only_results = !results.is_empty();
    out.extend(results);
    let content = content.into_vec();
    match role {
        Role::Assistant => out.push(Message {
            tool_calls: calls,
            reasoning,
            ..Message::with_parts(Role::Assistant, content)
        }),
        // A turn of tool results alone needs no user message after them.
        _ if content.is_empty() && only_results => {}
        _ => out.push(Message::with_parts(Role::User, content)),
    }
    Ok(())
}

fn parse_tools(value: Option<&Value>) -> Result<Vec<ToolDefinition>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid(
                "tools",
                format!("tools: must be an array, not {}", type_name(other)),
            ));
        }
    };
    let mut tools = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("tools.{i}");
        let Value::Object(tool) = item else {
            return Err(ApiError::invalid(
                at.clone(),
                format!("{at}: must be an object"),
            ));
        };
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => {}
            Some(kind) => {
                return Err(ApiError::invalid(
                    format!("{at}.type"),
                    format!("{at}: tools of type '{kind}' are not supported by this node"),
                ));
            }
        }
        let name = required_string(tool, "name", &format!("{at}.name"))?;
        let description =
            optional_string(tool, "description", &format!("{at}.description"))?.unwrap_or_default();
        let parameters = match tool.get("input_schema") {
            Some(schema @ Value::Object(_)) => schema.to_string(),
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(
                    format!("{at}.input_schema"),
                    format!("{at}.input_schema: Field required"),
                ));
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{at}.input_schema"),
                    format!(
                        "{at}.input_schema: must be an object, not {}",
                        type_name(other)
                    ),
                ));
            }
        };
        tools.push(ToolDefinition {
            name,
            description,
            parameters,
        });
    }
    Ok(tools)
}

fn parse_tool_choice(value: Option<&Value>) -> Result<Option<ToolChoice>, ApiError> {
    let Some(value) = value.filter(|v| !absent(Some(v))) else {
        return Ok(None);
    };
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "auto" => Ok(Some(ToolChoice::Auto)),
        "any" => Ok(Some(ToolChoice::Required)),
        "none" => Ok(Some(ToolChoice::None)),
        "tool" => match value.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => Ok(Some(ToolChoice::Named(name.to_string()))),
            _ => Err(ApiError::invalid(
                "tool_choice.name",
                "tool_choice.name: Field required",
            )),
        },
        _ => Err(ApiError::invalid(
            "tool_choice",
            "tool_choice: must be {\"type\": \"auto\"}, {\"type\": \"any\"}, {\"type\": \"none\"} \
             or {\"type\": \"tool\", \"name\": ...}",
        )),
    }
}

// ---------------------------------------------------------------- responses

/// Anthropic's `stop_reason` for a finish reason.
pub fn stop_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// The id of a message: the upstream's when it has Anthropic's shape, else
/// `fallback` (a fresh `msg_…`).
pub fn message_id(upstream: &str, fallback: impl FnOnce() -> String) -> String {
    if upstream.starts_with("msg_") && upstream.len() > 4 {
        upstream.to_string()
    } else {
        fallback()
    }
}

/// A tool call's arguments as the `input` object Anthropic clients expect.
/// Arguments that are not a JSON object (a model's broken output) are kept
/// as text under `_raw` rather than lost.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({ "_raw": arguments }),
    }
}

fn usage_json(usage: Option<&Usage>) -> Value {
    json!({
        "input_tokens": usage.map_or(0, |u| u.prompt_tokens),
        "output_tokens": usage.map_or(0, |u| u.completion_tokens),
    })
}

/// A `message` object. `model` is the name the client asked for; tool
/// calls without an id get `toolu_{id_seed}{i}`.
pub fn message_json(response: &ChatResponse, id: &str, model: &str, id_seed: &str) -> Value {
    let mut content: Vec<Value> = response
        .message
        .reasoning
        .iter()
        .map(thinking_block)
        .collect();
    let calls = &response.message.tool_calls;
    let text = response.message.text();
    if !text.is_empty() || calls.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for (i, call) in calls.iter().enumerate() {
        let id = if call.id.is_empty() {
            format!("toolu_{id_seed}{i}")
        } else {
            call.id.clone()
        };
        content.push(json!({
            "type": "tool_use",
            "id": id,
            "name": call.name,
            "input": tool_input(&call.arguments),
        }));
    }
    let mut reason = response.finish_reason;
    if !calls.is_empty() && reason == FinishReason::Stop {
        // Some upstreams say `stop` although the turn ends in tool calls.
        reason = FinishReason::ToolCalls;
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(reason),
        "stop_sequence": response.stop_sequence,
        "usage": usage_json(response.usage.as_ref()),
    })
}

/// Reasoning as the block Anthropic clients send back: `thinking` with its
/// signature, or `redacted_thinking` with its data.
fn thinking_block(r: &Reasoning) -> Value {
    if r.redacted {
        json!({"type": "redacted_thinking", "data": r.signature.as_deref().unwrap_or("")})
    } else {
        json!({
            "type": "thinking",
            "thinking": r.text,
            "signature": r.signature.as_deref().unwrap_or(""),
        })
    }
}

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    /// Reasoning: the router's reasoning index and the block index.
    Thinking(u32, usize),
    /// A tool call: the router's tool-call index and the block index.
    Tool(u32, usize),
}

/// Turns the router's chunks into Anthropic's stream events:
/// `message_start`, then per content block `content_block_start`,
/// `content_block_delta` (`text_delta` / `input_json_delta`) and
/// `content_block_stop`, then `message_delta` (stop reason and usage) and
/// `message_stop`. Blocks are numbered 0, 1, … and streamed one at a time.
pub struct EventEncoder {
    id: String,
    model: String,
    id_seed: String,
    started: bool,
    open: Option<Open>,
    blocks: usize,
    /// Router tool-call index → block index, for every tool block opened.
    tools: Vec<(u32, usize)>,
    /// The finish reason and usage the stream reported.
    end: wire::Ending,
    done: bool,
}

impl EventEncoder {
    pub fn new(id: String, model: String, id_seed: String) -> Self {
        EventEncoder {
            id,
            model,
            id_seed,
            started: false,
            open: None,
            blocks: 0,
            tools: Vec::new(),
            end: wire::Ending::default(),
            done: false,
        }
    }

    fn event(out: &mut String, name: &str, data: Value) {
        out.push_str(&wire::sse_event(Some(name), &data.to_string()));
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        Self::event(
            out,
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        );
    }

    fn close_open(&mut self, out: &mut String) {
        if let Some(open) = self.open.take() {
            let index = match open {
                Open::Text(i) | Open::Thinking(_, i) | Open::Tool(_, i) => i,
            };
            Self::event(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open_block(&mut self, out: &mut String, block: Value) -> usize {
        self.close_open(out);
        let index = self.blocks;
        self.blocks += 1;
        Self::event(
            out,
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    /// The events for one chunk of the router's stream.
    pub fn chunk(&mut self, chunk: &ChatChunk) -> String {
        let mut out = String::new();
        self.start(&mut out);
        for r in &chunk.reasoning {
            let index = match self.open {
                Some(Open::Thinking(router, i)) if router == r.index => i,
                _ => {
                    let block = if r.redacted {
                        json!({"type": "redacted_thinking", "data": r.signature.as_deref().unwrap_or("")})
                    } else {
                        json!({"type": "thinking", "thinking": ""})
                    };
                    let i = self.open_block(&mut out, block);
                    self.open = Some(Open::Thinking(r.index, i));
                    i
                }
            };
            if r.redacted {
                continue;
            }
            for (kind, field, value) in [
                (
                    "thinking_delta",
                    "thinking",
                    Some(r.text.as_str()).filter(|t| !t.is_empty()),
                ),
                ("signature_delta", "signature", r.signature.as_deref()),
            ] {
                if let Some(value) = value {
                    Self::event(
                        &mut out,
                        "content_block_delta",
                        json!({
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": kind, field: value},
                        }),
                    );
                }
            }
        }
        if let Some(text) = chunk.content.as_deref().filter(|t| !t.is_empty()) {
            let index = match self.open {
                Some(Open::Text(i)) => i,
                _ => {
                    let i = self.open_block(&mut out, json!({"type": "text", "text": ""}));
                    self.open = Some(Open::Text(i));
                    i
                }
            };
            Self::event(
                &mut out,
                "content_block_delta",
                json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": text},
                }),
            );
        }
        for part in &chunk.tool_calls {
            let index = match self.open {
                Some(Open::Tool(router, i)) if router == part.index => i,
                _ => match self.tools.iter().find(|(router, _)| *router == part.index) {
                    // A fragment of a call whose block was closed already
                    // (interleaved calls): clients address deltas by index.
                    Some(&(_, i)) => i,
                    None => {
                        let position = self.tools.len();
                        let id = part
                            .id
                            .clone()
                            .filter(|id| !id.is_empty())
                            .unwrap_or_else(|| format!("toolu_{}{position}", self.id_seed));
                        let i = self.open_block(
                            &mut out,
                            json!({
                                "type": "tool_use",
                                "id": id,
                                "name": part.name.clone().unwrap_or_default(),
                                "input": {},
                            }),
                        );
                        self.open = Some(Open::Tool(part.index, i));
                        self.tools.push((part.index, i));
                        i
                    }
                },
            };
            if !part.arguments.is_empty() {
                Self::event(
                    &mut out,
                    "content_block_delta",
                    json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part.arguments},
                    }),
                );
            }
        }
        self.end.note(chunk);
        out
    }

    /// The end of a stream that completed: the last block's stop,
    /// `message_delta` with the stop reason and usage, `message_stop`.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start(&mut out);
        self.close_open(&mut out);
        let reason = match self.end.finish {
            Some(FinishReason::Stop) | None if !self.tools.is_empty() => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Stop,
        };
        Self::event(
            &mut out,
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(reason), "stop_sequence": self.end.stop_sequence},
                "usage": usage_json(self.end.usage.as_ref()),
            }),
        );
        Self::event(&mut out, "message_stop", json!({"type": "message_stop"}));
        out
    }

    /// An error in the middle of the stream, as Anthropic sends one
    /// (`event: error`). The stream ends after it.
    pub fn error(&mut self, error: &ApiError) -> String {
        self.done = true;
        wire::sse_event(Some("error"), &error_json(error).to_string())
    }
}

// ---------------------------------------------------------------- models

/// A model object of Anthropic's Models API.
pub fn model_json(model: &Model) -> Value {
    json!({
        "type": "model",
        "id": model.id,
        "display_name": model.id,
        "created_at": "1970-01-01T00:00:00Z",
    })
}

/// `GET /v1/models` for Anthropic clients.
pub fn model_list_json(models: &[Model]) -> Value {
    json!({
        "data": models.iter().map(model_json).collect::<Vec<_>>(),
        "has_more": false,
        "first_id": models.first().map(|m| m.id.clone()),
        "last_id": models.last().map(|m| m.id.clone()),
    })
}

// ---------------------------------------------------------------- errors

/// Anthropic's `error.type` of an error.
fn error_type(kind: Kind) -> &'static str {
    match kind {
        Kind::InvalidRequest | Kind::ContextTooLong | Kind::MethodNotAllowed => {
            "invalid_request_error"
        }
        Kind::NotFound => "not_found_error",
        Kind::Forbidden => "permission_error",
        Kind::OverBudget => "billing_error",
        Kind::TooLarge => "request_too_large",
        Kind::RateLimited => "rate_limit_error",
        Kind::Unavailable => "overloaded_error",
        Kind::Internal | Kind::BadGateway | Kind::Timeout => "api_error",
    }
}

/// `{"type":"error","error":{"type","message"}}`.
pub fn error_json(error: &ApiError) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(error.kind), "message": error.message},
    })
}

#[cfg(test)]
mod tests;
