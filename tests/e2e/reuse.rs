//! Instance reuse (`limits.calls_per_instance`): one instance serves up to
//! N calls in sequence, for one tenant only; a trap ends it; a swapped-out
//! version's parked instances go; without the setting every call gets a
//! fresh instance. The `echo-version` test plugin's `calls` tool tells how
//! many calls the instance that answered has served.

use crate::common::{Dirs, install, set};
use hanzo_node::runtime::Runtime;
use serde_json::Value;
use std::sync::Arc;

async fn calls(rt: &Arc<Runtime>, tenant: &str) -> u64 {
    let answer = rt.invoke_tool(tenant, "calls", "{}").await.unwrap();
    serde_json::from_str::<Value>(&answer).unwrap()["calls"]
        .as_u64()
        .unwrap()
}

async fn reusing(n: i64) -> (Dirs, Arc<Runtime>) {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(m, "limits", "calls_per_instance", toml::Value::Integer(n))
    });
    let rt = crate::common::runtime(dirs.config()).await;
    (dirs, rt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_its_calls_in_sequence_for_one_tenant() {
    let (_dirs, rt) = reusing(3).await;
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(calls(&rt, "a").await);
    }
    assert_eq!(
        seen,
        [1, 2, 3, 1, 2, 3, 1],
        "three calls per instance, then a fresh one"
    );
    // Another tenant never gets tenant a's instance.
    assert_eq!(calls(&rt, "b").await, 1);
    assert_eq!(calls(&rt, "b").await, 2);
    assert_eq!(calls(&rt, "a").await, 2);
    assert_eq!(rt.warm.idle(), 2, "one parked instance per tenant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapped_instance_is_not_reused() {
    let (_dirs, rt) = reusing(100).await;
    assert_eq!(calls(&rt, "a").await, 1);
    assert_eq!(calls(&rt, "a").await, 2);
    let trapped = rt.invoke_tool("a", "trap", "{}").await;
    assert!(trapped.is_err(), "{trapped:?}");
    assert_eq!(rt.warm.idle(), 0);
    assert_eq!(calls(&rt, "a").await, 1, "a fresh instance after the trap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_grown_past_half_its_memory_limit_is_not_reused() {
    // echo-version's limit is 16 MiB; it starts with 4.
    let (_dirs, rt) = reusing(100).await;
    let grow = async |mb: u32| {
        rt.invoke_tool("a", "grow", &format!(r#"{{"mb":{mb}}}"#))
            .await
            .unwrap()
    };
    assert_eq!(calls(&rt, "a").await, 1);
    grow(1).await;
    assert_eq!(calls(&rt, "a").await, 3, "1 MiB fits: the instance is kept");
    grow(10).await;
    assert_eq!(rt.warm.idle(), 0);
    assert_eq!(calls(&rt, "a").await, 1, "grown to 14+ MiB: a fresh one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_left_holding_host_resources_is_not_reused() {
    let (_dirs, rt) = reusing(100).await;
    assert_eq!(calls(&rt, "a").await, 1);
    assert_eq!(calls(&rt, "a").await, 2);
    rt.invoke_tool("a", "leak", "{}").await.unwrap();
    assert_eq!(rt.warm.idle(), 0);
    assert_eq!(calls(&rt, "a").await, 1, "a fresh instance after the leak");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_every_call_gets_a_fresh_instance() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let rt = crate::common::runtime(dirs.config()).await;
    for _ in 0..3 {
        assert_eq!(calls(&rt, "a").await, 1);
    }
    assert_eq!(rt.warm.idle(), 0);
}

/// Twelve calls of the slow tool at once.
async fn twelve_at_once(rt: &Arc<Runtime>) {
    let slow = (0..12).map(|_| {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.invoke_tool("a", "slow_answer", r#"{"ms":300}"#)
                .await
                .unwrap()
        })
    });
    for call in slow.collect::<Vec<_>>() {
        call.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_use_separate_instances_and_all_are_parked() {
    let (_dirs, rt) = reusing(1000).await;
    // Calls in flight at once each need their own instance; afterwards they
    // all wait parked, so the next wave of as many finds one each.
    twelve_at_once(&rt).await;
    assert_eq!(rt.warm.idle(), 12);
    assert_eq!(calls(&rt, "a").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_instances_stay_within_the_memory_budget() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(
            m,
            "limits",
            "calls_per_instance",
            toml::Value::Integer(1000),
        )
    });
    let mut config = dirs.config();
    // An echo-version instance holds 4 MiB of linear memory: two fit.
    config.pool.warm_memory_mb = 10;
    let rt = crate::common::runtime(config).await;
    twelve_at_once(&rt).await;
    assert_eq!(rt.warm.idle(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_version_keeps_no_parked_instances() {
    let (dirs, rt) = reusing(100).await;
    assert_eq!(calls(&rt, "a").await, 1);
    assert_eq!(calls(&rt, "a").await, 2);
    assert_eq!(rt.warm.idle(), 1);
    let manifest = dirs.plugins.join("echo-version/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"v1\"", "\"v2\"")).unwrap();
    let outcome = hanzo_node::loader::reload_folder(&rt, "echo-version").await;
    assert_eq!(outcome, hanzo_node::loader::LoadOutcome::Loaded);
    assert_eq!(rt.warm.idle(), 0, "the old version's instance was dropped");
    assert_eq!(calls(&rt, "a").await, 1, "the new version starts fresh");
    let answer = rt.invoke_tool("a", "answer", "{}").await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["answer"],
        "v2"
    );
}
