//! Whole exchanges with the transport: a node of canned tools and an
//! in-memory session store, and a responder that records what was sent.

use super::*;
use crate::jsonrpc::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, SESSION_NOT_FOUND,
};
use crate::session::RANDOM_BYTES;
use crate::session::fake::MemoryStore;
use crate::tools::fake::FakeTools;
use hanzo_node_sdk::tools::{ToolError, ToolInfo};
use std::cell::RefCell;

/// Canned tools, sessions in memory.
pub struct FakeNode {
    pub store: MemoryStore,
}

impl Default for FakeNode {
    fn default() -> FakeNode {
        FakeNode {
            store: MemoryStore::at(1_750_000_000),
        }
    }
}

impl Catalog for FakeNode {
    fn list(&self) -> Result<Vec<ToolInfo>, ToolError> {
        FakeTools.list()
    }

    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        FakeTools.invoke(name, arguments)
    }
}

impl Store for FakeNode {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.store.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.store.delete(key)
    }

    fn list_keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
        self.store.list_keys(prefix, limit)
    }

    fn now(&self) -> u64 {
        self.store.now()
    }

    fn random_bytes(&self) -> [u8; RANDOM_BYTES] {
        self.store.random_bytes()
    }
}

/// What the server sent.
#[derive(Debug, Default, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sent with `stream` (the head first), and how many writes.
    pub streamed: bool,
    pub writes: usize,
    pub finished: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as one JSON document.
    pub fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The messages of an event stream, in order.
    pub fn events(&self) -> Vec<Value> {
        assert_eq!(self.header("content-type"), Some("text/event-stream"));
        let text = String::from_utf8(self.body.clone()).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split_terminator("\n\n")
            .map(|event| {
                let data = event
                    .strip_prefix("event: message\ndata: ")
                    .unwrap_or_else(|| panic!("not a message event: {event:?}"));
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    /// The JSON-RPC error code of a JSON answer.
    pub fn code(&self) -> i64 {
        self.json()["error"]["code"].as_i64().unwrap_or(0)
    }
}

pub struct Recorder<'a>(pub &'a RefCell<Reply>);

impl<'a> Responder for Recorder<'a> {
    type Body = Recorder<'a>;

    fn respond(self, status: u16, headers: &[(String, String)], body: &[u8]) {
        let mut reply = self.0.borrow_mut();
        assert_eq!(reply.status, 0, "answered twice");
        (reply.status, reply.headers, reply.body) = (status, headers.to_vec(), body.to_vec());
        reply.finished = true;
    }

    fn stream(self, status: u16, headers: &[(String, String)]) -> Recorder<'a> {
        {
            let mut reply = self.0.borrow_mut();
            assert_eq!(reply.status, 0, "answered twice");
            (reply.status, reply.headers) = (status, headers.to_vec());
            reply.streamed = true;
        }
        self
    }
}

impl BodySink for Recorder<'_> {
    fn write(&mut self, bytes: &[u8]) {
        let mut reply = self.0.borrow_mut();
        assert!(!reply.finished, "written after the end");
        reply.body.extend_from_slice(bytes);
        reply.writes += 1;
    }

    fn finish(self) {
        self.0.borrow_mut().finished = true;
    }
}

/// What both reference clients send.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Sends `request` with `body` (None: the server must not read one).
pub fn exchange(node: &FakeNode, request: &Request, body: Option<&[u8]>) -> Reply {
    let reply = RefCell::new(Reply::default());
    let body = body.map(<[u8]>::to_vec);
    handle(node, Recorder(&reply), request, move || {
        Ok(body.unwrap_or_else(|| panic!("the request's body should not be read")))
    });
    let reply = reply.into_inner();
    assert!(reply.finished, "the response was not finished");
    reply
}

/// A POST as the Python client sends it, in `session` when given.
fn post_with(node: &FakeNode, session: Option<&str>, accept: &str, body: &str) -> Reply {
    let request = Request {
        method: "POST",
        path: "/mcp",
        accept: Some(accept),
        content_type: Some("application/json"),
        session_id: session,
        protocol_version: session.map(|_| PROTOCOL_VERSION),
    };
    exchange(node, &request, Some(body.as_bytes()))
}

fn post(node: &FakeNode, session: Option<&str>, message: Value) -> Reply {
    post_with(node, session, ACCEPT_BOTH, &message.to_string())
}

fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn initialize_request(version: &str) -> Value {
    request(
        0,
        "initialize",
        json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
    )
}

/// A new session's id.
pub fn initialize(node: &FakeNode) -> String {
    let r = post(node, None, initialize_request("2025-06-18"));
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.header("mcp-session-id").unwrap().to_string()
}

fn call(node: &FakeNode, session: &str, name: &str, arguments: Value) -> Value {
    let r = post(
        node,
        Some(session),
        request(
            5,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        ),
    );
    assert_eq!(r.status, 200);
    r.json()
}

#[test]
fn the_endpoint_is_the_manifests_route() {
    let manifest = include_str!("../../plugin.toml");
    assert!(
        manifest
            .lines()
            .any(|l| l == format!("routes = [\"{ENDPOINT}\"]")),
        "plugin.toml's routes"
    );
}

#[test]
fn initialize_makes_a_session() {
    let node = FakeNode::default();
    let r = post(&node, None, initialize_request("2025-06-18"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({
            "jsonrpc": "2.0",
            "id": 0,
            "result": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "hanzo-node", "title": "Hanzo Node", "version": env!("CARGO_PKG_VERSION")},
            }
        })
    );
    let id = r.header("mcp-session-id").unwrap();
    assert!(
        node.store
            .entries
            .borrow()
            .contains_key(&format!("sessions/{id}"))
    );
    // Each initialize is a session of its own.
    assert_ne!(initialize(&node), id);
}

#[test]
fn other_versions_are_answered_with_the_servers() {
    let node = FakeNode::default();
    for asked in ["2025-03-26", "2025-11-25", "2024-11-05", "1999-01-01"] {
        let r = post(&node, None, initialize_request(asked));
        assert_eq!(
            r.json()["result"]["protocolVersion"],
            PROTOCOL_VERSION,
            "{asked}"
        );
    }
    let sessions = node.store.entries.borrow().len();
    let r = post(
        &node,
        None,
        request(1, "initialize", json!({"capabilities": {}})),
    );
    assert_eq!((r.status, r.code()), (200, INVALID_PARAMS));
    assert!(r.header("mcp-session-id").is_none());
    assert_eq!(node.store.entries.borrow().len(), sessions);
}

#[test]
fn notifications_ping_and_responses() {
    let node = FakeNode::default();
    let session = initialize(&node);
    for message in [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
        json!({"jsonrpc": "2.0", "method": "notifications/whatever"}),
        json!({"jsonrpc": "2.0", "id": 9, "result": {}}),
    ] {
        let r = post(&node, Some(&session), message.clone());
        assert_eq!((r.status, r.body.len()), (202, 0), "{message}");
    }
    let r = post(&node, Some(&session), request(2, "ping", json!({})));
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
    // Without params too.
    let r = post(
        &node,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}),
    );
    assert_eq!(r.json()["result"], json!({}));
}

#[test]
fn lists_tools() {
    let node = FakeNode::default();
    let session = initialize(&node);
    let r = post(&node, Some(&session), request(1, "tools/list", json!({})));
    let tools = r.json()["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["calculator", "echo"]);
    assert_eq!(tools[0]["inputSchema"]["required"], json!(["expression"]));
    assert_eq!(tools[0]["outputSchema"]["type"], "object");
    let r = post(
        &node,
        Some(&session),
        request(1, "tools/list", json!({"cursor": "x"})),
    );
    assert_eq!(r.code(), INVALID_PARAMS);
}

#[test]
fn calls_tools() {
    let node = FakeNode::default();
    let session = initialize(&node);
    assert_eq!(
        call(&node, &session, "calculator", json!({"expression": "2+2"})),
        json!({
            "jsonrpc": "2.0",
            "id": 5,
            "result": {
                "content": [{"type": "text", "text": "{\"value\":4}"}],
                "structuredContent": {"value": 4},
            }
        })
    );
    let bad = call(&node, &session, "calculator", json!({"expr": "2"}));
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let failed = call(&node, &session, "calculator", json!({"expression": "1/0"}));
    assert_eq!(failed["result"]["content"][0]["text"], "division by zero");
    let unknown = call(&node, &session, "nope", json!({}));
    assert_eq!(unknown["error"]["code"], INVALID_PARAMS, "{unknown}");
    let ungranted = call(&node, &session, "ungranted", json!({}));
    assert_eq!(ungranted["error"]["code"], INTERNAL_ERROR, "{ungranted}");
    let r = post(
        &node,
        Some(&session),
        request(6, "tools/call", json!({"arguments": {}})),
    );
    assert_eq!(r.json()["error"]["code"], INVALID_PARAMS);
    assert_eq!(r.json()["id"], 6);
}

#[test]
fn unknown_methods() {
    let node = FakeNode::default();
    let session = initialize(&node);
    for method in [
        "resources/list",
        "prompts/list",
        "logging/setLevel",
        "tools/delete",
        "",
    ] {
        let r = post(&node, Some(&session), request(3, method, json!({})));
        assert_eq!((r.status, r.code()), (200, METHOD_NOT_FOUND), "{method}");
        assert_eq!(r.json()["id"], 3);
    }
}

#[test]
fn progress_comes_on_a_stream_before_the_answer() {
    let node = FakeNode::default();
    let session = initialize(&node);
    let params = json!({"name": "calculator", "arguments": {"expression": "2+2"}, "_meta": {"progressToken": "tok"}});
    let r = post(
        &node,
        Some(&session),
        request(7, "tools/call", params.clone()),
    );
    assert_eq!(r.status, 200);
    assert!(r.streamed);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let events = r.events();
    assert_eq!(events.len(), 3, "{events:?}");
    for (event, done) in events[..2].iter().zip([0, 1]) {
        assert_eq!(event["method"], "notifications/progress");
        assert_eq!(event["params"]["progressToken"], "tok");
        assert_eq!(event["params"]["progress"], done);
        assert_eq!(event["params"]["total"], 1);
        assert!(event.get("id").is_none());
    }
    assert_eq!(events[2]["id"], 7);
    assert_eq!(
        events[2]["result"]["structuredContent"],
        json!({"value": 4})
    );
    // Each event is written, and so flushed, as it is ready.
    assert_eq!(r.writes, 3);

    // An integer token, and a failing tool: progress still brackets the call.
    let mut params = json!({"name": "nope", "_meta": {"progressToken": 42}});
    let events = post(
        &node,
        Some(&session),
        request(8, "tools/call", params.clone()),
    )
    .events();
    assert_eq!(events[0]["params"]["progressToken"], 42);
    assert_eq!(events[2]["error"]["code"], INVALID_PARAMS);

    // A client that takes only JSON gets the answer alone.
    params["name"] = json!("calculator");
    params["arguments"] = json!({"expression": "1"});
    let r = post_with(
        &node,
        Some(&session),
        "application/json",
        &request(9, "tools/call", params).to_string(),
    );
    assert!(!r.streamed);
    assert_eq!(r.json()["result"]["structuredContent"], json!({"value": 4}));

    // Tokens of other types are invalid params.
    for token in [json!(true), json!(1.5), json!(null), json!({})] {
        let params =
            json!({"name": "calculator", "arguments": {}, "_meta": {"progressToken": token}});
        let r = post(&node, Some(&session), request(10, "tools/call", params));
        assert_eq!(r.code(), INVALID_PARAMS, "{token}");
    }
    let r = post(
        &node,
        Some(&session),
        request(11, "tools/call", json!({"name": "calculator", "_meta": 5})),
    );
    assert_eq!(r.code(), INVALID_PARAMS);
}

#[test]
fn answers_as_the_accept_header_allows() {
    let node = FakeNode::default();
    let ping = request(1, "ping", json!({})).to_string();
    // Only a stream: the initialize answer comes as one event, with its session.
    let r = post_with(
        &node,
        None,
        "text/event-stream",
        &initialize_request("2025-06-18").to_string(),
    );
    assert!(r.streamed);
    let session = r.header("mcp-session-id").unwrap().to_string();
    assert_eq!(r.events()[0]["result"]["protocolVersion"], PROTOCOL_VERSION);
    let events = post_with(&node, Some(&session), "text/event-stream", &ping).events();
    assert_eq!(events, [json!({"jsonrpc": "2.0", "id": 1, "result": {}})]);
    for accept in [
        "application/json",
        "*/*",
        "application/*;q=0.9",
        "text/html, application/json; charset=utf-8",
        ACCEPT_BOTH,
    ] {
        let r = post_with(&node, Some(&session), accept, &ping);
        assert!(!r.streamed, "{accept}");
        assert_eq!(r.json()["result"], json!({}), "{accept}");
    }
    let r = post_with(&node, Some(&session), "text/*", &ping);
    assert!(r.streamed);
    // No Accept header: anything goes.
    let r = exchange(
        &node,
        &Request {
            method: "POST",
            path: "/mcp",
            session_id: Some(&session),
            ..Request::default()
        },
        Some(ping.as_bytes()),
    );
    assert_eq!(r.json()["result"], json!({}));
    let r = post_with(&node, Some(&session), "text/html", &ping);
    assert_eq!((r.status, r.code()), (406, BAD_TRANSPORT));
}

#[test]
fn requests_outside_a_live_session_are_refused() {
    let node = FakeNode::default();
    let session = initialize(&node);
    let list = request(4, "tools/list", json!({}));

    let r = post(&node, None, list.clone());
    assert_eq!((r.status, r.code()), (400, BAD_TRANSPORT));
    assert_eq!(r.json()["id"], 4);
    let r = post(
        &node,
        None,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!((r.status, r.code()), (400, BAD_TRANSPORT));
    assert_eq!(r.json()["id"], Value::Null);

    let unknown = format!("{}0", &session[..session.len() - 1]);
    for id in [unknown.as_str(), "nope", "", "../../sessions"] {
        let r = post(&node, Some(id), list.clone());
        assert_eq!((r.status, r.code()), (404, SESSION_NOT_FOUND), "{id}");
    }

    // The protocol version, when sent, must be the session's.
    let mut request = Request {
        method: "POST",
        path: "/mcp",
        accept: Some(ACCEPT_BOTH),
        content_type: Some("application/json"),
        session_id: Some(&session),
        protocol_version: Some("2025-03-26"),
    };
    let body = list.to_string();
    let r = exchange(&node, &request, Some(body.as_bytes()));
    assert_eq!((r.status, r.code()), (400, BAD_TRANSPORT));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2025-03-26")
    );
    request.protocol_version = None;
    let r = exchange(&node, &request, Some(body.as_bytes()));
    assert_eq!(r.status, 200);
    assert!(r.json()["result"]["tools"].is_array());
}

#[test]
fn delete_ends_the_session() {
    let node = FakeNode::default();
    let session = initialize(&node);
    let other = initialize(&node);
    let delete = |id: Option<&str>| {
        exchange(
            &node,
            &Request {
                method: "DELETE",
                path: "/mcp",
                session_id: id,
                protocol_version: Some(PROTOCOL_VERSION),
                ..Request::default()
            },
            None,
        )
    };
    let r = delete(Some(&session));
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = post(&node, Some(&session), request(1, "ping", json!({})));
    assert_eq!((r.status, r.code()), (404, SESSION_NOT_FOUND));
    assert_eq!(delete(Some(&session)).status, 404);
    assert_eq!(delete(None).status, 400);
    // The other session lives on.
    let r = post(&node, Some(&other), request(1, "ping", json!({})));
    assert_eq!(r.status, 200);
}

#[test]
fn other_methods_and_paths() {
    let node = FakeNode::default();
    for method in ["GET", "PUT", "PATCH", "HEAD", "OPTIONS"] {
        let r = exchange(
            &node,
            &Request {
                method,
                path: "/mcp",
                accept: Some("text/event-stream"),
                ..Request::default()
            },
            None,
        );
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("POST, DELETE")),
            "{method}"
        );
        assert_eq!(r.code(), BAD_TRANSPORT);
    }
    for path in ["/mcp/x", "/mcpx", "/", "/mcp//"] {
        let r = exchange(
            &node,
            &Request {
                method: "POST",
                path,
                ..Request::default()
            },
            None,
        );
        assert_eq!(r.status, 404, "{path}");
    }
    // A trailing slash is the endpoint.
    let r = exchange(
        &node,
        &Request {
            method: "POST",
            path: "/mcp/",
            ..Request::default()
        },
        Some(initialize_request("2025-06-18").to_string().as_bytes()),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn bad_bodies() {
    let node = FakeNode::default();
    let session = initialize(&node);
    let cases: [(&str, u16, i64); 6] = [
        ("{not json", 400, PARSE_ERROR),
        ("", 400, PARSE_ERROR),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            400,
            INVALID_REQUEST,
        ),
        ("[]", 400, INVALID_REQUEST),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            400,
            INVALID_REQUEST,
        ),
        (r#"{"id":1,"method":"ping"}"#, 400, INVALID_REQUEST),
    ];
    for (body, status, code) in cases {
        for session in [None, Some(session.as_str())] {
            let r = post_with(&node, session, ACCEPT_BOTH, body);
            assert_eq!((r.status, r.code()), (status, code), "{body}");
        }
    }
    let r = post_with(&node, None, ACCEPT_BOTH, r#"{"id":1,"method":"ping"}"#);
    assert_eq!(r.json()["id"], 1);

    // Not JSON by its content type.
    let r = exchange(
        &node,
        &Request {
            method: "POST",
            path: "/mcp",
            content_type: Some("text/plain"),
            ..Request::default()
        },
        None,
    );
    assert_eq!((r.status, r.code()), (415, BAD_TRANSPORT));

    // Too large, or unreadable.
    for (error, status) in [
        (BodyError::TooLarge(MAX_BODY_BYTES), 413),
        (BodyError::Read("reset".into()), 400),
    ] {
        let reply = RefCell::new(Reply::default());
        let request = Request {
            method: "POST",
            path: "/mcp",
            ..Request::default()
        };
        handle(&node, Recorder(&reply), &request, || Err(error));
        let r = reply.into_inner();
        assert_eq!((r.status, r.code()), (status, INVALID_REQUEST));
    }
}

#[test]
fn store_failures() {
    let node = FakeNode::default();
    let session = initialize(&node);
    *node.store.failure.borrow_mut() = Some(KvError::Denied(
        "plugin `api-mcp` is not granted `permissions.kv`".into(),
    ));
    let r = post(&node, None, initialize_request("2025-06-18"));
    assert_eq!((r.status, r.code()), (403, INTERNAL_ERROR));
    assert_eq!(r.json()["id"], 0);
    assert!(r.header("mcp-session-id").is_none());
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("permissions.kv"), "{message}");
    *node.store.failure.borrow_mut() = Some(KvError::Store("disk full".into()));
    let r = post(&node, Some(&session), request(1, "ping", json!({})));
    assert_eq!((r.status, r.code()), (500, INTERNAL_ERROR));
}
