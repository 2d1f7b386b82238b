//! Hot swap on the real binary: a plugin replaced 5 times while clients call it
//! continuously (zero failed calls, answers move to each new version and never
//! back), a broken file that never replaces the working version, a deleted
//! plugin that unloads, and a new folder that loads without a restart.

use crate::common::{Dirs, Node, client, eventually, get_json, install, set, wasm};
use crate::mock_openai::{MockOpenAi, Overrides};
use hanzo_node::loader::watcher::PluginWatcher;
use hanzo_node::runtime::Runtime;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The component with a custom section appended: same code, different bytes.
pub(crate) fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { b } else { b | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    let name = b"hanzo-test-version";
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

async fn plugin_state(c: &reqwest::Client, node: &Node, name: &str) -> Value {
    get_json(c, node.url(&format!("/v2/plugins/{name}"))).await
}

/// `echo-version` answering `answer`, loaded in a runtime, its folder watched.
pub(crate) async fn watched_echo(answer: &str) -> (Dirs, PathBuf, Arc<Runtime>, PluginWatcher) {
    let dirs = Dirs::new();
    let folder = install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(m, "config", "answer", toml::Value::String(answer.into()))
    });
    let rt = crate::common::runtime(dirs.config()).await;
    let watcher = hanzo_node::loader::watcher::watch(rt.clone()).unwrap();
    (dirs, folder, rt, watcher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_under_load_without_failed_calls() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let folder = install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(m, "config", "answer", toml::Value::String("v1".into()))
    });
    let node = Arc::new(Node::start(&dirs, &[]));
    let c = client();
    let original = std::fs::read(wasm("echo-version")).unwrap();
    let manifest_text = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (c, node, stop) = (c.clone(), node.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .post(node.url("/v2/tools/execute"))
                    .json(&json!({"tool": "answer", "arguments": {}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().await.unwrap();
                        answers.push(v["result"]["answer"].as_str().unwrap().to_string());
                    }
                    Ok(r) => failures.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (answers, failures)
        }));
    }

    for v in 2..=6 {
        let version = format!("v{v}");
        let bytes = variant(&original, &version);
        // Written in two parts with a pause, as a slow copy would: the
        // watcher must not load the half-written file over the working one.
        let mut f = std::fs::File::create(folder.join("echo_version.wasm")).unwrap();
        f.write_all(&bytes[..bytes.len() / 2]).unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        f.write_all(&bytes[bytes.len() / 2..]).unwrap();
        drop(f);
        std::fs::write(
            folder.join("plugin.toml"),
            manifest_text.replace("\"v1\"", &format!("\"{version}\"")),
        )
        .unwrap();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let swapped = eventually(Duration::from_secs(30), async || {
            plugin_state(&c, &node, "echo-version").await["blake3"] == hash.as_str()
        })
        .await;
        assert!(swapped, "version {version} was not loaded");
        // Let the clients run on this version for a while.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for task in clients {
        let (answers, failures) = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed calls during hot swap: {failures:?}"
        );
        // Each client sees versions in order: once on a new version, never back.
        let order: Vec<u32> = answers.iter().map(|a| a[1..].parse().unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{answers:?}");
        assert_eq!(order.last(), Some(&6));
        total += answers.len();
    }
    assert!(total > 50, "too few calls made: {total}");

    // A broken file never replaces the working version; the error is visible.
    std::fs::write(
        folder.join("echo_version.wasm"),
        b"\0asm\x0d\0\x01\0 truncated",
    )
    .unwrap();
    let failed = eventually(Duration::from_secs(30), async || {
        plugin_state(&c, &node, "echo-version").await["last_error"].is_string()
    })
    .await;
    assert!(failed, "the broken file's error must be visible");
    let p = plugin_state(&c, &node, "echo-version").await;
    assert_eq!(p["state"], "loaded", "{p}");
    let r: Value = c
        .post(node.url("/v2/tools/execute"))
        .json(&json!({"tool": "answer", "arguments": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"]["answer"], "v6");

    // Deleting the folder unloads the plugin.
    std::fs::remove_dir_all(&folder).unwrap();
    let gone = eventually(Duration::from_secs(30), async || {
        c.post(node.url("/v2/tools/execute"))
            .json(&json!({"tool": "answer", "arguments": {}}))
            .send()
            .await
            .unwrap()
            .status()
            == 404
    })
    .await;
    assert!(gone, "a deleted plugin must unload");

    // A new folder dropped in loads without a restart.
    install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    let loaded = eventually(Duration::from_secs(30), async || {
        c.get(node.url("/v2/tools/put"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    assert!(loaded, "a new plugin folder must load while serving");
}

/// A call in flight when its plugin is swapped finishes on the version it
/// started on; calls made after the swap get the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_call_finishes_on_the_old_version() {
    let (_dirs, folder, rt, _watcher) = watched_echo("old").await;

    let slow = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.invoke_tool("t", "slow_answer", r#"{"ms":2000}"#).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bytes = variant(&std::fs::read(wasm("echo-version")).unwrap(), "new");
    std::fs::write(folder.join("echo_version.wasm"), &bytes).unwrap();
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        manifest.replace("\"old\"", "\"new\""),
    )
    .unwrap();
    let hash = blake3::hash(&bytes);
    let swapped = eventually(Duration::from_secs(20), async || {
        rt.plugin("echo-version").unwrap().hash == hash
    })
    .await;
    assert!(swapped, "the new version was not loaded");
    assert!(
        !slow.is_finished(),
        "the slow call must still be in flight at the swap"
    );

    let now = rt.invoke_tool("t", "answer", "{}").await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&now).unwrap()["answer"],
        "new"
    );
    let old = slow.await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&old).unwrap()["answer"],
        "old"
    );
}

/// A provider plugin replaced while a stream runs: the running stream
/// completes on the old version, a new stream uses the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_swapped_while_a_stream_runs() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    let folder = install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    cfg.plugins.insert("openai".into(), mock.overrides());
    let rt = crate::common::runtime(cfg).await;
    let _watcher = hanzo_node::loader::watcher::watch(rt.clone()).unwrap();
    let request = |model: &str| {
        let mut r: hanzo_node::bindings::llm_types::ChatRequest = crate::router::ask(model, "hi");
        r.max_tokens = Some(16);
        r
    };

    let old_hash = rt.plugin("openai").unwrap().hash;
    let mut running = rt
        .provider_stream("openai", "t", &request("slow-stream"))
        .await
        .unwrap();
    let mut text = running
        .next()
        .await
        .unwrap()
        .unwrap()
        .content
        .unwrap_or_default();

    let bytes = variant(&std::fs::read(wasm("openai")).unwrap(), "v2");
    std::fs::write(folder.join("openai.wasm"), &bytes).unwrap();
    let new_hash = blake3::hash(&bytes);
    let swapped = eventually(Duration::from_secs(20), async || {
        rt.plugin("openai").unwrap().hash == new_hash
    })
    .await;
    assert!(swapped, "the new provider version was not loaded");

    let mut fresh = rt
        .provider_stream("openai", "t", &request("gpt-4o-mini"))
        .await
        .unwrap();
    assert_eq!(fresh.plugin().hash, new_hash);
    assert_eq!(running.plugin().hash, old_hash);
    while let Some(c) = fresh.next().await {
        c.unwrap();
    }
    while let Some(c) = running.next().await {
        text.push_str(c.unwrap().content.as_deref().unwrap_or(""));
    }
    assert_eq!(
        text, "Hello world",
        "the running stream completes on the old version"
    );
}

/// The loader opens and reads a plugin's files to check them; those reads
/// must not count as changes, or every check would schedule the next one
/// (re-reading and hashing the component every debounce interval, forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_does_not_trigger_the_next() {
    let (_dirs, folder, rt, watcher) = watched_echo("old").await;

    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        manifest.replace("\"old\"", "\"new\""),
    )
    .unwrap();
    let swapped = eventually(Duration::from_secs(20), async || {
        let answer = rt.invoke_tool("t", "answer", "{}").await.unwrap();
        serde_json::from_str::<Value>(&answer).unwrap()["answer"] == "new"
    })
    .await;
    assert!(swapped, "the changed manifest was not loaded");
    // The check is counted when its task ends, just after the new version
    // starts serving: wait for the count rather than race it.
    let counted = eventually(Duration::from_secs(20), async || watcher.checks() >= 1).await;
    assert!(
        counted,
        "the check that loaded the change was never counted"
    );
    let after_swap = watcher.checks();

    // Several debounce intervals (100 ms in the tests' config) with no change.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        watcher.checks(),
        after_swap,
        "the folder was checked again without any change"
    );
}
