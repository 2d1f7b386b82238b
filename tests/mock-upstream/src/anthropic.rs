//! A local server speaking the Anthropic Messages API as api.anthropic.com
//! does: `GET /v1/models` (paged), `POST /v1/messages` (JSON, or the SSE
//! event sequence with `stream: true`: message_start, content_block_start /
//! delta / stop with input_json_delta for tool input, ping, message_delta
//! with stop_reason and usage, message_stop), its error bodies and headers,
//! and its checks: `x-api-key` and `anthropic-version` headers, `max_tokens`
//! required, tool results answering the previous turn's tool_use blocks.
//!
//! Special model names make it misbehave: `rate-limited` (429 +
//! retry-after: 2), `broken` (500 api_error), `overloaded` (529),
//! `too-long` (prompt is too long), `bad-key` (401), `missing` (404),
//! `cut-stream` (the stream breaks mid-way), `stream-error` (an `error`
//! event mid-stream), `slow-stream` (events 150 ms apart); `coding-agent`
//! is Claude Code's model: it runs [`AGENT_COMMAND`] with the `Bash` tool,
//! then answers `done: <what it printed>`.

use crate::openai::AGENT_COMMAND;
use crate::server::{
    Body, MockServer, Pace, Recorded, json_response, last_user_text, streamed, with_header,
};
use hyper::Response;
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-ant-test-123";
pub const TOOL_USE_ID: &str = "toolu_01A09q90qw90lq917835lq9";
pub const MODELS: &[&str] = &["claude-3-5-haiku-20241022", "claude-sonnet-4-5-20250929"];

/// The signature of the mock's thinking blocks; a thinking block sent back
/// with any other is refused, as the API refuses a tampered one.
pub const THINKING_SIGNATURE: &str = "EqQBmockThinkingSignature";

fn thinks(body: &Value) -> bool {
    matches!(
        body["thinking"]["type"].as_str(),
        Some("enabled" | "adaptive")
    )
}

/// The mock's (signed) thinking, first in an answer when thinking is on.
fn thinking_block() -> Value {
    json!({"type": "thinking", "thinking": "The user wants an answer.", "signature": THINKING_SIGNATURE})
}

pub async fn start() -> MockServer {
    MockServer::start(handle).await
}

pub fn base_url(mock: &MockServer) -> String {
    format!("http://{}", mock.addr)
}

fn error(status: u16, kind: &str, message: &str) -> Response<Body> {
    let r = json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message},
                "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
    );
    with_header(r, "request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
}

fn handle(req: &Recorded) -> Response<Body> {
    // Checked before anything else, as the API does.
    match req.header("x-api-key") {
        Some(API_KEY) => {}
        _ => return error(401, "authentication_error", "invalid x-api-key"),
    }
    if req.header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/models") => models(req),
        ("POST", "/v1/messages") => messages(&req.body),
        ("POST", "/v1/messages/count_tokens") => count_tokens(&req.body),
        _ => error(404, "not_found_error", "Not Found"),
    }
}

/// What the count endpoint answers: a count no estimate would give (the
/// body's length plus 1000 per image), so a test can tell it came from here;
/// a body with `max_tokens` is refused, as the API does.
fn count_tokens(body: &Value) -> Response<Body> {
    if body.get("max_tokens").is_some() {
        return error(
            400,
            "invalid_request_error",
            "max_tokens: Extra inputs are not permitted",
        );
    }
    let text = body.to_string();
    let images = text.matches("\"type\":\"image\"").count();
    json_response(
        200,
        &json!({"input_tokens": 7000 + text.len() + 1000 * images}),
    )
}

/// One model per page, to exercise `has_more` / `after_id`.
fn models(req: &Recorded) -> Response<Body> {
    let entry = |id: &str| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-02-19T00:00:00Z"});
    let (page, more) = match req.query_param("after_id") {
        None => (MODELS[1], true),
        Some(after) if after == MODELS[1] => (MODELS[0], false),
        Some(_) => return error(400, "invalid_request_error", "after_id: not a model id"),
    };
    json_response(
        200,
        &json!({"data": [entry(page)], "has_more": more, "first_id": page, "last_id": page}),
    )
}

fn block_text(m: &Value) -> Option<String> {
    match &m["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => {
            let text: String = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            (!text.is_empty()).then_some(text)
        }
        _ => None,
    }
}

/// The API's own checks on the conversation's shape.
fn validate(body: &Value) -> Result<(), String> {
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Err("max_tokens: Field required".into());
    }
    let messages = body["messages"]
        .as_array()
        .ok_or("messages: Field required")?;
    if messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("user" | "assistant") => {}
            _ => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                ));
            }
        }
        if i > 0 && messages[i - 1]["role"] == m["role"] {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{}\" roles in a row",
                m["role"].as_str().unwrap_or("")
            ));
        }
        let Some(blocks) = m["content"].as_array() else {
            continue;
        };
        for b in blocks {
            if b["type"] == "text" && b["text"].as_str().is_none_or(str::is_empty) {
                return Err(format!(
                    "messages.{i}: text content blocks must be non-empty"
                ));
            }
            if b["type"] == "tool_result" {
                let id = b["tool_use_id"].as_str().unwrap_or("");
                let answered = i > 0
                    && messages[i - 1]["content"].as_array().is_some_and(|prev| {
                        prev.iter()
                            .any(|p| p["type"] == "tool_use" && p["id"] == id)
                    });
                if !answered {
                    return Err(format!(
                        "messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    ));
                }
            }
            if b["type"] == "tool_use" && !b["input"].is_object() {
                return Err(format!(
                    "messages.{i}: tool_use.input: Input should be an object"
                ));
            }
        }
    }
    if let Some(system) = body.get("system")
        && !system.is_string()
        && !system.is_array()
    {
        return Err("system: Input should be a valid string".into());
    }
    if thinks(body) {
        for (i, m) in messages.iter().enumerate() {
            for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
                if b["type"] == "thinking" && b["signature"] != THINKING_SIGNATURE {
                    return Err(format!(
                        "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    ));
                }
            }
        }
        // With thinking on, the assistant turn whose tool use is being
        // answered must hand its thinking back first.
        if let Some(last) = messages.iter().rev().find(|m| m["role"] == "assistant")
            && let Some(blocks) = last["content"].as_array()
            && blocks.iter().any(|b| b["type"] == "tool_use")
            && !matches!(
                blocks[0]["type"].as_str(),
                Some("thinking" | "redacted_thinking")
            )
        {
            return Err("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.".into());
        }
    }
    Ok(())
}

fn wants_tool_call(body: &Value) -> bool {
    let tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let last_is_question = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "user" && block_text(m).is_some());
    tools && last_is_question && body["tool_choice"]["type"] != "none"
}

fn messages(body: &Value) -> Response<Body> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    match model.as_str() {
        "rate-limited" => {
            let r = error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
            );
            let r = with_header(r, "retry-after", "2");
            let r = with_header(r, "anthropic-ratelimit-tokens-limit", "80000");
            return with_header(r, "anthropic-ratelimit-tokens-remaining", "0");
        }
        "broken" => return error(500, "api_error", "Internal server error"),
        "overloaded" => return error(529, "overloaded_error", "Overloaded"),
        "too-long" => {
            return error(
                400,
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            );
        }
        "bad-key" => return error(401, "authentication_error", "invalid x-api-key"),
        "missing" => return error(404, "not_found_error", "model: missing"),
        _ => {}
    }
    if let Err(message) = validate(body) {
        return error(400, "invalid_request_error", &message);
    }
    if model == "coding-agent" {
        let (mut content, stop) = coding_agent_turn(body);
        if thinks(body) {
            content.as_array_mut().unwrap().insert(0, thinking_block());
        }
        if body["stream"] == true {
            return streamed_blocks(&model, &content, stop);
        }
        return json_response(
            200,
            &json!({
                "id": "msg_01AgentMock", "type": "message", "role": "assistant",
                "model": model, "content": content, "stop_reason": stop, "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 7}
            }),
        );
    }
    if body["stream"] == true {
        return stream(body, model);
    }
    let mut stop_sequence = Value::Null;
    let (mut content, stop) = if wants_tool_call(body) {
        (
            json!([
                {"type": "text", "text": "I'll calculate that."},
                {"type": "tool_use", "id": TOOL_USE_ID, "name": "calculator", "input": {"expression": "2+2"}},
            ]),
            "tool_use",
        )
    } else {
        let mut text = format!(
            "echo: {}",
            last_user_text(&body["messages"], "role", block_text)
        );
        let mut stop = "end_turn";
        // The first stop sequence in the answer ends it there, as a model's would.
        if let Some((at, sequence)) = body["stop_sequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|s| text.find(s).map(|at| (at, s.to_string())))
            .min()
        {
            text.truncate(at);
            stop = "stop_sequence";
            stop_sequence = sequence.into();
        }
        (json!([{"type": "text", "text": text}]), stop)
    };
    if thinks(body) {
        content.as_array_mut().unwrap().insert(0, thinking_block());
    }
    json_response(
        200,
        &json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": stop, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": 12, "output_tokens": 7, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "service_tier": "standard"}
        }),
    )
}

/// A coding agent's model (Claude Code's): before any tool result, a
/// `Bash` call of [`AGENT_COMMAND`]; after one, `done: <result>`.
fn coding_agent_turn(body: &Value) -> (Value, &'static str) {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let result = messages.iter().rev().find_map(|m| {
        m["content"].as_array()?.iter().find_map(|b| {
            (b["type"] == "tool_result").then(|| match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            })
        })
    });
    if let Some(text) = result {
        return (
            json!([{"type": "text", "text": format!("done: {}", text.trim())}]),
            "end_turn",
        );
    }
    let has_bash = body["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"));
    if has_bash {
        (
            json!([{"type": "tool_use", "id": TOOL_USE_ID, "name": "Bash",
                    "input": {"command": AGENT_COMMAND, "description": "Write the proof file"}}]),
            "tool_use",
        )
    } else {
        (
            json!([{"type": "text", "text": "no Bash tool offered"}]),
            "end_turn",
        )
    }
}

/// `content` (text and tool_use blocks) as the Messages event stream.
fn streamed_blocks(model: &str, content: &Value, stop: &str) -> Response<Body> {
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_01AgentStream", "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    )];
    for (index, block) in content.as_array().into_iter().flatten().enumerate() {
        if block["type"] == "thinking" {
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "thinking", "thinking": ""}}),
            ));
            for delta in [
                json!({"type": "thinking_delta", "thinking": block["thinking"]}),
                json!({"type": "signature_delta", "signature": block["signature"]}),
            ] {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            events.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            continue;
        }
        let (start, delta) = if block["type"] == "tool_use" {
            (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            )
        } else {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            )
        };
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 3}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    streamed("text/event-stream; charset=utf-8", events, Pace::normal())
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn stream(body: &Value, model: String) -> Response<Body> {
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_01StreamMock", "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    )];
    let stop = if wants_tool_call(body) {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "tool_use", "id": TOOL_USE_ID, "name": "calculator", "input": {}}}),
        ));
        events.push(event("ping", json!({"type": "ping"})));
        for part in ["", "{\"expres", "sion\": \"2", "+2\"}"] {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        "tool_use"
    } else {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(event("ping", json!({"type": "ping"})));
        for part in ["Hel", "lo", " world"] {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        "end_turn"
    };
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 3}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    let pace = match model.as_str() {
        // message_start, block start, ping, one delta: then the cut.
        "cut-stream" => Pace::cut(4),
        "slow-stream" => Pace::slow(150),
        "stream-error" => {
            events.truncate(4);
            events.push(event(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            Pace::normal()
        }
        _ => Pace::normal(),
    };
    let r = streamed("text/event-stream; charset=utf-8", events, pace);
    with_header(r, "request-id", "req_011CStreamMock")
}
