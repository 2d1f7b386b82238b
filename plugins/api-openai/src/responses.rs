//! The OpenAI Responses API (`POST /v1/responses`, `GET` and `DELETE
//! /v1/responses/{id}`) over the router's chat types, so any provider
//! (chat-only upstreams included) serves it. Pure: storage goes through the
//! caller.
//!
//! What is mapped: `input` (a string, or items: messages with text, image
//! (`input_image`: a URL or data URL) and file (`input_file`: `file_data` or
//! `file_url`) parts, `function_call`, `function_call_output`, `custom_tool_call`,
//! `custom_tool_call_output`), `instructions` (a system message; not carried
//! over by `previous_response_id`, as OpenAI does), function tools (those in
//! a `namespace` too), custom (freeform) tools as functions taking one
//! `input` string, `tool_choice`, `max_output_tokens`, `temperature`,
//! `top_p`, `text.format` (JSON mode), `previous_response_id` (the stored
//! conversation is prepended) and `store` (kept 30 days, per tenant).
//! Reasoning passes through: the reasoning a provider returns (Anthropic's
//! signed thinking, DeepSeek-style `reasoning_content`) is a `reasoning`
//! output item (its text the summary, its signature `encrypted_content`;
//! streamed as `response.reasoning_summary_text.delta`s), and `reasoning`
//! input items go back with the assistant turn they precede.
//! Dropped: `reasoning` (the effort: a model that is not a reasoning model
//! would refuse it), `include`, `truncation`, `parallel_tool_calls`,
//! `metadata` (echoed back), `client_metadata`, `prompt_cache_key`,
//! `safety_identifier`, `service_tier`, `user`, `stream_options`,
//! `background`; hosted tools (web
//! search, file search, computer use, code interpreter, MCP, image
//! generation: no upstream behind the router runs them, so the model is not
//! offered them) and the records of their calls in the input. Refused:
//! audio parts, files uploaded to OpenAI (`file_id`), item references.

use crate::error::ApiError;
use crate::parts::{self, Parts};
use crate::wire::{self, absent, optional_bool, optional_f32, optional_u32, type_name};
use hanzo_node_sdk::llm::{
    ChatChunk, ChatRequest, ChatResponse, FinishReason, Message, Reasoning, ReasoningDelta, Role,
    ToolCall, ToolChoice, ToolDefinition, Usage,
};
use serde_json::{Map, Value, json};

/// Request fields this module reads; others not in [`DROPPED_FIELDS`] go to
/// the provider as `extra`.
const RESPONSE_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "temperature",
    "top_p",
    "text",
    "previous_response_id",
    "store",
    "stream",
    "metadata",
];

/// Responses-only fields an upstream chat API would refuse.
const DROPPED_FIELDS: &[&str] = &[
    "background",
    "client_metadata",
    "conversation",
    "include",
    "max_tool_calls",
    "parallel_tool_calls",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "stream_options",
    "top_logprobs",
    "truncation",
    "user",
];

/// A parsed `POST /v1/responses`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesCall {
    pub model: String,
    /// The new input items, normalised (stored for the next turn).
    pub input: Vec<Value>,
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    pub store: bool,
    pub stream: bool,
    /// What the response object echoes back.
    pub echo: Echo,
    /// Tools declared `custom` (freeform): the model's calls of them are
    /// `custom_tool_call` items with the `input` string.
    pub custom_tools: Vec<String>,
    /// The request without the conversation: filled by [`ResponsesCall::chat_request`].
    template: ChatRequest,
}

/// Request settings a response object repeats.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Echo {
    pub tools: Value,
    pub tool_choice: Value,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_output_tokens: Option<u32>,
    pub metadata: Value,
    pub text: Value,
}

impl ResponsesCall {
    /// The chat request for this turn: `instructions` as a system message,
    /// then the earlier turns' items (`history`), then this turn's input.
    pub fn chat_request(&self, history: &[Value]) -> Result<ChatRequest, ApiError> {
        let mut messages = Vec::new();
        if let Some(text) = self.instructions.as_deref().filter(|t| !t.is_empty()) {
            messages.push(Message::system(text.to_string()));
        }
        items_to_messages(history, "previous_response_id", &mut messages)?;
        items_to_messages(&self.input, "input", &mut messages)?;
        if messages.is_empty() {
            return Err(ApiError::invalid("input", "`input` must not be empty."));
        }
        Ok(ChatRequest {
            messages,
            ..self.template.clone()
        })
    }
}

/// Parses a Responses request body.
pub fn parse_request(body: &[u8]) -> Result<ResponsesCall, ApiError> {
    let obj = wire::parse_object(body)?;
    let model = wire::required_string(&obj, "model", "model")?;
    let input = match obj.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![json!({
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| normalise_item(i, item))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid(
                "input",
                format!(
                    "`input` must be a string or an array of items, not {}.",
                    type_name(other)
                ),
            ));
        }
    };
    let instructions = wire::optional_string(&obj, "instructions", "instructions")?;
    let previous_response_id =
        wire::optional_string(&obj, "previous_response_id", "previous_response_id")?;
    let (tools, custom_tools) = parse_tools(obj.get("tools"))?;
    let tool_choice = parse_tool_choice(obj.get("tool_choice"))?;
    let max_output_tokens = optional_u32(&obj, "max_output_tokens", "max_output_tokens")?;
    let temperature = optional_f32(&obj, "temperature", "temperature")?;
    let top_p = optional_f32(&obj, "top_p", "top_p")?;
    let json_mode = matches!(
        obj.get("text")
            .and_then(|t| t.get("format"))
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str),
        Some("json_object" | "json_schema")
    );
    let mut extra = Map::new();
    for (key, value) in &obj {
        if !RESPONSE_FIELDS.contains(&key.as_str())
            && !DROPPED_FIELDS.contains(&key.as_str())
            && !value.is_null()
        {
            extra.insert(key.clone(), value.clone());
        }
    }
    let echo = Echo {
        tools: obj.get("tools").cloned().unwrap_or_else(|| json!([])),
        tool_choice: obj
            .get("tool_choice")
            .cloned()
            .unwrap_or_else(|| json!("auto")),
        temperature,
        top_p,
        max_output_tokens,
        metadata: obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        text: obj
            .get("text")
            .cloned()
            .unwrap_or_else(|| json!({"format": {"type": "text"}})),
    };
    Ok(ResponsesCall {
        template: ChatRequest {
            model: model.clone(),
            messages: Vec::new(),
            tools,
            tool_choice,
            temperature,
            top_p,
            max_tokens: max_output_tokens,
            stop: Vec::new(),
            json_mode,
            extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        },
        model,
        input,
        instructions,
        previous_response_id,
        store: optional_bool(&obj, "store", "store")?.unwrap_or(true),
        stream: optional_bool(&obj, "stream", "stream")?.unwrap_or(false),
        echo,
        custom_tools,
    })
}

/// One input item in its full form (`type` set, a message's content as
/// parts), checked; reasoning items are kept here and skipped when the
/// conversation is built.
fn normalise_item(index: usize, item: &Value) -> Result<Value, ApiError> {
    let at = format!("input[{index}]");
    let Value::Object(obj) = item else {
        return Err(ApiError::invalid(
            at.clone(),
            format!("`{at}` must be an object, not {}.", type_name(item)),
        ));
    };
    let kind = match obj.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // An "easy" message: `{role, content}`.
        None | Some(Value::Null) if obj.contains_key("role") => "message",
        _ => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("Missing required parameter: `{at}.type`."),
            ));
        }
    };
    match kind {
        "message" => {
            let role = wire::required_string(obj, "role", &format!("{at}.role"))?;
            if !matches!(role.as_str(), "user" | "system" | "developer" | "assistant") {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    format!(
                        "Invalid value: '{role}'. `{at}.role` must be one of 'user', 'system', \
                         'developer' or 'assistant'."
                    ),
                ));
            }
            let content = message_parts(obj.get("content"), &format!("{at}.content"))?;
            Ok(json!({"type": "message", "role": role, "content": content}))
        }
        "function_call" => {
            let call_id = wire::required_string(obj, "call_id", &format!("{at}.call_id"))?;
            let name = wire::required_string(obj, "name", &format!("{at}.name"))?;
            let arguments = match obj.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => "{}".to_string(),
                Some(other) => other.to_string(),
            };
            Ok(json!({
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            }))
        }
        "function_call_output" => {
            let call_id = wire::required_string(obj, "call_id", &format!("{at}.call_id"))?;
            let output = match obj.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts_text(parts, &format!("{at}.output"))?,
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            };
            Ok(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
        }
        "custom_tool_call" => {
            let call_id = wire::required_string(obj, "call_id", &format!("{at}.call_id"))?;
            let name = wire::required_string(obj, "name", &format!("{at}.name"))?;
            let input = obj.get("input").and_then(Value::as_str).unwrap_or_default();
            Ok(json!({
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": json!({"input": input}).to_string(),
            }))
        }
        "custom_tool_call_output" => {
            let call_id = wire::required_string(obj, "call_id", &format!("{at}.call_id"))?;
            let output = match obj.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts_text(parts, &format!("{at}.output"))?,
                _ => String::new(),
            };
            Ok(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
        }
        // Reasoning goes back to the model that signed it (its summary and
        // encrypted content; the rest of the item is OpenAI's bookkeeping).
        "reasoning" => Ok(json!({
            "type": "reasoning",
            "summary": obj.get("summary").cloned().unwrap_or_else(|| json!([])),
            "encrypted_content": obj.get("encrypted_content").cloned().unwrap_or(Value::Null),
        })),
        // Records of hosted tools' calls, which no upstream behind the router
        // made: kept here as empty reasoning, skipped in the conversation.
        "web_search_call"
        | "file_search_call"
        | "computer_call"
        | "computer_call_output"
        | "code_interpreter_call"
        | "image_generation_call"
        | "mcp_call"
        | "mcp_list_tools"
        | "mcp_approval_request"
        | "mcp_approval_response" => Ok(json!({"type": "reasoning"})),
        "item_reference" => Err(ApiError::invalid(
            format!("{at}.type"),
            format!(
                "`{at}`: item references are not supported by this node; send the items, or \
                 use `previous_response_id`."
            ),
        )
        .with_code("unsupported_item")),
        other => Err(ApiError::invalid(
            format!("{at}.type"),
            format!("`{at}`: items of type '{other}' are not supported by this node."),
        )
        .with_code("unsupported_item")),
    }
}

/// A message's content as `input_text` / `output_text` parts.
fn message_parts(content: Option<&Value>, at: &str) -> Result<Vec<Value>, ApiError> {
    match content {
        Some(Value::String(text)) => Ok(vec![json!({"type": "input_text", "text": text})]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let part_at = format!("{at}[{i}]");
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                match (kind, part.get("text")) {
                    ("input_text" | "output_text" | "text", Some(Value::String(text))) => {
                        Ok(json!({"type": kind, "text": text}))
                    }
                    ("refusal", _) => Ok(json!({
                        "type": "refusal",
                        "refusal": part.get("refusal").cloned().unwrap_or_default(),
                    })),
                    // Checked now, converted when the conversation is built.
                    ("input_image" | "input_file", _) => {
                        let fields = part.as_object().ok_or_else(|| {
                            ApiError::invalid(
                                part_at.clone(),
                                format!("`{part_at}` must be an object."),
                            )
                        })?;
                        parts::responses_part(kind, fields, &part_at)?;
                        Ok(part.clone())
                    }
                    ("input_audio", _) => Err(ApiError::invalid(
                        format!("{part_at}.type"),
                        format!(
                            "`{part_at}`: content parts of type '{kind}' are not supported by \
                             this node: messages carry text, images and files."
                        ),
                    )
                    .with_code(parts::UNSUPPORTED)),
                    _ => Err(ApiError::invalid(
                        part_at.clone(),
                        format!("`{part_at}` must be a text part."),
                    )),
                }
            })
            .collect(),
        None | Some(Value::Null) => Err(ApiError::invalid(
            at,
            format!("Missing required parameter: `{at}`."),
        )),
        Some(other) => Err(ApiError::invalid(
            at,
            format!(
                "`{at}` must be a string or an array of parts, not {}.",
                type_name(other)
            ),
        )),
    }
}

/// The text of output parts (`function_call_output` given as parts).
fn parts_text(parts: &[Value], at: &str) -> Result<String, ApiError> {
    let mut text = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part.get("text") {
            Some(Value::String(t)) => text.push(t.as_str()),
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}[{i}]"),
                    format!("`{at}[{i}]` must be a text part."),
                )
                .with_code("unsupported_content"));
            }
        }
    }
    Ok(text.join("\n"))
}

/// Normalised items as chat messages: consecutive function calls (and the
/// assistant text before them) make one assistant message; outputs become
/// tool messages.
fn items_to_messages(items: &[Value], at: &str, out: &mut Vec<Message>) -> Result<(), ApiError> {
    // Reasoning items, until the assistant turn they precede.
    let mut reasoning = Vec::new();
    for item in items {
        match item["type"].as_str() {
            Some("message") => {
                let mut content = Parts::default();
                for (i, part) in item["content"].as_array().into_iter().flatten().enumerate() {
                    match (part["type"].as_str(), part.as_object()) {
                        (Some(kind @ ("input_image" | "input_file")), Some(fields)) => content
                            .push(parts::responses_part(kind, fields, &format!("{at}[{i}]"))?),
                        _ => {
                            if let Some(t) =
                                part["text"].as_str().or_else(|| part["refusal"].as_str())
                            {
                                content.text(t);
                            }
                        }
                    }
                }
                let role = match item["role"].as_str() {
                    Some("assistant") => Role::Assistant,
                    Some("system" | "developer") => Role::System,
                    _ => Role::User,
                };
                let mut message = Message::with_parts(role, content.into_vec());
                if role == Role::Assistant {
                    message.reasoning = std::mem::take(&mut reasoning);
                }
                out.push(message);
            }
            Some("function_call") => {
                let call = ToolCall {
                    id: item["call_id"].as_str().unwrap_or_default().to_string(),
                    name: item["name"].as_str().unwrap_or_default().to_string(),
                    arguments: item["arguments"].as_str().unwrap_or("{}").to_string(),
                    signature: None,
                };
                match out.last_mut() {
                    Some(last) if last.role == Role::Assistant && reasoning.is_empty() => {
                        last.tool_calls.push(call)
                    }
                    _ => out.push(Message {
                        tool_calls: vec![call],
                        reasoning: std::mem::take(&mut reasoning),
                        ..Message::assistant(String::new())
                    }),
                }
            }
            Some("function_call_output") => out.push(Message::tool_result(
                item["call_id"].as_str().unwrap_or_default().to_string(),
                item["output"].as_str().unwrap_or_default().to_string(),
            )),
            // Reasoning precedes the assistant turn it belongs to.
            Some("reasoning") => reasoning.extend(reasoning_of(item)),
            _ => {
                return Err(ApiError::invalid(
                    at,
                    format!("`{at}` holds an item this node cannot read."),
                ));
            }
        }
    }
    Ok(())
}

/// Hosted tools: run by OpenAI's platform, not by any upstream behind the
/// router. They are not offered to the model.
const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_2025_08_26",
    "file_search",
    "computer_use_preview",
    "computer_use",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
];

/// The tools as the router's definitions, and the names of the custom ones.
fn parse_tools(value: Option<&Value>) -> Result<(Vec<ToolDefinition>, Vec<String>), ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid(
                "tools",
                format!("`tools` must be an array, not {}.", type_name(other)),
            ));
        }
    };
    let mut tools = Vec::with_capacity(items.len());
    let mut custom = Vec::new();
    for (i, tool) in items.iter().enumerate() {
        add_tool(tool, &format!("tools[{i}]"), &mut tools, &mut custom)?;
    }
    Ok((tools, custom))
}

fn add_tool(
    tool: &Value,
    at: &str,
    tools: &mut Vec<ToolDefinition>,
    custom: &mut Vec<String>,
) -> Result<(), ApiError> {
    let Value::Object(obj) = tool else {
        return Err(ApiError::invalid(at, format!("`{at}` must be an object.")));
    };
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some(kind) => kind,
        None => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!("Missing required parameter: `{at}.type`."),
            ));
        }
    };
    match kind {
        "function" => {}
        // A group of tools (Codex's sub-agent tools): its functions, by
        // their own names.
        "namespace" => {
            for (i, inner) in obj
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                add_tool(inner, &format!("{at}.tools[{i}]"), tools, custom)?;
            }
            return Ok(());
        }
        // A freeform tool: a function taking the text as `input`.
        "custom" => {
            let name = wire::required_string(obj, "name", &format!("{at}.name"))?;
            let description =
                wire::optional_string(obj, "description", &format!("{at}.description"))?
                    .unwrap_or_default();
            tools.push(ToolDefinition {
                name: name.clone(),
                description,
                parameters: r#"{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free text"}},"required":["input"]}"#.to_string(),
            });
            custom.push(name);
            return Ok(());
        }
        kind if HOSTED_TOOLS.contains(&kind) || kind.starts_with("web_search") => return Ok(()),
        other => {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                format!(
                    "`{at}`: tools of type '{other}' are not supported by this node; declare \
                     it as a function tool."
                ),
            )
            .with_code("unsupported_tool"));
        }
    }
    let name = wire::required_string(obj, "name", &format!("{at}.name"))?;
    let description = wire::optional_string(obj, "description", &format!("{at}.description"))?
        .unwrap_or_default();
    let parameters = match obj.get("parameters") {
        Some(schema @ Value::Object(_)) => schema.to_string(),
        None | Some(Value::Null) => r#"{"type":"object","properties":{}}"#.to_string(),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("{at}.parameters"),
                format!(
                    "`{at}.parameters` must be an object, not {}.",
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
    Ok(())
}

fn parse_tool_choice(value: Option<&Value>) -> Result<Option<ToolChoice>, ApiError> {
    if absent(value) {
        return Ok(None);
    }
    match value {
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(ApiError::invalid(
                "tool_choice",
                format!(
                    "Invalid value: '{other}'. `tool_choice` must be 'auto', 'none', 'required' \
                     or a function."
                ),
            )),
        },
        Some(Value::Object(obj)) => match (
            obj.get("type").and_then(Value::as_str),
            obj.get("name").and_then(Value::as_str),
        ) {
            (Some("function"), Some(name)) if !name.is_empty() => {
                Ok(Some(ToolChoice::Named(name.to_string())))
            }
            _ => Err(ApiError::invalid(
                "tool_choice",
                "`tool_choice` must be 'auto', 'none', 'required' or {\"type\": \"function\", \
                 \"name\": ...}.",
            )),
        },
        _ => Err(ApiError::invalid(
            "tool_choice",
            "`tool_choice` must be a string or an object.",
        )),
    }
}

// ---------------------------------------------------------------- responses

/// Ids of one response and its items.
#[derive(Debug, Clone)]
pub struct Ids {
    /// `resp_…`.
    pub response: String,
    /// A seed for item ids (`msg_…`, `fc_…`) and missing call ids.
    pub seed: String,
}

fn usage_json(usage: Option<&Usage>) -> Value {
    let (input, output) = usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// A call of a function tool, or of a `custom` one (its `input` is the
/// text the model passed as the function's `input` argument).
fn call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
    custom: bool,
) -> Value {
    if custom {
        let input = match serde_json::from_str::<Value>(arguments) {
            Ok(Value::Object(args)) => match args.get("input") {
                Some(Value::String(s)) => s.clone(),
                _ => arguments.to_string(),
            },
            _ => arguments.to_string(),
        };
        return json!({
            "type": "custom_tool_call",
            "id": id,
            "call_id": call_id,
            "name": name,
            "input": input,
            "status": status,
        });
    }
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// A `reasoning` item: the text as its summary, the provider's signature
/// (or its encrypted reasoning, when redacted) as `encrypted_content`.
fn reasoning_item(id: &str, r: &Reasoning) -> Value {
    let summary = if r.text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": r.text}])
    };
    json!({
        "type": "reasoning",
        "id": id,
        "summary": summary,
        "encrypted_content": r.signature,
    })
}

/// The reasoning a `reasoning` item carries back; `None` for one with
/// neither text nor encrypted content (a placeholder). Encrypted content
/// without text is reasoning the provider redacted.
fn reasoning_of(item: &Value) -> Option<Reasoning> {
    let text: String = item["summary"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let signature = item["encrypted_content"].as_str().map(str::to_string);
    if text.is_empty() && signature.is_none() {
        return None;
    }
    Some(Reasoning {
        redacted: text.is_empty(),
        text,
        signature,
    })
}

/// The output items of a finished answer: reasoning, the message, the
/// calls (those of the `custom` tools as `custom_tool_call` items).
pub fn output_items(message: &Message, ids: &Ids, custom: &[String]) -> Vec<Value> {
    let mut items: Vec<Value> = message
        .reasoning
        .iter()
        .enumerate()
        .map(|(i, r)| reasoning_item(&format!("rs_{}{i}", ids.seed), r))
        .collect();
    let text = message.text();
    if !text.is_empty() || message.tool_calls.is_empty() {
        items.push(message_item(
            &format!("msg_{}", ids.seed),
            &text,
            "completed",
        ));
    }
    for (i, call) in message.tool_calls.iter().enumerate() {
        let call_id = if call.id.is_empty() {
            format!("call_{}{i}", ids.seed)
        } else {
            call.id.clone()
        };
        items.push(call_item(
            &format!("fc_{}{i}", ids.seed),
            &call_id,
            &call.name,
            &call.arguments,
            "completed",
            custom.contains(&call.name),
        ));
    }
    items
}

/// A `response` object.
pub fn response_json(
    call: &ResponsesCall,
    ids: &Ids,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    finish: Option<FinishReason>,
    usage: Option<&Usage>,
) -> Value {
    let incomplete = match finish {
        Some(FinishReason::Length) => json!({"reason": "max_output_tokens"}),
        Some(FinishReason::ContentFilter) => json!({"reason": "content_filter"}),
        _ => Value::Null,
    };
    let status = if status == "completed" && !incomplete.is_null() {
        "incomplete"
    } else {
        status
    };
    let echo = &call.echo;
    json!({
        "id": ids.response,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": call.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": call.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": call.previous_response_id,
        "reasoning": {"effort": null, "summary": null},
        "store": call.store,
        "temperature": echo.temperature.map(wire::f32_json),
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p.map(wire::f32_json),
        "truncation": "disabled",
        "usage": if status == "in_progress" { Value::Null } else { usage_json(usage) },
        "metadata": echo.metadata,
    })
}

/// The complete answer to a non-streamed request.
pub fn completed_json(
    call: &ResponsesCall,
    ids: &Ids,
    created_at: u64,
    response: &ChatResponse,
) -> Value {
    response_json(
        call,
        ids,
        created_at,
        "completed",
        output_items(&response.message, ids, &call.custom_tools),
        Some(response.finish_reason),
        response.usage.as_ref(),
    )
}

/// What is stored for a response: the object (for `GET`), and the
/// conversation so far in item form (for the next turn's
/// `previous_response_id`; `instructions` left out).
pub fn stored_record(response: &Value, history: &[Value], input: &[Value]) -> Value {
    let mut items: Vec<Value> = history.to_vec();
    items.extend(input.iter().cloned());
    items.extend(
        response["output"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                if item["type"] == "custom_tool_call" {
                    return json!({
                        "type": "function_call",
                        "call_id": item["call_id"],
                        "name": item["name"],
                        "arguments": json!({"input": item["input"]}).to_string(),
                    });
                }
                let mut item = item.clone();
                if let Some(obj) = item.as_object_mut() {
                    obj.remove("id");
                    obj.remove("status");
                }
                item
            }),
    );
    json!({"response": response, "items": items})
}

// ---------------------------------------------------------------- streaming

/// The streamed output item being written.
enum Open {
    None,
    /// Reasoning: the router's reasoning index, and what arrived of it.
    Reasoning {
        index: usize,
        router_index: u32,
        reasoning: Reasoning,
    },
    Text {
        index: usize,
        text: String,
    },
    Call {
        index: usize,
        router_index: u32,
    },
}

/// Encodes the router's chunks as the Responses event stream:
/// `response.created`, `response.in_progress`; per output item
/// `response.output_item.added`, for text `response.content_part.added`,
/// `response.output_text.delta`… `response.output_text.done`,
/// `response.content_part.done`, for a function call
/// `response.function_call_arguments.delta`… `…done`; then
/// `response.output_item.done`; at the end `response.completed` (or
/// `response.incomplete`) with the whole response. Every event carries a
/// `sequence_number`.
pub struct EventEncoder {
    call: ResponsesCall,
    ids: Ids,
    created_at: u64,
    sequence: u64,
    started: bool,
    open: Open,
    /// Finished output items, in order.
    output: Vec<Value>,
    /// Function calls by the router's index: (output index, id, call id, name, arguments).
    calls: Vec<(u32, usize, String, String, String, String)>,
    /// The finish reason and usage the stream reported.
    end: wire::Ending,
    done: bool,
    /// The final response object, once the stream completed.
    pub finished: Option<Value>,
}

impl EventEncoder {
    pub fn new(call: ResponsesCall, ids: Ids, created_at: u64) -> EventEncoder {
        EventEncoder {
            call,
            ids,
            created_at,
            sequence: 0,
            started: false,
            open: Open::None,
            output: Vec::new(),
            calls: Vec::new(),
            end: wire::Ending::default(),
            done: false,
            finished: None,
        }
    }

    fn event(&mut self, out: &mut String, kind: &str, mut body: Value) {
        if let Some(obj) = body.as_object_mut() {
            obj.insert("type".into(), kind.into());
            obj.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        out.push_str(&wire::sse_event(Some(kind), &body.to_string()));
    }

    fn response(&self, status: &str) -> Value {
        response_json(
            &self.call,
            &self.ids,
            self.created_at,
            status,
            self.output.clone(),
            self.end.finish,
            self.end.usage.as_ref(),
        )
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.response("in_progress");
        self.event(out, "response.created", json!({"response": response}));
        self.event(out, "response.in_progress", json!({"response": response}));
    }

    fn message_id(&self) -> String {
        format!("msg_{}", self.ids.seed)
    }

    /// Closes the item being written, if any.
    fn close(&mut self, out: &mut String) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Reasoning {
                index, reasoning, ..
            } => {
                let id = format!("rs_{}{index}", self.ids.seed);
                if !reasoning.text.is_empty() {
                    let part = json!({"type": "summary_text", "text": reasoning.text});
                    self.event(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": index, "summary_index": 0, "text": reasoning.text}),
                    );
                    self.event(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}),
                    );
                }
                let item = reasoning_item(&id, &reasoning);
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
            Open::Text { index, text } => {
                let id = self.message_id();
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                self.event(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                );
                self.event(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                );
                let item = message_item(&id, &text, "completed");
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
            Open::Call {
                index,
                router_index,
            } => {
                let Some((_, _, id, call_id, name, arguments)) =
                    self.calls.iter().find(|c| c.0 == router_index).cloned()
                else {
                    return;
                };
                let custom = self.call.custom_tools.contains(&name);
                let item = call_item(&id, &call_id, &name, &arguments, "completed", custom);
                if custom {
                    self.event(
                        out,
                        "response.custom_tool_call_input.done",
                        json!({"item_id": id, "output_index": index, "input": item["input"]}),
                    );
                } else {
                    self.event(
                        out,
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": index, "arguments": arguments}),
                    );
                }
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
        }
    }

    /// The events for one chunk of the router's stream.
    pub fn chunk(&mut self, chunk: &ChatChunk) -> String {
        let mut out = String::new();
        self.start(&mut out);
        for delta in &chunk.reasoning {
            self.reasoning(&mut out, delta);
        }
        if let Some(text) = chunk.content.as_deref().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Open::Text { .. }) {
                self.close(&mut out);
                let index = self.output.len();
                let id = self.message_id();
                let item = json!({
                    "type": "message", "id": id, "status": "in_progress",
                    "role": "assistant", "content": [],
                });
                self.event(
                    &mut out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                self.event(
                    &mut out,
                    "response.content_part.added",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": []},
                    }),
                );
                self.open = Open::Text {
                    index,
                    text: String::new(),
                };
            }
            if let Open::Text { index, text: all } = &mut self.open {
                all.push_str(text);
                let index = *index;
                let id = self.message_id();
                self.event(
                    &mut out,
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text}),
                );
            }
        }
        for part in &chunk.tool_calls {
            let known = self.calls.iter().position(|c| c.0 == part.index);
            let position = match known {
                Some(p) => p,
                None => {
                    self.close(&mut out);
                    let index = self.output.len();
                    let n = self.calls.len();
                    let id = format!("fc_{}{n}", self.ids.seed);
                    let call_id = part
                        .id
                        .clone()
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| format!("call_{}{n}", self.ids.seed));
                    let name = part.name.clone().unwrap_or_default();
                    let custom = self.call.custom_tools.contains(&name);
                    let item = call_item(&id, &call_id, &name, "", "in_progress", custom);
                    self.event(
                        &mut out,
                        "response.output_item.added",
                        json!({"output_index": index, "item": item}),
                    );
                    self.calls
                        .push((part.index, index, id, call_id, name, String::new()));
                    self.open = Open::Call {
                        index,
                        router_index: part.index,
                    };
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[position];
            if let Some(name) = &part.name
                && call.4.is_empty()
            {
                call.4 = name.clone();
            }
            if !part.arguments.is_empty() {
                call.5.push_str(&part.arguments);
                if self.call.custom_tools.contains(&call.4) {
                    // The input is whole only once the JSON arguments are.
                    continue;
                }
                let (index, id) = (call.1, call.2.clone());
                self.event(
                    &mut out,
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": part.arguments}),
                );
            }
        }
        self.end.note(chunk);
        out
    }

    /// A reasoning delta: a new reasoning item for a new router index, its
    /// text as summary deltas, its signature kept for the item's end.
    fn reasoning(&mut self, out: &mut String, delta: &ReasoningDelta) {
        let same = matches!(&self.open, Open::Reasoning { router_index, .. } if *router_index == delta.index);
        if !same {
            self.close(out);
            let index = self.output.len();
            let id = format!("rs_{}{index}", self.ids.seed);
            let item = json!({"type": "reasoning", "id": id, "summary": []});
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.open = Open::Reasoning {
                index,
                router_index: delta.index,
                reasoning: Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: delta.redacted,
                },
            };
        }
        let Open::Reasoning {
            index, reasoning, ..
        } = &mut self.open
        else {
            return;
        };
        let index = *index;
        if let Some(signature) = &delta.signature {
            reasoning
                .signature
                .get_or_insert_default()
                .push_str(signature);
        }
        if delta.text.is_empty() {
            return;
        }
        let first = reasoning.text.is_empty();
        reasoning.text.push_str(&delta.text);
        let id = format!("rs_{}{index}", self.ids.seed);
        if first {
            self.event(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
            );
        }
        self.event(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": delta.text}),
        );
    }

    /// The end of a stream that completed: the open item closed, then
    /// `response.completed` (or `response.incomplete`) with the whole response.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start(&mut out);
        self.close(&mut out);
        if self.output.is_empty() {
            // An empty answer is still one message.
            let item = message_item(&self.message_id(), "", "completed");
            self.output.push(item);
        }
        let response = self.response("completed");
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(&mut out, kind, json!({"response": response}));
        self.finished = Some(response);
        out
    }

    /// A failure in the middle of the stream: `response.failed` with the
    /// error. The stream ends after it.
    pub fn error(&mut self, error: &ApiError) -> String {
        let mut out = String::new();
        self.done = true;
        self.start(&mut out);
        let mut response = self.response("failed");
        response["error"] = json!({
            "code": error.code.unwrap_or("server_error"),
            "message": error.message,
        });
        self.event(&mut out, "response.failed", json!({"response": response}));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::llm::ToolCallDelta;

    fn call(body: Value) -> ResponsesCall {
        parse_request(body.to_string().as_bytes()).unwrap()
    }

    fn ids() -> Ids {
        Ids {
            response: "resp_1".into(),
            seed: "abc".into(),
        }
    }

    #[test]
    fn a_string_input_with_instructions_is_a_system_and_a_user_message() {
        let c = call(json!({"model": "m", "input": "hi", "instructions": "be brief"}));
        let r = c.chat_request(&[]).unwrap();
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.messages[1].text(), "hi");
        assert!(c.store && !c.stream);
    }

    #[test]
    fn function_calls_and_outputs_map_to_assistant_calls_and_tool_messages() {
        let c = call(json!({"model": "m", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{\"a\":1}"},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ]}));
        let r = c.chat_request(&[]).unwrap();
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[1].role, Role::Assistant);
        assert_eq!(r.messages[1].tool_calls.len(), 2);
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(r.messages[3].text(), "rain");
    }

    /// What Codex sends: function tools, a namespace of more, a hosted
    /// tool, a custom (freeform) one, its own bookkeeping fields.
    #[test]
    fn codex_tools_map_onto_functions_and_hosted_ones_are_not_offered() {
        let c = call(json!({"model": "m", "input": "x", "store": false,
        "client_metadata": {"turn_id": "t"}, "include": ["reasoning.encrypted_content"],
        "reasoning": {"summary": "auto"}, "prompt_cache_key": "k", "parallel_tool_calls": true,
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "multi_agent_v1", "tools": [
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]},
            {"type": "web_search", "external_web_access": true},
            {"type": "custom", "name": "apply_patch", "description": "Patch files",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
        ]}));
        let r = c.chat_request(&[]).unwrap();
        let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["exec_command", "close_agent", "apply_patch"]);
        assert_eq!(r.extra, None, "Codex's own fields are not sent upstream");
        assert_eq!(c.custom_tools, ["apply_patch"]);
        // The model's call of the custom tool is a custom_tool_call item,
        // and goes back into the conversation as a call.
        let answer = ChatResponse {
            id: String::new(),
            model: "m".into(),
            message: Message {
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "apply_patch".into(),
                    arguments: r#"{"input":"*** Begin Patch"}"#.into(),
                    signature: None,
                }],
                ..Message::assistant(String::new())
            },
            finish_reason: FinishReason::ToolCalls,
            usage: None,
            stop_sequence: None,
        };
        let v = completed_json(&c, &ids(), 1, &answer);
        assert_eq!(v["output"][0]["type"], "custom_tool_call");
        assert_eq!(v["output"][0]["input"], "*** Begin Patch");
        let record = stored_record(&v, &[], &c.input);
        let next = call(json!({"model": "m", "input": [
            {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done"}]}));
        let r = next
            .chat_request(record["items"].as_array().unwrap())
            .unwrap();
        assert_eq!(r.messages[1].tool_calls[0].name, "apply_patch");
        assert_eq!(r.messages[2].text(), "Done");
    }

    #[test]
    fn unknown_tools_audio_and_uploaded_files_are_refused_with_stable_codes() {
        let e = parse_request(
            json!({"model": "m", "input": "x", "tools": [{"type": "teleport"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, Some("unsupported_tool")));
        let e = parse_request(
            json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.code, Some("unsupported_content"));
        assert_eq!(e.param.as_deref(), Some("input[0].content[0].type"));
        let e = parse_request(
            json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_file", "file_id": "file-1"}]}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.code, Some("unsupported_content"));
    }

    #[test]
    fn images_and_files_reach_the_conversation_as_parts() {
        use hanzo_node_sdk::llm::{ContentPart, MediaSource};
        let c = call(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "what is it?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AQID", "detail": "high"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERg=="}]}]}));
        let r = c.chat_request(&[]).unwrap();
        let parts = &r.messages[0].content;
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(
            matches!(&parts[1], ContentPart::Image(i) if i.detail.as_deref() == Some("high")
            && matches!(&i.source, MediaSource::Inline(b) if b.data == [1, 2, 3]))
        );
        assert!(
            matches!(&parts[2], ContentPart::Document(d) if d.title.as_deref() == Some("a.pdf"))
        );
    }

    #[test]
    fn a_second_turn_is_built_on_the_stored_items_without_old_instructions() {
        let first = call(json!({"model": "m", "input": "hi", "instructions": "old"}));
        let answer = ChatResponse {
            id: String::new(),
            model: "m".into(),
            message: Message::assistant("hello".to_string()),
            finish_reason: FinishReason::Stop,
            usage: None,
            stop_sequence: None,
        };
        let response = completed_json(&first, &ids(), 1, &answer);
        let record = stored_record(&response, &[], &first.input);
        let items: Vec<Value> = record["items"].as_array().unwrap().clone();
        let second =
            call(json!({"model": "m", "input": "again", "previous_response_id": "resp_1"}));
        let r = second.chat_request(&items).unwrap();
        let texts: Vec<_> = r.messages.iter().map(|m| (m.role, m.text())).collect();
        assert_eq!(
            texts,
            vec![
                (Role::User, "hi".to_string()),
                (Role::Assistant, "hello".to_string()),
                (Role::User, "again".to_string())
            ]
        );
    }

    #[test]
    fn a_length_finish_is_an_incomplete_response() {
        let c = call(json!({"model": "m", "input": "hi", "max_output_tokens": 3}));
        let answer = ChatResponse {
            id: String::new(),
            model: "m".into(),
            message: Message::assistant("abc".to_string()),
            finish_reason: FinishReason::Length,
            usage: Some(Usage {
                prompt_tokens: 2,
                completion_tokens: 3,
                total_tokens: 5,
            }),
            stop_sequence: None,
        };
        let v = completed_json(&c, &ids(), 1, &answer);
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["usage"]["total_tokens"], 5);
        assert_eq!(v["output"][0]["content"][0]["text"], "abc");
    }

    /// `(event name, data)` of an SSE body.
    fn events(text: &str) -> Vec<(String, Value)> {
        let mut d = hanzo_node_sdk::sse::Decoder::new();
        d.feed(text.as_bytes()).unwrap();
        std::iter::from_fn(|| d.next_event())
            .map(|e| (e.event, serde_json::from_str(&e.data).unwrap()))
            .collect()
    }

    #[test]
    fn reasoning_is_an_output_item_and_goes_back_with_its_turn() {
        use hanzo_node_sdk::llm::ReasoningDelta;
        let c = call(json!({"model": "m", "input": "2+2?"}));
        let answer = ChatResponse {
            id: String::new(),
            model: "m".into(),
            message: Message {
                reasoning: vec![Reasoning {
                    text: "Add them.".into(),
                    signature: Some("sig-1".into()),
                    redacted: false,
                }],
                ..Message::assistant("4")
            },
            finish_reason: FinishReason::Stop,
            stop_sequence: None,
            usage: None,
        };
        let v = completed_json(&c, &ids(), 1, &answer);
        assert_eq!(v["output"][0]["type"], "reasoning");
        assert_eq!(v["output"][0]["summary"][0]["text"], "Add them.");
        assert_eq!(v["output"][0]["encrypted_content"], "sig-1");
        assert_eq!(v["output"][1]["type"], "message");
        // Stored, then the next turn: the reasoning precedes its assistant turn.
        let record = stored_record(&v, &[], &c.input);
        let next = call(json!({"model": "m", "input": "and 3+3?"}));
        let r = next
            .chat_request(record["items"].as_array().unwrap())
            .unwrap();
        assert_eq!(r.messages[1].role, Role::Assistant);
        assert_eq!(
            r.messages[1].reasoning[0].signature.as_deref(),
            Some("sig-1")
        );
        assert!(!r.messages[1].reasoning[0].redacted);
        // A client's reasoning item before a call, as Codex sends it back;
        // encrypted content alone is redacted reasoning.
        let c = call(json!({"model": "m", "input": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}]}));
        let r = c.chat_request(&[]).unwrap();
        assert!(r.messages[0].reasoning[0].redacted);
        assert_eq!(r.messages[0].tool_calls[0].id, "c1");
        // Streamed: a reasoning item with summary deltas before the message.
        let mut e = EventEncoder::new(
            call(json!({"model": "m", "input": "hi", "stream": true})),
            ids(),
            1,
        );
        let chunk = |reasoning: Vec<ReasoningDelta>, content: Option<&str>| ChatChunk {
            id: String::new(),
            model: "m".into(),
            content: content.map(str::to_string),
            tool_calls: Vec::new(),
            reasoning,
            finish_reason: None,
            stop_sequence: None,
            usage: None,
        };
        let delta = |text: &str, signature: Option<&str>| ReasoningDelta {
            index: 0,
            text: text.into(),
            signature: signature.map(str::to_string),
            redacted: false,
        };
        let mut text = e.chunk(&chunk(vec![delta("Hm", None)], None));
        text += &e.chunk(&chunk(vec![delta("m.", Some("sig"))], None));
        text += &e.chunk(&chunk(vec![], Some("hi")));
        text += &e.finish();
        let seen = events(&text);
        let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            &kinds[2..9],
            [
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
            ]
        );
        let done = &seen[8].1["item"];
        assert_eq!(done["summary"][0]["text"], "Hmm.");
        assert_eq!(done["encrypted_content"], "sig");
        let completed = &seen.last().unwrap().1["response"];
        assert_eq!(completed["output"][0]["type"], "reasoning");
        assert_eq!(completed["output"][1]["type"], "message");
    }

    #[test]
    fn a_stream_of_text_then_a_call_is_the_documented_event_sequence() {
        let c = call(json!({"model": "m", "input": "hi", "stream": true}));
        let mut e = EventEncoder::new(c, ids(), 1);
        let chunk = |content: Option<&str>, calls: Vec<ToolCallDelta>| ChatChunk {
            id: String::new(),
            model: "m".into(),
            content: content.map(str::to_string),
            tool_calls: calls,
            finish_reason: None,
            usage: None,
            reasoning: Vec::new(),
            stop_sequence: None,
        };
        let mut text = e.chunk(&chunk(Some("Hel"), vec![]));
        text += &e.chunk(&chunk(Some("lo"), vec![]));
        text += &e.chunk(&chunk(
            None,
            vec![ToolCallDelta {
                index: 0,
                id: Some("call_9".into()),
                name: Some("w".into()),
                signature: None,
                arguments: "{\"a\"".into(),
            }],
        ));
        text += &e.chunk(&chunk(
            None,
            vec![ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: ":1}".into(),
                signature: None,
            }],
        ));
        text += &e.finish();
        let seen = events(&text);
        let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, (_, data)) in seen.iter().enumerate() {
            assert_eq!(data["sequence_number"], i as u64);
        }
        let done = &seen.last().unwrap().1["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(done["output"][1]["call_id"], "call_9");
        assert_eq!(e.finished.as_ref().unwrap()["status"], "completed");
    }
}
