//! What the operator allows each tenant (`[tenants.<name>]`): which plugins,
//! tools and model aliases it may use, and its quotas (a monthly spend
//! budget, kv bytes). Over HTTP on the real binary for the tenant requests
//! resolve to, and in-process for two tenants side by side.

use crate::common::{Dirs, Node, client, install, runtime, send};
use crate::mock_openai::{MockOpenAi, Overrides};
use crate::router::ask;
use hanzo_node::bindings::llm::{CallOptions, LlmError};
use hanzo_node::bindings::tool_types::ToolError;
use hanzo_node::context::CallCtx;
use hanzo_node::router::config::DeploymentConfig;
use serde_json::{Value, json};

const OPTIONS: CallOptions = CallOptions { bypass_cache: true };

/// `node.toml` for api-openai, api-v2, openai and tools-basic against
/// `mock`, one alias `gpt` priced so that one request costs dollars, and
/// `tenant` as the default tenant's section.
fn config(mock: &MockOpenAi, tenant: &str) -> String {
    format!(
        "[router.retry]\nmax_attempts = 1\n\n\
         [plugins.openai]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
         secrets = {{ OPENAI_API_KEY = \"sk-test\" }}\n\n\
         [[deployments]]\nalias = \"gpt\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n\
         input_price_per_mtok = 1000000.0\noutput_price_per_mtok = 1000000.0\n\n\
         [tenants.default]\n{tenant}",
        mock.base_url(),
        mock.addr
    )
}

fn start(dirs: &Dirs, config: String) -> Node {
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

fn chat(model: &str) -> Value {
    json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_lists_and_budget_hold_over_http_and_across_restarts() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["openai", "api-openai", "api-v2", "tools-basic"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let c = client();
    let lists = "models = [\"gpt\"]\ntools = [\"calculator\"]\n";
    let node = start(&dirs, config(&mock, &format!("{lists}budget_usd = 5.0\n")));

    // Off its lists: a model and tools it cannot see.
    let (status, body) = send(
        &c,
        node.url("/v1/chat/completions"),
        Some(chat("openai/gpt-4o")),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("model_not_found")),
        "{body}"
    );
    let (_, models) = send(&c, node.url("/v1/models"), None).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["gpt"], "{models}");
    let (_, tools) = send(&c, node.url("/v2/tools/list"), None).await;
    assert_eq!(tools["tools"].as_array().unwrap().len(), 1, "{tools}");
    assert_eq!(tools["tools"][0]["name"], "calculator");
    let (status, body) = send(
        &c,
        node.url("/v2/tools/execute"),
        Some(json!({"tool": "json_query", "arguments": {}})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("tool_not_found")),
        "{body}"
    );

    // The budget: the first request is under it and spends past it; the
    // next is refused, in each API's shape, naming the setting.
    let (status, body) = send(&c, node.url("/v1/chat/completions"), Some(chat("gpt"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&c, node.url("/v1/chat/completions"), Some(chat("gpt"))).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
    assert_eq!(body["error"]["code"], "budget_exhausted", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("tenants.default.budget_usd"), "{message}");
    let (status, body) = send(&c, node.url("/v1/messages"), Some(chat("gpt"))).await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (402, &json!("billing_error")),
        "{body}"
    );
    let upstream_calls = mock.calls_for("gpt-4o-mini");
    let (status, stopped) = node.stop();
    assert!(status.success(), "{stopped}");

    // The month's spend survives a restart; a plugin off the tenant's list
    // has no routes for it.
    let node = start(
        &dirs,
        config(
            &mock,
            &format!("{lists}budget_usd = 5.0\nplugins = [\"api-openai\", \"openai\"]\n"),
        ),
    );
    let (status, body) = send(&c, node.url("/v1/chat/completions"), Some(chat("gpt"))).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(
        mock.calls_for("gpt-4o-mini"),
        upstream_calls,
        "refused before any upstream call"
    );
    let (status, body) = send(&c, node.url("/v2/tools/list"), None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (status, _) = send(&c, node.url("/v2/health"), None).await;
    assert_eq!(status, 200);
    node.stop();

    // The operator raises the budget: served again.
    let node = start(
        &dirs,
        config(&mock, &format!("{lists}budget_usd = 1000000.0\n")),
    );
    let (status, body) = send(&c, node.url("/v1/chat/completions"), Some(chat("gpt"))).await;
    assert_eq!(status, 200, "{body}");
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_different_sections() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["openai", "kv-probe", "tools-basic"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let mut cfg = dirs.config();
    cfg.plugins.insert("openai".into(), mock.overrides());
    let deployment: DeploymentConfig =
        toml::from_str("alias = \"gpt\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n")
            .unwrap();
    cfg.deployments = vec![deployment];
    cfg.tenants = toml::from_str(
        "[small]\nkv_bytes = 16\nmodels = [\"gpt\"]\nplugins = [\"kv-probe\", \"openai\"]\n",
    )
    .unwrap();
    let rt = runtime(cfg).await;
    let (small, other) = (CallCtx::new("small"), CallCtx::new("other"));

    // kv: the quota counts the tenant's keys and values; another tenant's
    // writes are its own.
    let put = |value: &str| json!({"key": "k", "value": value}).to_string();
    rt.invoke_tool(small.clone(), "put", &put("0123456789"))
        .await
        .unwrap();
    let refused = rt
        .invoke_tool(small.clone(), "put", &put("0123456789abcdef"))
        .await;
    match refused {
        Err(ToolError::Failed(m)) => assert!(m.contains("tenants.small.kv_bytes"), "{m}"),
        other => panic!("expected the quota's refusal, got {other:?}"),
    }
    let kept = rt
        .invoke_tool(small.clone(), "get", &json!({"key": "k"}).to_string())
        .await;
    assert_eq!(kept.unwrap(), json!({"value": "0123456789"}).to_string());
    rt.invoke_tool(other.clone(), "put", &put("0123456789abcdef"))
        .await
        .unwrap();

    // Tools of a plugin off the list, and models, per tenant.
    let calculator = json!({"expression": "2+2"}).to_string();
    assert!(matches!(
        rt.invoke_tool(small.clone(), "calculator", &calculator)
            .await,
        Err(ToolError::NotFound(_))
    ));
    rt.invoke_tool(other.clone(), "calculator", &calculator)
        .await
        .unwrap();
    let implicit = ask("openai/gpt-4o-mini", "hi");
    assert!(matches!(
        rt.router
            .chat("small".into(), implicit.clone(), OPTIONS)
            .await,
        Err(LlmError::UnknownModel(_))
    ));
    rt.router
        .chat("small".into(), ask("gpt", "hi"), OPTIONS)
        .await
        .unwrap();
    rt.router
        .chat("other".into(), implicit, OPTIONS)
        .await
        .unwrap();
    let small_models = rt.router.models(&"small".into()).await;
    assert!(
        small_models.iter().all(|m| m.id == "gpt"),
        "{small_models:?}"
    );
    assert!(rt.router.models(&"other".into()).await.len() > 1);
}

/// POSTs `body` to `path`: the status, the `retry-after` header and the JSON.
async fn post_raw(c: &reqwest::Client, url: String, body: Value) -> (u16, Option<u64>, Value) {
    let r = c
        .post(url)
        .json(&body)
        .header("anthropic-version", "2023-06-01")
        .header("x-hanzo-cache", "bypass")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_rpm_and_tpm_answer_429_naming_the_setting() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["openai", "api-openai"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let c = client();
    for (limit, setting, kept) in [
        ("rpm = 2\n", "tenants.default.rpm", 2),
        // The mock reports 19 tokens a request: 10 admit one.
        ("tpm = 10\n", "tenants.default.tpm", 1),
    ] {
        let node = start(&dirs, config(&mock, limit));
        for _ in 0..kept {
            let (status, _, body) =
                post_raw(&c, node.url("/v1/chat/completions"), chat("gpt")).await;
            assert_eq!(status, 200, "{body}");
        }
        let calls = mock.calls_for("gpt-4o-mini");
        for (path, kind) in [
            ("/v1/chat/completions", "rate_limit_error"),
            ("/v1/messages", "rate_limit_error"),
        ] {
            let (status, retry, body) = post_raw(&c, node.url(path), chat("gpt")).await;
            assert_eq!(status, 429, "{path}: {body}");
            let error = &body["error"];
            assert_eq!(error["type"], kind, "{body}");
            let message = error["message"].as_str().unwrap();
            assert!(message.contains(setting), "{message}");
            // When it fits again: within the window's two minutes.
            let retry = retry.expect("429 without retry-after");
            assert!((1..=120).contains(&retry), "retry-after {retry}");
        }
        assert_eq!(
            mock.calls_for("gpt-4o-mini"),
            calls,
            "refused before the upstream"
        );
        node.stop();
    }
}
