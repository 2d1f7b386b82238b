//! A local server speaking the OpenAI HTTP API as api.openai.com does:
//! `GET /v1/models`, `POST /v1/chat/completions` (JSON, or SSE chunks with
//! tool-call deltas, usage when `stream_options.include_usage` is set, and
//! `[DONE]`), `POST /v1/embeddings`, and its error bodies. Two servers
//! answer alike:
//!
//! - [`MockOpenAi`], for tests: it records every request, streams events a
//!   few milliseconds apart, and special model names make it misbehave:
//!   `rate-limited` (429 + retry-after), `broken` (500), `too-long`
//!   (context_length_exceeded), `bad-key` (401), `cut-stream` (the stream
//!   stops mid-way), `flaky` (503 for its first two requests, then
//!   answers), `slow…` (answers after 100 ms, events 60 ms apart), `stall`
//!   (answers after 30 s: a hung upstream), `agent-two-tools` (asks for two
//!   tools, then answers with what they returned), `coding-agent` (a coding
//!   agent's model: runs [`AGENT_COMMAND`] with the shell tool it is offered,
//!   Claude Code's `Bash` or Codex's `exec_command` or `shell`, then answers
//!   `done: <what the tool returned>`).
//! - [`LoadMock`], for benchmarks: on its own runtime, no delays, no special
//!   models and no request log; it only counts requests (atomics), so it
//!   costs as little as possible and every gateway is measured against the
//!   same upstream.

use crate::server::{
    Body, MockServer, Pace, Recorded, Serving, asks_with_tools, input_texts, json_typed, streamed,
    vector,
};
use hyper::Response;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a server departs from the plain answers.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    /// Honour the special model names (errors, delays, cut streams).
    special_models: bool,
    /// The pace of stream events.
    pace: Pace,
}

const TEST: Behaviour = Behaviour {
    special_models: true,
    pace: Pace {
        delay: Duration::from_millis(5),
        cut_after: None,
    },
};

const LOAD: Behaviour = Behaviour {
    special_models: false,
    pace: Pace {
        delay: Duration::ZERO,
        cut_after: None,
    },
};

/// The OpenAI mock for tests (see the module's docs); a [`MockServer`]
/// underneath, whose `seen` log and `calls_for` it offers.
pub struct MockOpenAi(MockServer);

impl Deref for MockOpenAi {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.0
    }
}

impl MockOpenAi {
    /// Starts the mock on the current runtime.
    pub async fn start() -> MockOpenAi {
        MockOpenAi(
            MockServer::start_with(|req: &Recorded, earlier: &[Recorded]| {
                // How many requests for the same model came before this one.
                let earlier = earlier
                    .iter()
                    .filter(|s| s.path == req.path && s.body["model"] == req.body["model"])
                    .count();
                let (method, path, body) = (req.method.clone(), req.path.clone(), req.body.clone());
                async move { answer(&method, &path, &body, earlier, TEST).await }
            })
            .await,
        )
    }

    /// The API root for a client: `http://{addr}/v1`.
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1")
}

/// Requests the [`LoadMock`] answered, by kind.
#[derive(Default, Debug)]
pub struct Counters {
    pub chat: AtomicU64,
    pub stream: AtomicU64,
    pub other: AtomicU64,
}

impl Counters {
    /// Chat completions answered so far (JSON and streamed).
    pub fn completions(&self) -> u64 {
        self.chat.load(Ordering::Relaxed) + self.stream.load(Ordering::Relaxed)
    }
}

/// The OpenAI mock for benchmarks (see the module's docs).
pub struct LoadMock {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    // Declared before the runtime it runs on.
    _serving: Serving,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for LoadMock {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl LoadMock {
    /// Starts the mock on its own multi-threaded runtime with `threads`
    /// workers. Call outside any runtime.
    pub fn start(threads: usize) -> std::io::Result<LoadMock> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("mock-upstream")
            .enable_all()
            .build()?;
        let counters: Arc<Counters> = Arc::default();
        let count = counters.clone();
        let serving = rt.block_on(Serving::start(move |req| {
            let count = count.clone();
            async move {
                let req = Recorded::read(req).await;
                let counter = match kind(&req.method, &req.path, &req.body) {
                    Kind::Chat => &count.chat,
                    Kind::Stream => &count.stream,
                    Kind::Other => &count.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                answer(&req.method, &req.path, &req.body, 0, LOAD).await
            }
        }))?;
        Ok(LoadMock {
            addr: serving.addr,
            counters,
            _serving: serving,
            rt: Some(rt),
        })
    }

    /// The API root for a client: `http://{addr}/v1`.
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }
}

/// What a request is, as the [`LoadMock`] counts it.
enum Kind {
    Chat,
    Stream,
    Other,
}

fn kind(method: &str, path: &str, body: &Value) -> Kind {
    match (method, path) {
        ("POST", "/v1/chat/completions") if body.is_object() => {
            if body["stream"] == true {
                Kind::Stream
            } else {
                Kind::Chat
            }
        }
        _ => Kind::Other,
    }
}

/// Answers one request. `earlier`: how many requests for the same model
/// and path came before it (for `flaky`).
async fn answer(
    method: &str,
    path: &str,
    body: &Value,
    earlier: usize,
    behaviour: Behaviour,
) -> Response<Body> {
    match (method, path) {
        ("GET", "/v1/models") => json_body(
            200,
            json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
            ]}),
        ),
        ("POST", "/v1/chat/completions") if !body.is_object() => error(
            400,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        ),
        ("POST", "/v1/chat/completions") => chat(body, earlier, behaviour).await,
        ("POST", "/v1/embeddings") => embeddings(body),
        _ => error(
            404,
            "Unknown request URL",
            "invalid_request_error",
            Some("unknown_url"),
        ),
    }
}

fn json_body(status: u16, v: Value) -> Response<Body> {
    json_typed(status, "application/json", &v)
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response<Body> {
    json_body(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

/// The last user message's text: its `content` string, or the text of its
/// content parts (a message with an image holds both), as OpenAI reads them.
fn last_user_text(body: &Value) -> String {
    let Some(content) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| &m["content"])
    else {
        return String::new();
    };
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The error a special model answers with, if it is one.
fn special_error(model: &str, earlier: usize) -> Option<Response<Body>> {
    if model == "flaky" && earlier < 2 {
        return Some(error(
            503,
            "The engine is currently overloaded",
            "server_error",
            None,
        ));
    }
    Some(match model {
        "rate-limited" => {
            let mut r = error(
                429,
                "Rate limit reached for requests",
                "requests",
                Some("rate_limit_exceeded"),
            );
            r.headers_mut().insert("retry-after", "2".parse().unwrap());
            r
        }
        "broken" => error(500, "The server had an error", "server_error", None),
        "too-long" => error(
            400,
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        "bad-key" => error(
            401,
            "Incorrect API key provided",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        _ => return None,
    })
}

async fn chat(body: &Value, earlier: usize, behaviour: Behaviour) -> Response<Body> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let mut pace = behaviour.pace;
    if behaviour.special_models {
        if model.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pace.delay = Duration::from_millis(60);
        }
        if model == "stall" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        if let Some(response) = special_error(&model, earlier) {
            return response;
        }
        if model == "cut-stream" {
            pace.cut_after = Some(3);
        }
    }
    let coding_agent = behaviour.special_models && model == "coding-agent";
    if body["stream"] == true {
        let events = match coding_agent {
            true => coding_agent_events(body, &model),
            false => stream_events(body, &model),
        };
        return streamed("text/event-stream; charset=utf-8", events, pace);
    }
    let message = if coding_agent {
        coding_agent_turn(body)
    } else if behaviour.special_models && model == "agent-two-tools" {
        agent_two_tools(body)
    } else if behaviour.special_models && model == "agent-every-tool" {
        agent_every_tool(body)
    } else if asks_with_tools(body) {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_abc123", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"2+2\"}"}}
        ]})
    } else {
        json!({"role": "assistant", "content": format!("echo: {}", last_user_text(body))})
    };
    let finish = if message["tool_calls"].is_array() {
        "tool_calls"
    } else {
        "stop"
    };
    json_body(
        200,
        json!({
            "id": "chatcmpl-mock1", "object": "chat.completion", "created": 1730000000, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            "system_fingerprint": "fp_mock"
        }),
    )
}

/// The command the `coding-agent` model runs: it leaves a file a test can
/// look for, and prints what it wrote.
pub const AGENT_COMMAND: &str = "echo hanzo-agent-ok > agent-proof.txt && cat agent-proof.txt";

/// A coding agent's model: before any tool result, a call of the shell
/// tool it is offered (named and shaped as Claude Code's `Bash`, Codex's
/// `exec_command` or its older `shell`); after one, `done: <result>`.
fn coding_agent_turn(body: &Value) -> Value {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if let Some(result) = messages.iter().rev().find(|m| m["role"] == "tool") {
        let text = match &result["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return json!({"role": "assistant", "content": format!("done: {}", text.trim())});
    }
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    let call = |name: &str, arguments: Value| {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_agent1", "type": "function",
             "function": {"name": name, "arguments": arguments.to_string()}}
        ]})
    };
    if offered.contains(&"Bash") {
        call(
            "Bash",
            json!({"command": AGENT_COMMAND, "description": "Write the proof file"}),
        )
    } else if offered.contains(&"exec_command") {
        call("exec_command", json!({"cmd": AGENT_COMMAND}))
    } else if offered.contains(&"shell") {
        call("shell", json!({"command": ["bash", "-lc", AGENT_COMMAND]}))
    } else {
        json!({"role": "assistant", "content": format!("no shell tool among {offered:?}")})
    }
}

/// [`coding_agent_turn`] as SSE chunks (the call in one delta).
fn coding_agent_events(body: &Value, model: &str) -> Vec<String> {
    let turn = coding_agent_turn(body);
    let mut events = vec![chunk(
        model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let finish = match turn["tool_calls"].as_array() {
        Some(calls) => {
            let mut call = calls[0].clone();
            call["index"] = 0.into();
            events.push(chunk(model, json!({"tool_calls": [call]}), Value::Null));
            "tool_calls"
        }
        None => {
            events.push(chunk(
                model,
                json!({"content": turn["content"]}),
                Value::Null,
            ));
            "stop"
        }
    };
    events.push(chunk(model, json!({}), json!(finish)));
    events.extend(stream_end(body, model));
    events
}

/// An agent's model: asks for two tools at once, then answers with what
/// they returned.
fn agent_two_tools(body: &Value) -> Value {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect();
    if results.is_empty() {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_calc", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"6*7\"}"}},
            {"id": "call_query", "type": "function", "function": {"name": "json_query", "arguments": "{\"document\":{\"city\":\"Kyoto\"},\"path\":\"$.city\"}"}}
        ]})
    } else {
        json!({"role": "assistant", "content": format!("tools said: {}", results.join(" | "))})
    }
}

/// An agent's model that calls every tool it is offered, at once, with
/// arguments made from each tool's schema ([`example_of`]), then answers
/// with what they returned: `tools said: <name>=<result> | …`.
fn agent_every_tool(body: &Value) -> Value {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            let id = m["tool_call_id"].as_str().unwrap_or("");
            format!(
                "{}={}",
                id.trim_start_matches("call_"),
                m["content"].as_str().unwrap_or("")
            )
        })
        .collect();
    if !results.is_empty() {
        return json!({"role": "assistant", "content": format!("tools said: {}", results.join(" | "))});
    }
    let calls: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let name = t["function"]["name"].as_str().unwrap_or("");
            let arguments = example_of(&t["function"]["parameters"]);
            json!({"id": format!("call_{name}"), "type": "function",
                   "function": {"name": name, "arguments": arguments.to_string()}})
        })
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}

/// A value a JSON Schema accepts: each required property of an object
/// filled in ("hello" for a string, 2 for an integer, 2.5 for a number,
/// true for a boolean).
fn example_of(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("object") | None => {
            let mut out = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                if let Some(name) = name.as_str() {
                    out.insert(name.to_string(), example_of(&schema["properties"][name]));
                }
            }
            Value::Object(out)
        }
        Some("string") => json!("hello"),
        Some("integer") => json!(2),
        Some("number") => json!(2.5),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => Value::Null,
    }
}

fn chunk(model: &str, delta: Value, finish: Value) -> String {
    let c = json!({
        "id": "chatcmpl-mockstream", "object": "chat.completion.chunk", "created": 1730000000, "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

/// The last events of a stream: the usage chunk when asked for, `[DONE]`.
fn stream_end(body: &Value, model: &str) -> Vec<String> {
    let mut events = Vec::new();
    if body["stream_options"]["include_usage"] == true {
        let usage = json!({
            "id": "chatcmpl-mockstream", "object": "chat.completion.chunk", "created": 1730000000, "model": model,
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        });
        events.push(format!("data: {usage}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_string());
    events
}

/// The SSE events of a streamed answer: "Hello world" in three deltas, or
/// a calculator call with its arguments in three; the usage chunk when
/// asked for; `[DONE]`.
fn stream_events(body: &Value, model: &str) -> Vec<String> {
    let mut events = vec![chunk(
        model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if asks_with_tools(body) {
        events.push(chunk(
            model,
            json!({"tool_calls": [{"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "calculator", "arguments": ""}}]}),
            Value::Null,
        ));
        for part in ["{\"expres", "sion\":\"2", "+2\"}"] {
            events.push(chunk(
                model,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                Value::Null,
            ));
        }
        events.push(chunk(model, json!({}), json!("tool_calls")));
    } else {
        for part in ["Hel", "lo", " world"] {
            events.push(chunk(model, json!({"content": part}), Value::Null));
        }
        events.push(chunk(model, json!({}), json!("stop")));
    }
    events.extend(stream_end(body, model));
    events
}

fn embeddings(body: &Value) -> Response<Body> {
    let Some(inputs) = input_texts(body) else {
        return error(
            400,
            "'input' is a required property",
            "invalid_request_error",
            None,
        );
    };
    let dims = body["dimensions"].as_u64().unwrap_or(4) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(
            |(i, text)| json!({"object": "embedding", "index": i, "embedding": vector(text, dims)}),
        )
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    json_body(
        200,
        json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[String]) -> Vec<Value> {
        events
            .iter()
            .map(|e| e.strip_prefix("data: ").unwrap().trim_end())
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn text_stream() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                          "stream": true, "stream_options": {"include_usage": true}});
        let events = stream_events(&body, "m");
        assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
        let chunks = data(&events);
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello world");
        assert_eq!(
            chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
            "stop"
        );
        assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 15);
        assert!(chunks.iter().all(|c| c["model"] == "m"));
    }

    #[test]
    fn tool_call_stream_without_usage() {
        let body = json!({"model": "m", "tools": [{"type": "function"}],
                          "messages": [{"role": "user", "content": "2+2?"}]});
        let chunks = data(&stream_events(&body, "m"));
        let arguments: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(arguments, "{\"expression\":\"2+2\"}");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
    }

    #[test]
    fn load_counting() {
        let chat = json!({"model": "m"});
        assert!(matches!(
            kind("POST", "/v1/chat/completions", &chat),
            Kind::Chat
        ));
        let stream = json!({"model": "m", "stream": true});
        assert!(matches!(
            kind("POST", "/v1/chat/completions", &stream),
            Kind::Stream
        ));
        assert!(matches!(
            kind("POST", "/v1/chat/completions", &Value::Null),
            Kind::Other
        ));
        assert!(matches!(
            kind("GET", "/v1/models", &Value::Null),
            Kind::Other
        ));
    }

    #[test]
    fn special_models_only_when_asked() {
        assert!(special_error("broken", 0).is_some());
        assert!(special_error("flaky", 1).is_some());
        assert!(special_error("flaky", 2).is_none());
        assert!(special_error("gpt-4o-mini", 0).is_none());
    }
}
