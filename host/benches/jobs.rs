//! `make bench-jobs`: durable jobs per second, from submission to done, each
//! job one call of a no-op tool plugin (`echo-version`'s `noop`), with every
//! commit flushed to disk. Measured in the same run against two baselines:
//! the same tool called directly (no queue) at the same concurrency, and the
//! queue with flushing off (what durability costs).

use hanzo_node::jobs::model::{JobKind, JobSpec};
use hanzo_node::{NodeConfig, Runtime};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const JOBS: usize = 40_000;
/// Clients submitting at once (each waits for its job to be durable).
const SUBMITTERS: usize = 256;
const ROUNDS: usize = 3;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

async fn node(dir: &Path, durable: bool) -> Arc<Runtime> {
    let wasm = target_dir().join("wasm32-wasip2/plugin/echo_version.wasm");
    assert!(
        wasm.is_file(),
        "{} missing: run `make bench-jobs` (it builds the plugins)",
        wasm.display()
    );
    let plugin_dir = dir.join("plugins/echo-version");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(&wasm, plugin_dir.join("echo_version.wasm")).unwrap();
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/plugins/echo-version/plugin.toml"),
        plugin_dir.join("plugin.toml"),
    )
    .unwrap();
    let mut cfg = NodeConfig {
        data_dir: dir.join("data"),
        plugins_dir: Some(dir.join("plugins")),
        ..Default::default()
    };
    cfg.jobs.durable = durable;
    let rt = Runtime::new(cfg).unwrap();
    hanzo_node::loader::load_all(&rt).await;
    rt.start_jobs().await.unwrap();
    rt
}

fn noop_job() -> JobSpec {
    JobSpec::new(JobKind::Tool, json!({"tool": "noop", "arguments": {}}))
}

struct Run {
    per_s: f64,
    commits: u64,
    writes: u64,
}

/// Submits `JOBS` jobs from `SUBMITTERS` concurrent clients; the clock stops
/// when the last one is done.
async fn jobs_per_second(rt: &Arc<Runtime>) -> Run {
    let done0 = rt.jobs.counters.done.load(Ordering::Relaxed);
    let commits0 = rt.jobs.store.commits.load(Ordering::Relaxed);
    let writes0 = rt.jobs.store.writes.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..SUBMITTERS {
        let rt = rt.clone();
        set.spawn(async move {
            for _ in 0..JOBS / SUBMITTERS {
                rt.jobs.submit("bench", noop_job()).await.unwrap();
            }
        });
    }
    set.join_all().await;
    let total = (JOBS / SUBMITTERS * SUBMITTERS) as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while rt.jobs.counters.done.load(Ordering::Relaxed) - done0 < total {
        assert!(
            Instant::now() < deadline,
            "jobs did not finish: {}",
            rt.jobs.stats()
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let failed = rt.jobs.counters.failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "jobs failed: {}", rt.jobs.stats());
    Run {
        per_s: total as f64 / t.elapsed().as_secs_f64(),
        commits: rt.jobs.store.commits.load(Ordering::Relaxed) - commits0,
        writes: rt.jobs.store.writes.load(Ordering::Relaxed) - writes0,
    }
}

/// The same tool calls without the queue, at the queue's concurrency.
async fn direct_calls_per_second(rt: &Arc<Runtime>, concurrency: usize) -> f64 {
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let rt = rt.clone();
        set.spawn(async move {
            for _ in 0..JOBS / concurrency {
                rt.invoke_tool("bench", "noop", "{}").await.unwrap();
            }
        });
    }
    set.join_all().await;
    (JOBS / concurrency * concurrency) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let durable_dir = tempfile::tempdir().unwrap();
        let volatile_dir = tempfile::tempdir().unwrap();
        let durable = node(durable_dir.path(), true).await;
        let volatile = node(volatile_dir.path(), false).await;
        let concurrency = durable.config.jobs.max_concurrency;
        // Warm up: instance pools, page cache, the database files.
        jobs_per_second(&durable).await;
        jobs_per_second(&volatile).await;
        direct_calls_per_second(&durable, concurrency).await;

        println!(
            "{JOBS} no-op tool jobs per round, {SUBMITTERS} concurrent submitters, {concurrency} running at once, {} CPUs",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        println!(
            "{:<7} {:>16} {:>16} {:>18} {:>14} {:>10}",
            "round", "direct calls/s", "jobs/s volatile", "jobs/s durable", "flushes/s", "writes/flush"
        );
        let (mut ratios_direct, mut ratios_volatile, mut best) = (Vec::new(), Vec::new(), 0f64);
        for round in 1..=ROUNDS {
            let direct = direct_calls_per_second(&durable, concurrency).await;
            let v = jobs_per_second(&volatile).await;
            let d = jobs_per_second(&durable).await;
            let seconds = JOBS as f64 / d.per_s;
            println!(
                "{round:<7} {direct:>16.0} {:>16.0} {:>18.0} {:>14.0} {:>10.1}",
                v.per_s,
                d.per_s,
                d.commits as f64 / seconds,
                d.writes as f64 / d.commits.max(1) as f64
            );
            ratios_direct.push(d.per_s / direct);
            ratios_volatile.push(d.per_s / v.per_s);
            best = best.max(d.per_s);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "durable jobs/s: best {best:.0}; median ratio to direct tool calls {:.2}x, to the queue without flushing {:.2}x",
            median(&mut ratios_direct),
            median(&mut ratios_volatile)
        );
    });
}
