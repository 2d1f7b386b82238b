//! One MCP session, client side, over the streamable HTTP transport
//! (revision 2025-06-18): `initialize` and `notifications/initialized`,
//! requests POSTed with `Accept: application/json, text/event-stream` and,
//! once initialized, `Mcp-Session-Id` and `MCP-Protocol-Version`; `DELETE`
//! ends the session.
//!
//! The HTTP exchange itself is a [`Transport`]'s: the node's policed
//! outbound path in the component, a scripted server in tests.

use crate::answer::{self, Answer, AnswerError};
use crate::jsonrpc::{self, RpcError};
use crate::settings::Timeouts;
use hanzo_node_sdk::http::{HttpError, ReadChunk, header_value};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::time::Duration;

/// The revision this client asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The revisions it takes when the server answers with another: those of
/// the streamable HTTP transport (2024-11-05 had another one).
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];
/// The most an answer may bring; it is read as it arrives, never held
/// whole by the host.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;
/// How much of an error answer is read to explain it.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// The longest session id taken (the specification sets no limit; this
/// one keeps a broken server from filling the kv store).
const MAX_SESSION_ID: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Post,
    Delete,
}

/// One HTTP request to a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub verb: Verb,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub connect_timeout: Duration,
    /// First byte, and between bytes.
    pub read_timeout: Duration,
}

/// The server's answer, its body still to be read.
pub struct Reply<B> {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: B,
}

/// How requests reach servers.
pub trait Transport {
    type Body: ReadChunk;

    fn send(&self, exchange: Exchange) -> Result<Reply<Self::Body>, HttpError>;

    /// A random number: request ids of instances that share a session
    /// must not collide.
    fn nonce(&self) -> u64;
}

/// A request that did not get an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// The request did not get through, or its answer broke off; the
    /// node's refusal of the destination too.
    Http(HttpError),
    /// A status other than 2xx, with the message of the body's JSON-RPC
    /// error when it had one. With a session id, 404 means the session is
    /// gone.
    Status { status: u16, message: String },
    /// The server answered `initialize` with an error.
    Rpc(RpcError),
    /// The answer breaks the protocol.
    Protocol(String),
    /// A stdio server's process could not be started, written to or read
    /// from, or ended.
    Process(String),
}

impl ClientError {
    /// Whether the server refused the session a request named (ended,
    /// forgotten, or one it no longer grants this client), so that a new
    /// one may succeed. Such a request did not run.
    pub fn refused_session(&self) -> bool {
        matches!(
            self,
            ClientError::Status {
                status: 400 | 401 | 403 | 404,
                ..
            }
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Http(e) => e.fmt(f),
            ClientError::Status { status, message } if message.is_empty() => {
                write!(f, "HTTP {status}")
            }
            ClientError::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            ClientError::Rpc(e) => write!(f, "initialize failed: {e}"),
            ClientError::Protocol(m) | ClientError::Process(m) => f.write_str(m),
        }
    }
}

impl From<AnswerError> for ClientError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Http(e) => ClientError::Http(e),
            AnswerError::Malformed(m) => ClientError::Protocol(m),
        }
    }
}

/// What this client says of itself in `initialize`: the revision it asks
/// for and no capabilities (it answers no server requests).
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": { "name": "hanzo-node-tools-mcp", "version": env!("CARGO_PKG_VERSION") },
    })
}

/// What another instance needs to go on with a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handle {
    /// `Mcp-Session-Id`; a server may keep no sessions.
    pub id: Option<String>,
    /// The negotiated revision.
    pub protocol: String,
}

/// A session with one server.
pub struct Session<'t, T: Transport> {
    transport: &'t T,
    url: String,
    /// The operator's headers, secrets read.
    headers: Vec<(String, String)>,
    connect_timeout: Duration,
    handle: Handle,
    nonce: u64,
    sent: u64,
}

impl<'t, T: Transport> Session<'t, T> {
    /// Initializes a session with the server at `url`.
    pub fn open(
        transport: &'t T,
        url: &str,
        headers: Vec<(String, String)>,
        timeouts: &Timeouts,
    ) -> Result<Self, ClientError> {
        let mut session = Session {
            transport,
            url: url.to_string(),
            headers,
            connect_timeout: timeouts.connect,
            handle: Handle {
                id: None,
                protocol: PROTOCOL_VERSION.into(),
            },
            nonce: transport.nonce(),
            sent: 0,
        };
        let id = session.next_id();
        let reply = session.post(
            jsonrpc::request(&id, "initialize", initialize_params()),
            timeouts.list,
            false,
        )?;
        let session_id = header_value(&reply.headers, "mcp-session-id").map(str::to_string);
        let answer = session.answer(reply, &id)?;
        let result = answer.outcome.map_err(ClientError::Rpc)?;
        if let Some(sid) = &session_id
            && (sid.is_empty()
                || sid.len() > MAX_SESSION_ID
                || !sid.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        {
            return Err(ClientError::Protocol(
                "the server's Mcp-Session-Id is not 1-1024 visible ASCII characters".into(),
            ));
        }
        session.handle.id = session_id;
        let protocol = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !PROTOCOL_VERSIONS.contains(&protocol) {
            let e = ClientError::Protocol(format!(
                "the server speaks MCP revision `{protocol}`; this client speaks {}",
                PROTOCOL_VERSIONS.join(", ")
            ));
            session.close();
            return Err(e);
        }
        session.handle.protocol = protocol.to_string();
        session.post(
            jsonrpc::notification("notifications/initialized"),
            timeouts.list,
            true,
        )?;
        Ok(session)
    }

    /// Goes on with a session another instance opened.
    pub fn resume(
        transport: &'t T,
        url: &str,
        headers: Vec<(String, String)>,
        timeouts: &Timeouts,
        handle: Handle,
    ) -> Self {
        Session {
            transport,
            url: url.to_string(),
            headers,
            connect_timeout: timeouts.connect,
            handle,
            nonce: transport.nonce(),
            sent: 0,
        }
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Sends request `method` and reads its answer, waiting at most
    /// `timeout` for its first byte and between bytes.
    pub fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Answer, ClientError> {
        let id = self.next_id();
        let reply = self.post(jsonrpc::request(&id, method, params), timeout, true)?;
        self.answer(reply, &id)
    }

    /// Ends the session (`DELETE`). A server may refuse to (405), and one
    /// that is gone has nothing to end: either way there is nothing to do.
    pub fn close(self) {
        if self.handle.id.is_some() {
            let _ = self.transport.send(Exchange {
                verb: Verb::Delete,
                url: self.url.clone(),
                headers: self.headers(true),
                body: Vec::new(),
                connect_timeout: self.connect_timeout,
                read_timeout: self.connect_timeout,
            });
        }
    }

    fn next_id(&mut self) -> String {
        self.sent += 1;
        format!("hn-{:016x}-{}", self.nonce, self.sent)
    }

    fn headers(&self, in_session: bool) -> Vec<(String, String)> {
        let mut headers = vec![
            (
                "accept".to_string(),
                "application/json, text/event-stream".to_string(),
            ),
            ("content-type".into(), "application/json".into()),
        ];
        if in_session {
            if let Some(id) = &self.handle.id {
                headers.push(("mcp-session-id".into(), id.clone()));
            }
            headers.push(("mcp-protocol-version".into(), self.handle.protocol.clone()));
        }
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// POSTs one message; a 2xx reply, its body unread.
    fn post(
        &self,
        body: Vec<u8>,
        timeout: Duration,
        in_session: bool,
    ) -> Result<Reply<T::Body>, ClientError> {
        let mut reply = self
            .transport
            .send(Exchange {
                verb: Verb::Post,
                url: self.url.clone(),
                headers: self.headers(in_session),
                body,
                connect_timeout: self.connect_timeout,
                read_timeout: timeout,
            })
            .map_err(ClientError::Http)?;
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        // A body we cannot read still leaves the status to go by.
        let mut text = Vec::new();
        while text.len() < MAX_ERROR_BYTES {
            match reply.body.read_chunk() {
                Ok(Some(chunk)) => text.extend_from_slice(&chunk),
                _ => break,
            }
        }
        Err(ClientError::Status {
            status: reply.status,
            message: error_message(&text),
        })
    }

    fn answer(&self, mut reply: Reply<T::Body>, id: &str) -> Result<Answer, ClientError> {
        let content_type = header_value(&reply.headers, "content-type").map(str::to_string);
        Ok(answer::read(
            content_type.as_deref(),
            &mut reply.body,
            id,
            MAX_ANSWER_BYTES,
        )?)
    }
}

/// What an error body says: a JSON-RPC error's message, else the start of
/// the text.
fn error_message(body: &[u8]) -> String {
    if let Ok(message) = serde_json::from_slice::<Value>(body)
        && let Some(text) = message["error"]["message"].as_str()
    {
        return text.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_summed_up() {
        assert_eq!(
            error_message(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}"#),
            "Session not found"
        );
        assert_eq!(error_message(b"  Unauthorized\n"), "Unauthorized");
        assert_eq!(error_message(b""), "");
        let long = error_message("é".repeat(300).as_bytes());
        assert_eq!(long.chars().count(), 201);
    }

    #[test]
    fn refused_sessions() {
        let status = |status| ClientError::Status {
            status,
            message: String::new(),
        };
        for s in [400, 401, 403, 404] {
            assert!(status(s).refused_session(), "{s}");
        }
        for s in [405, 429, 500, 503] {
            assert!(!status(s).refused_session(), "{s}");
        }
        assert_eq!(status(503).to_string(), "HTTP 503");
        assert!(!ClientError::Protocol("x".into()).refused_session());
    }
}
