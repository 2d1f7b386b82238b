//! The `tools-mcp` plugin on the real binary against real MCP servers
//! written with the official Python `mcp` package
//! (`tests/python/mcp_server.py`, answering with event streams or JSON):
//! their tools listed under the node's names with their schemas and called
//! over `/v2/tools` (structured content, text, a tool error, a secret sent
//! as a bearer token), a server the operator did not grant refused by the
//! node's outbound policy, the tools listed again after the server said
//! they changed and the operator reloaded the plugin, and an agent job
//! calling an MCP server's tool through the mock LLM upstream.

use crate::common::{Dirs, Node, client, eventually, execute, get_json, install};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `mcp_server.py` on a port of its own, killed when dropped.
struct McpServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl McpServer {
    /// Starts it and waits until it accepts connections.
    fn start(dirs: &Dirs, json_response: bool) -> McpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dirs.root.path().join(format!("mcp-{port}.log"));
        let mut command = Command::new(crate::compat_api::python());
        command
            .arg(crate::common::repo().join("tests/python/mcp_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if json_response {
            command.arg("--json-response");
        }
        let mut server = McpServer {
            child: command.spawn().expect("start mcp_server.py"),
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("mcp_server.py exited ({status}):\n{}", server.log_text());
            }
            assert!(Instant::now() < deadline, "mcp_server.py did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many sessions clients opened (the SDK logs each).
    fn sessions_opened(&self) -> usize {
        self.log_text()
            .matches("Created new transport with session ID")
            .count()
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(dirs: &Dirs, config: &str) -> Node {
    install(&dirs.plugins, "tools-mcp", "tools-mcp", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

/// The tools `/v2/tools/list` shows, by name.
async fn tools(node: &Node) -> serde_json::Map<String, Value> {
    let list = get_json(&client(), node.url("/v2/tools/list")).await;
    list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_servers_tools_become_the_nodes() {
    let dirs = Dirs::new();
    let events = McpServer::start(&dirs, false);
    let plain = McpServer::start(&dirs, true);
    // node.toml's table form; `ungranted` is the first server again, under a
    // name the operator did not grant (and a loopback one at that).
    let node = start_node(
        &dirs,
        &format!(
            r#"
[plugins.tools-mcp]
allow_hosts = ["127.0.0.1:{events}", "127.0.0.1:{plain}"]
secrets = {{ MCP_SECRET_1 = "s3cret-token" }}
describe_every_s = 3600

[plugins.tools-mcp.config.servers.py]
url = "{events_url}"
bearer_secret = "MCP_SECRET_1"
headers = {{ X-Team = "infra" }}

[plugins.tools-mcp.config.servers.pyjson]
url = "{plain_url}"
tools = ["add", "echo"]

[plugins.tools-mcp.config.servers.ungranted]
url = "http://localhost:{events}/mcp"
"#,
            events = events.port,
            plain = plain.port,
            events_url = events.url(),
            plain_url = plain.url(),
        ),
    );
    let c = client();

    let listed = tools(&node).await;
    let mut names: Vec<&str> = listed.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "py__add",
            "py__calculator",
            "py__echo",
            "py__fail",
            "py__grow",
            "py__shrink",
            "py__whoami",
            "pyjson__add",
            "pyjson__echo"
        ]
    );
    let add = &listed["py__add"];
    assert_eq!(add["plugin"], "tools-mcp");
    assert_eq!(add["description"], "Adds two integers.");
    assert_eq!(add["parameters"]["required"], json!(["a", "b"]));
    assert_eq!(add["parameters"]["properties"]["a"]["type"], "integer");
    assert_eq!(add["result"]["properties"]["result"]["type"], "integer");
    assert_eq!(listed["py__echo"]["result"], Value::Null);

    // Structured content, over an event stream and as JSON.
    let (s, v) = execute(&c, &node, "py__add", json!({"a": 2, "b": 3})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"result": 5})), "{v}");
    let (s, v) = execute(&c, &node, "pyjson__add", json!({"a": 4, "b": 5})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"result": 9})), "{v}");
    // Text content.
    for tool in ["py__echo", "pyjson__echo"] {
        let (s, v) = execute(&c, &node, tool, json!({"text": "hi there"})).await;
        assert_eq!(
            (s, &v["result"]),
            (200, &json!({"text": "hi there"})),
            "{v}"
        );
    }
    // The tool's error; arguments the carried-over schema refuses never
    // reach the server.
    let (s, v) = execute(&c, &node, "py__fail", json!({"reason": "no luck"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("tool_failed")),
        "{v}"
    );
    assert_eq!(v["error"]["message"], "Error executing tool fail: no luck");
    let (s, v) = execute(&c, &node, "py__add", json!({"a": "x", "b": 1})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (400, &json!("invalid_arguments")),
        "{v}"
    );
    // The operator's headers, the bearer token read from a secret.
    let (s, v) = execute(&c, &node, "py__whoami", json!({})).await;
    assert_eq!(
        (s, &v["result"]),
        (
            200,
            &json!({"authorization": "Bearer s3cret-token", "x-team": "infra"})
        ),
        "{v}"
    );
    // The server the node's policy refused has no tools here.
    let (s, v) = execute(&c, &node, "ungranted__add", json!({"a": 1, "b": 1})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (404, &json!("tool_not_found")),
        "{v}"
    );

    // The server's tools change. Asked only hourly here, the node learns of
    // it when a call of a tool it listed finds the tool gone: the call
    // fails as not found, and the list is asked for again at once.
    let (s, v) = execute(&c, &node, "py__grow", json!({"name": "late"})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"result": "added late"})),
        "{v}"
    );
    let r = c.get(node.url("/v2/tools/py__late")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (s, v) = execute(&c, &node, "py__shrink", json!({"name": "echo"})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"result": "removed echo"})),
        "{v}"
    );
    assert!(tools(&node).await.contains_key("py__echo"));
    let (s, v) = execute(&c, &node, "py__echo", json!({"text": "still there?"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (404, &json!("tool_not_found")),
        "{v}"
    );
    let relisted = eventually(Duration::from_secs(30), async || {
        let listed = tools(&node).await;
        listed.contains_key("py__late") && !listed.contains_key("py__echo")
    })
    .await;
    assert!(
        relisted,
        "the stale list was not asked for again: {:?}",
        tools(&node).await.keys()
    );
    let (s, v) = execute(&c, &node, "py__late", json!({})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"result": "grown"})), "{v}");
    // The other server's tools are still there.
    let (s, v) = execute(&c, &node, "pyjson__echo", json!({"text": "yes"})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"text": "yes"})), "{v}");

    // Each listing (at load, and again once a tool was gone) has a session
    // of its own; the calls, each on a fresh instance, all went on with the
    // one kept in kv.
    assert_eq!(events.sessions_opened(), 3, "{}", events.log_text());

    let (_, log) = node.stop();
    assert!(
        log.lines().any(|l| l.contains("MCP server `ungranted`")
            && l.contains("left out")
            && l.contains("not allowed by the plugin's permissions.http")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("tools re-listed")
            && l.contains("py__late")
            && l.contains("py__echo")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_new_tools_are_listed_while_the_node_serves() {
    let dirs = Dirs::new();
    let server = McpServer::start(&dirs, false);
    // The operator asks every second (the manifest's default is 30 s).
    let node = start_node(
        &dirs,
        &format!(
            r#"
[plugins.tools-mcp]
allow_hosts = ["127.0.0.1:{port}"]
describe_every_s = 1
config = {{ servers = '[{{"name": "py", "url": "{url}"}}]' }}
"#,
            port = server.port,
            url = server.url(),
        ),
    );
    let c = client();
    assert!(tools(&node).await.contains_key("py__grow"));
    let (s, v) = execute(&c, &node, "py__grow", json!({"name": "later"})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"result": "added later"})),
        "{v}"
    );
    let listed = eventually(Duration::from_secs(30), async || {
        tools(&node).await.contains_key("py__later")
    })
    .await;
    assert!(listed, "py__later was never listed");
    let (s, v) = execute(&c, &node, "py__later", json!({})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"result": "grown"})), "{v}");
    // The MCP API plugin's and agents' view is the same catalog.
    let r = c.get(node.url("/v2/tools/py__later")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(server);
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_an_mcp_servers_tool() {
    let dirs = Dirs::new();
    let server = McpServer::start(&dirs, false);
    let mock = MockOpenAi::start().await;
    install(&dirs.plugins, "openai", "openai", |_| {});
    // The JSON form. The mock upstream calls the `calculator` tool it is
    // offered: the server's, unprefixed.
    let node = start_node(
        &dirs,
        &format!(
            r#"
[plugins.openai]
config = {{ base_url = "{base}" }}
allow_hosts = ["{mock}"]

[plugins.tools-mcp]
config = {{ servers = '[{{"name": "calc", "url": "{url}", "prefix": "", "tools": ["calculator"]}}]' }}
allow_hosts = ["127.0.0.1:{port}"]
"#,
            base = mock.base_url(),
            mock = mock.addr,
            url = server.url(),
            port = server.port,
        ),
    );
    let c = client();
    let names: Vec<String> = tools(&node).await.keys().cloned().collect();
    assert_eq!(names, ["calculator"]);

    let r = c
        .post(node.url("/v2/agents/create"))
        .json(&json!({"name": "mcp-agent", "model": "openai/gpt-4o-mini",
                      "system_prompt": "Be brief.", "tools": ["calculator"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let agent: Value = r.json().await.unwrap();
    let r = c
        .post(node.url("/v2/jobs"))
        .json(&json!({"kind": "agent", "input": {"agent": agent["id"], "input": "What is 2+2?"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.unwrap();
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    let finished = eventually(Duration::from_secs(60), async || {
        last = get_json(&c, node.url(&format!("/v2/jobs/{id}"))).await;
        matches!(last["state"].as_str(), Some("done" | "failed"))
    })
    .await;
    assert!(finished && last["state"] == "done", "{last}");
    assert_eq!(last["result"]["tool_calls"], 1, "{last}");

    // The tool's turn is what the MCP server computed.
    let messages = get_json(&c, node.url(&format!("/v2/jobs/{id}/messages"))).await;
    let tool_turn = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap_or_else(|| panic!("{messages}"));
    let content = tool_turn["content"].as_str().unwrap_or_default();
    let result: Value = serde_json::from_str(content).unwrap_or_else(|_| panic!("{tool_turn}"));
    assert_eq!(result, json!({"value": 4.0, "served_by": "python-mcp"}));
}
