//! Hostile plugins: an infinite loop, a memory bomb, outbound requests to
//! hosts and addresses that were not granted, and reads of another plugin's
//! or tenant's kv. Each fails only its own call, with an error naming the
//! plugin; the node keeps serving.

use crate::common::{Dirs, install, runtime, set};
use crate::mock_openai::MockOpenAi;
use hanzo_node::Runtime;
use hanzo_node::bindings::tool_types::ToolError;
use serde_json::{Value, json};
use std::sync::Arc;

async fn call(
    rt: &Arc<Runtime>,
    plugin: &str,
    tenant: &str,
    tool: &str,
    args: Value,
) -> Result<Value, ToolError> {
    let p = rt.plugin(plugin).unwrap();
    match rt
        .call_tool_plugin(&p, tenant, tool, &args.to_string())
        .await
    {
        Ok(Ok(s)) => Ok(serde_json::from_str(&s).unwrap()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ToolError::PluginFailed(e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_and_others_keep_being_served() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "spin-forever", "spin-forever", |m| {
        set(m, "limits", "timeout_ms", toml::Value::Integer(1500))
    });
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let rt = runtime(dirs.config()).await;

    let spinning = {
        let rt = rt.clone();
        tokio::spawn(async move { call(&rt, "spin-forever", "t", "spin", json!({})).await })
    };
    // While the loop burns its time, other calls are answered.
    let mut served = 0;
    for _ in 0..50 {
        call(&rt, "echo-version", "t", "noop", json!({}))
            .await
            .unwrap();
        served += 1;
    }
    assert!(
        !spinning.is_finished(),
        "the loop must still be running while others were served"
    );
    assert_eq!(served, 50);
    match spinning.await.unwrap() {
        Err(ToolError::PluginFailed(m)) => {
            assert!(
                m.contains("spin-forever") && m.contains("time limit"),
                "{m}"
            )
        }
        other => panic!("expected a time-limit failure, got {other:?}"),
    }
    // The plugin itself still works for the next call.
    assert_eq!(
        call(&rt, "spin-forever", "t", "ok", json!({}))
            .await
            .unwrap(),
        json!({"ok": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_only_its_call() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "spin-forever", "spin-forever", |_| {});
    let rt = runtime(dirs.config()).await;
    match call(&rt, "spin-forever", "t", "panic", json!({})).await {
        Err(ToolError::PluginFailed(m)) => {
            assert!(m.contains("plugin `spin-forever` trapped"), "{m}");
            // The guest's own words, from the end of its stderr.
            assert!(m.contains("this tool always panics"), "{m}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(
        call(&rt, "spin-forever", "t", "ok", json!({}))
            .await
            .unwrap(),
        json!({"ok": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_traps_at_its_limit() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "memory-bomb", "memory-bomb", |m| {
        set(m, "limits", "memory_mb", toml::Value::Integer(32))
    });
    let rt = runtime(dirs.config()).await;
    match call(&rt, "memory-bomb", "t", "allocate", json!({})).await {
        Err(ToolError::PluginFailed(m)) => {
            assert!(
                m.contains("memory-bomb") && m.contains("memory limit of 32 MiB"),
                "{m}"
            )
        }
        other => panic!("expected a memory-limit failure, got {other:?}"),
    }
    assert_eq!(
        call(&rt, "memory-bomb", "t", "ok", json!({}))
            .await
            .unwrap(),
        json!({"ok": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_only_to_granted_hosts_and_addresses() {
    let upstream = MockOpenAi::start().await;
    let port = upstream.addr.port();
    let dirs = Dirs::new();
    let grants = [
        ("probe-none", json!([])),
        ("probe-name", json!([format!("localhost:{port}")])),
        ("probe-addr", json!([format!("127.0.0.1:{port}")])),
    ];
    for (folder, hosts) in &grants {
        install(&dirs.plugins, folder, "http-probe", |m| {
            m.insert("name".into(), toml::Value::String(folder.to_string()));
            // Tool names are unique in a node: each copy names its own.
            let prefix = format!("{folder}.");
            set(m, "config", "tool_prefix", toml::Value::String(prefix));
            let hosts: Vec<toml::Value> = hosts
                .as_array()
                .unwrap()
                .iter()
                .map(|h| toml::Value::String(h.as_str().unwrap().into()))
                .collect();
            set(m, "permissions", "http", toml::Value::Array(hosts));
        });
    }
    // The manifest's request of a loopback address counts only once the
    // operator grants it (`crate::grants`).
    let mut config = dirs.config();
    config.plugins.insert(
        "probe-addr".into(),
        hanzo_node::config::PluginOverrides {
            http: Some(vec![format!("127.0.0.1:{port}")]),
            ..Default::default()
        },
    );
    let rt = runtime(config).await;
    let url = format!("http://127.0.0.1:{port}/v1/models");
    let seen = || upstream.seen.lock().unwrap().len();

    // Every way out is policed alike: wasi:http, and hanzo:node/fetch with
    // the body read whole by the host or as it arrives.
    for via in ["wasi", "fetch", "open"] {
        let fetch = |plugin: &'static str, args: Value| {
            let mut args = args;
            args["via"] = json!(via);
            call(&rt, plugin, "t", "fetch", args)
        };
        let failure = |r: Result<Value, ToolError>| match r {
            Err(ToolError::Failed(m)) => m,
            other => panic!("expected a failed call (via {via}), got {other:?}"),
        };
        let before = seen();

        // Not granted at all.
        let m = failure(fetch("probe-none", json!({ "url": url })).await);
        assert!(m.starts_with("Denied"), "{m}");
        // A forbidden public host is refused before any lookup.
        let m = failure(fetch("probe-addr", json!({ "url": "http://example.com/" })).await);
        assert!(m.starts_with("Denied"), "{m}");
        // A granted name that resolves to loopback is refused: the address itself is not granted.
        let m = failure(
            fetch(
                "probe-name",
                json!({ "url": format!("http://localhost:{port}/v1/models") }),
            )
            .await,
        );
        assert!(m.starts_with("Denied"), "{m}");
        assert_eq!(seen(), before, "no refused request may reach the upstream");

        // The granted address works.
        let ok = fetch("probe-addr", json!({ "url": url })).await.unwrap();
        assert_eq!(ok["status"], 200);
        let size = ok["bytes"].as_u64().unwrap();
        assert!(size > 100, "{ok}");
        assert_eq!(seen(), before + 1);

        // A request header the host refuses fails the call, naming the header.
        let m = failure(
            fetch(
                "probe-addr",
                json!({ "url": url, "headers": { "x-fine": "1", "upgrade": "h2c" } }),
            )
            .await,
        );
        assert!(m.contains("header `upgrade` rejected"), "{m}");
        assert_eq!(seen(), before + 1);

        // A body over the caller's limit is an error, not a truncated answer.
        let m = failure(fetch("probe-addr", json!({ "url": url, "max_bytes": size - 1 })).await);
        assert!(m.starts_with("BodyTooLarge"), "{m}");
        let ok = fetch("probe-addr", json!({ "url": url, "max_bytes": size }))
            .await
            .unwrap();
        assert_eq!(ok["bytes"], size);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_is_isolated_per_plugin_and_tenant() {
    let dirs = Dirs::new();
    for folder in ["kv-a", "kv-b"] {
        install(&dirs.plugins, folder, "kv-probe", |m| {
            m.insert("name".into(), toml::Value::String(folder.into()));
            // Tool names are unique in a node: each copy names its own.
            let prefix = toml::Value::String(format!("{folder}."));
            set(m, "config", "tool_prefix", prefix);
        });
    }
    install(&dirs.plugins, "kv-denied", "kv-probe", |m| {
        m.insert("name".into(), toml::Value::String("kv-denied".into()));
        set(
            m,
            "config",
            "tool_prefix",
            toml::Value::String("kv-denied.".into()),
        );
        set(m, "permissions", "kv", toml::Value::Boolean(false));
    });
    let rt = runtime(dirs.config()).await;

    call(
        &rt,
        "kv-a",
        "t1",
        "put",
        json!({"key": "secret", "value": "a-t1"}),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&rt, "kv-a", "t1", "get", json!({"key": "secret"}))
            .await
            .unwrap()["value"],
        "a-t1"
    );
    // Another plugin, same tenant and key: nothing.
    assert_eq!(
        call(&rt, "kv-b", "t1", "get", json!({"key": "secret"}))
            .await
            .unwrap()["value"],
        Value::Null
    );
    assert_eq!(
        call(&rt, "kv-b", "t1", "list", json!({"prefix": ""}))
            .await
            .unwrap()["keys"],
        json!([])
    );
    // Same plugin, another tenant: nothing.
    assert_eq!(
        call(&rt, "kv-a", "t2", "get", json!({"key": "secret"}))
            .await
            .unwrap()["value"],
        Value::Null
    );
    call(
        &rt,
        "kv-a",
        "t2",
        "put",
        json!({"key": "secret", "value": "a-t2"}),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&rt, "kv-a", "t1", "get", json!({"key": "secret"}))
            .await
            .unwrap()["value"],
        "a-t1"
    );
    assert_eq!(
        call(&rt, "kv-a", "t1", "list", json!({"prefix": "se"}))
            .await
            .unwrap()["keys"],
        json!(["secret"])
    );
    // Without the grant, kv is denied.
    assert!(
        call(
            &rt,
            "kv-denied",
            "t1",
            "put",
            json!({"key": "k", "value": "v"})
        )
        .await
        .is_err()
    );

    // The data is in the redb file and survives a restart of the runtime.
    drop(rt);
    let rt = runtime(dirs.config()).await;
    assert_eq!(
        call(&rt, "kv-a", "t2", "get", json!({"key": "secret"}))
            .await
            .unwrap()["value"],
        "a-t2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tools_memory_limit_holds_under_its_plugins() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "memory-bomb", "memory-bomb", |m| {
        set(m, "limits", "memory_mb", toml::Value::Integer(64));
        // Instances are parked for reuse: one that grew must not serve a
        // call held to less.
        set(m, "limits", "calls_per_instance", toml::Value::Integer(100));
    });
    let mut config = dirs.config();
    config.tools.insert(
        "hold_small".into(),
        hanzo_node::config::ToolPolicy {
            memory_mb: Some(16),
            ..Default::default()
        },
    );
    let rt = runtime(config).await;
    let invoke = async |tool: &str, mb: u64| {
        rt.invoke_tool("t", tool, &json!({ "mb": mb }).to_string())
            .await
            .map(|s| {
                serde_json::from_str::<Value>(&s).unwrap()["memory_mb"]
                    .as_u64()
                    .unwrap()
            })
    };
    // The plugin's 64 MiB let `hold` take 24; its instance is parked.
    let grown = invoke("hold", 24).await.unwrap();
    assert!(grown >= 24, "{grown}");
    assert_eq!(rt.warm.idle(), 1);
    // The same code as `hold_small` is held to 16 MiB.
    match invoke("hold_small", 24).await {
        Err(ToolError::PluginFailed(m)) => assert!(
            m.contains("memory limit of 16 MiB") && m.contains("tools.hold_small.memory_mb"),
            "{m}"
        ),
        other => panic!("expected a memory-limit failure, got {other:?}"),
    }
    // A call under the cap runs, on an instance of at most 16 MiB: not the
    // parked one, which holds more.
    let small = invoke("hold_small", 2).await.unwrap();
    assert!(small <= 16, "hold_small ran in {small} MiB of memory");
    assert_eq!(
        rt.warm.idle(),
        2,
        "the grown instance is still parked, beside the small one"
    );
    // `hold` takes the small one (the last parked), started under the
    // cap, and has its plugin's limit there.
    assert!(invoke("hold", 30).await.unwrap() >= 30);
}
