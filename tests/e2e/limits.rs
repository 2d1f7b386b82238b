//! Bounds on what clients and plugins can make the node keep or write,
//! through the real binary: a plugin that floods the log is rate-limited
//! (what it drops is counted in `/v2/health` and reported) and cannot forge
//! log lines; job submissions past a tenant's pending jobs, a parent's
//! children or the retry bounds get stable JSON errors from `/v2/jobs`.
//! The in-process side of the same bounds is in `jobs.rs` and `router.rs`.

use crate::common::{Dirs, Node, client, get_json, install};
use serde_json::{Value, json};

const CONFIG: &str = "\
shutdown_grace_s = 1

[log]
plugin_lines_per_s = 20
plugin_burst = 50

[jobs]
max_pending_per_tenant = 3
max_children = 1
";

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// An answer refused by a limit: `status`, the stable `code`, and a message
/// naming the setting that sets the limit.
fn assert_limit(s: u16, v: &Value, status: u16, code: &str, setting: &str) {
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(setting), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_over_http() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();

    // A plugin logs 5000 lines at once, each trying to start a line of its own.
    const LINES: u64 = 5000;
    let forged =
        "flood-line\n2026-12-06T00:00:00.000000Z  INFO hanzo_node::server: FORGED\r\x1b[2K";
    let (s, v) = post(
        &c,
        node.url("/v2/tools/execute"),
        json!({"tool": "log_flood", "arguments": {"lines": LINES, "text": forged}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let health: Value = get_json(&c, node.url("/v2/health")).await;
    let dropped = health["log_lines_dropped"]["echo-version"]
        .as_u64()
        .unwrap_or_else(|| panic!("{health}"));
    assert!(dropped > 0, "{health}");

    // Jobs: three not yet finished per tenant, one child per parent.
    let jobs = node.url("/v2/jobs");
    let slow =
        json!({"kind": "tool", "input": {"tool": "slow_answer", "arguments": {"ms": 20000}}});
    let (s, v) = post(&c, jobs.clone(), slow.clone()).await;
    assert_eq!(s, 201, "{v}");
    let blocker = v["job"]["id"].as_str().unwrap().to_string();
    let child = json!({"kind": "tool", "input": {"tool": "answer"}, "parents": [blocker]});
    let (s, v) = post(&c, jobs.clone(), child.clone()).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&c, jobs.clone(), child).await;
    assert_limit(s, &v, 409, "too_many_children", "jobs.max_children");
    let (s, v) = post(&c, jobs.clone(), slow.clone()).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&c, jobs.clone(), slow).await;
    assert_limit(
        s,
        &v,
        429,
        "too_many_pending_jobs",
        "jobs.max_pending_per_tenant",
    );
    // The parent's children are listed as before.
    let parent: Value = get_json(&c, node.url(&format!("/v2/jobs/{blocker}"))).await;
    assert_eq!(
        parent["children"].as_array().map(Vec::len),
        Some(1),
        "{parent}"
    );

    // Retry policies out of bounds name the field.
    for (retry, field) in [
        (json!({"max_attempts": 1000}), "retry.max_attempts"),
        (
            json!({"max_delay_ms": 0, "initial_delay_ms": 0}),
            "retry.initial_delay_ms",
        ),
        (json!({"multiplier": 0.5}), "retry.multiplier"),
    ] {
        let spec = json!({"kind": "tool", "input": {"tool": "answer"}, "retry": retry});
        let (s, v) = post(&c, jobs.clone(), spec).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }

    let (_, log) = node.stop();
    // Every line is either in the log or counted as dropped.
    let written = log.lines().filter(|l| l.contains("flood-line")).count() as u64;
    assert_eq!(
        written + dropped,
        LINES,
        "{written} written, {dropped} dropped"
    );
    assert!(log.contains("plugin log lines dropped"));
    // What the plugin wrote stays inside its own lines, escaped.
    assert!(
        log.lines()
            .all(|l| !l.contains("FORGED") || l.contains("flood-line")),
        "a plugin forged a log line"
    );
    assert!(log.contains("flood-line\\n2026-12-06"));
    assert!(!log.contains('\x1b') && !log.contains('\r'));
}
