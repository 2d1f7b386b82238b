//! The plugin loader against hostile and broken plugin folders: a plugin
//! that claims another's routes, name or tools is refused and the holder
//! keeps serving; a manifest with absurd limits fails alone and hot reload
//! goes on; a `describe` that never returns holds up neither the port nor
//! the other plugins; links out of the plugin folder are refused and no
//! file's text is served back; a component deleted for a swap keeps its
//! loaded version serving; the compile cache runs only what this node wrote.

use crate::common::{Dirs, Node, client, eventually, get_json, install, set, wasm};
use crate::mock_openai::MockOpenAi;
use hanzo_node::loader::LoadOutcome;
use hanzo_node::plugins::PluginKind;
use hanzo_node::runtime::Runtime;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The runtime with the plugin directory loaded, whatever the outcomes.
async fn load(dirs: &Dirs) -> (Arc<Runtime>, BTreeMap<String, LoadOutcome>) {
    let rt = Runtime::new(dirs.config()).unwrap();
    let outcomes = hanzo_node::loader::load_all(&rt)
        .await
        .into_iter()
        .collect();
    (rt, outcomes)
}

/// The last load error of a plugin folder.
fn error_of(rt: &Runtime, folder: &str) -> Option<String> {
    rt.registry
        .catalog()
        .slots
        .get(folder)
        .and_then(|s| s.error.clone())
}

fn failed(outcome: Option<&LoadOutcome>) -> String {
    match outcome {
        Some(LoadOutcome::Failed(e)) => e.clone(),
        other => panic!("expected a failed load, got {other:?}"),
    }
}

fn routes(m: &mut toml::Table, name: &str, routes: &[&str]) {
    m.insert("name".into(), toml::Value::String(name.into()));
    m.insert(
        "routes".into(),
        toml::Value::Array(
            routes
                .iter()
                .map(|r| toml::Value::String(r.to_string()))
                .collect(),
        ),
    );
}

async fn answer(rt: &Arc<Runtime>) -> Result<Value, String> {
    rt.invoke_tool("t", "answer", "{}")
        .await
        .map(|s| serde_json::from_str(&s).unwrap())
        .map_err(|e| format!("{e:?}"))
}

/// api-openai serves `/v1` on the real binary; api plugins dropped in to
/// take `/v1/chat` (and with it the clients' API keys), all of `/v1`, every
/// path (`/`) or one of the node's own are refused, each naming what it
/// collides with, and the chat API goes on answering from api-openai.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_in_api_plugin_cannot_take_over_routes() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    let config = crate::mock_openai::openai_toml(&mock);
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&dirs, &["--config", path.to_str().unwrap()]);
    let c = client();
    let chat = async || {
        let r = c
            .post(node.url("/v1/chat/completions"))
            .bearer_auth("sk-client-secret")
            .header("x-hanzo-cache", "bypass")
            .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, v) = chat().await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");

    let attempts = [
        (
            "capture-prefix",
            "/v1/chat",
            "overlaps route `/v1` of plugin `api-openai`",
        ),
        (
            "capture-equal",
            "/v1/",
            "overlaps route `/v1` of plugin `api-openai`",
        ),
        (
            "capture-root",
            "/",
            "overlaps route `/v1` of plugin `api-openai`",
        ),
        (
            "capture-health",
            "/v2/health",
            "which the node serves itself",
        ),
    ];
    for (folder, route, _) in attempts {
        install(&dirs.plugins, folder, "api-crash", |m| {
            routes(m, folder, &[route])
        });
    }
    for (folder, _, expected) in attempts {
        let url = node.url(&format!("/v2/plugins/{folder}"));
        let refused = eventually(Duration::from_secs(60), async || {
            get_json(&c, url.clone()).await["last_error"].is_string()
        })
        .await;
        let p = get_json(&c, url).await;
        assert!(refused, "{folder} was not refused: {p}");
        assert_eq!(p["state"], "failed", "{p}");
        let error = p["last_error"].as_str().unwrap();
        assert!(error.contains(expected), "{folder}: {error}");
    }

    // api-openai still answers, and the node its own paths.
    let (status, v) = chat().await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
    let health = get_json(&c, node.url("/v2/health")).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["plugins"]["api"], 1, "{health}");
    let routed = get_json(&c, node.url("/v1/models")).await;
    assert!(routed.get("ok").is_none(), "{routed}");
}

/// At startup, two folders whose manifests claim overlapping routes are both
/// refused, whichever sorts or loads first: neither serves the other's
/// requests. A misnamed folder (one not named like its plugin) claiming a
/// route of either is refused too, so refusing both frees nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contested_routes_at_startup_go_to_no_one() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    install(&dirs.plugins, "0capture", "api-crash", |m| {
        routes(m, "0capture", &["/v1/chat"])
    });
    install(&dirs.plugins, "zz", "api-crash", |m| {
        routes(m, "other", &["/v1"])
    });
    install(&dirs.plugins, "api-crash", "api-crash", |_| {});
    let (rt, outcomes) = load(&dirs).await;
    let e = failed(outcomes.get("api-openai"));
    assert!(e.contains("also claimed by folder `0capture`"), "{e}");
    let e = failed(outcomes.get("0capture"));
    assert!(e.contains("also claimed by folder `api-openai`"), "{e}");
    let e = failed(outcomes.get("zz"));
    assert!(e.contains("goes first"), "{e}");
    assert_eq!(outcomes["api-crash"], LoadOutcome::Loaded);
    let catalog = rt.registry.catalog();
    assert!(catalog.route("/v1/chat/completions").is_none());
    assert_eq!(catalog.route("/crash/x").unwrap().name(), "api-crash");
}

/// A folder `0openai` whose manifest says `name = "openai"` sorts before the
/// operator's `openai` folder: it must not get the name (nor the operator's
/// settings and secrets for `openai`), at startup or dropped in later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_name_cannot_be_squatted() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "0openai", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("openai".into()));
    });
    let mut config = dirs.config();
    let mut overrides = hanzo_node::config::PluginOverrides::default();
    overrides
        .secrets
        .insert("OPENAI_API_KEY".into(), "sk-operator".into());
    config.plugins.insert("openai".into(), overrides);
    let rt = Runtime::new(config).unwrap();
    let outcomes: BTreeMap<_, _> = hanzo_node::loader::load_all(&rt)
        .await
        .into_iter()
        .collect();
    assert_eq!(outcomes["openai"], LoadOutcome::Loaded);
    let e = failed(outcomes.get("0openai"));
    assert!(e.contains("plugin name `openai`"), "{e}");
    let openai = rt.plugin("openai").unwrap();
    assert_eq!(openai.kind(), PluginKind::Provider);
    assert!(openai.dir.ends_with("openai"));

    // Dropped in while the node runs: refused, the operator's keeps serving.
    let watcher = hanzo_node::loader::watcher::watch(rt.clone()).unwrap();
    install(&dirs.plugins, "1openai", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("openai".into()));
    });
    let refused = eventually(Duration::from_secs(60), async || {
        error_of(&rt, "1openai").is_some()
    })
    .await;
    assert!(refused, "the squatter was not refused");
    let e = error_of(&rt, "1openai").unwrap();
    assert!(e.contains("plugin name `openai`"), "{e}");
    let now = rt.plugin("openai").unwrap();
    assert!(
        Arc::ptr_eq(&now, &openai),
        "the operator's openai was replaced"
    );
    assert_eq!(
        now.grants.secrets["OPENAI_API_KEY"].as_deref(),
        Some("sk-operator")
    );
    drop(watcher);
}

/// A tool plugin offering a tool another plugin already offers is refused;
/// the holder keeps serving. When the holder goes, the refused plugin is
/// not promoted in its place: it loads on its own next change (or at the
/// next start), so removing and re-copying a plugin never hands its tools
/// (or name or routes) to a plugin that was waiting for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_tool_is_refused_until_its_own_next_change() {
    let (dirs, holder, rt, watcher) = crate::hot_swap::watched_echo("holder").await;

    let copy = install(&dirs.plugins, "a-copy", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("a-copy".into()));
        set(m, "config", "answer", toml::Value::String("copy".into()));
    });
    let refused = eventually(Duration::from_secs(60), async || {
        error_of(&rt, "a-copy").is_some()
    })
    .await;
    assert!(refused, "the copy was not refused");
    let e = error_of(&rt, "a-copy").unwrap();
    assert!(
        e.contains("is already provided by plugin `echo-version` (folder `echo-version`)"),
        "{e}"
    );
    assert!(rt.plugin("a-copy").is_err());
    assert_eq!(answer(&rt).await.unwrap()["answer"], "holder");

    // The holder goes: its tools go with it, and the copy stays refused.
    let before = watcher.checks();
    std::fs::remove_dir_all(&holder).unwrap();
    let gone = eventually(Duration::from_secs(60), async || {
        rt.plugin("echo-version").is_err()
    })
    .await;
    assert!(gone, "the holder did not unload");
    // The unload's check is counted when its task ends, just after the
    // plugin is gone: wait for that count before taking the baseline.
    let counted = eventually(Duration::from_secs(20), async || watcher.checks() > before).await;
    assert!(
        counted,
        "the check that unloaded the holder was never counted"
    );
    let checks = watcher.checks();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(answer(&rt).await.is_err(), "no plugin offers `answer` now");
    assert!(rt.plugin("a-copy").is_err());
    assert!(error_of(&rt, "a-copy").is_some());
    assert_eq!(watcher.checks(), checks, "nothing reloaded the copy");

    // Its own next change loads it.
    let manifest = std::fs::read_to_string(copy.join("plugin.toml")).unwrap();
    std::fs::write(copy.join("plugin.toml"), manifest + "\n").unwrap();
    let loaded = eventually(Duration::from_secs(60), async || answer(&rt).await.is_ok()).await;
    assert!(loaded, "the copy did not load on its own change");
    assert_eq!(answer(&rt).await.unwrap()["answer"], "copy");
}

/// `max_concurrency = 9000000000000000000` made the loader panic inside the
/// watcher, and no later change was ever loaded. Now it fails that plugin,
/// naming the limit, and the next plugin dropped in loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_limit_fails_its_plugin_and_hot_reload_goes_on() {
    let dirs = Dirs::new();
    let rt = crate::common::runtime(dirs.config()).await;
    let _watcher = hanzo_node::loader::watcher::watch(rt.clone()).unwrap();

    install(&dirs.plugins, "huge", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("huge".into()));
        set(
            m,
            "limits",
            "max_concurrency",
            toml::Value::Integer(9_000_000_000_000_000_000),
        );
    });
    let failed = eventually(Duration::from_secs(60), async || {
        error_of(&rt, "huge").is_some()
    })
    .await;
    assert!(failed, "the manifest's failure is not listed");
    let e = error_of(&rt, "huge").unwrap();
    assert!(e.contains("max_concurrency"), "{e}");

    install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    let loaded = eventually(Duration::from_secs(60), async || {
        rt.plugin("kv-probe").is_ok()
    })
    .await;
    assert!(loaded, "hot reload stopped after the bad manifest");

    // Memory above the operator's pool ceiling (1024 MiB in the tests).
    install(&dirs.plugins, "big", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("big".into()));
        set(m, "limits", "memory_mb", toml::Value::Integer(2048));
    });
    let failed = eventually(Duration::from_secs(60), async || {
        error_of(&rt, "big").is_some()
    })
    .await;
    assert!(failed);
    let e = error_of(&rt, "big").unwrap();
    assert!(e.contains("between 1 and 1024"), "{e}");
}

/// The real binary with a tool plugin whose `describe` spins: the port opens
/// at once, `/v2/health` says the node is starting and which folder is
/// still loading, the other plugins serve meanwhile, and the spinning one
/// fails with its time limit, listed at `/v2/plugins`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_describe_holds_up_neither_the_port_nor_the_others() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "spin-forever", "spin-forever", |m| {
        set(m, "config", "spin_in_describe", toml::Value::Boolean(true));
        set(m, "limits", "timeout_ms", toml::Value::Integer(15_000));
    });
    let node = Node::launch(&dirs, &[]);
    let c = client();
    // The loads begin a moment after the port opens; the spinning one then
    // stays listed as loading until its time limit.
    let mut health = Value::Null;
    let listed = eventually(Duration::from_secs(10), async || {
        health = get_json(&c, node.url("/v2/health")).await;
        health["plugins"]["loading"]
            .as_array()
            .is_some_and(|l| l.iter().any(|f| f == "spin-forever"))
    })
    .await;
    assert!(listed, "{health}");
    assert_eq!(health["status"], "starting", "{health}");

    let served = eventually(Duration::from_secs(60), async || {
        let r = c
            .post(node.url("/v2/tools/execute"))
            .json(&json!({"tool": "answer", "arguments": {}}))
            .send()
            .await
            .unwrap();
        r.status() == 200
    })
    .await;
    assert!(
        served,
        "echo-version did not serve while spin-forever loaded"
    );

    let url = node.url("/v2/plugins/spin-forever");
    let failed = eventually(Duration::from_secs(90), async || {
        get_json(&c, url.clone()).await["last_error"].is_string()
    })
    .await;
    let p = get_json(&c, url).await;
    assert!(failed, "{p}");
    let e = p["last_error"].as_str().unwrap();
    assert!(
        e.contains("describe() failed") && e.contains("time limit"),
        "{e}"
    );
    let health = get_json(&c, node.url("/v2/health")).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["plugins"]["loading"], json!([]), "{health}");
    assert_eq!(health["plugins"]["failed"], 1, "{health}");
}

/// The watcher loads each folder on its own: a plugin dropped in loads while
/// another's `describe` is still spinning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_plugin_does_not_block_hot_reload() {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.loader.timeout_s = 3600;
    let rt = Runtime::new(config).unwrap();
    hanzo_node::loader::load_all(&rt).await;
    let _watcher = hanzo_node::loader::watcher::watch(rt.clone()).unwrap();
    install(&dirs.plugins, "spin-forever", "spin-forever", |m| {
        set(m, "config", "spin_in_describe", toml::Value::Boolean(true));
        set(m, "limits", "timeout_ms", toml::Value::Integer(3_600_000));
    });
    let spinning = eventually(Duration::from_secs(60), async || {
        rt.registry.loading() == ["spin-forever"]
    })
    .await;
    assert!(spinning);
    install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    let loaded = eventually(Duration::from_secs(60), async || {
        rt.plugin("kv-probe").is_ok()
    })
    .await;
    assert!(loaded, "a load waited for another folder's");
    assert_eq!(rt.registry.loading(), ["spin-forever"]);
}

/// A manifest that is a link to a file outside the plugin folder is not
/// read, and a parse error says where, never what the file holds.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_files_leak_nothing() {
    let dirs = Dirs::new();
    let secret = dirs.root.path().join("secret.toml");
    std::fs::write(
        &secret,
        "name = \"leak\"\nkind = \"tool\"\nversion = \"1\"\napi_key = \"sk-hunter2\"\n",
    )
    .unwrap();
    let linked = install(&dirs.plugins, "linked", "echo-version", |_| {});
    std::fs::remove_file(linked.join("plugin.toml")).unwrap();
    std::os::unix::fs::symlink(&secret, linked.join("plugin.toml")).unwrap();

    // A component that is a link out of the folder is refused as well.
    let outside = dirs.root.path().join("outside.wasm");
    std::fs::copy(wasm("kv-probe"), &outside).unwrap();
    let wasm_link = install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    std::fs::remove_file(wasm_link.join("kv_probe.wasm")).unwrap();
    std::os::unix::fs::symlink(&outside, wasm_link.join("kv_probe.wasm")).unwrap();

    // Not TOML at all: the error names the line, not its text.
    let broken = install(&dirs.plugins, "broken", "echo-version", |_| {});
    let text = std::fs::read_to_string(broken.join("plugin.toml")).unwrap();
    std::fs::write(
        broken.join("plugin.toml"),
        text + "root:x:0:0:sk-hunter2:/root:/bin/bash\n",
    )
    .unwrap();

    let (rt, outcomes) = load(&dirs).await;
    let e = failed(outcomes.get("linked"));
    assert!(e.contains("symbolic link"), "{e}");
    let e = failed(outcomes.get("kv-probe"));
    assert!(e.contains("symbolic link"), "{e}");
    let e = failed(outcomes.get("broken"));
    assert!(e.contains("TOML parse error at line"), "{e}");
    let listed: Vec<Value> = rt
        .registry
        .catalog()
        .slots
        .values()
        .map(hanzo_node::server::slot_json)
        .collect();
    let listed = serde_json::to_string(&listed).unwrap();
    assert!(!listed.contains("hunter2"), "{listed}");
    assert!(!listed.contains("/bin/bash"), "{listed}");
}

/// A swap by delete-then-copy: while the component file is missing the
/// loaded version keeps serving; the new file then loads. A missing manifest
/// still unloads the plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_component_keeps_the_loaded_version_serving() {
    let (_dirs, folder, rt, watcher) = crate::hot_swap::watched_echo("old").await;
    let old = rt.plugin("echo-version").unwrap();

    let checks = watcher.checks();
    std::fs::remove_file(folder.join("echo_version.wasm")).unwrap();
    let checked = eventually(Duration::from_secs(60), async || watcher.checks() > checks).await;
    assert!(checked, "the deletion was not noticed");
    assert!(Arc::ptr_eq(&rt.plugin("echo-version").unwrap(), &old));
    assert_eq!(answer(&rt).await.unwrap()["answer"], "old");
    assert!(error_of(&rt, "echo-version").is_none());

    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        manifest.replace("\"old\"", "\"new\""),
    )
    .unwrap();
    std::fs::copy(wasm("echo-version"), folder.join("echo_version.wasm")).unwrap();
    let swapped = eventually(Duration::from_secs(60), async || {
        answer(&rt).await.is_ok_and(|v| v["answer"] == "new")
    })
    .await;
    assert!(swapped, "the new version did not load");

    std::fs::remove_file(folder.join("plugin.toml")).unwrap();
    let gone = eventually(Duration::from_secs(60), async || {
        rt.plugin("echo-version").is_err()
    })
    .await;
    assert!(gone, "a plugin without a manifest must unload");
}

/// The compile cache runs only artifacts this node wrote for that very
/// component: one swapped for another plugin's is compiled again (and the
/// plugin works), an untouched one is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cache_entry_is_compiled_again() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "api-crash", "api-crash", |_| {});
    let rt = crate::common::runtime(dirs.config()).await;
    assert_eq!(rt.engine.compiled.load(Ordering::Relaxed), 2);
    drop(rt);

    let cache = dirs.data.join("compile-cache");
    let entry = |crate_name: &str| {
        let hash = blake3::hash(&std::fs::read(wasm(crate_name)).unwrap());
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&hash.to_hex().to_string())
            })
            .unwrap()
    };
    // Native code for another component under echo-version's entry.
    std::fs::copy(entry("api-crash"), entry("echo-version")).unwrap();

    let rt = crate::common::runtime(dirs.config()).await;
    assert_eq!(rt.engine.compiled.load(Ordering::Relaxed), 1);
    assert_eq!(rt.engine.cache_hits.load(Ordering::Relaxed), 1);
    rt.invoke_tool("t", "noop", "{}").await.unwrap();
    drop(rt);

    // Rewritten: now both come from the cache.
    let rt = crate::common::runtime(dirs.config()).await;
    assert_eq!(rt.engine.compiled.load(Ordering::Relaxed), 0);
    assert_eq!(rt.engine.cache_hits.load(Ordering::Relaxed), 2);
}
