//! `describe` and `invoke` against a scripted MCP server behind a fake
//! node: names, schemas, results, errors, paging, the node's refusal, and
//! sessions kept in kv, replaced when refused, ended without kv.

use super::*;
use crate::answer::tests::Chunks;
use crate::client::{Exchange, Reply, Verb};
use hanzo_node_sdk::http::HttpError;
use hanzo_node_sdk::kv::KvError;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// A node whose servers are one scripted MCP server at any URL, but for
/// `refused.example` (the node's policy refuses it) and `down.example`
/// (nothing listens).
struct Fake {
    /// Answers as event streams, else as JSON.
    sse: bool,
    settings: BTreeMap<&'static str, String>,
    secrets: BTreeMap<&'static str, &'static str>,
    /// None: kv is not granted.
    kv: RefCell<Option<BTreeMap<String, Vec<u8>>>>,
    /// The server's open sessions.
    sessions: RefCell<BTreeSet<String>>,
    initialized: Cell<usize>,
    deleted: Cell<usize>,
    /// Tools per `tools/list` page.
    page_size: usize,
    /// Notifications the server sends before a call's answer.
    before_answer: Vec<&'static str>,
    /// The `authorization` header of the last call.
    authorization: RefCell<Option<String>>,
}

fn fake(servers: &str) -> Fake {
    Fake {
        sse: true,
        settings: [("servers", servers.to_string())].into(),
        secrets: [("MCP_SECRET_1", "tok")].into(),
        kv: RefCell::new(Some(BTreeMap::new())),
        sessions: RefCell::default(),
        initialized: Cell::new(0),
        deleted: Cell::new(0),
        page_size: 2,
        before_answer: Vec::new(),
        authorization: RefCell::default(),
    }
}

fn tools() -> Vec<Value> {
    let object = |properties: Value| json!({"type": "object", "properties": properties});
    vec![
        json!({"name": "add", "description": "Adds.", "inputSchema": object(json!({"a": {"type": "integer"}, "b": {"type": "integer"}})),
               "outputSchema": object(json!({"result": {"type": "integer"}}))}),
        json!({"name": "echo", "description": "Echoes.", "inputSchema": object(json!({"text": {"type": "string"}}))}),
        json!({"name": "fail", "inputSchema": object(json!({}))}),
        json!({"name": "strict", "inputSchema": object(json!({}))}),
        json!({"name": "two words", "inputSchema": object(json!({}))}),
        json!({"name": "no_schema"}),
        json!({"name": "echo", "description": "Listed twice.", "inputSchema": object(json!({}))}),
    ]
}

impl Fake {
    fn answer(
        &self,
        status: u16,
        session: Option<String>,
        message: Option<Value>,
    ) -> Reply<Chunks> {
        let mut headers = Vec::new();
        if let Some(id) = session {
            headers.push(("mcp-session-id".to_string(), id.into_bytes()));
        }
        let body = match message {
            None => String::new(),
            Some(message) if self.sse && status == 200 => {
                headers.push(("content-type".into(), b"text/event-stream".to_vec()));
                let mut text = "id: 1\ndata:\n\n".to_string();
                if message
                    .get("result")
                    .is_some_and(|r| r.get("content").is_some())
                {
                    for method in &self.before_answer {
                        text += &format!(
                            "event: message\ndata: {}\n\n",
                            json!({"jsonrpc": "2.0", "method": method})
                        );
                    }
                }
                text + &format!("event: message\ndata: {message}\n\n")
            }
            Some(message) => {
                headers.push(("content-type".into(), b"application/json".to_vec()));
                message.to_string()
            }
        };
        Reply {
            status,
            headers,
            body: Chunks::of(&body, 16),
        }
    }

    fn call(&self, params: &Value) -> Value {
        let text = |t: &str| json!([{"type": "text", "text": t}]);
        match params["name"].as_str().unwrap_or_default() {
            "add" => {
                let sum = params["arguments"]["a"].as_i64().unwrap_or(0)
                    + params["arguments"]["b"].as_i64().unwrap_or(0);
                json!({"content": text(&sum.to_string()), "structuredContent": {"result": sum}})
            }
            "echo" => json!({"content": text(params["arguments"]["text"].as_str().unwrap_or(""))}),
            "fail" => json!({"content": text("it failed on purpose"), "isError": true}),
            other => json!({"content": text(&format!("Unknown tool: {other}")), "isError": true}),
        }
    }
}

impl Transport for Fake {
    type Body = Chunks;

    fn send(&self, x: Exchange) -> Result<Reply<Chunks>, HttpError> {
        if x.url.contains("refused.example") {
            return Err(HttpError::new(
                HttpErrorKind::Denied,
                "the host refused the request to refused.example: it is not allowed by the plugin's permissions.http",
            ));
        }
        if x.url.contains("down.example") {
            return Err(HttpError::new(
                HttpErrorKind::ConnectionRefused,
                "down.example refused the connection",
            ));
        }
        let header = |name: &str| {
            x.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("accept").as_deref(),
            Some("application/json, text/event-stream")
        );
        let session = header("mcp-session-id");
        if x.verb == Verb::Delete {
            let id = session.expect("DELETE names the session");
            self.sessions.borrow_mut().remove(&id);
            self.deleted.set(self.deleted.get() + 1);
            return Ok(self.answer(200, None, None));
        }
        let message: Value = serde_json::from_slice(&x.body).unwrap();
        let id = message["id"].clone();
        let reply = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        if message["method"] == "initialize" {
            assert_eq!(message["params"]["protocolVersion"], "2025-06-18");
            self.initialized.set(self.initialized.get() + 1);
            let sid = format!("s{}", self.initialized.get());
            self.sessions.borrow_mut().insert(sid.clone());
            let result = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1"}});
            return Ok(self.answer(200, Some(sid), Some(reply(result))));
        }
        if !session.is_some_and(|s| self.sessions.borrow().contains(&s)) {
            let error = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Session not found"}});
            return Ok(self.answer(404, None, Some(error)));
        }
        assert_eq!(
            header("mcp-protocol-version").as_deref(),
            Some("2025-06-18")
        );
        if id.is_null() {
            return Ok(self.answer(202, None, None));
        }
        let params = &message["params"];
        let answer = match message["method"].as_str().unwrap() {
            "tools/list" => {
                let start: usize = params["cursor"]
                    .as_str()
                    .map_or(0, |c| c.strip_prefix("page-").unwrap().parse().unwrap());
                let all = tools();
                let end = (start + self.page_size).min(all.len());
                let mut page = json!({"tools": all[start..end]});
                if end < all.len() {
                    page["nextCursor"] = json!(format!("page-{end}"));
                }
                reply(page)
            }
            "tools/call" if params["name"] == "strict" => json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32602, "message": "Invalid arguments for tool strict"}}),
            "tools/call" => {
                *self.authorization.borrow_mut() = header("authorization");
                reply(self.call(params))
            }
            other => panic!("unexpected {other}"),
        };
        Ok(self.answer(200, None, Some(answer)))
    }

    fn nonce(&self) -> u64 {
        0xfeed
    }
}

impl Store for Fake {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match &*self.kv.borrow() {
            Some(kv) => Ok(kv.get(key).cloned()),
            None => Err(KvError::Denied("not granted `permissions.kv`".into())),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        match &mut *self.kv.borrow_mut() {
            Some(kv) => {
                kv.insert(key.into(), value.to_vec());
                Ok(())
            }
            None => Err(KvError::Denied("not granted `permissions.kv`".into())),
        }
    }
}

impl Node for Fake {
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }

    fn secret(&self, name: &str) -> Result<String, String> {
        self.secrets
            .get(name)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("secret `{name}` is not set by the operator"))
    }

    fn open_process(
        &self,
        _key: &str,
        server: &Stdio,
        env: Vec<(String, String)>,
    ) -> Result<Box<dyn Pipe>, ClientError> {
        Err(ClientError::Process(format!(
            "no container engine here for `{}` (env {env:?})",
            server.image
        )))
    }
}

const SERVERS: &str = r#"[
    {"name": "py", "url": "http://mcp.test/mcp", "bearer_secret": "MCP_SECRET_1"},
    {"name": "calc", "url": "http://mcp.test/calc", "prefix": "", "tools": ["add", "missing"]},
    {"name": "denied", "url": "http://refused.example/mcp"},
    {"name": "down", "url": "http://down.example/mcp"},
    {"name": "locked", "url": "http://mcp.test/locked", "bearer_secret": "MCP_SECRET_2"}
]"#;

#[test]
fn describe_offers_each_reachable_servers_tools_under_its_prefix() {
    for sse in [true, false] {
        let node = Fake {
            sse,
            ..fake(SERVERS)
        };
        let specs = describe(&node);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        // Paged two at a time; `two words` and `no_schema` are left out, as
        // are the servers the node refuses or cannot reach, and the one
        // whose secret is not set.
        assert_eq!(
            names,
            ["py__add", "py__echo", "py__fail", "py__strict", "add"]
        );
        let add = &specs[0];
        assert_eq!(add.description, "Adds.");
        let parameters: Value = serde_json::from_str(&add.parameters).unwrap();
        assert_eq!(parameters, tools()[0]["inputSchema"]);
        let result: Value = serde_json::from_str(add.result.as_deref().unwrap()).unwrap();
        assert_eq!(result, tools()[0]["outputSchema"]);
        assert_eq!(specs[1].result, None);
        // Each listing session was ended: describe's are never reused.
        assert_eq!(node.initialized.get(), 2);
        assert_eq!(node.deleted.get(), 2);
        assert!(node.sessions.borrow().is_empty());
    }
}

#[test]
fn describe_survives_settings_it_cannot_read() {
    assert!(describe(&fake("{broken")).is_empty());
    assert!(describe(&fake("")).is_empty());
}

#[test]
fn calls_map_results_and_errors() {
    for sse in [true, false] {
        let node = Fake {
            sse,
            ..fake(SERVERS)
        };
        assert_eq!(
            invoke(&node, "py__add", r#"{"a": 2, "b": 3}"#).unwrap(),
            r#"{"result":5}"#
        );
        assert_eq!(node.authorization.borrow().as_deref(), Some("Bearer tok"));
        assert_eq!(
            invoke(&node, "add", r#"{"a": 1, "b": 1}"#).unwrap(),
            r#"{"result":2}"#
        );
        assert_eq!(
            invoke(&node, "py__echo", r#"{"text": "hi"}"#).unwrap(),
            r#"{"text":"hi"}"#
        );
        assert_eq!(
            invoke(&node, "py__fail", "{}"),
            Err(ToolError::Failed("it failed on purpose".into()))
        );
        assert!(matches!(
            invoke(&node, "py__strict", "{}"),
            Err(ToolError::InvalidArguments(m)) if m.contains("Invalid arguments")
        ));
        // Gone from the server since the node listed it.
        assert!(matches!(
            invoke(&node, "py__vanished", "{}"),
            Err(ToolError::NotFound(m)) if m.contains("no longer has tool `vanished`")
        ));
        // Not the operator's to offer (calc's `tools`), or no server's.
        assert!(matches!(
            invoke(&node, "echo", "{}"),
            Err(ToolError::NotFound(_))
        ));
        assert!(matches!(
            invoke(&node, "py__", "{}"),
            Err(ToolError::NotFound(_))
        ));
        assert!(matches!(
            invoke(&node, "py__add", "[1, 2]"),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            invoke(&node, "py__add", "{nope"),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            invoke(&node, "denied__x", "{}"),
            Err(ToolError::Denied(m)) if m.contains("allow_hosts") && m.contains("refused.example")
        ));
        assert!(matches!(
            invoke(&node, "down__x", "{}"),
            Err(ToolError::Failed(m)) if m.contains("cannot be reached")
        ));
        assert!(matches!(
            invoke(&node, "locked__x", "{}"),
            Err(ToolError::Failed(m)) if m.contains("MCP_SECRET_2")
        ));
    }
}

#[test]
fn a_kept_session_serves_later_calls_and_is_replaced_when_refused() {
    let node = fake(SERVERS);
    for _ in 0..3 {
        invoke(&node, "py__add", r#"{"a": 1, "b": 2}"#).unwrap();
    }
    assert_eq!(node.initialized.get(), 1, "one session for three calls");
    let kept: Value =
        serde_json::from_slice(&node.kv.borrow().as_ref().unwrap()["session/py"]).unwrap();
    assert_eq!(
        kept,
        json!({"url": "http://mcp.test/mcp", "id": "s1", "protocol": "2025-06-18"})
    );
    // Another server, another session.
    invoke(&node, "add", r#"{"a": 1, "b": 2}"#).unwrap();
    assert_eq!(node.initialized.get(), 2);

    // The server forgets its sessions (a restart): the next call opens one.
    node.sessions.borrow_mut().clear();
    assert_eq!(
        invoke(&node, "py__add", r#"{"a": 2, "b": 2}"#).unwrap(),
        r#"{"result":4}"#
    );
    assert_eq!(node.initialized.get(), 3);
    invoke(&node, "py__add", r#"{"a": 2, "b": 2}"#).unwrap();
    assert_eq!(node.initialized.get(), 3);
    assert_eq!(node.deleted.get(), 0);

    // The operator points the server elsewhere: the kept session is not its.
    let mut moved = fake(&SERVERS.replace("mcp.test/mcp", "mcp.test/v2"));
    moved.kv = RefCell::new(node.kv.borrow().clone());
    moved.sessions = RefCell::new(node.sessions.borrow().clone());
    invoke(&moved, "py__add", r#"{"a": 1, "b": 2}"#).unwrap();
    assert_eq!(moved.initialized.get(), 1);
}

#[test]
fn without_kv_each_call_ends_its_session() {
    let node = Fake {
        kv: RefCell::new(None),
        before_answer: vec!["notifications/tools/list_changed", "notifications/progress"],
        ..fake(SERVERS)
    };
    for _ in 0..2 {
        assert_eq!(
            invoke(&node, "py__add", r#"{"a": 1, "b": 2}"#).unwrap(),
            r#"{"result":3}"#
        );
    }
    assert_eq!((node.initialized.get(), node.deleted.get()), (2, 2));
    assert!(node.sessions.borrow().is_empty());
}

#[test]
fn a_stdio_server_whose_process_cannot_start_is_left_out_and_its_calls_fail() {
    let node = fake(
        r#"[{"name": "py", "url": "http://mcp.test/mcp"},
            {"name": "git", "image": "mcp-git:1", "env": {"TOKEN": "secret:MCP_SECRET_1"}}]"#,
    );
    let specs = describe(&node);
    assert!(specs.iter().any(|s| s.name == "py__add"));
    assert!(!specs.iter().any(|s| s.name.starts_with("git__")));
    match invoke(&node, "git__log", "{}") {
        Err(ToolError::Failed(m)) => {
            assert!(m.contains("MCP server `git` (stdio:mcp-git:1)"), "{m}");
            // The secret was read for its environment.
            assert!(m.contains(r#"("TOKEN", "tok")"#), "{m}");
        }
        other => panic!("{other:?}"),
    }
}
