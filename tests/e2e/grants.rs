//! Interfaces a plugin was not granted, over HTTP on the real binary: the
//! bundled API plugins with one grant taken away each. Every interface
//! refuses the same way, with its WIT error's `denied` case naming the grant
//! (no trap): api-v2 answers 403 `forbidden`, api-openai 403
//! `permission_error` in the OpenAI and Anthropic shapes.

use crate::common::{Dirs, Node, client, install, set};
use serde_json::{Value, json};

async fn send(c: &reqwest::Client, url: String, body: Option<Value>) -> (u16, Value) {
    let r = match body {
        Some(body) => c.post(url).json(&body),
        None => c.get(url),
    }
    .header("anthropic-version", "2023-06-01")
    .send()
    .await
    .unwrap();
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

    let chat = json!({"model": "openai/gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]});
    let refused = [
        ("/v2/tools/list", None, "api-v2", "tools"),
        ("/v2/tools/calculator", None, "api-v2", "tools"),
        (
            "/v2/tools/execute",
            Some(json!({"tool": "calculator", "arguments": {"expression": "2+2"}})),
            "api-v2",
            "tools",
        ),
        (
            "/v2/jobs",
            Some(
                json!({"kind": "tool", "input": {"tool": "calculator", "arguments": {"expression": "2+2"}}}),
            ),
            "api-v2",
            "jobs",
        ),
        (
            "/v2/agents/create",
            Some(json!({"name": "helper", "model": "openai/gpt-4o-mini", "tools": []})),
            "api-v2",
            "agents",
        ),
        ("/v1/models", None, "api-openai", "llm"),
        (
            "/v1/chat/completions",
            Some(chat.clone()),
            "api-openai",
            "llm",
        ),
        ("/v1/messages", Some(chat), "api-openai", "llm"),
    ];
    for (path, body, plugin, grant) in refused {
        let (status, body) = send(&c, node.url(path), body).await;
        assert_eq!(status, 403, "{path}: {body}");
        let error = &body["error"];
        let kind = if plugin == "api-v2" {
            &error["code"]
        } else {
            &error["type"]
        };
        let expected = if plugin == "api-v2" {
            "forbidden"
        } else {
            "permission_error"
        };
        assert_eq!(kind, expected, "{path}: {body}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "plugin `{plugin}` is not granted `permissions.{grant}`"
            )),
            "{path}: {body}"
        );
    }
}
