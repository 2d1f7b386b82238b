//! Plugins written in Python (`sdk/python`, built by componentize-py through
//! `sdk/python/build.mk`) on the real binary: the `python-tool` example
//! called through `/v2/tools/execute`; the `py-faults` test plugin
//! hot-swapped to a rebuilt version and made to fail in every way (a typed
//! error, an uncaught exception whose traceback reaches the client, an
//! endless loop, a memory bomb), each error naming the plugin while the
//! node keeps serving the others; the `python-provider` example serving
//! `/v1/chat/completions` (whole and streamed, an image and a document as
//! OpenAI parts, tool calls, upstream errors) and `/v1/embeddings` against
//! the OpenAI mock upstream; the `python-api` example answering HTTP and
//! reaching the tool catalog; and the three templates of `plugin new --lang
//! python`, built as a new project is.

use crate::common::{
    Dirs, Node, built_plugin, client, eventually, execute, get_json, install_built,
};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Copies the folder `make python-plugins` built for `name` into
/// `plugins/folder` as an operator would.
pub(crate) fn drop_in(plugins: &Path, folder: &str, name: &str) -> PathBuf {
    install_built(plugins, folder, &built_plugin("python", name), |_| {})
}

/// Installs a first-party Rust plugin (api-v2, api-openai) beside them.
fn rust_plugin(plugins: &Path, name: &str) {
    crate::common::install(plugins, name, name, |_| {});
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tools_serve_swap_and_fail_by_name() {
    let dirs = Dirs::new();
    rust_plugin(&dirs.plugins, "api-v2");
    drop_in(&dirs.plugins, "python-tool", "python-tool");
    let faults = drop_in(&dirs.plugins, "py-faults", "py-faults");
    let node = Node::start(&dirs, &[]);
    let c = client();

    // The catalog shows the schemas the SDK derived from type hints and docstrings.
    let spec: Value = get_json(&c, node.url("/v2/tools/slugify")).await;
    assert_eq!(spec["plugin"], "python-tool");
    assert!(
        spec["description"]
            .as_str()
            .unwrap()
            .starts_with("Turns a title into a URL slug")
    );
    let params = &spec["parameters"];
    assert_eq!(params["required"], json!(["text"]));
    assert_eq!(params["properties"]["text"]["type"], "string");
    assert_eq!(params["properties"]["separator"]["default"], "-");
    assert_eq!(
        params["properties"]["max_length"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(params["additionalProperties"], false);
    assert_eq!(spec["result"]["type"], "string");
    let hash: Value = get_json(&c, node.url("/v2/tools/hash_text")).await;
    assert_eq!(
        hash["parameters"]["properties"]["algorithm"]["enum"],
        json!(["sha256", "sha1", "md5", "blake2b", "sha3_256"])
    );

    // The tools work.
    let (s, v) = execute(
        &c,
        &node,
        "slugify",
        json!({"text": "Héllo, Wörld: a title!"}),
    )
    .await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!("hello-world-a-title")),
        "{v}"
    );
    let (s, v) = execute(
        &c,
        &node,
        "text_stats",
        json!({"text": "The cat. The dog!\nA cat?", "top": 2}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["words"], 6);
    assert_eq!(v["result"]["sentences"], 3);
    assert_eq!(v["result"]["lines"], 2);
    assert_eq!(
        v["result"]["top_words"],
        json!([{"word": "the", "count": 2}, {"word": "cat", "count": 2}])
    );
    let (s, v) = execute(
        &c,
        &node,
        "hash_text",
        json!({"text": "abc", "algorithm": "md5"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["hex"], "900150983cd24fb0d6963f7d28e17f72");
    let (s, v) = execute(
        &c,
        &node,
        "regex_extract",
        json!({"pattern": "(?P<n>\\d+)", "text": "a1 b22"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["count"], 2);
    assert_eq!(v["result"]["matches"][1]["groups"]["n"], "22");
    let (s, v) = execute(
        &c,
        &node,
        "days_between",
        json!({"start": "2026-12-07", "end": "2026-12-14"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["result"]["days"].as_i64(),
            v["result"]["weekdays"].as_i64()
        ),
        (Some(7), Some(5))
    );

    // Typed errors raised in Python keep their kind and message.
    let (s, v) = execute(
        &c,
        &node,
        "regex_extract",
        json!({"pattern": "(", "text": "x"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_arguments")),
        "{v}"
    );
    assert!(
        message(&v).contains("not a valid regular expression"),
        "{v}"
    );
    let (s, v) = execute(&c, &node, "fail", json!({"message": "the disk is full"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tool_failed")),
        "{v}"
    );
    assert_eq!(message(&v), "the disk is full");
    // The schema from type hints is enforced by the node before Python runs.
    let (s, v) = execute(&c, &node, "slugify", json!({"txt": "x"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_arguments")),
        "{v}"
    );

    // An uncaught exception: the plugin named, the Python traceback carried.
    let (s, v) = execute(&c, &node, "crash", json!({})).await;
    let m = crate::common::plugin_failure(s, &v);
    assert!(
        m.starts_with("plugin `py-faults` trapped: Traceback"),
        "{v}"
    );
    assert!(m.contains("in _divide"), "the traceback's frames: {v}");
    assert!(m.contains("ZeroDivisionError: division by zero"), "{v}");

    // An endless loop: stopped at the plugin's time limit, named; the node
    // serves the other Python plugin meanwhile.
    let spin = {
        let (c, url) = (c.clone(), node.url("/v2/tools/execute"));
        tokio::spawn(async move {
            let r = c
                .post(url)
                .json(&json!({"tool": "spin", "arguments": {}}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, v) = execute(&c, &node, "slugify", json!({"text": "still serving"})).await;
    assert_eq!((s, &v["result"]), (200, &json!("still-serving")), "{v}");
    let (s, v) = spin.await.unwrap();
    assert_eq!(
        crate::common::plugin_failure(s, &v),
        "plugin `py-faults` exceeded its time limit of 1000 ms"
    );

    // A memory bomb: stopped at the plugin's memory limit, named.
    let (s, v) = execute(&c, &node, "allocate", json!({})).await;
    assert_eq!(
        crate::common::plugin_failure(s, &v),
        "plugin `py-faults` exceeded its memory limit of 48 MiB"
    );

    // After each failure the plugin serves again (a fresh instance).
    let (s, v) = execute(&c, &node, "version", json!({})).await;
    assert_eq!((s, &v["result"]), (200, &json!("v1")), "{v}");

    // Hot swap: the rebuilt component (other Python source) replaces the
    // running one; calls move to it without a restart.
    let v2 = built_plugin("python", "py-faults-v2");
    std::fs::copy(v2.join("py_faults.wasm"), faults.join("py_faults.wasm")).unwrap();
    let manifest = std::fs::read_to_string(faults.join("plugin.toml")).unwrap();
    std::fs::write(
        faults.join("plugin.toml"),
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .unwrap();
    let swapped = eventually(Duration::from_secs(120), async || {
        execute(&c, &node, "version", json!({})).await.1["result"] == "v2"
    })
    .await;
    assert!(swapped, "the rebuilt py-faults never served");
    let info: Value = get_json(&c, node.url("/v2/plugins/py-faults")).await;
    assert_eq!(info["version"], "0.2.0", "{info}");
    let (s, v) = execute(&c, &node, "slugify", json!({"text": "after the swap"})).await;
    assert_eq!((s, &v["result"]), (200, &json!("after-the-swap")), "{v}");

    let (_, log) = node.stop();
    assert!(
        log.contains("ZeroDivisionError"),
        "the operator's log has the traceback too"
    );
}

/// A node serving `python-provider` (pointed at `mock`) behind the
/// `api-openai` plugin, with aliases for the mock's models.
fn provider_node(mock: &MockOpenAi) -> (Dirs, Node) {
    crate::api_openai::router_node(mock, "python-provider", "sk-py-test", |plugins| {
        drop_in(plugins, "python-provider", "python-provider");
    })
}

/// The `data` of each event of a `text/event-stream` body.
fn sse_data(body: &str) -> Vec<String> {
    crate::api_openai::sse_events(body)
        .into_iter()
        .map(|(_, data)| data)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_provider_over_the_openai_api() {
    let mock = MockOpenAi::start().await;
    let (_dirs, node) = provider_node(&mock);
    let c = client();
    let chat = node.url("/v1/chat/completions");

    // Whole answers.
    let r = c
        .post(&chat)
        .header("x-hanzo-cache", "bypass")
        .json(&json!({"model": "gpt", "max_tokens": 64, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi there"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-hanzo-deployment"],
        "gpt@python-provider/gpt-4o-mini"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "echo: hi there",
        "{v}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 19);
    // What the Python plugin sent upstream: the OpenAI format, the operator's key.
    let sent = mock
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer sk-py-test"));
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(sent.body["messages"][1]["content"], "hi there");
    assert_eq!(sent.body["max_tokens"], 64);
    assert!(sent.body.get("stream").is_none());

    // An image and a PDF reach the upstream as OpenAI parts: the image an
    // `image_url` with its data URL and detail, the document a `file`.
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let pdf = "data:application/pdf;base64,JVBERi0xLjQK";
    let parts = json!([
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
        {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}}
    ]);
    let r = c
        .post(&chat)
        .header("x-hanzo-cache", "bypass")
        .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": parts}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "echo: what is it?",
        "{v}"
    );
    let sent = mock
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(sent.body["messages"][0]["content"], parts);

    // Streamed: text deltas as the upstream produces them, then usage and [DONE].
    let (status, _, text, frames) = crate::api_openai::post_streamed(
        &c,
        chat.clone(),
        json!({"model": "gpt", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(frames >= 2, "the stream came in {frames} frame(s): {text}");
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello world");
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["usage"]["total_tokens"], 15);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);

    // A streamed tool call passes through as deltas.
    let tools = json!([{"type": "function", "function": {"name": "calculator",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}}}]);
    let (_, _, text, _) = crate::api_openai::post_streamed(
        &c,
        chat.clone(),
        json!({"model": "gpt", "stream": true, "tools": tools,
               "messages": [{"role": "user", "content": "2+2?"}]}),
    )
    .await;
    let deltas: Vec<Value> = sse_data(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
        .collect();
    assert_eq!(deltas[0]["id"], "call_abc123", "{text}");
    assert_eq!(deltas[0]["function"]["name"], "calculator");
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"expression":"2+2"}"#);
    assert_eq!(
        mock.requests().pop().unwrap().body["tools"][0]["function"]["name"],
        "calculator"
    );

    // Embeddings.
    let r = c
        .post(node.url("/v1/embeddings"))
        .json(&json!({"model": "embed", "input": ["a", "hello world"], "dimensions": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][1]["embedding"], json!([1.1, 1.2, 1.3]), "{v}");

    // The provider's own model list, from the upstream's /models.
    let v: Value = get_json(&c, node.url("/v1/models")).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"python-provider/gpt-4o-mini"), "{ids:?}");
    assert!(
        ids.contains(&"python-provider/text-embedding-3-small"),
        "{ids:?}"
    );

    // The provider opts in to reuse, and its instances park between calls.
    let health: Value = get_json(&c, node.url("/v2/health")).await;
    assert!(
        health["parked_instances"].as_u64().unwrap() >= 1,
        "{health}"
    );

    // Upstream errors, mapped by the Python plugin onto the provider-error
    // kinds the router and the API act on.
    for (model, status, code) in [
        ("limited", 429, None),
        ("bad-key", 502, Some("upstream_auth_failed")),
        ("too-long", 400, Some("context_length_exceeded")),
    ] {
        for stream in [false, true] {
            let r = c
                .post(&chat)
                .json(&json!({"model": model, "stream": stream,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{model} stream={stream}");
            if status == 429 {
                assert!(r.headers().contains_key("retry-after"));
            }
            let v: Value = r.json().await.unwrap();
            if let Some(code) = code {
                assert_eq!(v["error"]["code"], code, "{model}: {v}");
            }
        }
    }

    // A stream the upstream cuts: an error event, no normal end.
    let (status, _, text, _) = crate::api_openai::post_streamed(
        &c,
        chat.clone(),
        json!({"model": "cut", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_api_plugin_answers_and_calls_tools() {
    let dirs = Dirs::new();
    drop_in(&dirs.plugins, "python-api", "python-api");
    drop_in(&dirs.plugins, "python-tool", "python-tool");
    let node = Node::start(&dirs, &[]);
    let c = client();

    let r = c.get(node.url("/py/hello?name=Ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "Hello, Ada!\n");

    let v: Value = get_json(&c, node.url("/py/tools")).await;
    assert!(
        v["tools"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "slugify", "plugin": "python-tool"})),
        "{v}"
    );
    let r = c
        .post(node.url("/py/tools/slugify"))
        .json(&json!({"text": "Python calls Python"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"result": "python-calls-python"})
    );
    // The catalog's typed errors arrive as the SDK's exceptions.
    let r = c
        .post(node.url("/py/tools/nope"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "tool_not_found"
    );
    // The SDK drops every handle it was given before the call returns, so
    // the node parks the instance for the next call (calls_per_instance).
    let health: Value = get_json(&c, node.url("/v2/health")).await;
    assert!(
        health["parked_instances"].as_u64().unwrap() >= 1,
        "{health}"
    );
    let r = c.get(node.url("/py/missing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.post(node.url("/py/hello")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

/// The three templates of `plugin new --lang python`, instantiated and built
/// as a new project is (`py-template-*`, see sdk/python/build.mk), dropped
/// into one node and called, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_templates_build_into_working_plugins() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for kind in ["tool", "provider", "api"] {
        let name = format!("py-template-{kind}");
        drop_in(&dirs.plugins, &name, &name);
    }
    rust_plugin(&dirs.plugins, "api-v2");
    rust_plugin(&dirs.plugins, "api-openai");
    let config = format!(
        "[plugins.py-template-provider]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
         secrets = {{ API_KEY = \"sk-template\" }}\n\n\
         [[deployments]]\nalias = \"tpl\"\nprovider = \"py-template-provider\"\nmodel = \"gpt-4o-mini\"\n",
        mock.base_url(),
        mock.addr
    );
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    let c = client();

    let (s, v) = execute(&c, &node, "greet", json!({"name": "Ada", "excited": true})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"greeting": "Hello, Ada!"})),
        "{v}"
    );
    let (s, v) = execute(&c, &node, "greet", json!({"name": " "})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tool_failed")),
        "{v}"
    );

    let r = c
        .get(node.url("/py-template-api/hello?name=Bo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Hello, Bo!\n");
    let r = c
        .post(node.url("/py-template-api/echo"))
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"echo": {"a": 1}}));

    let chat = node.url("/v1/chat/completions");
    let r = c
        .post(&chat)
        .json(&json!({"model": "tpl", "messages": [{"role": "user", "content": "hi there"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "echo: hi there",
        "{v}"
    );
    assert_eq!(
        mock.requests().pop().unwrap().header("authorization"),
        Some("Bearer sk-template")
    );
    let (status, _, text, _) = crate::api_openai::post_streamed(
        &c,
        chat,
        json!({"model": "tpl", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let content: String = sse_data(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "Hello world", "{text}");
}

/// The SDK's wrappers of the host interfaces, from a Python api plugin
/// (`tests/python-plugins/py-host-probe`) on the real node: config and
/// secrets, kv (JSON values, listing, deleting, the size limit as a typed
/// error), the LLM router (whole and streamed, through the Python provider),
/// the tool catalog's typed errors, durable jobs and agents, the vector
/// store, the TEE and the GPUs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_reaches_every_host_interface() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    drop_in(&dirs.plugins, "py-host-probe", "py-host-probe");
    drop_in(&dirs.plugins, "python-tool", "python-tool");
    drop_in(&dirs.plugins, "python-provider", "python-provider");
    let config = format!(
        "[plugins.py-host-probe]\nsecrets = {{ PROBE_TOKEN = \"t0ken\" }}\n\n{}",
        crate::mock_openai::provider_toml(&mock, "python-provider", "")
    );
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    let c = client();
    let post = |path: &str, body: Value| {
        let (c, url) = (c.clone(), node.url(path));
        async move {
            let r = c.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let v = get_json(&c, node.url("/probe/config")).await;
    assert_eq!(
        v,
        json!({"greeting": "hi", "missing": "default", "number": 42, "flag": true,
               "token": "t0ken", "undeclared": "not_declared"})
    );

    let (s, v) = post("/probe/kv/note", json!({"text": "remember me"})).await;
    assert_eq!((s, &v["keys"]), (200, &json!(["note"])), "{v}");
    let v = get_json(&c, node.url("/probe/kv/note")).await;
    assert_eq!(v["value"], json!({"text": "remember me"}), "{v}");
    assert_eq!(v["raw"], r#"{"text":"remember me"}"#);
    let r = c.delete(node.url("/probe/kv/note")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"existed": true}));
    let r = c.get(node.url("/probe/kv/note")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v = get_json(&c, node.url("/probe/kv-too-large")).await;
    assert_eq!(v, json!({"kind": "too_large", "value": 1048576}));

    let (s, v) = post("/probe/llm", json!({"model": "gpt", "prompt": "hi there"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["content"], "echo: hi there");
    assert_eq!(v["provider"], "python-provider");
    assert_eq!(v["streamed"], "Hello world");
    assert_eq!(v["stream_provider"], "python-provider");
    // The provider cannot count: the SDK's default, as the router's kind.
    assert_eq!(v["count_tokens"], "unsupported");
    assert!(
        v["models"].as_array().unwrap().contains(&json!("gpt")),
        "{v}"
    );
    let (s, v) = post("/probe/llm", json!({"model": "nope", "prompt": "hi"})).await;
    assert_eq!((s, &v["kind"]), (502, &json!("unknown_model")), "{v}");

    let v = get_json(&c, node.url("/probe/tools/missing")).await;
    assert_eq!(v, json!({"kind": "not_found"}));

    let (s, v) = post(
        "/probe/jobs",
        json!({"tool": "slugify", "arguments": {"text": "Durable Jobs"}, "key": "once"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((&v["existing"], &v["same"]), (&json!(true), &json!(true)));
    let id = v["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(30), async || {
        last = get_json(&c, node.url(&format!("/probe/jobs/{id}"))).await;
        last["state"] == "done"
    })
    .await;
    assert!(done, "{last}");
    assert_eq!(last["listed"], true);
    assert!(
        last["result"].to_string().contains("durable-jobs"),
        "{last}"
    );

    let (s, v) = post("/probe/agents", json!({"name": "helper", "model": "gpt"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tools"], json!(["slugify"]));
    assert_eq!(v["conflict"], "conflict");
    assert_eq!(v["listed"], json!(["helper"]));
    assert_eq!(v["deleted"], true);

    // The node's LanceDB through `hanzo_node.vectors`.
    let (s, v) = post("/probe/vectors", json!({"namespace": "py"})).await;
    assert_eq!(s, 200, "{v}");
    crate::vectors::check_sdk_vectors(&v, "not_found");

    // `hanzo_node.tee` and `.gpu`: what this machine has, as `/v2/health`
    // says it.
    let probed = get_json(&c, node.url("/probe/hardware")).await;
    let health = get_json(&c, node.url("/v2/health")).await;
    crate::tee::check_sdk_hardware(&probed, &health);
}

/// `hanzo_node.containers` from a Python tool (`py-container-probe`)
/// against the real Docker engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_runs_containers() {
    if !crate::containers::docker() {
        return;
    }
    let dirs = Dirs::new();
    drop_in(&dirs.plugins, "py-container-probe", "py-container-probe");
    rust_plugin(&dirs.plugins, "api-v2");
    let path = dirs.root.path().join("node.toml");
    std::fs::write(
        &path,
        "[plugins.py-container-probe]\ncontainers = [\"hanzo-test-tools:1\"]\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    crate::containers::check_sdk_container_tools(&node, "py-container-probe").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_plugins_serve_while_a_large_one_compiles() {
    // One compile at a time for large components: the Python tool (18 MB,
    // seconds to compile) takes it; `zz-hello`, a small API plugin dropped
    // in meanwhile, does not wait behind it.
    let dirs = Dirs::new();
    drop_in(&dirs.plugins, "python-tool", "python-tool");
    let config = dirs.root.path().join("node.toml");
    std::fs::write(&config, "[loader]\nparallelism = 1\n").unwrap();
    let node = Node::launch(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let compiling = eventually(Duration::from_secs(60), async || {
        get_json(&c, node.url("/v2/health")).await["plugins"]["loading"] == json!(["python-tool"])
    })
    .await;
    assert!(compiling, "python-tool was never seen loading");
    crate::common::install(&dirs.plugins, "zz-hello", "api-crash", |m| {
        m.insert("name".into(), "zz-hello".into());
        m.insert("routes".into(), toml::Value::Array(vec!["/hello".into()]));
    });
    let served = eventually(Duration::from_secs(120), async || {
        c.get(node.url("/hello/x"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(served, "zz-hello never served");
    let health = get_json(&c, node.url("/v2/health")).await;
    assert_eq!(
        health["plugins"]["loading"],
        json!(["python-tool"]),
        "the small plugin should serve while the large one compiles: {health}"
    );
    node.stop();
}
