//! The one wasmtime `Engine`: component model, async, pooling allocator,
//! epoch interruption driven by a ticker thread, copy-on-write memory images,
//! and an on-disk cache of compiled components keyed by the blake3 of the bytes
//! and the engine's compatibility hash, so a restart compiles nothing.
//!
//! A cached artifact is native code run as is, so the cache trusts only what
//! this node wrote: each entry carries a MAC (keyed blake3) under a secret
//! key the node keeps beside the cache (`cache.key`, mode 0600). Write access
//! to the data directory is then no longer code execution: a planted or
//! altered entry fails the check and the component is compiled again.

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
    /// Linear memory that instances parked for reuse may hold together, in
    /// MiB (`limits.calls_per_instance`; see `crate::warm`).
    pub warm_memory_mb: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            instances: 1000,
            max_memory_mb: 4096,
            keep_resident_kib: 4096,
            warm_memory_mb: 2048,
        }
    }
}

pub struct Engine {
    pub wasmtime: wasmtime::Engine,
    cache: Option<CompileCache>,
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

        let cache = match cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                match CompileCache::open(dir) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "compile cache disabled: no usable key");
                        None
                    }
                }
            }
            None => None,
        };
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
            cache,
            compiled: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            compat,
            activity,
        })
    }

    /// The component for `bytes`, from the compile cache when it holds it.
    /// Blocking (compilation takes up to seconds): call off the async threads.
    pub fn component(&self, bytes: &[u8], hash: &blake3::Hash) -> wasmtime::Result<Component> {
        let entry = self
            .cache
            .as_ref()
            .map(|c| (c, format!("{}-{}.cwasm", hash.to_hex(), self.compat)));
        if let Some((cache, name)) = &entry {
            match cache.read(name) {
                Ok(Some(artifact)) => {
                    // SAFETY: the artifact carries a valid MAC under this
                    // node's secret key for this very entry: this node
                    // serialized it with this engine configuration, and
                    // `deserialize` checks the compatibility header.
                    match unsafe { Component::deserialize(&self.wasmtime, &artifact) } {
                        Ok(c) => {
                            self.cache_hits.fetch_add(1, Ordering::Relaxed);
                            return Ok(c);
                        }
                        Err(e) => {
                            tracing::warn!(entry = %name, error = %e, "discarding unusable cached component")
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(entry = %name, error = %e, "not loading a cached component: compiling it again")
                }
            }
        }
        let serialized = self.wasmtime.precompile_component(bytes)?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some((cache, name)) = &entry
            && let Err(e) = cache.write(name, &serialized)
        {
            tracing::warn!(entry = %name, error = %e, "cannot write compile cache");
        }
        // SAFETY: `serialized` was produced just now by this engine.
        unsafe { Component::deserialize(&self.wasmtime, &serialized) }
    }
}

/// The on-disk compile cache: one file per component and engine
/// configuration, each its MAC followed by the serialized artifact.
struct CompileCache {
    dir: PathBuf,
    key: [u8; 32],
}

/// Bytes of the MAC in front of each cached artifact.
const MAC_LEN: usize = 32;

impl CompileCache {
    /// The file of the key, in the cache directory.
    const KEY_FILE: &str = "cache.key";

    /// The cache in `dir`, with its key: read, or created once (32 random
    /// bytes, mode 0600). A key that others could have written or read (not
    /// a regular file of this user, or open to group or others) is replaced,
    /// which invalidates every entry made under it.
    fn open(dir: PathBuf) -> std::io::Result<CompileCache> {
        let path = dir.join(Self::KEY_FILE);
        let key = match read_key(&path) {
            Ok(key) => key,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "replacing the compile cache key");
                    std::fs::remove_file(&path)?;
                }
                create_key(&path)?
            }
        };
        Ok(CompileCache { dir, key })
    }

    /// The MAC of entry `name` holding `artifact`: the name is covered too,
    /// so no entry can stand in for another.
    fn mac(&self, name: &str, artifact: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(artifact);
        h.finalize()
    }

    /// The artifact of entry `name`: `None` if there is none, an error if
    /// it is not one this node wrote. Read whole into memory (not mapped
    /// from the file), so that what was checked is what runs.
    fn read(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        let mut bytes = match std::fs::read(self.dir.join(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let invalid = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "its MAC does not match: not written by this node, or altered",
            )
        };
        if bytes.len() < MAC_LEN {
            return Err(invalid());
        }
        let artifact = bytes.split_off(MAC_LEN);
        let stored: [u8; MAC_LEN] = bytes.try_into().map_err(|_| invalid())?;
        // `blake3::Hash` compares in constant time.
        if blake3::Hash::from_bytes(stored) != self.mac(name, &artifact) {
            return Err(invalid());
        }
        Ok(Some(artifact))
    }

    fn write(&self, name: &str, artifact: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(MAC_LEN + artifact.len());
        bytes.extend_from_slice(self.mac(name, artifact).as_bytes());
        bytes.extend_from_slice(artifact);
        write_atomically(&self.dir.join(name), &bytes)
    }
}

/// Reads the cache key at `path`, refusing one this user does not alone own.
fn read_key(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = options.open(path)?;
    let meta = file.metadata()?;
    let refuse = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    if !meta.is_file() || meta.len() != 32 {
        return Err(refuse("not a 32-byte regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(refuse("owned by another user"));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(refuse("readable or writable by group or others"));
        }
    }
    let mut key = [0u8; 32];
    file.read_exact(&mut key)?;
    Ok(key)
}

/// Creates a new random key at `path` (unless another process just did: then
/// that one is read).
fn create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Write;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}-{:x}", std::process::id(), fastrand::u64(..)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(&key).and_then(|()| f.sync_all()));
    // A hard link never replaces an existing key, unlike a rename.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(e),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Unique per writer: two loads may compile the same component at once.
    let tmp = path.with_extension(format!("tmp{}-{:x}", std::process::id(), fastrand::u64(..)));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_entries_are_authenticated() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path().to_path_buf()).unwrap();
        cache.write("a.cwasm", b"artifact a").unwrap();
        cache.write("b.cwasm", b"artifact b").unwrap();
        assert_eq!(cache.read("a.cwasm").unwrap().unwrap(), b"artifact a");
        assert!(cache.read("missing.cwasm").unwrap().is_none());

        // Altered, swapped for another entry, or planted without the key.
        let a = dir.path().join("a.cwasm");
        let mut bytes = std::fs::read(&a).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&a, &bytes).unwrap();
        assert!(cache.read("a.cwasm").is_err());
        std::fs::copy(dir.path().join("b.cwasm"), &a).unwrap();
        assert!(cache.read("a.cwasm").is_err());
        std::fs::write(&a, b"short").unwrap();
        assert!(cache.read("a.cwasm").is_err());

        // The key survives a restart; another node's key does not verify.
        let again = CompileCache::open(dir.path().to_path_buf()).unwrap();
        assert_eq!(again.read("b.cwasm").unwrap().unwrap(), b"artifact b");
        let other = tempfile::tempdir().unwrap();
        let other = CompileCache::open(other.path().to_path_buf()).unwrap();
        other.write("b.cwasm", b"evil").unwrap();
        std::fs::copy(other.dir.join("b.cwasm"), dir.path().join("b.cwasm")).unwrap();
        assert!(cache.read("b.cwasm").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_private_and_a_loose_one_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = CompileCache::open(dir.path().to_path_buf()).unwrap();
        let key = dir.path().join(CompileCache::KEY_FILE);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            CompileCache::open(dir.path().to_path_buf()).unwrap().key,
            first.key
        );

        // Readable by others: it may be known, so it is replaced.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let replaced = CompileCache::open(dir.path().to_path_buf()).unwrap();
        assert_ne!(replaced.key, first.key);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
