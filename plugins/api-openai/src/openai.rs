//! The OpenAI API (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`)
//! to and from the router's WIT types. Pure: no host calls.

use crate::error::{ApiError, Kind};
use crate::parts::{self, Parts};
use crate::wire::{
    self, optional_bool, optional_f32, optional_string, optional_u32, required_string, type_name,
};
use hanzo_node_sdk::content::text_content;
use hanzo_node_sdk::llm::{
    ChatChunk, ChatRequest, ChatResponse, ContentPart, EmbedRequest, EmbedResponse, FinishReason,
    Message, Model, Reasoning, Role, ToolCall, ToolChoice, ToolDefinition, Usage,
};
use serde_json::{Map, Value, json};

/// Fields of a chat completion request this module maps itself; every
/// other non-null field goes to the provider as `extra`.
const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "stream",
    "stream_options",
    "n",
];

/// The schema of a function tool declared without `parameters`.
const EMPTY_PARAMETERS: &str = r#"{"type":"object","properties":{}}"#;

/// A parsed `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall {
    pub request: ChatRequest,
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
}

// ---------------------------------------------------------------- requests

/// Parses a chat completion request body: a plain one on the fast path
/// ([`crate::plain_chat`]), any other here.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatCall, ApiError> {
    match crate::plain_chat::parse(body) {
        Some(call) => Ok(call),
        None => parse_full_chat_request(body),
    }
}

/// Parses any chat completion request body, with an error naming the
/// parameter for a bad one.
pub(crate) fn parse_full_chat_request(body: &[u8]) -> Result<ChatCall, ApiError> {
    let obj = wire::parse_object(body)?;
    let model = required_string(&obj, "model", "model")?;

    let messages = match obj.get("messages") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, m)| parse_message(i, m))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "messages",
                "`messages` must contain at least one message.",
            ));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "messages",
                "Missing required parameter: `messages`.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "messages",
                format!("`messages` must be an array, not {}.", type_name(other)),
            ));
        }
    };

    let tools = parse_tools(obj.get("tools"))?;
    let tool_choice = parse_tool_choice(obj.get("tool_choice"))?;
    let temperature = optional_f32(&obj, "temperature", "temperature")?;
    let top_p = optional_f32(&obj, "top_p", "top_p")?;
    // `max_completion_tokens` replaced `max_tokens`; it wins when both are set.
    let max_tokens = match optional_u32(&obj, "max_completion_tokens", "max_completion_tokens")? {
        Some(n) => Some(n),
        None => optional_u32(&obj, "max_tokens", "max_tokens")?,
    };
    let stop = parse_stop(obj.get("stop"))?;

    let mut extra = Map::new();
    let json_mode = match obj.get("response_format") {
        None | Some(Value::Null) => false,
        Some(format @ Value::Object(f)) => match f.get("type").and_then(Value::as_str) {
            Some("text") => false,
            Some("json_object") => true,
            // A schema has no WIT field: ask for JSON, and hand the schema on
            // to providers that understand OpenAI's `response_format`.
            Some("json_schema") => {
                extra.insert("response_format".into(), format.clone());
                true
            }
            _ => {
                return Err(ApiError::invalid(
                    "response_format.type",
                    "`response_format.type` must be one of `text`, `json_object` or `json_schema`.",
                ));
            }
        },
        Some(other) => {
            return Err(ApiError::invalid(
                "response_format",
                format!(
                    "`response_format` must be an object, not {}.",
                    type_name(other)
                ),
            ));
        }
    };

    let stream = optional_bool(&obj, "stream", "stream")?.unwrap_or(false);
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => {
            optional_bool(o, "include_usage", "stream_options.include_usage")?.unwrap_or(false)
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "stream_options",
                format!(
                    "`stream_options` must be an object, not {}.",
                    type_name(other)
                ),
            ));
        }
    };
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "n",
                "Only `n: 1` is supported: the node answers with one choice.",
            )
            .with_code("unsupported_value"));
        }
    }

    for (key, value) in &obj {
        if !CHAT_FIELDS.contains(&key.as_str()) && !value.is_null() {
            extra.insert(key.clone(), value.clone());
        }
    }

    Ok(ChatCall {
        request: ChatRequest {
            model,
            messages,
            tools,
            tool_choice,
            temperature,
            top_p,
            max_tokens,
            stop,
            json_mode,
            extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        },
        stream,
        include_usage,
    })
}

fn parse_message(index: usize, value: &Value) -> Result<Message, ApiError> {
    let at = format!("messages[{index}]");
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid(
            at.clone(),
            format!("`{at}` must be an object, not {}.", type_name(value)),
        ));
    };
    let role_name = required_string(obj, "role", &format!("{at}.role"))?;
    let name = optional_string(obj, "name", &format!("{at}.name"))?;
    let content_at = format!("{at}.content");
    let mut message = Message {
        name,
        ..Message::new(Role::User, "")
    };
    match role_name.as_str() {
        "system" | "developer" => {
            message.role = Role::System;
            message.content = content_parts(obj.get("content"), &content_at, false)?;
        }
        "user" => {
            message.content = content_parts(obj.get("content"), &content_at, false)?;
        }
        "assistant" => {
            message.role = Role::Assistant;
            message.content = content_parts(obj.get("content"), &content_at, true)?;
            message.tool_calls = parse_tool_calls(obj, &at)?;
            // DeepSeek-style clients send the reasoning back.
            if let Some(Value::String(r)) = obj.get("reasoning_content")
                && !r.is_empty()
            {
                message.reasoning.push(Reasoning {
                    text: r.clone(),
                    signature: None,
                    redacted: false,
                });
            }
        }
        "tool" => {
            message.role = Role::Tool;
            message.content = content_parts(obj.get("content"), &content_at, false)?;
            message.tool_call_id = Some(required_string(
                obj,
                "tool_call_id",
                &format!("{at}.tool_call_id"),
            )?);
        }
        // The deprecated function-calling result: the function's name
        // stands in for the call id.
        "function" => {
            message.role = Role::Tool;
            message.content = content_parts(obj.get("content"), &content_at, true)?;
            message.tool_call_id = message.name.clone();
        }
        other => {
            return Err(ApiError::invalid(
                format!("{at}.role"),
                format!(
                    "Invalid value for `{at}.role`: `{other}`. Supported values are: \
                     `system`, `developer`, `user`, `assistant` and `tool`."
                ),
            ));
        }
    }
    Ok(message)
}

/// A `content` field as parts: a string, or an array of content parts
/// (text, `image_url`, `file`; adjacent text joined with newlines). `null`
/// is allowed where `nullable` (assistant messages that only call tools).
/// Audio is refused as `unsupported_content`.
fn content_parts(
    value: Option<&Value>,
    at: &str,
    nullable: bool,
) -> Result<Vec<ContentPart>, ApiError> {
    match value {
        Some(Value::String(s)) => Ok(text_content(s.clone())),
        None | Some(Value::Null) if nullable => Ok(Vec::new()),
        None | Some(Value::Null) => Err(ApiError::invalid(
            at,
            format!("Missing required parameter: `{at}`."),
        )),
        Some(Value::Array(parts)) => {
            let mut out = Parts::default();
            for (i, part) in parts.iter().enumerate() {
                let part_at = format!("{at}[{i}]");
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                let fields = part.as_object();
                match (kind, fields) {
                    ("text" | "refusal", _) => match part.get(kind) {
                        Some(Value::String(s)) => out.text(s),
                        _ => {
                            return Err(ApiError::invalid(
                                format!("{part_at}.{kind}"),
                                format!("`{part_at}.{kind}` must be a string."),
                            ));
                        }
                    },
                    ("image_url", Some(fields)) => out.push(parts::openai_image(fields, &part_at)?),
                    ("file", Some(fields)) => out.push(parts::openai_file(fields, &part_at)?),
                    ("input_audio", _) => {
                        return Err(ApiError::invalid(
                            format!("{part_at}.type"),
                            format!(
                                "Content parts of type `{kind}` are not supported by this node: \
                                 messages carry text, images and documents."
                            ),
                        )
                        .with_code(parts::UNSUPPORTED));
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{part_at}.type"),
                            format!("Invalid content part type at `{part_at}`: `{kind}`."),
                        ));
                    }
                }
            }
            Ok(out.into_vec())
        }
        Some(other) => Err(ApiError::invalid(
            at,
            format!(
                "`{at}` must be a string or an array of content parts, not {}.",
                type_name(other)
            ),
        )),
    }
}

fn parse_tool_calls(obj: &Map<String, Value>, at: &str) -> Result<Vec<ToolCall>, ApiError> {
    let mut calls = Vec::new();
    match obj.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let call_at = format!("{at}.tool_calls[{i}]");
                let Value::Object(call) = item else {
                    return Err(ApiError::invalid(
                        call_at.clone(),
                        format!("`{call_at}` must be an object."),
                    ));
                };
                let id = required_string(call, "id", &format!("{call_at}.id"))?;
                if let Some(kind) = call.get("type").and_then(Value::as_str)
                    && kind != "function"
                {
                    return Err(ApiError::invalid(
                        format!("{call_at}.type"),
                        format!("Tool calls of type `{kind}` are not supported."),
                    ));
                }
                let Some(Value::Object(function)) = call.get("function") else {
                    return Err(ApiError::invalid(
                        format!("{call_at}.function"),
                        format!("Missing required parameter: `{call_at}.function`."),
                    ));
                };
                let (name, arguments) = function_parts(function, &format!("{call_at}.function"))?;
                calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                    signature: None,
                });
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(
                format!("{at}.tool_calls"),
                format!(
                    "`{at}.tool_calls` must be an array, not {}.",
                    type_name(other)
                ),
            ));
        }
    }
    // The deprecated single `function_call`; its name doubles as the id.
    if calls.is_empty()
        && let Some(Value::Object(function)) = obj.get("function_call")
    {
        let (name, arguments) = function_parts(function, &format!("{at}.function_call"))?;
        calls.push(ToolCall {
            id: name.clone(),
            name,
            arguments,
            signature: None,
        });
    }
    Ok(calls)
}

fn function_parts(function: &Map<String, Value>, at: &str) -> Result<(String, String), ApiError> {
    let name = required_string(function, "name", &format!("{at}.name"))?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Lenient: some clients send the object itself.
        Some(other) => other.to_string(),
    };
    Ok((name, arguments))
}

fn parse_tools(value: Option<&Value>) -> Result<Vec<ToolDefinition>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid(
                "tools",
                format!("`tools` must be an array, not {}.", type_name(other)),
            ));
        }
    };
    let mut tools = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("tools[{i}]");
        let Value::Object(tool) = item else {
            return Err(ApiError::invalid(
                at.clone(),
                format!("`{at}` must be an object."),
            ));
        };
        match tool.get("type").and_then(Value::as_str) {
            None | Some("function") => {}
            Some(kind) => {
                return Err(ApiError::invalid(
                    format!("{at}.type"),
                    format!("Tools of type `{kind}` are not supported; use `function`."),
                ));
            }
        }
        let Some(Value::Object(function)) = tool.get("function") else {
            return Err(ApiError::invalid(
                format!("{at}.function"),
                format!("Missing required parameter: `{at}.function`."),
            ));
        };
        let name = required_string(function, "name", &format!("{at}.function.name"))?;
        let description = optional_string(
            function,
            "description",
            &format!("{at}.function.description"),
        )?
        .unwrap_or_default();
        let parameters = match function.get("parameters") {
            None | Some(Value::Null) => EMPTY_PARAMETERS.to_string(),
            Some(schema @ Value::Object(_)) => schema.to_string(),
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{at}.function.parameters"),
                    format!(
                        "`{at}.function.parameters` must be a JSON Schema object, not {}.",
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
    let invalid = || {
        ApiError::invalid(
            "tool_choice",
            "`tool_choice` must be `none`, `auto`, `required` or \
             {\"type\": \"function\", \"function\": {\"name\": ...}}.",
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            _ => Err(invalid()),
        },
        Some(Value::Object(o)) => {
            if o.get("type").and_then(Value::as_str) != Some("function") {
                return Err(invalid());
            }
            match o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) if !name.is_empty() => Ok(Some(ToolChoice::Named(name.to_string()))),
                _ => Err(ApiError::invalid(
                    "tool_choice.function.name",
                    "Missing required parameter: `tool_choice.function.name`.",
                )),
            }
        }
        Some(_) => Err(invalid()),
    }
}

fn parse_stop(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid(
                    "stop",
                    "`stop` must be a string or an array of strings.",
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(
            "stop",
            "`stop` must be a string or an array of strings.",
        )),
    }
}

// ---------------------------------------------------------------- responses

/// OpenAI's name of a finish reason.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::StopSequence | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    })
}

/// The id of a response: the upstream's when it has OpenAI's shape, else
/// `fallback` (a fresh `chatcmpl-…`).
pub fn completion_id(upstream: &str, fallback: impl FnOnce() -> String) -> String {
    if upstream.starts_with("chatcmpl-") && upstream.len() > "chatcmpl-".len() {
        upstream.to_string()
    } else {
        fallback()
    }
}

/// A `chat.completion` object's JSON, fields in OpenAI's order. `model` is
/// the name the client asked for; tool calls without an id get
/// `call_{id_seed}{i}`. Written from borrowed, typed parts: no `Value` tree
/// is built for every answer.
pub fn chat_completion_body(
    response: &ChatResponse,
    id: &str,
    created: u64,
    model: &str,
    id_seed: &str,
) -> Vec<u8> {
    let calls = &response.message.tool_calls;
    let content = &response.message.text();
    let completion = Completion {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [CompletionChoice {
            index: 0,
            message: CompletionMessage {
                role: "assistant",
                content: (!content.is_empty() || calls.is_empty()).then_some(content.as_str()),
                refusal: None,
                tool_calls: calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ToolCallOut {
                        id: if c.id.is_empty() {
                            format!("call_{id_seed}{i}").into()
                        } else {
                            c.id.as_str().into()
                        },
                        kind: "function",
                        function: FunctionOut {
                            name: &c.name,
                            arguments: &c.arguments,
                        },
                    })
                    .collect(),
            },
            logprobs: None,
            finish_reason: finish_reason(response.finish_reason),
        }],
        usage: response.usage.as_ref().map(|u| UsageOut {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
        }),
    };
    // Only maps with non-string keys fail to serialize; there are none.
    serde_json::to_vec(&completion).unwrap_or_default()
}

#[derive(serde::Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(serde::Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: CompletionMessage<'a>,
    /// Always `null`: log probabilities are not relayed.
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(serde::Serialize)]
struct CompletionMessage<'a> {
    role: &'static str,
    /// `null` for a message that is only tool calls.
    content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(serde::Serialize)]
struct ToolCallOut<'a> {
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(serde::Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(serde::Serialize)]
struct UsageOut {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

/// Turns the router's chunks into `chat.completion.chunk` events, as
/// OpenAI streams them:
///
/// - every chunk has the same `id`, `created` and `model`;
/// - the first carries `delta.role` (and an empty `content`);
/// - content arrives as `delta.content`; a tool call's first delta carries
///   its `index`, `id`, `type` and `function.name`, later ones only
///   `index` and `function.arguments` fragments (the SDKs concatenate every
///   string they see, so nothing is repeated);
/// - `finish_reason` comes in a chunk of its own with an empty delta;
/// - with `include_usage`, every chunk has `"usage": null` and a last chunk
///   with `"choices": []` carries the usage;
/// - then `data: [DONE]`.
///
/// Tool-call indexes are renumbered 0, 1, … in order of appearance.
pub struct ChunkEncoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Every chunk event up to its delta, written once: a chunk costs its
    /// delta's encoding only.
    head: String,
    id_seed: String,
    started: bool,
    /// Per tool call, in order of appearance: the router's index and
    /// whether its name was sent.
    calls: Vec<(u32, bool)>,
    finish_sent: bool,
    usage: Option<Usage>,
    done: bool,
}

impl ChunkEncoder {
    pub fn new(
        id: String,
        created: u64,
        model: String,
        include_usage: bool,
        id_seed: String,
    ) -> Self {
        let head = format!(
            "data: {{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{},\"choices\":[{{\"index\":0,\"delta\":",
            Value::from(id.as_str()),
            Value::from(model.as_str()),
        );
        ChunkEncoder {
            id,
            created,
            model,
            include_usage,
            head,
            id_seed,
            started: false,
            calls: Vec::new(),
            finish_sent: false,
            usage: None,
            done: false,
        }
    }

    /// Appends one chunk event, in OpenAI's field order.
    fn event(&self, out: &mut String, delta: &Value, finish: Option<&str>) {
        use std::fmt::Write;
        out.push_str(&self.head);
        let _ = write!(out, "{delta}");
        out.push_str(",\"logprobs\":null,\"finish_reason\":");
        match finish {
            // Reasons are fixed words (`finish_reason`), nothing to escape.
            Some(reason) => {
                out.push('"');
                out.push_str(reason);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        out.push_str("}]");
        if self.include_usage {
            out.push_str(",\"usage\":null");
        }
        out.push_str("}\n\n");
    }

    fn start(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            self.event(out, &json!({"role": "assistant", "content": ""}), None);
        }
    }

    /// The events for one chunk of the router's stream.
    pub fn chunk(&mut self, chunk: &ChatChunk) -> String {
        let mut out = String::new();
        self.start(&mut out);
        let mut delta = Map::new();
        if let Some(text) = chunk.content.as_deref().filter(|t| !t.is_empty()) {
            delta.insert("content".into(), text.into());
        }
        let mut calls = Vec::new();
        for part in &chunk.tool_calls {
            let position = self
                .calls
                .iter()
                .position(|(index, _)| *index == part.index);
            let call = match position {
                None => {
                    let index = self.calls.len();
                    self.calls.push((part.index, part.name.is_some()));
                    let id = part
                        .id
                        .clone()
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| format!("call_{}{index}", self.id_seed));
                    json!({
                        "index": index,
                        "id": id,
                        "type": "function",
                        "function": {
                            "name": part.name.clone().unwrap_or_default(),
                            "arguments": part.arguments,
                        },
                    })
                }
                Some(index) => {
                    let mut function = Map::new();
                    if let Some(name) = &part.name
                        && !self.calls[index].1
                    {
                        self.calls[index].1 = true;
                        function.insert("name".into(), name.clone().into());
                    }
                    if !part.arguments.is_empty() {
                        function.insert("arguments".into(), part.arguments.clone().into());
                    }
                    if function.is_empty() {
                        continue;
                    }
                    json!({"index": index, "function": function})
                }
            };
            calls.push(call);
        }
        if !calls.is_empty() {
            delta.insert("tool_calls".into(), calls.into());
        }
        if !delta.is_empty() {
            self.event(&mut out, &Value::Object(delta), None);
        }
        if let Some(reason) = chunk.finish_reason
            && !self.finish_sent
        {
            self.finish_sent = true;
            self.event(&mut out, &json!({}), Some(finish_reason(reason)));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        out
    }

    /// The end of a stream that completed: the finish chunk if the router
    /// sent none, the usage chunk when asked for, and `[DONE]`.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start(&mut out);
        if !self.finish_sent {
            self.finish_sent = true;
            let reason = if self.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            self.event(&mut out, &json!({}), Some(reason));
        }
        if self.include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage.as_ref().map(usage_json),
            });
            out.push_str(&wire::sse_event(None, &chunk.to_string()));
        }
        out.push_str("data: [DONE]\n\n");
        out
    }

    /// An error in the middle of the stream, as OpenAI sends one: a data
    /// event holding an `error` object. The stream ends after it.
    pub fn error(&mut self, error: &ApiError) -> String {
        self.done = true;
        wire::sse_event(None, &error_json(error).to_string())
    }
}

// ---------------------------------------------------------------- embeddings

/// How the client wants the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    Float,
    /// Little-endian `f32`s in base64 (the OpenAI SDKs' default).
    Base64,
}

/// A parsed `POST /v1/embeddings`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedCall {
    pub request: EmbedRequest,
    pub encoding: EncodingFormat,
}

/// Parses an embeddings request body.
pub fn parse_embed_request(body: &[u8]) -> Result<EmbedCall, ApiError> {
    let obj = wire::parse_object(body)?;
    let model = required_string(&obj, "model", "model")?;
    let tokens_unsupported = || {
        ApiError::invalid(
            "input",
            "Token arrays are not supported as `input` by this node; send text.",
        )
        .with_code("unsupported_value")
    };
    let inputs = match obj.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut inputs = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => inputs.push(s.clone()),
                    Value::Number(_) | Value::Array(_) => return Err(tokens_unsupported()),
                    _ => {
                        return Err(ApiError::invalid(
                            "input",
                            "`input` must be a string or an array of strings.",
                        ));
                    }
                }
            }
            inputs
        }
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid("input", "`input` must not be empty."));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "input",
                "Missing required parameter: `input`.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a string or an array of strings.",
            ));
        }
    };
    let dimensions = optional_u32(&obj, "dimensions", "dimensions")?;
    let encoding = match optional_string(&obj, "encoding_format", "encoding_format")?.as_deref() {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("Invalid value for `encoding_format`: `{other}`; use `float` or `base64`."),
            ));
        }
    };
    Ok(EmbedCall {
        request: EmbedRequest {
            model,
            inputs,
            dimensions,
        },
        encoding,
    })
}

/// The embeddings response: a list of `embedding` objects and the usage.
pub fn embeddings_json(response: &EmbedResponse, model: &str, encoding: EncodingFormat) -> Value {
    let data: Vec<Value> = response
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = match encoding {
                EncodingFormat::Float => {
                    Value::Array(vector.iter().copied().map(wire::f32_json).collect())
                }
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                    Value::String(wire::base64(&bytes))
                }
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let usage = response.usage.as_ref();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {
            "prompt_tokens": usage.map_or(0, |u| u.prompt_tokens),
            "total_tokens": usage.map_or(0, |u| u.total_tokens),
        },
    })
}

// ---------------------------------------------------------------- models

/// One model object. Besides OpenAI's fields it tells what the node knows
/// of the model (extra fields, which OpenAI clients ignore).
pub fn model_json(model: &Model) -> Value {
    let mut out = json!({
        "id": model.id,
        "object": "model",
        "created": 0,
        "owned_by": model.owned_by,
        "capabilities": crate::capability_names(model.capabilities),
    });
    if model.context_length > 0 {
        out["context_length"] = model.context_length.into();
    }
    if model.input_price_per_mtok.is_some() || model.output_price_per_mtok.is_some() {
        out["pricing"] = json!({
            "input_per_mtok": model.input_price_per_mtok,
            "output_per_mtok": model.output_price_per_mtok,
        });
    }
    out
}

/// `GET /v1/models`.
pub fn model_list_json(models: &[Model]) -> Value {
    json!({"object": "list", "data": models.iter().map(model_json).collect::<Vec<_>>()})
}

// ---------------------------------------------------------------- errors

/// OpenAI's `type` of an error.
fn error_type(kind: Kind) -> &'static str {
    match kind {
        Kind::InvalidRequest
        | Kind::ContextTooLong
        | Kind::NotFound
        | Kind::MethodNotAllowed
        | Kind::TooLarge => "invalid_request_error",
        Kind::RateLimited => "rate_limit_error",
        Kind::Forbidden => "permission_error",
        Kind::OverBudget => "insufficient_quota",
        Kind::Internal | Kind::BadGateway | Kind::Unavailable | Kind::Timeout => "server_error",
    }
}

/// `{"error":{"message","type","param","code"}}`.
pub fn error_json(error: &ApiError) -> Value {
    json!({
        "error": {
            "message": error.message,
            "type": error_type(error.kind),
            "param": error.param,
            "code": error.code,
        }
    })
}

#[cfg(test)]
mod tests;
