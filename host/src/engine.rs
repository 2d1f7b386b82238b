//! The one wasmtime `Engine`: component model, async, pooling allocator,
//! epoch interruption driven by a ticker thread, copy-on-write memory images,
//! and an on-disk cache of compiled components keyed by the blake3 of the bytes
//! and the engine's compatibility hash, so a restart compiles nothing.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a plugin's time limit is checked at this grain
/// and a busy plugin yields its thread to other calls this often. Each tick
/// wakes the ticker thread, which on a loaded machine takes a CPU from
/// someone: at 1 ms that was about 1% of a core (and a preempted request now
/// and then) at 2k gateway requests per second. 5 ms keeps limits precise
/// enough and a busy plugin's neighbours waiting at most that long.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Sizes of the pooling allocator.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Plugin instances alive at once across the node.
    pub instances: u32,
    /// Largest linear memory any plugin may be granted, in MiB.
    pub max_memory_mb: u64,
    /// Linear memory (per slot) reset in place between calls instead of being
    /// returned to the kernel, in KiB: with the kernel's PAGEMAP_SCAN only the
    /// pages a call dirtied are rewritten, and the next call takes no page faults.
    pub keep_resident_kib: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            instances: 1000,
            max_memory_mb: 4096,
            keep_resident_kib: 4096,
        }
    }
}

pub struct Engine {
    pub wasmtime: wasmtime::Engine,
    cache_dir: Option<PathBuf>,
    /// Components compiled by this process (a cache hit is not counted).
    pub compiled: AtomicU64,
    /// Components loaded from the compile cache.
    pub cache_hits: AtomicU64,
    compat: String,
    activity: Arc<Activity>,
}

/// Calls in progress; the epoch ticker sleeps while there are none, so an
/// idle node does not wake a thousand times a second.
struct Activity {
    active: AtomicUsize,
    ticker: std::sync::OnceLock<std::thread::Thread>,
}

/// Held by every store while it may run guest code; see [`Engine::begin_call`].
pub struct ActiveCall(Arc<Activity>);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// Plugin instances alive right now.
    pub fn active_calls(&self) -> usize {
        self.activity.active.load(Ordering::Relaxed)
    }

    /// Marks a call as in progress (waking the epoch ticker if it slept)
    /// until the returned guard drops.
    pub fn begin_call(&self) -> ActiveCall {
        if self.activity.active.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(t) = self.activity.ticker.get()
        {
            t.unpark();
        }
        ActiveCall(self.activity.clone())
    }

    pub fn new(pool: &PoolConfig, cache_dir: Option<PathBuf>) -> wasmtime::Result<Engine> {
        let mut cfg = Config::new();
        cfg.wasm_component_model(true);
        cfg.epoch_interruption(true);
        cfg.memory_init_cow(true);
        // `HANZO_PROFILER=perfmap`: plugin functions get their names in
        // /tmp/perf-<pid>.map, so `perf record -p <pid>` profiles guests too.
        if std::env::var("HANZO_PROFILER").is_ok_and(|v| v == "perfmap") {
            cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let mut p = PoolingAllocationConfig::default();
        p.total_component_instances(pool.instances);
        p.total_core_instances(pool.instances * 4);
        p.total_memories(pool.instances * 2);
        p.total_tables(pool.instances * 4);
        p.total_stacks(pool.instances);
        p.max_memories_per_component(4);
        p.max_tables_per_component(8);
        p.max_core_instances_per_component(32);
        p.max_memory_size((pool.max_memory_mb as usize) << 20);
        // Large language runtimes (Python, JS) have big instance and table state.
        p.max_component_instance_size(1 << 20);
        p.max_core_instance_size(1 << 20);
        p.table_elements(100_000);
        p.linear_memory_keep_resident((pool.keep_resident_kib as usize) << 10);
        p.table_keep_resident(64 << 10);
        p.pagemap_scan(Enabled::Auto);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        let wasmtime = wasmtime::Engine::new(&cfg)?;

        let mut h = std::collections::hash_map::DefaultHasher::new();
        wasmtime.precompile_compatibility_hash().hash(&mut h);
        let compat = format!("{:016x}", h.finish());

        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        let activity = Arc::new(Activity {
            active: AtomicUsize::new(0),
            ticker: std::sync::OnceLock::new(),
        });
        let weak = wasmtime.weak();
        let ticker_activity = activity.clone();
        let ticker = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    if ticker_activity.active.load(Ordering::SeqCst) == 0 {
                        drop(engine);
                        // Woken by `begin_call`; the timeout only lets the
                        // thread notice that the engine was dropped.
                        std::thread::park_timeout(Duration::from_secs(1));
                        continue;
                    }
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let _ = activity.ticker.set(ticker.thread().clone());
        Ok(Engine {
            wasmtime,
            cache_dir,
            compiled: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            compat,
            activity,
        })
    }

    /// The component for `bytes`, from the compile cache when it holds it.
    /// Blocking (compilation takes up to seconds): call off the async threads.
    pub fn component(&self, bytes: &[u8], hash: &blake3::Hash) -> wasmtime::Result<Component> {
        let cached = self.cache_path(hash);
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file is an artifact this engine configuration wrote
            // into the node's own cache directory; `deserialize_file` checks
            // the compatibility header and fails cleanly on a mismatch.
            match unsafe { Component::deserialize_file(&self.wasmtime, path) } {
                Ok(c) => {
                    self.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component")
                }
            }
        }
        let serialized = self.wasmtime.precompile_component(bytes)?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = &cached
            && let Err(e) = write_atomically(path, &serialized)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compile cache");
        }
        // SAFETY: `serialized` was produced just now by this engine.
        unsafe { Component::deserialize(&self.wasmtime, &serialized) }
    }

    fn cache_path(&self, hash: &blake3::Hash) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{}-{}.cwasm", hash.to_hex(), self.compat)))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
