//! A local server speaking the OpenAI HTTP API as api.openai.com does: models,
//! chat completions (JSON and SSE streaming with tool-call deltas and usage),
//! embeddings, and its error bodies. Special model names make it misbehave:
//! `rate-limited` (429 + retry-after), `broken` (500), `too-long`
//! (context_length_exceeded), `cut-stream` (the stream stops mid-way),
//! `flaky` (503 for its first two requests, then answers), `slow…` (answers
//! after 100 ms), `stall` (answers after 30 s: a hung upstream).

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// What the mock saw: one entry per request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

pub struct MockOpenAi {
    pub addr: std::net::SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// TCP connections accepted.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockOpenAi {
    /// Requests seen for an upstream model.
    pub fn calls_for(&self, model: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.body["model"] == model)
            .count()
    }

    pub async fn start() -> MockOpenAi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = seen.clone();
        let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let accepted = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                // As streaming servers do: each event leaves when written
                // (without it, Nagle holds an event until the previous one
                // is acknowledged, and delayed ACKs make that ~40 ms).
                let _ = stream.set_nodelay(true);
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(req, seen.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockOpenAi {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// The operator's settings that point the `openai` plugin at this mock.
    pub fn overrides(&self) -> hanzo_node::config::PluginOverrides {
        let mut o = hanzo_node::config::PluginOverrides::default();
        o.config
            .insert("base_url".into(), toml::Value::String(self.base_url()));
        o.allow_hosts.push(self.addr.to_string());
        o
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

fn json_body(status: StatusCode, v: Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response<Body> {
    json_body(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // How many requests for the same model came before this one.
    let earlier = {
        let mut seen = seen.lock().unwrap();
        let earlier = seen
            .iter()
            .filter(|s| s.path == path && s.body["model"] == body["model"])
            .count();
        seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization,
            body: body.clone(),
        });
        earlier
    };
    Ok(match (method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => json_body(
            StatusCode::OK,
            json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
            ]}),
        ),
        ("POST", "/v1/chat/completions") => chat(&body, earlier).await,
        ("POST", "/v1/embeddings") => embeddings(&body),
        _ => error(
            StatusCode::NOT_FOUND,
            "Unknown request URL",
            "invalid_request_error",
            Some("unknown_url"),
        ),
    })
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

fn wants_tool_call(body: &Value) -> bool {
    body["tools"].as_array().is_some_and(|t| !t.is_empty())
        && body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["role"] == "user")
}

async fn chat(body: &Value, earlier: usize) -> Response<Body> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if model.starts_with("slow") {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if model == "stall" {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if model == "flaky" && earlier < 2 {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded",
            "server_error",
            None,
        );
    }
    match model.as_str() {
        "rate-limited" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests",
                "requests",
                Some("rate_limit_exceeded"),
            );
            r.headers_mut().insert("retry-after", "2".parse().unwrap());
            return r;
        }
        "broken" => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error",
                "server_error",
                None,
            );
        }
        "too-long" => {
            return error(
                StatusCode::BAD_REQUEST,
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                "invalid_request_error",
                Some("context_length_exceeded"),
            );
        }
        "bad-key" => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided",
                "invalid_request_error",
                Some("invalid_api_key"),
            );
        }
        _ => {}
    }
    if body["stream"] == true {
        return stream(body, model);
    }
    // An agent's model: asks for two tools at once, then answers with what
    // they returned.
    let message = if model == "agent-two-tools" {
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
    } else if wants_tool_call(body) {
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
        StatusCode::OK,
        json!({
            "id": "chatcmpl-mock1", "object": "chat.completion", "created": 1730000000, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            "system_fingerprint": "fp_mock"
        }),
    )
}

fn chunk(model: &str, delta: Value, finish: Value) -> String {
    let c = json!({
        "id": "chatcmpl-mockstream", "object": "chat.completion.chunk", "created": 1730000000, "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

fn stream(body: &Value, model: String) -> Response<Body> {
    let mut events = vec![chunk(
        &model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let tool = wants_tool_call(body);
    if tool {
        events.push(chunk(
            &model,
            json!({"tool_calls": [{"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "calculator", "arguments": ""}}]}),
            Value::Null,
        ));
        for part in ["{\"expres", "sion\":\"2", "+2\"}"] {
            events.push(chunk(
                &model,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                Value::Null,
            ));
        }
        events.push(chunk(&model, json!({}), json!("tool_calls")));
    } else {
        for part in ["Hel", "lo", " world"] {
            events.push(chunk(&model, json!({"content": part}), Value::Null));
        }
        events.push(chunk(&model, json!({}), json!("stop")));
    }
    if body["stream_options"]["include_usage"] == true {
        let usage = json!({
            "id": "chatcmpl-mockstream", "object": "chat.completion.chunk", "created": 1730000000, "model": model,
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        });
        events.push(format!("data: {usage}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_string());
    let cut = model == "cut-stream";
    if cut {
        events.truncate(3);
    }
    // Arrive slowly, the way tokens do; `slow…` models much more slowly.
    let gap = Duration::from_millis(if model.starts_with("slow") { 60 } else { 5 });
    let frames =
        futures::stream::iter(events.into_iter().enumerate()).then(move |(i, e)| async move {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            Ok::<_, std::io::Error>(Frame::data(Bytes::from(e)))
        });
    let frames = frames.chain(futures::stream::iter(cut.then(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "upstream cut the stream",
        ))
    })));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut().insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().unwrap(),
    );
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r
}

fn embeddings(body: &Value) -> Response<Body> {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "'input' is a required property",
                "invalid_request_error",
                None,
            );
        }
    };
    let dims = body["dimensions"].as_u64().unwrap_or(4) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            // Deterministic per text, so tests can check which vector is which.
            let v: Vec<f32> = (0..dims)
                .map(|d| ((text.len() + d) as f32) / 10.0)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    json_body(
        StatusCode::OK,
        json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}
