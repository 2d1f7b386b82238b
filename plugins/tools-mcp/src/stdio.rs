//! MCP's stdio transport: newline-delimited JSON-RPC messages on a server
//! process's standard input and output. The process is a container the node
//! keeps running between calls (`hanzo:node/containers` `process`, under the
//! key `mcp/<server>`), so a session is initialized once, when this client
//! finds the process fresh, and every later call goes on with it.
//!
//! Reading stops at the response with the request's id. On the way the
//! server's notifications are noted, its `ping` answered and its other
//! requests refused (this client declares no capability), and a response to
//! another id (a request of an earlier call that gave up waiting) is
//! skipped.

use crate::answer::Answer;
use crate::client::{ClientError, PROTOCOL_VERSIONS, initialize_params};
use crate::jsonrpc::{self, Incoming};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The revisions a stdio server may answer with: the streamable HTTP ones,
/// and 2024-11-05 (whose stdio transport is the same).
const STDIO_VERSIONS: &[&str] = &["2024-11-05"];
/// The longest message taken from a server.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;
/// Bytes asked for per read.
const READ_BYTES: u32 = 256 * 1024;
/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i64 = -32601;

/// A server process's standard input and output.
pub trait Pipe {
    /// Whether it was started for this call (its session is then to be
    /// initialized).
    fn fresh(&self) -> bool;
    fn write(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// What it wrote, waiting at most `wait`: empty when nothing came,
    /// `None` once it ended.
    fn read(&mut self, max: u32, wait: Duration) -> Result<Option<Vec<u8>>, String>;
    /// Why it ended, for messages: its exit code and the last of stderr.
    fn ended(&self) -> String;
    /// Stops it: its session is broken.
    fn stop(self: Box<Self>);
}

/// A session with a stdio server.
pub struct StdioSession {
    pipe: Option<Box<dyn Pipe>>,
    /// Bytes read past the last whole line.
    pending: Vec<u8>,
    nonce: u64,
    sent: u64,
}

impl StdioSession {
    /// Goes on with the session of `pipe`'s process, initializing it first
    /// when the process is fresh (and stopping it when that fails: a
    /// process is never given back half initialized).
    pub fn start(pipe: Box<dyn Pipe>, nonce: u64, timeout: Duration) -> Result<Self, ClientError> {
        let fresh = pipe.fresh();
        let mut session = StdioSession {
            pipe: Some(pipe),
            pending: Vec::new(),
            nonce,
            sent: 0,
        };
        if fresh && let Err(e) = session.initialize(timeout) {
            session.stop();
            return Err(e);
        }
        Ok(session)
    }

    fn initialize(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let answer = self.request("initialize", initialize_params(), timeout)?;
        let result = answer.outcome.map_err(ClientError::Rpc)?;
        let protocol = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !PROTOCOL_VERSIONS.contains(&protocol) && !STDIO_VERSIONS.contains(&protocol) {
            return Err(ClientError::Protocol(format!(
                "the server speaks MCP revision `{protocol}`; this client speaks {}, {}",
                STDIO_VERSIONS.join(", "),
                PROTOCOL_VERSIONS.join(", ")
            )));
        }
        self.send(&jsonrpc::notification("notifications/initialized"))
    }

    /// Sends request `method` and reads until its answer, at most `timeout`.
    pub fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Answer, ClientError> {
        self.sent += 1;
        let id = format!("hn-{:016x}-{}", self.nonce, self.sent);
        self.send(&jsonrpc::request(&id, method, params))?;
        let deadline = Instant::now() + timeout;
        let mut answer = Answer {
            outcome: Ok(Value::Null),
            notifications: Vec::new(),
            requests: Vec::new(),
        };
        loop {
            while let Some(line) = self.next_line()? {
                if self.take(&line, &id, &mut answer)? {
                    return Ok(answer);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Protocol(format!(
                    "no answer to {method} within {} ms",
                    timeout.as_millis()
                )));
            }
            let pipe = self
                .pipe
                .as_mut()
                .expect("a session has its pipe until stopped");
            match pipe.read(READ_BYTES, left).map_err(ClientError::Process)? {
                Some(bytes) => self.pending.extend_from_slice(&bytes),
                None => {
                    let why = pipe.ended();
                    self.stop();
                    return Err(ClientError::Process(format!(
                        "the server's process ended before it answered {method}: {why}"
                    )));
                }
            }
            if self.pending.len() > MAX_MESSAGE_BYTES {
                self.stop();
                return Err(ClientError::Protocol(format!(
                    "the server wrote a message of more than {MAX_MESSAGE_BYTES} bytes"
                )));
            }
        }
    }

    /// The next whole line read, if one is.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    /// Takes one line: true when it is the response to `id`.
    fn take(&mut self, line: &[u8], id: &str, answer: &mut Answer) -> Result<bool, ClientError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let message: Value = serde_json::from_slice(line).map_err(|e| {
            ClientError::Protocol(format!("the server wrote a line that is not JSON: {e}"))
        })?;
        match jsonrpc::parse(&message).map_err(ClientError::Protocol)? {
            Incoming::Response { id: got, outcome } if got.as_str() == Some(id) => {
                answer.outcome = outcome;
                Ok(true)
            }
            // An earlier call's, which stopped waiting for it.
            Incoming::Response { .. } => Ok(false),
            Incoming::Notification { method } => {
                answer.notifications.push(method);
                Ok(false)
            }
            Incoming::Request { method } => {
                let reply = match method.as_str() {
                    "ping" => json!({ "jsonrpc": "2.0", "id": message["id"], "result": {} }),
                    _ => json!({
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "error": { "code": METHOD_NOT_FOUND, "message": "this client offers no such capability" },
                    }),
                };
                answer.requests.push(method);
                self.send(reply.to_string().as_bytes())?;
                Ok(false)
            }
        }
    }

    /// Writes one message and its newline.
    fn send(&mut self, message: &[u8]) -> Result<(), ClientError> {
        let mut line = Vec::with_capacity(message.len() + 1);
        line.extend_from_slice(message);
        line.push(b'\n');
        let pipe = self
            .pipe
            .as_mut()
            .expect("a session has its pipe until stopped");
        pipe.write(&line).map_err(|e| {
            let why = pipe.ended();
            ClientError::Process(format!("{e} ({why})"))
        })
    }

    /// Stops the process: its session is broken.
    pub fn stop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            pipe.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// A scripted server: each message written gets the lines the script
    /// answers it with.
    #[derive(Clone, Default)]
    struct Script {
        written: Rc<RefCell<Vec<Value>>>,
        out: Rc<RefCell<VecDeque<Vec<u8>>>>,
        stopped: Rc<RefCell<bool>>,
    }

    struct Scripted {
        script: Script,
        fresh: bool,
        answer: fn(&Value) -> Vec<String>,
    }

    impl Pipe for Scripted {
        fn fresh(&self) -> bool {
            self.fresh
        }
        fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
            assert_eq!(bytes.last(), Some(&b'\n'));
            let message: Value = serde_json::from_slice(bytes).unwrap();
            for line in (self.answer)(&message) {
                // Split across reads, to be put back together.
                let bytes = format!("{line}\n").into_bytes();
                let (a, b) = bytes.split_at(bytes.len() / 2);
                self.script.out.borrow_mut().push_back(a.to_vec());
                self.script.out.borrow_mut().push_back(b.to_vec());
            }
            self.script.written.borrow_mut().push(message);
            Ok(())
        }
        fn read(&mut self, _max: u32, _wait: Duration) -> Result<Option<Vec<u8>>, String> {
            Ok(Some(
                self.script.out.borrow_mut().pop_front().unwrap_or_default(),
            ))
        }
        fn ended(&self) -> String {
            "exit code 1".into()
        }
        fn stop(self: Box<Self>) {
            *self.script.stopped.borrow_mut() = true;
        }
    }

    fn server(message: &Value) -> Vec<String> {
        let id = &message["id"];
        match message["method"].as_str() {
            Some("initialize") => vec![
                json!({"jsonrpc":"2.0","id":id,"result":{"protocolVersion":"2024-11-05","capabilities":{}}}).to_string(),
            ],
            Some("tools/list") => vec![
                // A stale answer, a notification, a ping, then the answer.
                json!({"jsonrpc":"2.0","id":"hn-old-1","result":{}}).to_string(),
                json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"}).to_string(),
                json!({"jsonrpc":"2.0","id":7,"method":"ping"}).to_string(),
                json!({"jsonrpc":"2.0","id":id,"result":{"tools":[]}}).to_string(),
            ],
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_fresh_process_is_initialized_and_answers_in_order() {
        let script = Script::default();
        let pipe = Scripted {
            script: script.clone(),
            fresh: true,
            answer: server,
        };
        let mut s = StdioSession::start(Box::new(pipe), 1, Duration::from_secs(1)).unwrap();
        let a = s
            .request("tools/list", json!({}), Duration::from_secs(1))
            .unwrap();
        assert_eq!(a.outcome, Ok(json!({"tools": []})));
        assert_eq!(a.notifications, ["notifications/tools/list_changed"]);
        assert_eq!(a.requests, ["ping"]);
        let written = script.written.borrow();
        let methods: Vec<&str> = written
            .iter()
            .map(|m| m["method"].as_str().unwrap_or("(reply)"))
            .collect();
        assert_eq!(
            methods,
            [
                "initialize",
                "notifications/initialized",
                "tools/list",
                "(reply)"
            ]
        );
        assert_eq!(written[3], json!({"jsonrpc":"2.0","id":7,"result":{}}));
    }

    #[test]
    fn a_process_that_served_before_is_not_initialized_again() {
        let script = Script::default();
        let pipe = Scripted {
            script: script.clone(),
            fresh: false,
            answer: server,
        };
        let mut s = StdioSession::start(Box::new(pipe), 1, Duration::from_secs(1)).unwrap();
        s.request("tools/list", json!({}), Duration::from_secs(1))
            .unwrap();
        assert_eq!(script.written.borrow()[0]["method"], "tools/list");
    }

    #[test]
    fn silence_times_out_and_a_failed_initialize_stops_the_process() {
        let script = Script::default();
        let pipe = Scripted {
            script: script.clone(),
            fresh: true,
            answer: |_| Vec::new(),
        };
        let e = StdioSession::start(Box::new(pipe), 1, Duration::from_millis(20))
            .err()
            .unwrap();
        assert!(e.to_string().contains("no answer to initialize"), "{e}");
        assert!(*script.stopped.borrow());

        let script = Script::default();
        let pipe = Scripted {
            script: script.clone(),
            fresh: true,
            answer: |m| {
                vec![
                    json!({"jsonrpc":"2.0","id":m["id"],"result":{"protocolVersion":"1999-01-01"}})
                        .to_string(),
                ]
            },
        };
        let e = StdioSession::start(Box::new(pipe), 1, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.to_string().contains("1999-01-01"), "{e}");
        assert!(*script.stopped.borrow());
    }
}
