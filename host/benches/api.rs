//! `make bench-api`: what serving an HTTP request through an API plugin costs,
//! against a native hyper server answering the same JSON, in one run.
//!
//! Closed loop: `API_CONNECTIONS` keep-alive connections (default 32, and 1)
//! each send `GET /hello` and wait for the answer, for `API_SECONDS` (default
//! 5) per target. Targets: native hyper in this process; the real
//! `hanzo-node` binary serving a Rust hello plugin (the `api-crash` test
//! plugin, `{"ok":true}`) with a fresh instance per request, and the same
//! plugin reusing instances (`calls_per_instance = 256`); and hello plugins
//! in other languages (`HELLO_PLUGINS=DIR@PATH,...`: a folder holding
//! `plugin.toml` and the component, and the path its hello answers on; `make
//! bench-api` passes the Python and JavaScript examples), each fresh and
//! reused. Each target runs on a node of its own, started for it (the
//! compile cache is shared, so a component compiles once).
//! Prints requests/s and the ratio to native for each.

mod common;

use bytes::Bytes;
use common::{install, start_node, target_dir};
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `manifest` with, when `reuse`, 256 calls per instance, else one, and no
/// route levels (the bench sends no key: the node runs local).
fn with(manifest: &str, reuse: bool) -> String {
    let mut m: toml::Table = toml::from_str(manifest).unwrap();
    m.remove("route_levels");
    let limits = m
        .entry("limits")
        .or_insert_with(|| toml::Value::Table(Default::default()))
        .as_table_mut()
        .unwrap();
    limits.insert("max_concurrency".into(), 1024.into());
    limits.insert(
        "calls_per_instance".into(),
        (if reuse { 256 } else { 1 }).into(),
    );
    toml::to_string(&m).unwrap()
}

/// A native hyper server answering `{"ok":true}` like the hello plugin.
async fn native() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut r =
                        hyper::Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, std::convert::Infallible>(r)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Requests/s over `connections` closed-loop connections for `seconds`;
/// `None` when a request failed (the error printed).
async fn load(addr: SocketAddr, path: &str, connections: usize, seconds: f64) -> Option<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (done, stop, failed) = (done.clone(), stop.clone(), failed.clone());
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            while !stop.load(Ordering::Relaxed) {
                let req = hyper::Request::get(&path)
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let ok = match send.send_request(req).await {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.into_body().collect().await.map(|b| b.to_bytes());
                        match body {
                            Ok(_) if status == 200 => Ok(()),
                            Ok(b) => Err(format!("{status}: {}", String::from_utf8_lossy(&b))),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match ok {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.lock().unwrap().get_or_insert(e);
                        return;
                    }
                }
            }
        }));
    }
    // Warm up (instances, caches), then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (start_count, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(e) = failed.lock().unwrap().take() {
        // Probes (short runs) fail until the plugin has loaded.
        if seconds >= 1.0 {
            println!("  {path}: a request failed: {e}");
        }
        return None;
    }
    Some(count as f64 / elapsed)
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the node says after a target's runs: instances parked, and the
/// plugin's calls that ran on the background threads (`crate::sched`).
async fn node_state(addr: SocketAddr) -> String {
    let get = async |path: &str| -> Option<serde_json::Value> {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let body = send.send_request(req).await.ok()?.into_body();
        serde_json::from_slice(&body.collect().await.ok()?.to_bytes()).ok()
    };
    let health = get("/v2/health").await.unwrap_or_default();
    let plugin = get("/v2/plugins/hello").await.unwrap_or_default();
    format!(
        "{} instances parked ({} MiB), {} calls ran in the background",
        health["parked_instances"], health["parked_memory_mb"], plugin["background_calls"]
    )
}

/// One plugin to measure: its component, its manifest and its hello path.
struct Target {
    label: String,
    component: PathBuf,
    manifest: String,
    path: String,
}

#[tokio::main]
async fn main() {
    let seconds: f64 = env_or("API_SECONDS", 5.0);
    let wide: usize = env_or("API_CONNECTIONS", 32);
    let root = tempfile::tempdir().unwrap();

    let mut targets = Vec::new();
    let rust = target_dir().join("wasm32-wasip2/plugin/api_crash.wasm");
    assert!(
        rust.is_file(),
        "{} missing: run `make bench-api`",
        rust.display()
    );
    targets.push(Target {
        label: "Rust".into(),
        component: rust,
        manifest: "name = \"hello\"\nkind = \"api\"\nversion = \"0.1.0\"\nroutes = [\"/hello\"]\n"
            .into(),
        path: "/hello".into(),
    });
    for spec in std::env::var("HELLO_PLUGINS")
        .unwrap_or_default()
        .split(',')
    {
        let Some((dir, path)) = spec.trim().split_once('@') else {
            continue;
        };
        let dir = Path::new(dir);
        let Ok(manifest) = std::fs::read_to_string(dir.join("plugin.toml")) else {
            println!("{}: no plugin.toml (not built?), skipped", dir.display());
            continue;
        };
        let Some(component) = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        else {
            println!("{}: no .wasm, skipped", dir.display());
            continue;
        };
        targets.push(Target {
            label: dir.file_name().unwrap().to_string_lossy().into(),
            component,
            manifest,
            path: path.into(),
        });
    }

    let native = native().await;
    println!(
        "GET hello, closed loop, {seconds} s per cell; requests/s (ratio to native hyper in this run)\n"
    );
    println!("| target | 1 connection | {wide} connections |");
    println!("|---|---|---|");
    let mut base = [0.0f64; 2];
    let mut notes = Vec::new();
    for (i, conns) in [1, wide].into_iter().enumerate() {
        base[i] = load(native, "/hello", conns, seconds).await.unwrap_or(0.0);
    }
    println!("| native hyper | {:.0} | {:.0} |", base[0], base[1]);
    for (n, t) in targets.iter().enumerate() {
        for (reuse, label) in [(false, "fresh"), (true, "reused")] {
            let plugins = root.path().join(format!("plugins-{n}-{label}"));
            install(&plugins, "hello", &t.component, &with(&t.manifest, reuse));
            let node = start_node(root.path(), &plugins);
            // Until it serves (a large component compiles for a while).
            let deadline = Instant::now() + Duration::from_secs(300);
            while load(node.addr, &t.path, 1, 0.05).await.is_none() {
                assert!(Instant::now() < deadline, "{} never served", t.label);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let mut cells = Vec::new();
            for (i, conns) in [1, wide].into_iter().enumerate() {
                cells.push(match load(node.addr, &t.path, conns, seconds).await {
                    Some(rps) => format!("{rps:.0} ({:.2}x)", rps / base[i]),
                    None => "failed".to_string(),
                });
            }
            println!("| {}, {label} | {} | {} |", t.label, cells[0], cells[1]);
            notes.push(format!(
                "{}, {label}: {}",
                t.label,
                node_state(node.addr).await
            ));
        }
    }
    println!("\nAfter each target's runs:");
    for n in notes {
        println!("- {n}");
    }
}
