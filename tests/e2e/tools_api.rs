//! The tool and api plugins through HTTP on the real binary: `/v2/tools/*`
//! served by the `api-v2` plugin over the host's `tools` interface, tools run
//! by `tools-basic`, plus the host's own endpoints and JSON errors.

use crate::common::{Dirs, Node, client, get_json, install};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_over_http() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();

    let health: Value = get_json(&c, node.url("/v2/health")).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["plugins"]["loaded"], 2);
    assert_eq!(health["plugins"]["tool"], 1);
    assert_eq!(health["plugins"]["api"], 1);
    assert!(health["uptime_s"].as_f64().is_some());
    // Neither plugin opts in to instance reuse.
    assert_eq!(health["parked_instances"], 0);

    let plugins: Value = get_json(&c, node.url("/v2/plugins")).await;
    let list = plugins["plugins"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for p in list {
        assert_eq!(p["state"], "loaded");
        assert_eq!(p["blake3"].as_str().unwrap().len(), 64);
        assert!(p["loaded_at"].is_string());
        assert_eq!(p["limits"]["calls_per_instance"], 1);
    }

    let r = c.get(node.url("/v2/tools/list")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let tools: Value = r.json().await.unwrap();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in ["calculator", "http_fetch", "json_query"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let calc = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "calculator")
        .unwrap();
    assert_eq!(calc["plugin"], "tools-basic");
    assert_eq!(calc["parameters"]["type"], "object");

    let one: Value = get_json(&c, node.url("/v2/tools/calculator")).await;
    assert_eq!(one["name"], "calculator");
    let r = c.get(node.url("/v2/tools/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "tool_not_found"
    );

    let exec = |body: Value| {
        let c = c.clone();
        let url = node.url("/v2/tools/execute");
        async move {
            let r = c.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = exec(
        json!({"tool": "calculator", "arguments": {"expression": "2 * (3 + 4) ^ 2 - 10 / 4"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["value"], 95.5);

    let (s, v) = exec(json!({"tool": "json_query", "arguments": {"document": {"a": [{"b": 1}, {"b": 2}]}, "path": "$.a[*].b"}})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["matches"], json!([1, 2]));

    // Schema violations are 400s that say what is wrong, before the tool runs.
    let (s, v) = exec(json!({"tool": "calculator", "arguments": {"expr": "1"}})).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_arguments");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expression"),
        "{v}"
    );
    let (s, v) = exec(json!({"tool": "calculator", "arguments": {"expression": 5}})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_arguments")),
        "{v}"
    );

    // A tool that runs and fails.
    let (s, v) = exec(json!({"tool": "calculator", "arguments": {"expression": "1/0"}})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tool_failed")),
        "{v}"
    );
    let (s, v) = exec(json!({"tool": "nope", "arguments": {}})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("tool_not_found")),
        "{v}"
    );
    let (s, v) = exec(json!({"arguments": {}})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let r = c
        .post(node.url("/v2/tools/execute"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );

    // The host's own errors.
    let r = c.get(node.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let r = c.post(node.url("/v2/health")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
    let r = c.get(node.url("/v2/tools/execute")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c
        .post(node.url("/v2/tools/execute"))
        .body(vec![b'x'; 11 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "body_too_large"
    );

    // SIGTERM shuts down gracefully.
    let (status, log) = node.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("shutting down"), "{log}");
}

/// An API plugin that traps, loops or never answers fails that request only,
/// with a JSON error naming the plugin; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_api_plugin_fails_only_its_request() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-crash", "api-crash", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();
    let get = |path: &str| {
        let (c, url) = (c.clone(), node.url(path));
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = get("/crash/panic").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (502, Some("plugin_trap")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-crash"),
        "{v}"
    );
    let (s, v) = get("/crash/silent").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (502, Some("plugin_trap")),
        "{v}"
    );
    let spin = tokio::spawn(get("/crash/spin"));
    // Served while the other request spins.
    let (s, v) = get("/crash/ok").await;
    assert_eq!((s, &v), (200, &json!({"ok": true})));
    let (s, v) = spin.await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (504, Some("plugin_timeout")),
        "{v}"
    );
    let (s, _) = get("/crash/ok").await;
    assert_eq!(s, 200);
    // A header the host refuses is left out; the response and its other
    // headers still go out.
    let r = c
        .get(node.url("/crash/forbidden-header"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("x-kept").and_then(|v| v.to_str().ok()),
        Some("yes")
    );
    assert!(r.headers().get("upgrade").is_none(), "{:?}", r.headers());
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"ok": true}));
}

/// `[tools.<name>]`: the operator turns one tool off while its plugin keeps
/// serving the others, and holds another to a time limit under its
/// plugin's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_disables_a_tool_and_limits_another() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[tools.answer]\nenabled = false\n\n[tools.slow_answer]\ntimeout_ms = 300\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let mut names: Vec<String> = Vec::new();
    let listed = crate::common::eventually(std::time::Duration::from_secs(30), async || {
        let tools = get_json(&c, node.url("/v2/tools/list")).await;
        names = tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect();
        names.iter().any(|n| n == "noop")
    })
    .await;
    assert!(listed, "{names:?}");
    assert!(!names.iter().any(|n| n == "answer"), "{names:?}");
    assert!(names.iter().any(|n| n == "slow_answer"), "{names:?}");
    let exec = async |tool: &str, arguments: Value| {
        let r = c
            .post(node.url("/v2/tools/execute"))
            .json(&json!({"tool": tool, "arguments": arguments}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (s, v) = exec("answer", json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("tool_not_found")),
        "{v}"
    );
    let started = std::time::Instant::now();
    let (s, v) = exec("slow_answer", json!({"ms": 3000})).await;
    assert_ne!(s, 200, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("tools.slow_answer.timeout_ms"), "{v}");
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    let (s, v) = exec("slow_answer", json!({"ms": 10})).await;
    assert_eq!(s, 200, "{v}");

    // The same settings, changed while the node serves.
    let put = async |node: &Node, tool: &str, body: &str| {
        let r = c
            .put(node.url(&format!("/v2/tool-settings/{tool}")))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (s, v) = put(&node, "answer", r#"{"enabled": true}"#).await;
    assert_eq!((s, &v["settings"]["enabled"]), (200, &json!(true)), "{v}");
    assert_eq!(v["node_toml"]["enabled"], false, "{v}");
    let (s, v) = put(&node, "noop", r#"{"enabled": false, "timeout_ms": 5000}"#).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = put(&node, "noop", r#"{"enabled": "off"}"#).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = exec("answer", json!({})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = exec("noop", json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("tool_not_found")),
        "{v}"
    );
    let listed = get_json(&c, node.url("/v2/tool-settings")).await;
    let noop = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "noop")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(noop["loaded"], true);
    assert_eq!(
        noop["change"],
        json!({"enabled": false, "timeout_ms": 5000})
    );

    // Kept across a restart; dropping a change gives node.toml's back.
    drop(node);
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let back = crate::common::eventually(std::time::Duration::from_secs(30), async || {
        let tools = get_json(&c, node.url("/v2/tools/list")).await;
        tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["name"] == "answer")
    })
    .await;
    assert!(back, "the run-time change did not outlive the restart");
    let r = c.get(node.url("/v2/tools/noop")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .delete(node.url("/v2/tool-settings/answer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(node.url("/v2/tools/answer")).send().await.unwrap();
    assert_eq!(r.status(), 404, "node.toml's enabled = false holds again");
}
