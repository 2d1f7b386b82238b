//! A server's answer to one request, as the streamable HTTP transport
//! allows it: one JSON message, or an event stream that may carry the
//! server's notifications (and requests) before the response. Reading stops
//! at the response with the request's id.

use crate::jsonrpc::{self, Incoming, RpcError};
use hanzo_node_sdk::http::{HttpError, ReadChunk};
use hanzo_node_sdk::sse;
use serde_json::Value;
use std::fmt;

/// The response, and what else the server said on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: Result<Value, RpcError>,
    /// Methods of the notifications that came before it, in order.
    pub notifications: Vec<String>,
    /// Methods of the requests the server sent on the way, unanswered.
    pub requests: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnswerError {
    /// Reading the body failed.
    Http(HttpError),
    /// The body is not an answer to the request.
    Malformed(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Http(e) => e.fmt(f),
            AnswerError::Malformed(m) => f.write_str(m),
        }
    }
}

/// Reads the answer to the request `id` from a 2xx body of `content_type`,
/// at most `limit` bytes of it.
pub fn read(
    content_type: Option<&str>,
    body: &mut impl ReadChunk,
    id: &str,
    limit: usize,
) -> Result<Answer, AnswerError> {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/json") => json(body, id, limit),
        Some("text/event-stream") => events(body, id, limit),
        other => Err(AnswerError::Malformed(format!(
            "the answer is `{}`, neither application/json nor text/event-stream",
            other.unwrap_or("(no content type)")
        ))),
    }
}

fn json(body: &mut impl ReadChunk, id: &str, limit: usize) -> Result<Answer, AnswerError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.read_chunk().map_err(AnswerError::Http)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > limit {
            return Err(too_large(limit));
        }
    }
    let message: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AnswerError::Malformed(format!("the answer is not JSON: {e}")))?;
    let mut answer = Answer {
        outcome: Ok(Value::Null),
        notifications: Vec::new(),
        requests: Vec::new(),
    };
    match take(&message, id, &mut answer)? {
        true => Ok(answer),
        false => Err(AnswerError::Malformed(
            "the answer is not the response to the request".into(),
        )),
    }
}

fn events(body: &mut impl ReadChunk, id: &str, limit: usize) -> Result<Answer, AnswerError> {
    let mut decoder = sse::Decoder::new();
    let mut answer = Answer {
        outcome: Ok(Value::Null),
        notifications: Vec::new(),
        requests: Vec::new(),
    };
    let mut read = 0;
    while let Some(chunk) = body.read_chunk().map_err(AnswerError::Http)? {
        read += chunk.len();
        if read > limit {
            return Err(too_large(limit));
        }
        decoder
            .feed(&chunk)
            .map_err(|e| AnswerError::Malformed(e.to_string()))?;
        while let Some(event) = decoder.next_event() {
            // Events without data prime a resumable stream; other event
            // types are not JSON-RPC.
            if event.event != "message" || event.data.trim().is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(&event.data).map_err(|e| {
                AnswerError::Malformed(format!("an event of the answer is not JSON: {e}"))
            })?;
            if take(&message, id, &mut answer)? {
                return Ok(answer);
            }
        }
    }
    Err(AnswerError::Malformed(
        "the event stream ended before the response".into(),
    ))
}

/// Notes one message in `answer`; true when it is the response.
fn take(message: &Value, id: &str, answer: &mut Answer) -> Result<bool, AnswerError> {
    match jsonrpc::parse(message).map_err(AnswerError::Malformed)? {
        Incoming::Response {
            id: answered,
            outcome,
        } if answered == id || (answered.is_null() && outcome.is_err()) => {
            answer.outcome = outcome;
            Ok(true)
        }
        // Another request's answer has no business here.
        Incoming::Response { .. } => Ok(false),
        Incoming::Notification { method } => {
            answer.notifications.push(method);
            Ok(false)
        }
        Incoming::Request { method } => {
            answer.requests.push(method);
            Ok(false)
        }
    }
}

fn too_large(limit: usize) -> AnswerError {
    AnswerError::Malformed(format!("the answer is larger than {limit} bytes"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hanzo_node_sdk::http::HttpErrorKind;
    use serde_json::json;
    use std::collections::VecDeque;

    /// A body that arrives in the given pieces.
    pub(crate) struct Chunks(pub VecDeque<Result<Vec<u8>, HttpError>>);

    impl Chunks {
        pub(crate) fn of(text: &str, size: usize) -> Chunks {
            Chunks(
                text.as_bytes()
                    .chunks(size.max(1))
                    .map(|c| Ok(c.to_vec()))
                    .collect(),
            )
        }
    }

    impl ReadChunk for Chunks {
        fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
            self.0.pop_front().transpose()
        }
    }

    const SSE: &str = "text/event-stream";

    #[test]
    fn a_json_answer() {
        let body = r#"{"jsonrpc":"2.0","id":"hn-1","result":{"ok":true}}"#;
        for size in [1, 7, 1000] {
            let a = read(
                Some("application/json; charset=utf-8"),
                &mut Chunks::of(body, size),
                "hn-1",
                1 << 20,
            )
            .unwrap();
            assert_eq!(a.outcome, Ok(json!({"ok": true})));
            assert!(a.notifications.is_empty());
        }
        let other = r#"{"jsonrpc":"2.0","id":"hn-2","result":{}}"#;
        assert!(matches!(
            read(
                Some("application/json"),
                &mut Chunks::of(other, 100),
                "hn-1",
                1 << 20
            ),
            Err(AnswerError::Malformed(_))
        ));
        let broken =
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        let a = read(
            Some("application/json"),
            &mut Chunks::of(broken, 100),
            "hn-1",
            1 << 20,
        )
        .unwrap();
        assert_eq!(a.outcome.unwrap_err().code, -32700);
    }

    #[test]
    fn an_event_stream_with_notifications_first() {
        let body = "id: 0\ndata:\n\n\
            event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
            event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\r\n\r\n\
            event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n\n\
            event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"other\",\"result\":{}}\n\n\
            event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"hn-1\",\n\
            data: \"result\":{\"content\":[]}}\n\n\
            event: message\ndata: never read\n\n";
        for size in [1, 5, 64, 4096] {
            let a = read(Some(SSE), &mut Chunks::of(body, size), "hn-1", 1 << 20).unwrap();
            assert_eq!(a.outcome, Ok(json!({"content": []})), "chunks of {size}");
            assert_eq!(
                a.notifications,
                ["notifications/progress", "notifications/tools/list_changed"]
            );
            assert_eq!(a.requests, ["ping"]);
        }
    }

    #[test]
    fn streams_that_do_not_answer() {
        let cut =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        let e = read(Some(SSE), &mut Chunks::of(cut, 10), "hn-1", 1 << 20).unwrap_err();
        assert!(e.to_string().contains("ended before the response"), "{e}");
        let junk = "data: {not json\n\n";
        assert!(matches!(
            read(Some(SSE), &mut Chunks::of(junk, 10), "hn-1", 1 << 20),
            Err(AnswerError::Malformed(_))
        ));
        let big = format!("data: {}\n\n", "x".repeat(100));
        let e = read(Some(SSE), &mut Chunks::of(&big, 10), "hn-1", 50).unwrap_err();
        assert!(e.to_string().contains("larger than 50 bytes"), "{e}");
        let e = read(Some("text/html"), &mut Chunks::of("<p>", 10), "hn-1", 50).unwrap_err();
        assert!(e.to_string().contains("text/html"), "{e}");
        let e = read(None, &mut Chunks::of("", 10), "hn-1", 50).unwrap_err();
        assert!(e.to_string().contains("no content type"), "{e}");
        let broken = HttpError::new(HttpErrorKind::Connection, "the connection broke");
        let mut body = Chunks(VecDeque::from([
            Ok(b"data: {".to_vec()),
            Err(broken.clone()),
        ]));
        assert_eq!(
            read(Some(SSE), &mut body, "hn-1", 1 << 20),
            Err(AnswerError::Http(broken))
        );
    }
}
