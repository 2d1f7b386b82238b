//! The plumbing every mock shares: an HTTP/1.1 server on 127.0.0.1
//! ([`Serving`]), one that records every request (method, path, query,
//! headers, JSON body) and answers it with a handler ([`MockServer`]), and
//! the responses the services send: JSON documents and bodies streamed event
//! by event, slowly or cut off mid-way.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The body of every mock response.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A listener on 127.0.0.1 (an ephemeral port) answering HTTP/1.1 with
/// keep-alive, on the runtime it was started on; stops when dropped.
pub struct Serving {
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Serving {
    /// Starts answering every request with `answer`.
    pub async fn start<F, Fut>(answer: F) -> std::io::Result<Serving>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections: Arc<AtomicUsize> = Arc::default();
        let accepted = connections.clone();
        let answer = Arc::new(answer);
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of descriptors or similar: back off, don't spin.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                // As streaming servers do: each event leaves when written
                // (without it, Nagle holds an event until the previous one
                // is acknowledged, and delayed ACKs make that ~40 ms).
                let _ = stream.set_nodelay(true);
                accepted.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let response = answer(req);
                        async move { Ok::<_, std::convert::Infallible>(response.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Serving {
            addr,
            connections,
            task,
        })
    }
}

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
    /// Reads the whole of `req`.
    pub async fn read(req: Request<Incoming>) -> Recorded {
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
        Recorded {
            method,
            path,
            query,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, percent-decoded (`+` stays a
    /// `+`: the plugins escape what they send).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| hanzo_node_sdk::api::percent_decode(v))
        })
    }
}

/// Answers one recorded request.
pub type Handler = fn(&Recorded) -> Response<Body>;

/// A running mock that records what it receives; stops when dropped.
pub struct MockServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    _serving: Serving,
}

impl MockServer {
    /// A mock answering each request with `handler`.
    pub async fn start(handler: Handler) -> MockServer {
        Self::start_with(move |req: &Recorded, _: &[Recorded]| std::future::ready(handler(req)))
            .await
    }

    /// A mock whose `answer` also sees the requests received before this
    /// one, and may take its time: it looks at them at once and returns
    /// the response to come.
    pub async fn start_with<F, Fut>(answer: F) -> MockServer
    where
        F: Fn(&Recorded, &[Recorded]) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log = seen.clone();
        let answer = Arc::new(answer);
        let serving = Serving::start(move |req| {
            let log = log.clone();
            let answer = answer.clone();
            async move {
                let recorded = Recorded::read(req).await;
                let response = {
                    let mut log = log.lock().unwrap();
                    let response = answer(&recorded, &log);
                    log.push(recorded);
                    response
                };
                response.await
            }
        })
        .await
        .expect("the mock upstream cannot listen on 127.0.0.1");
        MockServer {
            addr: serving.addr,
            seen,
            connections: serving.connections.clone(),
            _serving: serving,
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests had `model` in their JSON body.
    pub fn calls_for(&self, model: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.body["model"] == model)
            .count()
    }
}

/// A JSON document with `status`, as `application/json; charset=utf-8`.
pub fn json_response(status: u16, value: &Value) -> Response<Body> {
    json_typed(status, "application/json; charset=utf-8", value)
}

/// A JSON document with `status` and `content_type`.
pub fn json_typed(status: u16, content_type: &str, value: &Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
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
    /// Every part at once, as fast as the connection takes them.
    pub fn instant() -> Pace {
        Pace {
            delay: Duration::ZERO,
            cut_after: None,
        }
    }

    /// Parts a few milliseconds apart, the way tokens arrive.
    pub fn normal() -> Pace {
        Pace::slow(5)
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
    let frames = futures_util::stream::iter(parts.into_iter().enumerate()).then(
        move |(i, part)| async move {
            // No timer at all without a delay: even a zero sleep waits for
            // the timer's next tick.
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, std::io::Error>(Frame::data(Bytes::from(part)))
        },
    );
    // The break comes a moment after the last part, so that what was sent
    // has left (hyper drops unflushed output when a body fails).
    let cut = pace.cut_after.is_some();
    let frames = frames.chain(futures_util::stream::iter(cut.then_some(())).then(
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

/// Whether a request in the OpenAI (or Ollama) shape offers tools and
/// ends with a user turn: the mocks then answer with a tool call.
pub fn asks_with_tools(body: &Value) -> bool {
    body["tools"].as_array().is_some_and(|t| !t.is_empty())
        && body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["role"] == "user")
}

/// The texts of an embeddings request's `input`: one string or an array of
/// them (other items skipped); `None` when it is neither.
pub fn input_texts(body: &Value) -> Option<Vec<String>> {
    match &body["input"] {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        ),
        _ => None,
    }
}

/// Deterministic embedding of `text`, so tests can check which vector is
/// which: component `d` is `(len + d) / 10`.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|d| ((text.len() + d) as f32) / 10.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(query: Option<&str>) -> Recorded {
        Recorded {
            method: "GET".into(),
            path: "/v1/models".into(),
            query: query.map(str::to_string),
            headers: vec![("x-api-key".into(), "k".into())],
            body: Value::Null,
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let r = recorded(Some("limit=1000&after_id=a%2Fb%2Bc&alt=sse&flag"));
        assert_eq!(r.query_param("after_id").as_deref(), Some("a/b+c"));
        assert_eq!(r.query_param("alt").as_deref(), Some("sse"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("key"), None);
        assert_eq!(recorded(None).query_param("alt"), None);
        assert_eq!(r.header("X-Api-Key"), Some("k"));
    }

    #[test]
    fn last_user_turn_and_vectors() {
        let messages = serde_json::json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "second"},
            {"role": "user", "content": 7},
        ]);
        let text = |m: &Value| m["content"].as_str().map(str::to_string);
        assert_eq!(last_user_text(&messages, "role", text), "second");
        assert_eq!(vector("abc", 2), [0.3, 0.4]);
    }
}
