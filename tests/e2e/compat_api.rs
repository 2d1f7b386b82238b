//! The OpenAI- and Anthropic-compatible endpoints (the `api-openai` plugin
//! over the router) on the real binary, used by the official, unmodified
//! `openai` and `anthropic` Python SDKs: chat, streaming, tool calls,
//! embeddings. Any alias reaches any provider: the Anthropic client talks to
//! an OpenAI-backed deployment.

use crate::common::{Dirs, Node, client, eventually, get_json, install};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// The Python with the SDKs installed (`make pyenv`).
pub(crate) fn python() -> String {
    let p = std::env::var("HANZO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&p)
        .args(["-c", "import openai, anthropic"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{p} lacks the openai/anthropic packages: run the suite with `make test` (it builds the venv)"
    );
    p
}

async fn node_with_mock() -> (Dirs, MockOpenAi, Node) {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[plugins.openai]
config = {{ base_url = "{base}" }}
allow_hosts = ["{addr}"]

[[deployments]]
alias = "gpt-mock"
provider = "openai"
model = "gpt-4o-mini"

[[deployments]]
alias = "slow-mock"
provider = "openai"
model = "slow-stream"

[[deployments]]
alias = "embed-mock"
provider = "openai"
model = "text-embedding-3-small"
"#,
            base = mock.base_url(),
            addr = mock.addr
        ),
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    (dirs, mock, node)
}

pub(crate) fn run_check(script: &str, args: &[&str]) {
    let path = crate::common::repo().join("tests/python").join(script);
    let out = Command::new(python())
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdks_as_clients() {
    let (_dirs, _mock, node) = node_with_mock().await;
    let base = node.base.clone();
    tokio::task::spawn_blocking(move || {
        run_check(
            "check_openai_sdk.py",
            &[&base, "gpt-mock", "--embedding-model", "embed-mock"],
        );
        // The Responses and legacy Completions APIs over a chat upstream.
        run_check("check_openai_responses.py", &[&base, "gpt-mock"]);
        // The Anthropic client on an OpenAI-backed deployment.
        run_check("check_anthropic_sdk.py", &[&base, "gpt-mock"]);
    })
    .await
    .unwrap();
}

/// The SSE stream as OpenAI sends it: one id across chunks, role first,
/// usage in a last chunk with no choices, then `[DONE]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_wire_format() {
    let (_dirs, _mock, node) = node_with_mock().await;
    let r = client()
        .post(node.url("/v1/chat/completions"))
        .json(&json!({
            "model": "gpt-mock",
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = r.text().await.unwrap();
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
        })
        .collect();
    assert_eq!(*events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello world");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 15);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );

    // An unknown model: OpenAI's error shape, 404.
    let r = client()
        .post(node.url("/v1/chat/completions"))
        .json(&json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].is_string(), "{e}");
}

/// The router's state over the host endpoints: deployments with their
/// circuit, and usage per tenant and per deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_and_usage_endpoints() {
    let (_dirs, _mock, node) = node_with_mock().await;
    let c = client();
    let r = c
        .post(node.url("/v1/chat/completions"))
        .json(&json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "count me"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-hanzo-deployment"],
        "gpt-mock@openai/gpt-4o-mini"
    );

    let d: Value = get_json(&c, node.url("/v2/deployments")).await;
    let gpt = d["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["alias"] == "gpt-mock")
        .unwrap()
        .clone();
    assert_eq!(gpt["provider"], "openai");
    assert_eq!(gpt["model"], "gpt-4o-mini");
    assert_eq!(gpt["circuit"], "closed");
    assert_eq!(gpt["strategy"], "priority");
    assert!(gpt["latency_ms"].as_f64().unwrap() > 0.0, "{gpt}");

    let u: Value = get_json(&c, node.url("/v2/usage")).await;
    assert_eq!(u["tenants"]["default"]["requests"], 1, "{u}");
    assert_eq!(u["tenants"]["default"]["prompt_tokens"], 12, "{u}");
    assert_eq!(
        u["deployments"]["gpt-mock@openai/gpt-4o-mini"]["completion_tokens"], 7,
        "{u}"
    );

    // The gateway's plugins reuse instances: after the request, the API
    // plugin's and the provider's instance each wait for the next one (the
    // API plugin's once its handler has returned, just after the answer).
    let parked = eventually(Duration::from_secs(5), async || {
        let h: Value = get_json(&c, node.url("/v2/health")).await;
        h["parked_instances"] == 2
    })
    .await;
    assert!(
        parked,
        "the API plugin's and the provider's instances are parked"
    );
}

/// Chunks reach the client as the upstream produces them, not buffered to
/// the end: the upstream spaces its events 60 ms apart, so the first content
/// chunk must arrive well before the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_relayed_as_they_arrive() {
    use futures::StreamExt;
    let (_dirs, _mock, node) = node_with_mock().await;
    let r = client()
        .post(node.url("/v1/chat/completions"))
        .json(&json!({"model": "slow-mock", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    let mut first_content = None;
    while let Some(part) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&part.unwrap()));
        if first_content.is_none() && seen.contains("\"content\":\"Hel\"") {
            first_content = Some(std::time::Instant::now());
        }
    }
    let first = first_content.expect("a content chunk");
    assert!(seen.trim_end().ends_with("data: [DONE]"), "{seen}");
    // Four more events follow the first content one, 60 ms apart upstream.
    assert!(
        first.elapsed() >= std::time::Duration::from_millis(150),
        "the first chunk arrived only {:?} before the end: the stream was buffered",
        first.elapsed()
    );
}
