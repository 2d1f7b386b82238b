//! JavaScript plugins (`sdk/js`, built by `make js-plugins` with
//! componentize-js) on the real binary: the `js-tool` example called through
//! `/v2/tools/execute`, the `js-faults` test plugin hot-swapped and made to
//! throw, loop forever and exhaust its memory, and the `js-api` example
//! answering HTTP through the node (kv, the tools interface, instance reuse).
//! The `js-provider` example (the provider template) runs in the runtime
//! against the OpenAI mock upstream: chat, streaming, embeddings, errors.

use crate::common::{
    Dirs, Node, built_plugin, client, eventually, execute, get_json, install, install_built, send,
};
use crate::mock_openai::{MockOpenAi, Overrides};
use hanzo_node::bindings::llm_types::*;
use hanzo_node::runtime::ProviderCallError;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A JavaScript plugin folder built by `make js-plugins`.
fn js_plugin(folder: &str) -> PathBuf {
    built_plugin("js", folder)
}

/// Copies JavaScript plugin `folder` into `plugins/<folder>`, its manifest edited by `edit`.
fn install_js(plugins: &Path, folder: &str, edit: impl FnOnce(&mut toml::Table)) -> PathBuf {
    install_built(plugins, folder, &js_plugin(folder), edit)
}

/// Sets `[limits].key = value`.
fn limit(manifest: &mut toml::Table, key: &str, value: i64) {
    crate::common::set(manifest, "limits", key, toml::Value::Integer(value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_tool_is_called_through_the_node() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install_js(&dirs.plugins, "js-tool", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();

    let tools = get_json(&c, node.url("/v2/tools/list")).await;
    let ours: Vec<&Value> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["plugin"] == "js-tool")
        .collect();
    let names: Vec<&str> = ours.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["regex_extract", "sha256", "slugify", "text_stats"],
        "{tools}"
    );
    let stats = ours.iter().find(|t| t["name"] == "text_stats").unwrap();
    assert_eq!(stats["parameters"]["required"], json!(["text"]));

    let (s, v) = execute(
        &c,
        &node,
        "text_stats",
        json!({"text": "Hello world. Hello again!\nBye", "top": 1}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["words"], 5);
    assert_eq!(v["result"]["lines"], 2);
    assert_eq!(v["result"]["sentences"], 2);
    assert_eq!(
        v["result"]["frequent"],
        json!([{"word": "hello", "count": 2}])
    );

    let (s, v) = execute(
        &c,
        &node,
        "regex_extract",
        json!({"pattern": "(\\w+)@(\\w+)\\.com", "text": "a@b.com, c@d.com"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["count"], 2);
    assert_eq!(v["result"]["matches"][1]["groups"], json!(["c", "d"]));

    let (s, v) = execute(
        &c,
        &node,
        "slugify",
        json!({"text": "Crème brûlée: a Ünïcode title!"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["slug"], "creme-brulee-a-unicode-title");

    // crypto.subtle in the guest: an async handler.
    let (s, v) = execute(&c, &node, "sha256", json!({"text": "abc"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["result"]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );

    // The host checks the schema before the guest runs ...
    let (s, v) = execute(&c, &node, "text_stats", json!({"txt": "x"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_arguments")),
        "{v}"
    );
    // ... and the guest's own ToolError.invalidArguments arrives as one.
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
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("pattern: "),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_tool_is_hot_swapped_without_failed_calls() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let folder = install_js(&dirs.plugins, "js-faults", |_| {});
    let node = Arc::new(Node::start(&dirs, &[]));
    let c = client();
    let (s, v) = execute(&c, &node, "answer", json!({})).await;
    assert_eq!((s, &v["result"]["answer"]), (200, &json!("v1")), "{v}");

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (c, node, stop) = (c.clone(), node.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut answers, mut failures) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match execute(&c, &node, "answer", json!({})).await {
                    (200, v) => answers.push(v["result"]["answer"].as_str().unwrap().to_string()),
                    (s, v) => failures.push(format!("{s} {v}")),
                }
            }
            (answers, failures)
        }));
    }

    // The second build (another entry module: `answer` says v2), written
    // aside and renamed over the first, as a deploy would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v2 = std::fs::read(js_plugin("js-faults-v2").join("js_faults.wasm")).unwrap();
    let tmp = folder.join(".js_faults.wasm.tmp");
    std::fs::write(&tmp, &v2).unwrap();
    std::fs::rename(&tmp, folder.join("js_faults.wasm")).unwrap();
    let hash = blake3::hash(&v2).to_hex().to_string();
    let swapped = eventually(Duration::from_secs(90), async || {
        get_json(&c, node.url("/v2/plugins/js-faults")).await["blake3"] == hash.as_str()
    })
    .await;
    assert!(swapped, "the second build was not loaded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    for task in clients {
        let (answers, failures) = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed calls during the swap: {failures:?}"
        );
        // v1 until the swap, v2 after it, never back.
        let first_v2 = answers
            .iter()
            .position(|a| a == "v2")
            .expect("never saw v2");
        assert!(answers[..first_v2].iter().all(|a| a == "v1"), "{answers:?}");
        assert!(answers[first_v2..].iter().all(|a| a == "v2"), "{answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_failures_name_the_plugin_and_carry_the_guest_message() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install_js(&dirs.plugins, "js-faults", |m| limit(m, "timeout_ms", 1500));
    let node = Arc::new(Node::start(&dirs, &[]));
    let c = client();

    // An exception: the SDK answers tool-error `failed` with the plugin,
    // the tool, the JS error and its stack.
    let (s, v) = execute(&c, &node, "throw", json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tool_failed")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    for part in [
        "plugin `js-faults`",
        "tool `throw`",
        "TypeError",
        "config.nested is undefined",
        "parseDepth@tests/plugins/js-faults/src/index.js",
    ] {
        assert!(message.contains(part), "{part:?} is missing from {message}");
    }

    // An endless loop: stopped at the time limit, named after the plugin,
    // while the same plugin's other calls keep being served.
    let spin = {
        let (c, node) = (c.clone(), node.clone());
        tokio::spawn(async move { execute(&c, &node, "spin", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let (s, v) = execute(&c, &node, "answer", json!({})).await;
        assert_eq!((s, &v["result"]["answer"]), (200, &json!("v1")), "{v}");
    }
    let (s, v) = spin.await.unwrap();
    let message = crate::common::plugin_failure(s, &v);
    assert!(
        message.contains("plugin `js-faults`") && message.contains("time limit of 1500 ms"),
        "{message}"
    );

    // A memory bomb: stopped at the memory limit, named after the plugin.
    let (s, v) = execute(&c, &node, "bomb", json!({})).await;
    let message = crate::common::plugin_failure(s, &v);
    assert!(
        message.contains("plugin `js-faults`") && message.contains("memory limit of 64 MiB"),
        "{message}"
    );

    // The plugin still serves.
    let (s, v) = execute(&c, &node, "answer", json!({})).await;
    assert_eq!((s, &v["result"]["answer"]), (200, &json!("v1")), "{v}");
    let plugin = get_json(&c, node.url("/v2/plugins/js-faults")).await;
    assert_eq!(plugin["state"], "loaded", "{plugin}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_api_handler_answers_over_http() {
    let dirs = Dirs::new();
    install_js(&dirs.plugins, "js-tool", |_| {});
    let api = install_js(&dirs.plugins, "js-api", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();

    // Instances are reused (calls_per_instance = 256): calls one after
    // another run on the same instance. (An instance is parked once its
    // handler returned, which may be after the client read the answer: each
    // call waits for it, so that the next one finds it.)
    let mut seen = Vec::new();
    for _ in 0..4 {
        let parked = eventually(Duration::from_secs(60), async || {
            seen.is_empty() || get_json(&c, node.url("/v2/health")).await["parked_instances"] == 1
        })
        .await;
        assert!(parked, "the instance was not parked");
        let r = c.get(node.url("/js-api/hello")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["hello"], "world");
        seen.push(v["instance_calls"].as_u64().unwrap());
    }
    assert_eq!(seen, [1, 2, 3, 4], "the instance was not reused");
    // Parked again once the last call's handler has returned (which may be
    // after the answer was read).
    let parked = eventually(Duration::from_secs(60), async || {
        get_json(&c, node.url("/v2/health")).await["parked_instances"] == 1
    })
    .await;
    assert!(parked, "{}", get_json(&c, node.url("/v2/health")).await);

    // Notes in kv; slug and word count from js-tool through the tools interface.
    let r = c
        .post(node.url("/js-api/notes"))
        .json(&json!({"title": "Déjà vu, again", "text": "one two three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let note: Value = r.json().await.unwrap();
    assert_eq!(note["id"], "00000001");
    assert_eq!(note["slug"], "deja-vu-again");
    assert_eq!(note["words"], 3);
    let r = c
        .post(node.url("/js-api/notes"))
        .json(&json!({"title": "Second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let list = get_json(&c, node.url("/js-api/notes")).await;
    let titles: Vec<&str> = list["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Déjà vu, again", "Second"]);
    let one = get_json(&c, node.url("/js-api/notes/00000001")).await;
    assert_eq!(one, note);
    let r = c
        .delete(node.url("/js-api/notes/00000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], true);
    let r = c
        .get(node.url("/js-api/notes/00000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );

    // Bad input gets the node's error shape, with stable codes.
    let r = c
        .post(node.url("/js-api/notes"))
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
    let r = c
        .post(node.url("/js-api/notes"))
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.put(node.url("/js-api/notes")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c.get(node.url("/js-api/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // A tool's errors through the tools interface keep their meaning.
    let r = c
        .post(node.url("/js-api/tools/regex_extract"))
        .json(&json!({"pattern": "["}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_arguments"
    );
    let r = c
        .post(node.url("/js-api/tools/nope"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "tool_not_found"
    );

    // Without reuse every request gets a fresh instance.
    let manifest = std::fs::read_to_string(api.join("plugin.toml")).unwrap();
    std::fs::write(
        api.join("plugin.toml"),
        manifest.replace("calls_per_instance = 256", "calls_per_instance = 1"),
    )
    .unwrap();
    let fresh = eventually(Duration::from_secs(60), async || {
        get_json(&c, node.url("/v2/plugins/js-api")).await["limits"]["calls_per_instance"] == 1
    })
    .await;
    assert!(fresh, "the manifest change was not loaded");
    for _ in 0..3 {
        let v = get_json(&c, node.url("/js-api/hello")).await;
        assert_eq!(v["instance_calls"], 1, "{v}");
    }
}

fn user(text: &str) -> Message {
    Message {
        role: Role::User,
        content: ContentPart::text(text),
        tool_calls: vec![],
        tool_call_id: None,
        name: None,
        reasoning: Vec::new(),
    }
}

fn chat_request(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![user(text)],
        tools: vec![],
        tool_choice: None,
        temperature: Some(0.2),
        top_p: None,
        max_tokens: Some(64),
        stop: vec![],
        json_mode: false,
        extra: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_provider_speaks_openai_through_fetch() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install_js(&dirs.plugins, "js-provider", |_| {});
    let mut cfg = dirs.config();
    let mut o = mock.overrides();
    o.secrets
        .insert("UPSTREAM_API_KEY".into(), "sk-test-123".into());
    o.config.insert(
        "models".into(),
        toml::Value::String("gpt-4o-mini, text-embedding-3-small".into()),
    );
    cfg.plugins.insert("js-provider".into(), o);
    let rt = crate::common::runtime(cfg).await;
    let t: hanzo_node::tenant::Tenant = "acme".into();

    let models = rt.provider_models("js-provider", t.clone()).await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "text-embedding-3-small"]);
    assert!(
        models[0]
            .capabilities
            .contains(Capabilities::CHAT | Capabilities::STREAMING | Capabilities::TOOLS)
    );

    let r = rt
        .provider_chat(
            "js-provider",
            t.clone(),
            &chat_request("gpt-4o-mini", "hi there"),
        )
        .await
        .unwrap();
    assert_eq!(r.message.text(), "echo: hi there");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 7, 19)
    );
    let seen = mock.seen.lock().unwrap().clone();
    let chat = seen
        .iter()
        .find(|s| s.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(chat.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(chat.body["messages"][0]["content"], "hi there");
    assert_eq!(chat.body["max_tokens"], 64);

    // Streaming: SSE parsed by the SDK, chunk by chunk.
    let mut s = rt
        .provider_stream("js-provider", t.clone(), &chat_request("gpt-4o-mini", "hi"))
        .await
        .unwrap();
    let (mut text, mut finish, mut usage) = (String::new(), None, None);
    while let Some(c) = s.next().await {
        let c = c.unwrap();
        text.push_str(c.content.as_deref().unwrap_or(""));
        finish = finish.or(c.finish_reason);
        usage = usage.or(c.usage);
    }
    assert_eq!(text, "Hello world");
    assert_eq!(finish, Some(FinishReason::Stop));
    assert_eq!(usage.unwrap().total_tokens, 15);
    let seen = mock.seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap().body["stream"], true);

    let e = rt
        .provider_embed(
            "js-provider",
            t.clone(),
            &EmbedRequest {
                model: "text-embedding-3-small".into(),
                inputs: vec!["a".into(), "hello world".into()],
                dimensions: Some(3),
            },
        )
        .await
        .unwrap();
    assert_eq!(e.embeddings, vec![vec![0.1, 0.2, 0.3], vec![1.1, 1.2, 1.3]]);

    // Upstream failures arrive as the router's kinds.
    let err = async |model: &str| match rt
        .provider_chat("js-provider", t.clone(), &chat_request(model, "x"))
        .await
    {
        Err(ProviderCallError::Provider(e)) => e,
        other => panic!("expected a provider error for {model}, got {other:?}"),
    };
    match err("rate-limited").await {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(2000)),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        err("broken").await,
        ProviderError::UpstreamUnavailable(_)
    ));
    assert!(matches!(
        err("too-long").await,
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(err("bad-key").await, ProviderError::Auth(_)));

    // A stream cut short ends with an error, not a silent end.
    let mut s = rt
        .provider_stream("js-provider", t.clone(), &chat_request("cut-stream", "x"))
        .await
        .unwrap();
    let mut last = None;
    while let Some(c) = s.next().await {
        last = Some(c);
    }
    assert!(
        matches!(
            last,
            Some(Err(ProviderCallError::Provider(
                ProviderError::UpstreamUnavailable(_)
            )))
        ),
        "{last:?}"
    );
    // A rate-limited stream fails before its first chunk.
    assert!(matches!(
        rt.provider_stream("js-provider", t, &chat_request("rate-limited", "x"))
            .await,
        Err(ProviderCallError::Provider(ProviderError::RateLimited(_)))
    ));
}

/// The SDK's wrappers of the interfaces added after 0.3.0, from a JavaScript
/// api plugin (`tests/plugins/js-host-probe`) on the real node: the vector
/// store, the TEE and the GPUs, and a router stream taken in batches
/// through the JavaScript provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_reaches_vectors_tee_gpu_and_streams() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install_js(&dirs.plugins, "js-host-probe", |_| {});
    install_js(&dirs.plugins, "js-provider", |_| {});
    let config = crate::mock_openai::provider_toml(&mock, "js-provider", "");
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    let c = client();
    let post = |path: &str, body: Value| send(&c, node.url(path), Some(body));

    let (s, v) = post("/js-probe/vectors", json!({"namespace": "js"})).await;
    assert_eq!(s, 200, "{v}");
    crate::vectors::check_sdk_vectors(&v, "not-found");

    // What this machine has, as `/v2/health` says it.
    let probed = get_json(&c, node.url("/js-probe/hardware")).await;
    let health = get_json(&c, node.url("/v2/health")).await;
    crate::tee::check_sdk_hardware(&probed, &health);

    // A stream from the JavaScript provider (one chunk a call: its
    // iterator cannot say what is ready), read in batches by the api plugin.
    let (s, v) = post("/js-probe/llm", json!({"model": "gpt", "prompt": "hi"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["streamed"], "Hello world", "{v}");
    assert_eq!(v["provider"], "js-provider", "{v}");
    assert!(v["chunks"].as_u64().unwrap() >= 2, "{v}");
}

/// `containers` from a JavaScript tool (`js-container-probe`) against the
/// real Docker engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_runs_containers() {
    if !crate::containers::docker() {
        return;
    }
    let dirs = Dirs::new();
    install_js(&dirs.plugins, "js-container-probe", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let path = dirs.root.path().join("node.toml");
    std::fs::write(
        &path,
        "[plugins.js-container-probe]\ncontainers = [\"hanzo-test-tools:1\"]\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    crate::containers::check_sdk_container_tools(&node, "js-container-probe").await;
}
