//! The LLM router through the host API that API plugins reach over
//! `hanzo:node/llm`, with the real `openai` provider plugin and a local
//! upstream speaking the OpenAI wire format: failover, retries, circuit
//! breaking, rpm/tpm limits, capability matching, strategies, the response
//! cache, streams (failover only before the first chunk) and usage accounting.

use crate::common::{Dirs, install, runtime};
use crate::mock_openai::{MockOpenAi, Overrides};
use hanzo_node::bindings::llm::{CallOptions, LlmError};
use hanzo_node::bindings::llm_types::*;
use hanzo_node::router::config::{DeploymentConfig, Strategy};
use hanzo_node::{NodeConfig, Runtime};
use std::sync::Arc;

fn deployment(alias: &str, model: &str, priority: u32) -> DeploymentConfig {
    toml::from_str(&format!(
        "alias = \"{alias}\"\nprovider = \"openai\"\nmodel = \"{model}\"\npriority = {priority}\nname = \"{alias}-{model}\""
    ))
    .unwrap()
}

pub fn ask(alias: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: alias.into(),
        messages: vec![Message {
            role: Role::User,
            content: ContentPart::text(text),
            tool_calls: vec![],
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        }],
        tools: vec![],
        tool_choice: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: vec![],
        json_mode: false,
        extra: None,
    }
}

const FRESH: CallOptions = CallOptions {
    bypass_cache: false,
};
const BYPASS: CallOptions = CallOptions { bypass_cache: true };

/// A node with the openai plugin pointed at a mock, configured by `edit`.
async fn node(edit: impl FnOnce(&mut NodeConfig)) -> (Dirs, MockOpenAi, Arc<Runtime>) {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    cfg.plugins.insert("openai".into(), mock.overrides());
    cfg.router.retry.initial_delay_ms = 20;
    cfg.router.retry.max_delay_ms = 200;
    edit(&mut cfg);
    let rt = runtime(cfg).await;
    (dirs, mock, rt)
}

async fn chat(
    rt: &Arc<Runtime>,
    tenant: &str,
    req: ChatRequest,
    opts: CallOptions,
) -> Result<hanzo_node::bindings::llm::ChatResult, LlmError> {
    rt.router.chat(tenant.into(), req, opts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_next_deployment_on_upstream_errors() {
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![
            deployment("gpt", "broken", 0),
            deployment("gpt", "gpt-4o-mini", 1),
        ];
    })
    .await;
    let r = chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    assert_eq!(r.response.message.text(), "echo: hi");
    assert_eq!(r.route.deployment, "gpt-gpt-4o-mini");
    assert_eq!(r.route.model, "gpt-4o-mini");
    assert_eq!(r.route.attempts, 2);
    assert_eq!(mock.calls_for("broken"), 1);

    // A request the upstream rejects as bad is not failed over.
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![
            deployment("gpt", "too-long", 0),
            deployment("gpt", "gpt-4o-mini", 1),
        ];
    })
    .await;
    match chat(&rt, "t", ask("gpt", "hi"), FRESH).await {
        Err(LlmError::Provider(ProviderError::ContextTooLong(_))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.calls_for("gpt-4o-mini"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_until_the_upstream_recovers() {
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![deployment("gpt", "flaky", 0)];
        c.router.retry.max_attempts = 3;
    })
    .await;
    let r = chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    assert_eq!(r.route.attempts, 3);
    assert_eq!(mock.calls_for("flaky"), 3);

    // With fewer attempts than failures, the last upstream error comes back.
    let (_d, _mock, rt) = node(|c| {
        c.deployments = vec![deployment("gpt", "flaky", 0)];
        c.router.retry.max_attempts = 2;
    })
    .await;
    match chat(&rt, "t", ask("gpt", "hi"), FRESH).await {
        Err(LlmError::Provider(ProviderError::UpstreamUnavailable(_))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_opens_after_failures_and_half_opens_later() {
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![
            deployment("gpt", "broken", 0),
            deployment("gpt", "gpt-4o-mini", 1),
        ];
        c.router.breaker.failure_threshold = 2;
        c.router.breaker.open_ms = 400;
        c.router.cache_ttl_s = 0;
    })
    .await;
    for _ in 0..2 {
        chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    }
    assert_eq!(mock.calls_for("broken"), 2);
    // Open: the broken deployment is skipped without a call.
    for _ in 0..3 {
        let r = chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
        assert_eq!(r.route.attempts, 1);
    }
    assert_eq!(mock.calls_for("broken"), 2);
    // After open_ms: one trial call goes through (and fails, so it opens again).
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    assert_eq!(mock.calls_for("broken"), 3);
    chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    assert_eq!(mock.calls_for("broken"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_and_tpm_limits_per_deployment_and_tenant() {
    let (_d, mock, rt) = node(|c| {
        let mut d = deployment("gpt", "gpt-4o-mini", 0);
        d.rpm = 2;
        c.deployments = vec![d];
        c.router.cache_ttl_s = 0;
    })
    .await;
    chat(&rt, "t", ask("gpt", "a"), FRESH).await.unwrap();
    chat(&rt, "t", ask("gpt", "b"), FRESH).await.unwrap();
    match chat(&rt, "t", ask("gpt", "c"), FRESH).await {
        Err(LlmError::RateLimited(r)) => assert!(r.retry_after_ms.unwrap() > 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.calls_for("gpt-4o-mini"), 2);

    // tpm: the mock reports 19 tokens a request; a limit of 10 admits one.
    let (_d, _mock, rt) = node(|c| {
        let mut d = deployment("gpt", "gpt-4o-mini", 0);
        d.tpm = 10;
        c.deployments = vec![d];
        c.router.cache_ttl_s = 0;
    })
    .await;
    chat(&rt, "t", ask("gpt", "a"), FRESH).await.unwrap();
    assert!(matches!(
        chat(&rt, "t", ask("gpt", "b"), FRESH).await,
        Err(LlmError::RateLimited(_))
    ));

    // Per tenant: one tenant's limit does not touch another's.
    let (_d, _mock, rt) = node(|c| {
        c.deployments = vec![deployment("gpt", "gpt-4o-mini", 0)];
        c.router.tenant_rpm = 1;
        c.router.cache_ttl_s = 0;
    })
    .await;
    chat(&rt, "alice", ask("gpt", "a"), FRESH).await.unwrap();
    match chat(&rt, "alice", ask("gpt", "b"), FRESH).await {
        Err(LlmError::RateLimited(r)) => assert!(r.message.contains("alice"), "{}", r.message),
        other => panic!("{other:?}"),
    }
    chat(&rt, "bob", ask("gpt", "a"), FRESH).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_and_strategies_choose_the_deployment() {
    let (_d, _mock, rt) = node(|c| {
        let mut plain = deployment("gpt", "gpt-4o-mini", 0);
        plain.capabilities = Some(vec!["chat".into(), "streaming".into()]);
        let mut tools = deployment("gpt", "gpt-4o", 1);
        tools.capabilities = Some(vec!["chat".into(), "streaming".into(), "tools".into()]);
        let mut cheap = deployment("cheap", "gpt-4o", 0);
        cheap.input_price_per_mtok = Some(2.5);
        cheap.output_price_per_mtok = Some(10.0);
        let mut cheaper = deployment("cheap", "gpt-4o-mini", 1);
        cheaper.input_price_per_mtok = Some(0.15);
        cheaper.output_price_per_mtok = Some(0.6);
        let mut small = deployment("small", "gpt-4o-mini", 0);
        small.context_length = 4;
        c.deployments = vec![plain, tools, cheap, cheaper, small];
        c.aliases.insert(
            "cheap".into(),
            toml::from_str("strategy = \"lowest-cost\"").unwrap(),
        );
        c.router.cache_ttl_s = 0;
    })
    .await;
    let r = chat(&rt, "t", ask("gpt", "hi"), FRESH).await.unwrap();
    assert_eq!(r.route.model, "gpt-4o-mini");
    let mut with_tools = ask("gpt", "2+2?");
    with_tools.tools = vec![ToolDefinition {
        name: "calculator".into(),
        description: "math".into(),
        parameters: r#"{"type":"object"}"#.into(),
    }];
    let r = chat(&rt, "t", with_tools.clone(), FRESH).await.unwrap();
    assert_eq!(
        r.route.model, "gpt-4o",
        "only this deployment declares tools"
    );
    assert_eq!(r.response.message.tool_calls[0].name, "calculator");

    let r = chat(&rt, "t", ask("cheap", "hi"), FRESH).await.unwrap();
    assert_eq!(
        r.route.model, "gpt-4o-mini",
        "lowest-cost picks the cheaper deployment"
    );
    let cost = r.route.cost_usd.unwrap();
    assert!(
        (cost - (12.0 * 0.15 + 7.0 * 0.6) / 1e6).abs() < 1e-12,
        "{cost}"
    );

    // A prompt larger than every deployment's context is unsupported.
    assert!(matches!(
        chat(
            &rt,
            "t",
            ask("small", "a prompt far longer than four tokens"),
            FRESH
        )
        .await,
        Err(LlmError::Unsupported(_))
    ));
    with_tools.model = "cheap".into();
    assert!(
        chat(&rt, "t", with_tools, FRESH).await.is_ok(),
        "undeclared capabilities are not filtered"
    );
    assert!(matches!(
        chat(&rt, "t", ask("nope", "hi"), FRESH).await,
        Err(LlmError::UnknownModel(_))
    ));
    // `provider/model` reaches a provider plugin without configuration.
    let r = chat(&rt, "t", ask("openai/gpt-4o-mini", "direct"), FRESH)
        .await
        .unwrap();
    assert_eq!(r.response.message.text(), "echo: direct");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowest_latency_and_weighted_strategies() {
    let (_d, _mock, rt) = node(|c| {
        c.deployments = vec![
            deployment("fast", "slow-model", 0),
            deployment("fast", "gpt-4o-mini", 1),
        ];
        c.aliases.insert(
            "fast".into(),
            toml::from_str("strategy = \"lowest-latency\"").unwrap(),
        );
        let mut light = deployment("w", "gpt-4o", 0);
        light.weight = 1;
        let mut heavy = deployment("w", "gpt-4o-mini", 0);
        heavy.weight = 1000;
        c.deployments.extend([light, heavy]);
        c.aliases.insert(
            "w".into(),
            toml::from_str("strategy = \"weighted\"").unwrap(),
        );
        c.router.cache_ttl_s = 0;
    })
    .await;
    assert_eq!(
        hanzo_node::router::config::Strategy::default(),
        Strategy::Priority
    );
    // Each unmeasured deployment is tried once, then the faster one wins.
    let first = chat(&rt, "t", ask("fast", "1"), FRESH)
        .await
        .unwrap()
        .route
        .model;
    let second = chat(&rt, "t", ask("fast", "2"), FRESH)
        .await
        .unwrap()
        .route
        .model;
    assert_ne!(first, second);
    for i in 0..3 {
        let r = chat(&rt, "t", ask("fast", &i.to_string()), FRESH)
            .await
            .unwrap();
        assert_eq!(r.route.model, "gpt-4o-mini");
    }
    let mut heavy = 0;
    for i in 0..20 {
        if chat(&rt, "t", ask("w", &i.to_string()), FRESH)
            .await
            .unwrap()
            .route
            .model
            == "gpt-4o-mini"
        {
            heavy += 1;
        }
    }
    assert!(heavy >= 15, "weight 1000 vs 1 got {heavy} of 20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cache_and_usage_accounting() {
    let (_d, mock, rt) = node(|c| {
        let mut d = deployment("gpt", "gpt-4o-mini", 0);
        d.input_price_per_mtok = Some(1.0);
        d.output_price_per_mtok = Some(2.0);
        c.deployments = vec![d];
    })
    .await;
    let a = chat(&rt, "t", ask("gpt", "same"), FRESH).await.unwrap();
    assert!(!a.route.cached);
    let b = chat(&rt, "t", ask("gpt", "same"), FRESH).await.unwrap();
    assert!(b.route.cached);
    assert_eq!(b.response.message.text(), a.response.message.text());
    assert_eq!(mock.calls_for("gpt-4o-mini"), 1);
    // Another tenant does not read this tenant's cache.
    assert!(
        !chat(&rt, "other", ask("gpt", "same"), FRESH)
            .await
            .unwrap()
            .route
            .cached
    );
    // Bypass neither reads nor writes.
    assert!(
        !chat(&rt, "t", ask("gpt", "same"), BYPASS)
            .await
            .unwrap()
            .route
            .cached
    );
    assert_eq!(mock.calls_for("gpt-4o-mini"), 3);

    let u = rt.router.usage.tenant("t");
    assert_eq!(
        (
            u.requests,
            u.cache_hits,
            u.prompt_tokens,
            u.completion_tokens
        ),
        (3, 1, 24, 14)
    );
    assert!(
        (u.cost_usd - 2.0 * (12.0 + 14.0) / 1e6).abs() < 1e-12,
        "{}",
        u.cost_usd
    );
    let d = rt.router.usage.deployment("gpt-gpt-4o-mini");
    assert_eq!(d.requests, 4);
    assert_eq!(rt.router.usage.tenant("other").prompt_tokens, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_fail_over_only_before_the_first_chunk() {
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![
            deployment("gpt", "rate-limited", 0),
            deployment("gpt", "gpt-4o-mini", 1),
            deployment("cut", "cut-stream", 0),
            deployment("cut", "gpt-4o-mini", 1),
        ];
    })
    .await;
    let mut s = rt
        .router
        .stream("t".into(), ask("gpt", "hi"))
        .await
        .unwrap();
    assert_eq!(s.route.model, "gpt-4o-mini");
    assert_eq!(s.route.attempts, 2);
    let mut text = String::new();
    while let Some(c) = s.next().await {
        text.push_str(c.unwrap().content.as_deref().unwrap_or(""));
    }
    assert_eq!(text, "Hello world");
    drop(s);
    let u = rt.router.usage.deployment("gpt-gpt-4o-mini");
    assert_eq!(
        u.completion_tokens, 3,
        "usage from the stream's last chunk is charged"
    );

    // Cut after chunks reached the client: the error is passed on, no failover.
    let mut s = rt
        .router
        .stream("t".into(), ask("cut", "hi"))
        .await
        .unwrap();
    assert_eq!(s.route.model, "cut-stream");
    let mut last = None;
    while let Some(c) = s.next().await {
        last = Some(c);
    }
    assert!(
        matches!(
            last,
            Some(Err(LlmError::Provider(ProviderError::UpstreamUnavailable(
                _
            ))))
        ),
        "{last:?}"
    );
    assert_eq!(mock.calls_for("gpt-4o-mini"), 1);
}

/// The `Authorization` header each request for `model` carried.
fn auth_seen(mock: &MockOpenAi, model: &str) -> Vec<Option<String>> {
    mock.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body["model"] == model)
        .map(|s| s.header("authorization").map(str::to_string))
        .collect()
}

/// A deployment's own key goes to its own host; the plugin-level key never
/// goes to a host a deployment points at unless that deployment asks for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_sends_its_own_key_never_the_plugin_level_one() {
    let primary = MockOpenAi::start().await;
    let host_b = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    let mut o = primary.overrides();
    o.allow_hosts.push(host_b.addr.to_string());
    o.secrets
        .insert("OPENAI_API_KEY".into(), "sk-primary".into());
    cfg.plugins.insert("openai".into(), o);
    cfg.router.cache_ttl_s = 0;
    cfg.router.retry.max_attempts = 1;
    let b = host_b.base_url();
    let d = |alias: &str, model: &str, extra: &str| -> DeploymentConfig {
        toml::from_str(&format!(
            "alias = \"{alias}\"\nprovider = \"openai\"\nmodel = \"{model}\"\n{extra}"
        ))
        .unwrap()
    };
    cfg.deployments = vec![
        // The plugin as configured: its host, its key.
        d("plain", "m-plain", ""),
        // Another host with its own key (the README's failover example).
        d(
            "own",
            "m-own",
            &format!(
                "config = {{ base_url = \"{b}\" }}\nsecrets = {{ OPENAI_API_KEY = \"sk-deploy-b\" }}"
            ),
        ),
        // Another host and no key of its own: no key at all.
        d(
            "none",
            "m-none",
            &format!("config = {{ base_url = \"{b}\" }}"),
        ),
        // Its key from an unset variable: still not the plugin-level key.
        d(
            "unset",
            "m-unset",
            &format!(
                "config = {{ base_url = \"{b}\" }}\nsecrets = {{ OPENAI_API_KEY = \"env:HANZO_TEST_SURELY_UNSET_VARIABLE\" }}"
            ),
        ),
        // Its key from a variable (cargo sets CARGO_PKG_NAME for tests).
        d(
            "env",
            "m-env",
            &format!(
                "config = {{ base_url = \"{b}\" }}\nsecrets = {{ OPENAI_API_KEY = \"env:CARGO_PKG_NAME\" }}"
            ),
        ),
        // The operator lets the plugin-level key through on purpose.
        d(
            "inherit",
            "m-inherit",
            &format!("config = {{ base_url = \"{b}\" }}\ninherit_secrets = true"),
        ),
    ];
    let rt = runtime(cfg).await;
    for alias in ["plain", "own", "none", "unset", "env", "inherit"] {
        // Twice each: the second call may run on a reused instance.
        for _ in 0..2 {
            let r = chat(&rt, "t", ask(alias, "hi"), FRESH).await.unwrap();
            assert_eq!(r.response.message.text(), "echo: hi", "{alias}");
        }
    }
    let bearer = |k: &str| vec![Some(format!("Bearer {k}")); 2];
    assert_eq!(auth_seen(&primary, "m-plain"), bearer("sk-primary"));
    assert_eq!(auth_seen(&host_b, "m-own"), bearer("sk-deploy-b"));
    assert_eq!(auth_seen(&host_b, "m-none"), vec![None, None]);
    assert_eq!(auth_seen(&host_b, "m-unset"), vec![None, None]);
    assert_eq!(auth_seen(&host_b, "m-env"), bearer(env!("CARGO_PKG_NAME")));
    assert_eq!(auth_seen(&host_b, "m-inherit"), bearer("sk-primary"));
    // Nothing meant for host B reached the primary host, and the
    // plugin-level key reached host B only where inherited.
    assert_eq!(primary.seen.lock().unwrap().len(), 2);
    assert!(
        host_b
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.header("authorization") == Some("Bearer sk-primary"))
            .all(|s| s.body["model"] == "m-inherit")
    );
}

/// A deployment cannot grant hosts: its `base_url` must be granted to the
/// plugin (manifest or `allow_hosts`), or its calls are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_host_needs_the_plugins_grant() {
    let primary = MockOpenAi::start().await;
    let host_b = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    cfg.plugins.insert("openai".into(), primary.overrides());
    cfg.router.retry.max_attempts = 1;
    cfg.deployments = vec![
        toml::from_str(&format!(
            "alias = \"b\"\nprovider = \"openai\"\nmodel = \"m-b\"\nconfig = {{ base_url = \"{}\" }}\nsecrets = {{ OPENAI_API_KEY = \"sk-b\" }}",
            host_b.base_url()
        ))
        .unwrap(),
    ];
    let rt = runtime(cfg).await;
    assert!(chat(&rt, "t", ask("b", "hi"), FRESH).await.is_err());
    assert!(host_b.seen.lock().unwrap().is_empty());
}

/// `provider/model` aliases are a client's strings: the router keeps state
/// for a bounded number of them, and refuses absurdly long ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_aliases_are_bounded() {
    let (_d, mock, rt) = node(|c| {
        c.router.max_implicit_models = 3;
        c.router.cache_ttl_s = 0;
    })
    .await;
    for i in 0..12 {
        let r = chat(&rt, "t", ask(&format!("openai/m{i}"), "hi"), FRESH)
            .await
            .unwrap();
        assert_eq!(r.route.deployment, format!("openai/m{i}"));
    }
    assert_eq!(mock.seen.lock().unwrap().len(), 12);
    let kept = rt.router.implicit_models();
    assert!(kept <= 3, "{kept} implicit deployments kept");
    // Usage: three names counted apart, the rest together.
    let usage = rt.router.usage.snapshot();
    let names = usage["deployments"].as_object().unwrap();
    assert!(names.len() <= 4, "{names:?}");
    let total: u64 = names
        .values()
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 12);
    assert_eq!(
        rt.router
            .usage
            .deployment(hanzo_node::router::usage::OTHER)
            .requests,
        9
    );

    let long = format!("openai/{}", "x".repeat(300));
    match chat(&rt, "t", ask(&long, "hi"), FRESH).await {
        Err(LlmError::UnknownModel(m)) => assert!(m.contains("longer than"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen.lock().unwrap().len(), 12);
}

/// The response cache is bounded in bytes as well as in entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_cache_is_bounded_in_bytes() {
    let (_d, mock, rt) = node(|c| {
        c.deployments = vec![deployment("gpt", "gpt-4o-mini", 0)];
        c.router.cache_max_mb = 1;
    })
    .await;
    // Each answer echoes ~400 KiB: a 1 MiB cache keeps two at most.
    for i in 0..5 {
        let text = format!("{i}{}", "y".repeat(400 << 10));
        chat(&rt, "t", ask("gpt", &text), FRESH).await.unwrap();
    }
    assert_eq!(mock.calls_for("gpt-4o-mini"), 5);
    let kept = rt.router.cached_answers();
    assert!(
        kept <= 2,
        "{kept} answers of ~400 KiB kept in a 1 MiB cache"
    );
    // Small answers are still cached.
    chat(&rt, "t", ask("gpt", "small"), FRESH).await.unwrap();
    let r = chat(&rt, "t", ask("gpt", "small"), FRESH).await.unwrap();
    assert!(r.route.cached);
}

/// An instance that served one deployment (and read its key) is not reused
/// for another: each deployment's calls get instances of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_instances_stay_with_their_deployment() {
    let (_d, mock, rt) = node(|c| {
        c.router.cache_ttl_s = 0;
        c.deployments = vec![
            deployment("plain", "m-plain", 0),
            toml::from_str(
                "alias = \"own\"\nprovider = \"openai\"\nmodel = \"m-own\"\nsecrets = { OPENAI_API_KEY = \"sk-own\" }",
            )
            .unwrap(),
        ];
    })
    .await;
    for alias in ["plain", "own", "plain", "own"] {
        chat(&rt, "t", ask(alias, "hi"), FRESH).await.unwrap();
    }
    assert_eq!(mock.seen.lock().unwrap().len(), 4);
    // One parked instance per deployment (the openai plugin opts in to reuse).
    assert_eq!(rt.warm.idle(), 2);
    assert_eq!(
        auth_seen(&mock, "m-own"),
        vec![Some("Bearer sk-own".to_string()); 2]
    );
    assert_eq!(auth_seen(&mock, "m-plain"), vec![None, None]);
}
