//! Interfaces a plugin was not granted, over HTTP on the real binary: the
//! bundled API plugins with one grant taken away each. `jobs` and `agents`
//! answer `denied` (api-v2 turns it into 403); `llm` and `tools` have no
//! `denied` case in their WIT yet, so the call traps with the grant named.

use crate::common::{Dirs, Node, client, install, set};
use serde_json::{Value, json};

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interfaces_not_granted_are_refused() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |m| {
        for grant in ["tools", "jobs", "agents"] {
            set(m, "permissions", grant, toml::Value::Boolean(false));
        }
    });
    install(&dirs.plugins, "api-openai", "api-openai", |m| {
        set(m, "permissions", "llm", toml::Value::Boolean(false))
    });
    let node = Node::start(&dirs, &[]);
    let c = client();

    let (status, body) = post(
        &c,
        node.url("/v2/tools/execute"),
        json!({"tool": "calculator", "arguments": {"expression": "2+2"}}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "plugin_trap", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("plugin `api-v2` is not granted `permissions.tools`"),
        "{message}"
    );

    // Refused with the interface's own `denied`, which api-v2 answers 403.
    let denied = [
        (
            "/v2/jobs",
            json!({"kind": "tool", "input": {"tool": "calculator", "arguments": {"expression": "2+2"}}}),
        ),
        (
            "/v2/agents/create",
            json!({"name": "helper", "model": "openai/gpt-4o-mini", "tools": []}),
        ),
    ];
    for (path, request) in denied {
        let (status, body) = post(&c, node.url(path), request).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("forbidden")),
            "{path}: {body}"
        );
    }

    let (status, body) = post(
        &c,
        node.url("/v1/chat/completions"),
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("plugin `api-openai` is not granted `permissions.llm`"),
        "{body}"
    );
}
