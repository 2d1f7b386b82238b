//! The plumbing of the mock upstreams (`mock_anthropic`, `mock_gemini`,
//! `mock_ollama`): an HTTP/1.1 server on 127.0.0.1 that records every
//! request (method, path, query, headers, JSON body) and answers with a
//! handler, plus responses the services send: JSON documents and bodies
//! streamed event by event, slowly or cut off mid-way.

#![allow(dead_code)]

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Recorded {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers one recorded request.
pub type Handler = fn(&Recorded) -> Response<Body>;

/// A running mock; stops when dropped.
pub struct MockServer {
    pub addr: std::net::SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    pub async fn start(handler: Handler) -> MockServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                // As streaming servers do: each event leaves when written
                // (without it, Nagle holds an event until the previous one
                // is acknowledged, and delayed ACKs make that ~40 ms).
                let _ = stream.set_nodelay(true);
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve(req, seen, handler).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockServer { addr, seen, task }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    handler: Handler,
) -> Response<Body> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method,
        path,
        query,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    seen.lock().unwrap().push(recorded.clone());
    handler(&recorded)
}

/// A JSON document with `status`.
pub fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    r
}

/// `response` with one more header.
pub fn with_header(
    mut response: Response<Body>,
    name: &'static str,
    value: &str,
) -> Response<Body> {
    response.headers_mut().append(name, value.parse().unwrap());
    response
}

/// How a streamed body is sent.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Wait before each part after the first.
    pub delay: Duration,
    /// Send only this many parts, then break the connection.
    pub cut_after: Option<usize>,
}

impl Pace {
    /// Parts a few milliseconds apart, the way tokens arrive.
    pub fn normal() -> Pace {
        Pace {
            delay: Duration::from_millis(5),
            cut_after: None,
        }
    }

    /// Parts `ms` apart.
    pub fn slow(ms: u64) -> Pace {
        Pace {
            delay: Duration::from_millis(ms),
            cut_after: None,
        }
    }

    /// Breaks the connection after `n` parts.
    pub fn cut(n: usize) -> Pace {
        Pace {
            cut_after: Some(n),
            ..Pace::normal()
        }
    }
}

/// A 200 response whose body is `parts`, sent one frame each at `pace`.
pub fn streamed(content_type: &str, parts: Vec<String>, pace: Pace) -> Response<Body> {
    let mut parts = parts;
    if let Some(n) = pace.cut_after {
        parts.truncate(n);
    }
    let delay = pace.delay;
    let frames =
        futures::stream::iter(parts.into_iter().enumerate()).then(move |(i, part)| async move {
            if i > 0 {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, std::io::Error>(Frame::data(Bytes::from(part)))
        });
    // The break comes a moment after the last part, so that what was sent
    // has left (hyper drops unflushed output when a body fails).
    let cut = pace.cut_after.is_some();
    let frames = frames.chain(futures::stream::iter(cut.then_some(())).then(
        move |()| async move {
            tokio::time::sleep(delay.max(Duration::from_millis(20))).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "upstream cut the stream",
            ))
        },
    ));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r
}

/// The text of the last user turn in a list of messages or contents, found
/// by `text_of`.
pub fn last_user_text(
    items: &Value,
    role_key: &str,
    text_of: fn(&Value) -> Option<String>,
) -> String {
    items
        .as_array()
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m[role_key] == "user" && text_of(m).is_some())
        })
        .and_then(text_of)
        .unwrap_or_default()
}

/// Deterministic embedding of `text` (the same rule as the OpenAI mock):
/// component `d` is `(len + d) / 10`.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|d| ((text.len() + d) as f32) / 10.0)
        .collect()
}
