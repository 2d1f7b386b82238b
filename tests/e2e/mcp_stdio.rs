//! Stdio MCP servers as node tools: `tools-mcp` runs a server written with
//! the official Python `mcp` package (`tests/containers/mcp_stdio_server.py`,
//! in the locally built `hanzo-test-mcp:1` image) as a container process
//! through `hanzo:node/containers`, keeps it running between calls, and
//! talks MCP over its standard input and output. Against a real Docker
//! engine (see `containers.rs` for when these run).

use crate::common::{Dirs, Node, client, execute, install};
use crate::containers::docker_with;
use serde_json::{Value, json};

const IMAGE: &str = "hanzo-test-mcp:1";

fn docker() -> bool {
    docker_with(IMAGE, "tests/containers/build-mcp-image.sh")
}

/// The containers tools-mcp started that still exist.
fn processes() -> Vec<String> {
    crate::containers::started_by("tools-mcp")
}

fn result(v: &Value) -> &Value {
    &v["result"]["result"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_runs_in_a_container_kept_between_calls() {
    if !docker() {
        return;
    }
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-mcp", "tools-mcp", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        r#"
[plugins.tools-mcp]
containers = ["hanzo-test-mcp:1"]
secrets = { MCP_SECRET_1 = "from-the-operator" }

[plugins.tools-mcp.config.servers.box]
image = "hanzo-test-mcp:1"
env = { GREETING = "secret:MCP_SECRET_1", MODE = "test" }
memory_mb = 256
idle_s = 120
"#,
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();

    let list = crate::common::get_json(&c, node.url("/v2/tools/list")).await;
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tool in [
        "box__add",
        "box__echo",
        "box__count",
        "box__slow",
        "box__env",
        "box__pid",
    ] {
        assert!(names.contains(&tool), "{tool} not in {names:?}");
    }

    let (s, v) = execute(&c, &node, "box__add", json!({"a": 2, "b": 3})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"result": 5})), "{v}");
    let (s, v) = execute(&c, &node, "box__echo", json!({"text": "over stdio"})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"text": "over stdio"})),
        "{v}"
    );
    // The operator's environment, a secret among it.
    let (_, v) = execute(&c, &node, "box__env", json!({"name": "GREETING"})).await;
    assert_eq!(result(&v), "from-the-operator", "{v}");

    // One process serves call after call: its counter goes on.
    let (_, first) = execute(&c, &node, "box__count", json!({})).await;
    let (_, second) = execute(&c, &node, "box__count", json!({})).await;
    assert_eq!(
        result(&second).as_i64(),
        result(&first).as_i64().map(|n| n + 1),
        "{first} {second}"
    );

    // A tool that takes its time answers: standard input stays open until
    // the answer came (a server reading EOF would cancel it).
    let (s, v) = execute(&c, &node, "box__slow", json!({"ms": 1500})).await;
    assert_eq!((s, result(&v)), (200, &json!("slept")), "{v}");

    // Two calls at once: two processes (one call holds one at a time).
    let (x, y) = tokio::join!(
        execute(&c, &node, "box__slow", json!({"ms": 1000})),
        execute(&c, &node, "box__slow", json!({"ms": 1000})),
    );
    assert_eq!((x.0, y.0), (200, 200), "{x:?} {y:?}");

    // Listing at load had a process of its own; the calls share theirs.
    let running = processes();
    assert!(
        (2..=3).contains(&running.len()),
        "expected the listing's and one or two calls' processes: {running:?}"
    );
    let (status, log) = node.stop();
    assert!(status.success(), "{log}");
    assert!(
        processes().is_empty(),
        "a stopped node leaves no process behind: {:?}\n{log}",
        processes()
    );
}
