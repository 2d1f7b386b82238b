//! Faults: a plugin file caught half-written while the node loads it, and
//! `kill -9` of the node in the middle of a hot swap and of a burst of job
//! submissions. Nothing acknowledged is lost, the store opens again, and the
//! plugin directory loads as it stands. (An upstream that dies mid-stream is
//! in `compat_api`/`conformance`: `Pace::cut`; `kill -9` while jobs run is in
//! `jobs_crash`.)

use crate::common::{Dirs, Node, client, eventually, get_json, install, set, wasm};
use hanzo_node::loader::LoadOutcome;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

async fn answer(rt: &Arc<hanzo_node::Runtime>) -> Result<String, String> {
    let p = rt.plugin("echo-version").map_err(|e| e.to_string())?;
    match rt.call_tool_plugin(&p, "t", "answer", "{}").await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_plugin_never_replaces_the_working_one() {
    let dirs = Dirs::new();
    let folder = install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(m, "config", "answer", toml::Value::String("old".into()))
    });
    let rt = crate::common::runtime(dirs.config()).await;
    let before = answer(&rt).await.unwrap();
    let bytes = std::fs::read(wasm("echo-version")).unwrap();
    let file = folder.join("echo_version.wasm");
    // Cut at several places: in the header, inside a section, near the end.
    for cut in [4, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&file, &bytes[..cut]).unwrap();
        match hanzo_node::loader::reload_folder(&rt, "echo-version").await {
            LoadOutcome::Failed(e) => assert!(e.contains("echo_version.wasm"), "{e}"),
            other => panic!("a file cut at {cut} bytes loaded: {other:?}"),
        }
        assert_eq!(
            answer(&rt).await.unwrap(),
            before,
            "the old version keeps serving"
        );
    }
    // Once whole again it loads (the same bytes as before: unchanged or reloaded).
    std::fs::write(&file, &bytes).unwrap();
    let outcome = hanzo_node::loader::reload_folder(&rt, "echo-version").await;
    assert!(
        matches!(outcome, LoadOutcome::Loaded | LoadOutcome::Unchanged),
        "{outcome:?}"
    );
    assert_eq!(answer(&rt).await.unwrap(), before);
    let slot = rt.registry.catalog().slots["echo-version"].clone();
    assert!(slot.current.is_some());
}

/// Kills the node's process with SIGKILL and waits for it.
fn kill_9(node: Node) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &node.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = node.wait_killed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_hot_swap_restarts_clean() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let folder = install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();
    let original = std::fs::read(wasm("echo-version")).unwrap();
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();

    // Swap versions (new bytes each time: a compile and a cache write each)
    // as fast as the node takes them, and kill it in the middle.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, folder, original) = (stop.clone(), folder.clone(), original.clone());
        tokio::task::spawn_blocking(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let bytes = crate::hot_swap::variant(&original, &format!("v{n}"));
                let tmp = folder.join(".echo_version.wasm.tmp");
                std::fs::write(&tmp, &bytes).unwrap();
                std::fs::rename(&tmp, folder.join("echo_version.wasm")).unwrap();
                std::thread::sleep(Duration::from_millis(120));
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill_9(node);
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.await.unwrap();
    assert!(swaps > 3, "only {swaps} swaps before the kill");

    // The last version on disk loads on restart; the store opens.
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    let node = Node::start(&dirs, &[]);
    let plugin = get_json(&c, node.url("/v2/plugins/echo-version")).await;
    assert_eq!(plugin["state"], "loaded", "{plugin}");
    let on_disk = std::fs::read(folder.join("echo_version.wasm")).unwrap();
    assert_eq!(
        plugin["blake3"],
        blake3::hash(&on_disk).to_hex().to_string(),
        "the version on disk is the one loaded"
    );
    let r = c
        .post(node.url("/v2/tools/execute"))
        .json(&json!({"tool": "noop", "arguments": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, log) = node.stop();
    assert!(status.success(), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_of_submissions_loses_no_acknowledged_job() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();

    // Eight clients submit as fast as they can; the node dies under them.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (c, url, acked) = (c.clone(), node.url("/v2/jobs"), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let body = json!({"kind": "tool", "input": {"tool": "noop", "arguments": {}}});
                let Ok(r) = c.post(&url).json(&body).send().await else {
                    break; // the node is gone
                };
                if r.status() != 201 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                acked
                    .lock()
                    .unwrap()
                    .push(v["job"]["id"].as_str().unwrap().to_string());
            }
        }));
    }
    assert!(
        eventually(Duration::from_secs(60), async || acknowledged
            .lock()
            .unwrap()
            .len()
            >= 200)
        .await,
        "submissions are not going through"
    );
    kill_9(node);
    for t in clients {
        t.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();

    let node = Node::start(&dirs, &[]);
    assert!(
        eventually(Duration::from_secs(120), async || {
            get_json(&c, node.url("/v2/health")).await["jobs"]["live"] == 0
        })
        .await,
        "jobs still live after the restart"
    );
    for id in &acked {
        let job = get_json(&c, node.url(&format!("/v2/jobs/{id}/status"))).await;
        assert_eq!(job["state"], "done", "acknowledged job {id}: {job}");
    }
    println!(
        "{} acknowledged submissions, all done after kill -9 and restart",
        acked.len()
    );
    let (status, log) = node.stop();
    assert!(status.success(), "{log}");
}
