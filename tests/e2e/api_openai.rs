//! The `api-openai` plugin over HTTP on the real binary: the OpenAI API
//! (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`) and the
//! Anthropic Messages API (`/v1/messages`), served through the host's
//! `hanzo:node/llm` router by the real `openai` provider plugin against the
//! local mock upstream. Streams are checked event by event, errors in each
//! API's own format.

use crate::common::{Dirs, Node, client, install};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};

/// A node serving `api-openai` and `openai`, with aliases routed to the
/// mock's well-behaved and misbehaving models.
fn start(mock: &MockOpenAi) -> (Dirs, Node) {
    router_node(mock, "openai", "sk-test", |plugins| {
        install(plugins, "openai", "openai", |_| {});
    })
}

/// The node with api-openai and `provider` (which `install_provider` puts
/// into the plugin folder) in front of `mock` with `key`, and the aliases
/// the API tests use, each one of the mock's (misbehaving) models.
pub(crate) fn router_node(
    mock: &MockOpenAi,
    provider: &str,
    key: &str,
    install_provider: impl FnOnce(&std::path::Path),
) -> (Dirs, Node) {
    let dirs = Dirs::new();
    install_provider(&dirs.plugins);
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    let mut config = format!(
        "[router.retry]\nmax_attempts = 1\ninitial_delay_ms = 10\n\n\
         [plugins.{provider}]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
         secrets = {{ OPENAI_API_KEY = \"{key}\" }}\n",
        mock.base_url(),
        mock.addr
    );
    for (alias, model) in [
        ("gpt", "gpt-4o-mini"),
        ("embed", "text-embedding-3-small"),
        ("limited", "rate-limited"),
        ("bad-key", "bad-key"),
        ("too-long", "too-long"),
        ("broken", "broken"),
        ("cut", "cut-stream"),
    ] {
        config += &format!(
            "\n[[deployments]]\nalias = \"{alias}\"\nprovider = \"{provider}\"\nmodel = \"{model}\"\n"
        );
    }
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    (dirs, node)
}

/// `(event name, data)` of a `text/event-stream` body.
pub(crate) fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_string();
                }
            }
            (name, data)
        })
        .collect()
}

/// Posts `body` and reads the answer frame by frame: status, headers, the
/// body, and how many frames it came in.
pub(crate) async fn post_streamed(
    c: &reqwest::Client,
    url: String,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, String, usize) {
    let mut r = c
        .post(url)
        .header("x-hanzo-cache", "bypass")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let mut text = Vec::new();
    let mut frames = 0;
    while let Some(bytes) = r.chunk().await.unwrap() {
        frames += 1;
        text.extend_from_slice(&bytes);
    }
    (status, headers, String::from_utf8(text).unwrap(), frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_api_over_the_router() {
    let mock = MockOpenAi::start().await;
    let (_dirs, node) = start(&mock);
    let c = client();
    let chat = node.url("/v1/chat/completions");

    // Non-streaming, twice: the second answer comes from the router's cache.
    let body = json!({"model": "gpt", "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi there"}]}
    ], "max_completion_tokens": 64});
    let r = c.post(&chat).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hanzo-deployment"], "gpt@openai/gpt-4o-mini");
    assert_eq!(r.headers()["x-hanzo-cache"], "miss");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi there");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 19);
    let r = c.post(&chat).json(&body).send().await.unwrap();
    assert_eq!(r.headers()["x-hanzo-cache"], "hit");
    let r = c
        .post(&chat)
        .header("cache-control", "no-cache")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-hanzo-cache"], "miss");
    assert_eq!(mock.calls_for("gpt-4o-mini"), 2);
    let upstream = &mock.seen.lock().unwrap().last().unwrap().body.clone();
    assert_eq!(upstream["messages"][0]["role"], "system");
    assert_eq!(upstream["max_tokens"], 64);

    // Streaming with usage: one id, the role first, text deltas, finish,
    // the usage chunk, [DONE]; written as the upstream produces it.
    let (status, headers, text, frames) = post_streamed(
        &c,
        chat.clone(),
        json!({"model": "gpt", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(headers["x-hanzo-deployment"], "gpt@openai/gpt-4o-mini");
    assert!(frames >= 2, "the stream came in {frames} frame(s): {text}");
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id && c["model"] == "gpt"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello world");
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert_eq!(chunks[n - 1]["usage"]["total_tokens"], 15);

    // A streamed tool call: id, type and name once, then argument fragments.
    let tools = json!([{"type": "function", "function": {"name": "calculator",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}}]);
    let (_, _, text, _) = post_streamed(
        &c,
        chat.clone(),
        json!({"model": "gpt", "stream": true, "tools": tools,
               "messages": [{"role": "user", "content": "2+2?"}]}),
    )
    .await;
    let deltas: Vec<Value> = sse_events(&text)
        .iter()
        .filter_map(|(_, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
        .collect();
    assert_eq!(deltas[0]["id"], "call_abc123");
    assert_eq!(deltas[0]["type"], "function");
    assert_eq!(deltas[0]["function"]["name"], "calculator");
    assert!(deltas[1..].iter().all(|d| d.get("id").is_none()));
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"expression":"2+2"}"#);

    // Embeddings, as floats and as the SDKs' default base64.
    let r = c
        .post(node.url("/v1/embeddings"))
        .json(&json!({"model": "embed", "input": ["a", "hello world"], "dimensions": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][1]["embedding"], json!([1.1, 1.2, 1.3]));
    assert_eq!(v["data"][1]["index"], 1);
    let v: Value = c
        .post(node.url("/v1/embeddings"))
        .json(
            &json!({"model": "embed", "input": "a", "dimensions": 1, "encoding_format": "base64"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 0.1f32, little-endian.
    assert_eq!(v["data"][0]["embedding"], "zczMPQ==");

    // Models.
    let v: Value = c
        .get(node.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt" && m["object"] == "model")
    );
    let r = c.get(node.url("/v1/models/gpt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_api_over_an_openai_deployment() {
    let mock = MockOpenAi::start().await;
    let (_dirs, node) = start(&mock);
    let c = client();
    let url = node.url("/v1/messages");

    let r = c
        .post(&url)
        .json(
            &json!({"model": "gpt", "max_tokens": 64, "system": "Be brief.",
                      "messages": [{"role": "user", "content": "hi there"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hanzo-deployment"], "gpt@openai/gpt-4o-mini");
    let v: Value = r.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    assert_eq!(v["type"], "message");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: hi there"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"], json!({"input_tokens": 12, "output_tokens": 7}));

    // Tool use, then the tool result turn.
    let tools = json!([{"name": "calculator", "description": "math",
        "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}}}]);
    let v: Value = c
        .post(&url)
        .json(&json!({"model": "gpt", "max_tokens": 64, "tools": tools,
                      "messages": [{"role": "user", "content": "2+2?"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": "call_abc123", "name": "calculator", "input": {"expression": "2+2"}}])
    );
    let v: Value = c
        .post(&url)
        .json(&json!({"model": "gpt", "max_tokens": 64, "tools": tools, "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": v["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc123", "content": "4"}]}
        ]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "end_turn", "{v}");
    let upstream = mock.seen.lock().unwrap().last().unwrap().body.clone();
    assert_eq!(
        upstream["messages"][1]["tool_calls"][0]["id"],
        "call_abc123"
    );
    assert_eq!(upstream["messages"][2]["role"], "tool");
    assert_eq!(upstream["messages"][2]["tool_call_id"], "call_abc123");

    // Streamed: Anthropic's event sequence.
    let (status, headers, text, _) = post_streamed(
        &c,
        url.clone(),
        json!({"model": "gpt", "max_tokens": 64, "stream": true,
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["delta"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "Hello world");
    let delta: Value = serde_json::from_str(&events[6].1).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);

    // A streamed tool call: a tool_use block with input_json_delta fragments.
    let (_, _, text, _) = post_streamed(
        &c,
        url.clone(),
        json!({"model": "gpt", "max_tokens": 64, "stream": true, "tools": tools,
               "messages": [{"role": "user", "content": "2+2?"}]}),
    )
    .await;
    let events = sse_events(&text);
    let start: Value = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(
        start["content_block"],
        json!({"type": "tool_use", "id": "call_abc123", "name": "calculator", "input": {}})
    );
    let input: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["delta"]["partial_json"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(input, r#"{"expression":"2+2"}"#);
    let delta: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_each_apis_format() {
    let mock = MockOpenAi::start().await;
    let (_dirs, node) = start(&mock);
    let c = client();
    let chat = node.url("/v1/chat/completions");
    let messages = node.url("/v1/messages");

    let cases = [
        ("nope", 404, "invalid_request_error", "not_found_error"),
        ("limited", 429, "rate_limit_error", "rate_limit_error"),
        ("bad-key", 502, "server_error", "api_error"),
        (
            "too-long",
            400,
            "invalid_request_error",
            "invalid_request_error",
        ),
    ];
    for (model, status, openai_type, anthropic_type) in cases {
        for stream in [false, true] {
            let r = c
                .post(&chat)
                .json(&json!({"model": model, "stream": stream,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{model}");
            if status == 429 {
                let wait: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(wait >= 1, "retry-after {wait}");
            }
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["type"], openai_type, "{model}: {v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );

            let r = c
                .post(&messages)
                .json(&json!({"model": model, "max_tokens": 16, "stream": stream,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{model}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], anthropic_type, "{model}: {v}");
        }
    }
    let v: Value = c
        .post(&chat)
        .json(&json!({"model": "too-long", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let v: Value = c
        .post(&chat)
        .json(&json!({"model": "bad-key", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("misconfigured"),
        "an upstream auth failure is the node's problem, not the client's: {v}"
    );

    // A stream the upstream cuts: an error event in each format, no normal end.
    let (status, _, text, _) = post_streamed(
        &c,
        chat.clone(),
        json!({"model": "cut", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let events = sse_events(&text);
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
    let (_, _, text, _) = post_streamed(
        &c,
        messages.clone(),
        json!({"model": "cut", "max_tokens": 16, "stream": true,
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let events = sse_events(&text);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(data).unwrap()["type"],
        "error"
    );

    // Malformed requests, unknown paths, wrong methods.
    let r = c
        .post(&chat)
        .json(&json!({"model": "gpt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "messages"
    );
    let r = c
        .post(&messages)
        .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "max_tokens is required");
    let r = c.get(node.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_url"
    );
    let r = c.get(&chat).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["allow"].to_str().unwrap()),
        (405, "POST")
    );
}
