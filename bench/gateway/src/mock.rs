//! A fast mock upstream speaking the OpenAI HTTP API: `GET /v1/models`,
//! `POST /v1/chat/completions` as JSON and as SSE (a handful of chunks, usage
//! when `stream_options.include_usage` is set, `[DONE]`), OpenAI-style error
//! bodies. The response shapes are copied from `tests/e2e/mock_openai.rs`;
//! unlike that mock it has no artificial delays, misbehaving models or request
//! log: it only counts requests (atomics), so it costs as little as possible
//! and every gateway is measured against the same upstream.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Requests the mock answered, by kind.
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

pub struct Mock {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Mock {
    /// Starts the mock on 127.0.0.1 (an ephemeral port) on its own
    /// multi-threaded runtime with `threads` workers. Call outside any runtime.
    pub fn start(threads: usize) -> anyhow::Result<Mock> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("mock-upstream")
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let counters: Arc<Counters> = Arc::default();
        let c = counters.clone();
        rt.spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of descriptors or similar: back off, don't spin.
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let c = c.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(req, c.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Mock {
            addr,
            counters,
            rt: Some(rt),
        })
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
    counters: Arc<Counters>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(match (method, path.as_str()) {
        (Method::GET, "/v1/models") => {
            counters.other.fetch_add(1, Ordering::Relaxed);
            json_body(
                StatusCode::OK,
                json!({"object": "list", "data": [
                    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
                    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
                ]}),
            )
        }
        (Method::POST, "/v1/chat/completions") => {
            let body: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) => {
                    counters.other.fetch_add(1, Ordering::Relaxed);
                    return Ok(error(
                        StatusCode::BAD_REQUEST,
                        "We could not parse the JSON body of your request.",
                        "invalid_request_error",
                        None,
                    ));
                }
            };
            if body["stream"] == true {
                counters.stream.fetch_add(1, Ordering::Relaxed);
                stream(&body)
            } else {
                counters.chat.fetch_add(1, Ordering::Relaxed);
                chat(&body)
            }
        }
        _ => {
            counters.other.fetch_add(1, Ordering::Relaxed);
            error(
                StatusCode::NOT_FOUND,
                "Unknown request URL",
                "invalid_request_error",
                Some("unknown_url"),
            )
        }
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

fn chat(body: &Value) -> Response<Body> {
    let model = body["model"].as_str().unwrap_or("");
    let message = if wants_tool_call(body) {
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

fn stream(body: &Value) -> Response<Body> {
    let model = body["model"].as_str().unwrap_or("");
    let mut events = vec![chunk(
        model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if wants_tool_call(body) {
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
    if body["stream_options"]["include_usage"] == true {
        let usage = json!({
            "id": "chatcmpl-mockstream", "object": "chat.completion.chunk", "created": 1730000000, "model": model,
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        });
        events.push(format!("data: {usage}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_string());
    // One body frame per event, no delay between them.
    let frames = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, std::io::Error>(Frame::data(Bytes::from(e)))),
    );
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut().insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().unwrap(),
    );
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r
}
