//! A tenant's own plugins (`<plugins>/tenants/<tenant>/<folder>`), on the
//! real binary over HTTP with tenant keys: each tenant sees and calls the
//! node's plugins and its own, never another's (tools, routes, models); two
//! tenants' plugins of one name each serve their own tenant; a tenant's
//! plugin cannot take a name of the node's, reaches only the hosts the
//! operator lists for it, and hot-swaps like any other, also when a whole
//! tenant folder arrives while the node serves.

use crate::auth::{get, post, tenant_key};
use crate::common::{Dirs, Node, client, eventually, install, set};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Installs echo-version into `folder`, its `answer` setting `answer`.
fn echo(dirs: &Dirs, folder: &str, answer: &str) -> std::path::PathBuf {
    install(&dirs.plugins, folder, "echo-version", |m| {
        set(m, "config", "answer", answer.into())
    })
}

/// The `answer` tool's result for the tenant of `key`, or the error body.
async fn answer(node: &Node, key: &str) -> Result<String, Value> {
    let body = json!({"tool": "answer", "arguments": {}});
    match post(node, "/v2/tools/execute", Some(key), body).await {
        (200, v) => Ok(v["result"]["answer"]
            .as_str()
            .unwrap_or_default()
            .to_string()),
        (_, v) => Err(v),
    }
}

/// The tool names `/v2/tools/list` shows the tenant of `key`.
async fn tool_names(node: &Node, key: &str) -> Vec<String> {
    let (status, v) = get(node, "/v2/tools/list", Some(key)).await;
    assert_eq!(status, 200, "{v}");
    v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn chat(model: &str) -> Value {
    json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_sees_and_calls_its_own_plugins_and_no_one_elses() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["api-v2", "api-openai", "tools-basic"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    // Two tenants' plugins of one name, each with its own setting.
    let acme_echo = echo(&dirs, "tenants/acme/echo-version", "acme-v1");
    echo(&dirs, "tenants/beta/echo-version", "beta-v1");
    // An API plugin of acme's own, and a provider of acme's own (the openai
    // plugin under another name) whose upstream only the operator names.
    install(&dirs.plugins, "tenants/acme/api-crash", "api-crash", |_| {});
    for tenant in ["acme", "beta"] {
        install(
            &dirs.plugins,
            &format!("tenants/{tenant}/own-llm"),
            "openai",
            |m| {
                m.insert("name".into(), "own-llm".into());
            },
        );
    }
    // A tenant's plugin named like one of the node's: refused.
    install(
        &dirs.plugins,
        "tenants/beta/tools-basic",
        "tools-basic",
        |_| {},
    );

    let acme = tenant_key(&dirs, "acme", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let gamma = tenant_key(&dirs, "gamma", "user");
    let admin = tenant_key(&dirs, "ops", "admin");
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[router.retry]\nmax_attempts = 1\n\n\
             [tenants.acme.own_plugins.own-llm]\nconfig = {{ base_url = \"{}\" }}\n\
             allow_hosts = [\"{}\"]\nsecrets = {{ OPENAI_API_KEY = \"sk-test\" }}\n\n\
             [tenants.beta.own_plugins.own-llm]\nconfig = {{ base_url = \"{}\" }}\n\
             secrets = {{ OPENAI_API_KEY = \"sk-test\" }}\n",
            mock.base_url(),
            mock.addr,
            mock.base_url(),
        ),
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);

    // Tools: the node's for everyone, each tenant's own for it alone, and
    // one name served by each tenant's own plugin.
    let acme_tools = tool_names(&node, &acme).await;
    let beta_tools = tool_names(&node, &beta).await;
    let gamma_tools = tool_names(&node, &gamma).await;
    for tools in [&acme_tools, &beta_tools, &gamma_tools] {
        assert!(tools.contains(&"calculator".to_string()), "{tools:?}");
    }
    assert!(acme_tools.contains(&"answer".to_string()), "{acme_tools:?}");
    assert!(beta_tools.contains(&"answer".to_string()), "{beta_tools:?}");
    assert!(
        !gamma_tools.contains(&"answer".to_string()),
        "{gamma_tools:?}"
    );
    assert_eq!(answer(&node, &acme).await.unwrap(), "acme-v1");
    assert_eq!(answer(&node, &beta).await.unwrap(), "beta-v1");
    let refused = answer(&node, &gamma).await.unwrap_err();
    assert_eq!(refused["error"]["code"], "tool_not_found", "{refused}");

    // Routes: acme's API plugin answers acme only; others are told there
    // is no such route, and an anonymous caller learns nothing.
    let (status, v) = get(&node, "/crash/ok", Some(&acme)).await;
    assert_eq!((status, &v["ok"]), (200, &json!(true)), "{v}");
    let (status, v) = get(&node, "/crash/ok", Some(&beta)).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{v}"
    );
    let (status, _) = get(&node, "/crash/ok", None).await;
    assert_eq!(status, 401);

    // Models: acme's provider lists and serves for acme only.
    let (status, v) = get(&node, "/v1/models", Some(&acme)).await;
    assert_eq!(status, 200, "{v}");
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&v).iter().any(|id| id.starts_with("own-llm/")), "{v}");
    let (_, v) = get(&node, "/v1/models", Some(&gamma)).await;
    assert!(!ids(&v).iter().any(|id| id.starts_with("own-llm/")), "{v}");
    let (status, v) = post(
        &node,
        "/v1/chat/completions",
        Some(&acme),
        chat("own-llm/gpt-4o-mini"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = post(
        &node,
        "/v1/chat/completions",
        Some(&gamma),
        chat("own-llm/gpt-4o-mini"),
    )
    .await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("model_not_found")),
        "{v}"
    );
    // beta's copy of the same provider was not given the upstream's host:
    // its manifest's own hosts are not granted to a tenant's plugin either.
    let calls = mock.requests().len();
    let (status, v) = post(
        &node,
        "/v1/chat/completions",
        Some(&beta),
        chat("own-llm/gpt-4o-mini"),
    )
    .await;
    assert_ne!(status, 200, "{v}");
    assert_eq!(
        mock.requests().len(),
        calls,
        "beta's plugin reached the upstream"
    );

    // The operator sees every folder, whose it is and why one was refused.
    let (status, plugins) = get(&node, "/v2/plugins", Some(&admin)).await;
    assert_eq!(status, 200, "{plugins}");
    let slot = |folder: &str| {
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["folder"] == folder)
            .unwrap_or_else(|| panic!("no {folder} in {plugins}"))
            .clone()
    };
    assert_eq!(slot("tenants/acme/own-llm")["tenant"], "acme");
    assert_eq!(slot("tools-basic")["tenant"], Value::Null);
    let own_hosts = slot("tenants/beta/own-llm")["granted"]["http"].clone();
    assert_eq!(own_hosts, json!([]), "{own_hosts}");
    let refused = slot("tenants/beta/tools-basic");
    let error = refused["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("folder `tools-basic`"), "{refused}");

    // Hot swap: acme's new version serves acme; beta's is untouched.
    let manifest = acme_echo.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("acme-v1", "acme-v2")).unwrap();
    assert!(
        eventually(WAIT, async || answer(&node, &acme)
            .await
            .is_ok_and(|a| a == "acme-v2"))
        .await,
        "acme's new version never served"
    );
    assert_eq!(answer(&node, &beta).await.unwrap(), "beta-v1");

    // A whole tenant folder moved in while the node serves: gamma's plugins
    // load; and acme's folder removed: its plugins go.
    let staging = Dirs::new();
    echo(&staging, "gamma/echo-version", "gamma-v1");
    std::fs::rename(
        staging.plugins.join("gamma"),
        dirs.plugins.join("tenants/gamma"),
    )
    .unwrap();
    assert!(
        eventually(WAIT, async || answer(&node, &gamma)
            .await
            .is_ok_and(|a| a == "gamma-v1"))
        .await,
        "gamma's folder never loaded"
    );
    std::fs::remove_dir_all(dirs.plugins.join("tenants/acme")).unwrap();
    assert!(
        eventually(WAIT, async || answer(&node, &acme).await.is_err()).await,
        "acme's plugins stayed after its folder went"
    );
    assert_eq!(answer(&node, &beta).await.unwrap(), "beta-v1");
    let (status, stopped) = node.stop();
    assert!(status.success(), "{stopped}");
}

/// Responses stored by `/v1/responses` belong to the tenant that made them:
/// another tenant cannot read, continue or delete one, even knowing its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_response_belongs_to_its_tenant() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["api-openai", "openai"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let acme = tenant_key(&dirs, "acme", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let config = dirs.root.path().join("node.toml");
    std::fs::write(&config, crate::mock_openai::openai_toml(&mock)).unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let ask = |previous: Option<&str>| {
        let mut body = json!({"model": "gpt", "input": "hi"});
        if let Some(id) = previous {
            body["previous_response_id"] = id.into();
        }
        body
    };
    let (status, first) = post(&node, "/v1/responses", Some(&acme), ask(None)).await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}");
    let (status, _) = get(&node, &path, Some(&acme)).await;
    assert_eq!(status, 200);
    let (status, v) = get(&node, &path, Some(&beta)).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("response_not_found"))
    );
    let (status, v) = post(&node, "/v1/responses", Some(&beta), ask(Some(id))).await;
    assert_eq!(
        (status, &v["error"]["param"]),
        (404, &json!("previous_response_id"))
    );
    let deleted = client()
        .delete(node.url(&path))
        .bearer_auth(&beta)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    // Still acme's, and still continued by acme.
    let (status, _) = post(&node, "/v1/responses", Some(&acme), ask(Some(id))).await;
    assert_eq!(status, 200);
}
