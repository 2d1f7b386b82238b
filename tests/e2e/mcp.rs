//! The MCP server (the `api-mcp` plugin at `/mcp`) on the real binary with
//! `tools-basic`: the official, unmodified `mcp` Python client (initialize,
//! tools, calls, errors, progress), the transport's refusals over raw HTTP,
//! and tenants, who see only their own tools and sessions.

use crate::auth::tenant_key;
use crate::common::{Dirs, Node, client, install};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

fn node_with_tools(dirs: &Dirs, config: &str) -> Node {
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "api-mcp", "api-mcp", |_| {});
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

/// An MCP POST as clients send it: status, headers and body (JSON, or the
/// text of an event stream).
async fn post(
    node: &Node,
    key: Option<&str>,
    session: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, HeaderMap, Value) {
    let mut rb = client()
        .post(node.url("/mcp"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        rb = rb.bearer_auth(key);
    }
    if let Some(session) = session {
        rb = rb
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn message(id: i64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A new session's id.
async fn initialize(node: &Node, key: Option<&str>) -> String {
    let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}});
    let (status, headers, body) = post(node, key, None, message(0, "initialize", params)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18", "{body}");
    headers["mcp-session-id"].to_str().unwrap().to_string()
}

/// The JSON-RPC error code of an answer (0: none).
fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or(0)
}

/// The names `tools/list` gives the session.
async fn tool_names(node: &Node, key: Option<&str>, session: &str) -> Vec<String> {
    let (status, _, body) = post(
        node,
        key,
        Some(session),
        message(1, "tools/list", json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client() {
    let dirs = Dirs::new();
    let node = node_with_tools(&dirs, "");
    let base = node.base.clone();
    tokio::task::spawn_blocking(move || crate::compat_api::run_check("check_mcp.py", &[&base]))
        .await
        .unwrap();
}

/// What the Python client never sends: requests outside a session, broken
/// messages, other methods, and the end of a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_over_raw_http() {
    let dirs = Dirs::new();
    let node = node_with_tools(&dirs, "");
    let session = initialize(&node, None).await;
    let ping = message(2, "ping", json!({}));

    let (status, _, body) = post(
        &node,
        None,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!((status, body), (202, json!("")));
    let (status, _, body) = post(&node, None, Some(&session), ping.clone()).await;
    assert_eq!((status, &body["result"]), (200, &json!({})), "{body}");

    // No session id after initialize; one that names no session.
    let (status, _, body) = post(&node, None, None, ping.clone()).await;
    assert_eq!((status, code(&body)), (400, -32000), "{body}");
    assert_eq!(body["id"], 2);
    let unknown = format!("{}{}", &session[..10], "0".repeat(session.len() - 10));
    let (status, _, body) = post(&node, None, Some(&unknown), ping.clone()).await;
    assert_eq!((status, code(&body)), (404, -32001), "{body}");

    // Broken messages and other methods.
    let (status, _, body) = post(
        &node,
        None,
        Some(&session),
        "{\"jsonrpc\": \"2.0\", \"id\": ",
    )
    .await;
    assert_eq!((status, code(&body)), (400, -32700), "{body}");
    assert_eq!(body["id"], Value::Null);
    let (status, _, body) = post(&node, None, Some(&session), format!("[{ping}]")).await;
    assert_eq!((status, code(&body)), (400, -32600), "{body}");
    let (status, _, body) = post(
        &node,
        None,
        Some(&session),
        message(3, "resources/list", json!({})),
    )
    .await;
    assert_eq!((status, code(&body)), (200, -32601), "{body}");
    assert_eq!(body["id"], 3);
    let (status, _, body) = post(
        &node,
        None,
        Some(&session),
        message(
            4,
            "tools/call",
            json!({"name": "calculator", "arguments": "2+2"}),
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (200, -32602), "{body}");

    // Another protocol version than the session's.
    let r = client()
        .post(node.url("/mcp"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2024-11-05")
        .body(ping.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Progress for a client that takes only a stream: notifications, then the answer.
    let r = client()
        .post(node.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(message(
            5,
            "tools/call",
            json!({"name": "calculator", "arguments": {"expression": "6*7"}, "_meta": {"progressToken": "t"}}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<Value> = text
        .split_terminator("\n\n")
        .map(|e| serde_json::from_str(e.strip_prefix("event: message\ndata: ").unwrap()).unwrap())
        .collect();
    let methods: Vec<&str> = events.iter().filter_map(|e| e["method"].as_str()).collect();
    assert_eq!(methods, ["notifications/progress"; 2], "{text}");
    assert_eq!(
        events[2]["result"]["structuredContent"],
        json!({"value": 42}),
        "{text}"
    );

    // No stream of the server's own.
    let r = client()
        .get(node.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, DELETE");

    // DELETE ends the session, and only that one.
    let other = initialize(&node, None).await;
    let delete = |id: String| {
        client()
            .delete(node.url("/mcp"))
            .header("mcp-session-id", id)
            .send()
    };
    assert_eq!(delete(session.clone()).await.unwrap().status(), 200);
    let (status, _, body) = post(&node, None, Some(&session), ping.clone()).await;
    assert_eq!((status, code(&body)), (404, -32001), "{body}");
    assert_eq!(delete(session.clone()).await.unwrap().status(), 404);
    let (status, _, _) = post(&node, None, Some(&other), ping).await;
    assert_eq!(status, 200);
}

/// Each tenant sees the tools the operator lets it use, and its own
/// sessions only; the Python client works with a tenant's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_keep_their_tools_and_sessions() {
    let dirs = Dirs::new();
    let alpha = tenant_key(&dirs, "alpha", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let node = node_with_tools(&dirs, "[tenants.alpha]\ntools = [\"calculator\"]\n");

    let (status, _, _) = post(&node, None, None, message(0, "ping", json!({}))).await;
    assert_eq!(status, 401);

    let alphas = initialize(&node, Some(&alpha)).await;
    let betas = initialize(&node, Some(&beta)).await;
    assert_eq!(
        tool_names(&node, Some(&alpha), &alphas).await,
        ["calculator"]
    );
    let mut names = tool_names(&node, Some(&beta), &betas).await;
    names.sort();
    assert_eq!(names, ["calculator", "http_fetch", "json_query"]);
    // A tool off alpha's list does not exist for it.
    let (status, _, body) = post(
        &node,
        Some(&alpha),
        Some(&alphas),
        message(
            3,
            "tools/call",
            json!({"name": "json_query", "arguments": {}}),
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (200, -32602), "{body}");

    // Another tenant's session is no session, to use or to end.
    let (status, _, body) = post(
        &node,
        Some(&beta),
        Some(&alphas),
        message(4, "tools/list", json!({})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, -32001), "{body}");
    let r = client()
        .delete(node.url("/mcp"))
        .bearer_auth(&beta)
        .header("mcp-session-id", &alphas)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        tool_names(&node, Some(&alpha), &alphas).await,
        ["calculator"]
    );

    let base = node.base.clone();
    tokio::task::spawn_blocking(move || {
        crate::compat_api::run_check("check_mcp.py", &[&base, "--api-key", &alpha])
    })
    .await
    .unwrap();
}
