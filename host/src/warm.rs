//! Instance reuse, for plugins whose manifest opts in with
//! `limits.calls_per_instance` > 1: a call that ends normally parks its
//! store and instance here, and the next call of the same plugin version
//! for the same tenant takes it instead of instantiating. That spares the
//! instantiation and the reset of the instance's memory per call, and the
//! instance's memory is still in the CPU's caches when the next call comes.
//!
//! What bounds it: an instance serves at most `calls_per_instance` calls,
//! one at a time, and only one tenant's; one that trapped, ran out of time
//! or memory is never parked, nor one whose memory grew past half its limit
//! or that still holds host resources (a later call should not fail on, or
//! inherit, what an earlier one left behind); a parked instance unused for [`IDLE_TTL`] is
//! dropped, as are those of a plugin version that was swapped out; at most
//! [`MAX_IDLE_PER_KEY`] wait per plugin version and tenant, and at most a
//! quarter of the instance pool in all, so reuse never starves fresh calls,
//! holding at most `pool.warm_memory_mb` of linear memory together.
//!
//! How many to park: as many as run at once. Measured with `make bench-api`
//! (32 connections, 2 cores), parking 8 per key left most concurrent calls of
//! a slow-starting runtime to instantiate afresh (Python: 3 ms each): 1.6k
//! requests/s reused; parking 64, 8.9k, and Rust 40k → 75k.

use crate::bindings::versioned::Provider;
use crate::bindings::versioned::Tool;
use crate::call_state::{CallState, Overlay, Tenant};
use crate::context::CallCtx;
use crate::grants::Grants;
use crate::plugins::LoadedPlugin;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

/// A parked instance unused this long is dropped.
pub const IDLE_TTL: Duration = Duration::from_secs(30);

/// Parked instances per plugin version and tenant: as many as a busy
/// plugin's calls in flight at once (one per open connection), so a steady
/// load finds one for every call; the pool's budgets bound them all.
pub const MAX_IDLE_PER_KEY: usize = 64;

/// The typed exports of an instance, by plugin kind.
pub enum Exports {
    Provider(Provider),
    Tool(Tool),
    Api(Proxy),
}

/// One kind's typed exports, parked as [`Exports`] and taken back as itself.
pub trait Reusable: Sized {
    fn into_exports(self) -> Exports;
    /// `None` for another kind's exports (a plugin version's instances are
    /// all of its kind, so a take never sees one).
    fn from_exports(exports: Exports) -> Option<Self>;
}

macro_rules! reusable {
    ($ty:ty, $variant:ident) => {
        impl Reusable for $ty {
            fn into_exports(self) -> Exports {
                Exports::$variant(self)
            }
            fn from_exports(exports: Exports) -> Option<Self> {
                match exports {
                    Exports::$variant(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}
reusable!(Provider, Provider);
reusable!(Tool, Tool);
reusable!(Proxy, Api);

/// Whether `plugin` opts in to reuse at all.
pub fn reuses(plugin: &LoadedPlugin) -> bool {
    plugin.manifest.limits.calls_per_instance > 1
}

/// A store with its instance, between calls.
pub struct Warm {
    pub store: Store<CallState>,
    pub exports: Exports,
    /// Calls this instance has served.
    pub calls: u32,
}

struct Parked {
    warm: Warm,
    since: Instant,
    /// Its linear memory, counted against the pool's budget.
    bytes: usize,
}

/// Parked instances by plugin version (its `Grants` allocation: a
/// parked store holds that `Arc`, so the address is not reused while it
/// waits), tenant and router deployment (its overlay's allocation, which the
/// router holds for its lifetime; 0 for none): an instance that read one
/// deployment's key never serves another deployment, which may send what
/// it kept to another host.
type Key = (usize, Tenant, usize);

pub struct WarmPool {
    idle: Mutex<Idle>,
    /// Most instances parked in all.
    max_total: usize,
    /// Most linear memory parked instances hold together.
    max_bytes: usize,
}

#[derive(Default)]
struct Idle {
    by_key: HashMap<Key, Vec<Parked>>,
    /// Instances in `by_key`, all keys together.
    total: usize,
    /// Their linear memory together.
    bytes: usize,
}

impl WarmPool {
    /// A pool that parks at most `max_total` instances holding at most
    /// `max_bytes` of linear memory in all.
    pub fn new(max_total: usize, max_bytes: usize) -> WarmPool {
        WarmPool {
            idle: Mutex::new(Idle::default()),
            max_total,
            max_bytes,
        }
    }

    fn key(grants: &Arc<Grants>, tenant: &Tenant, overlay: Option<&Arc<Overlay>>) -> Key {
        (
            Arc::as_ptr(grants) as usize,
            tenant.clone(),
            overlay.map_or(0, |o| Arc::as_ptr(o) as usize),
        )
    }

    /// A parked instance of `plugin` (this version) for the call `ctx`: the
    /// same tenant and deployment, the most recently parked first (its
    /// memory is the likeliest still cached). A call whose memory is capped
    /// below its plugin's limit takes only one that holds no more than the
    /// cap: linear memory never shrinks, and an earlier call's would be
    /// this one's to use.
    pub fn take(&self, plugin: &Arc<LoadedPlugin>, ctx: &CallCtx) -> Option<Warm> {
        if !reuses(plugin) {
            return None;
        }
        let cap = ctx.memory_mb.map_or(usize::MAX, |mb| (mb as usize) << 20);
        let mut idle = crate::lock(&self.idle);
        let parked = idle.by_key.get_mut(&Self::key(
            &plugin.grants,
            &ctx.tenant,
            ctx.overlay.as_ref(),
        ))?;
        let at = parked.iter().rposition(|p| p.bytes <= cap)?;
        let parked = parked.remove(at);
        idle.total -= 1;
        idle.bytes -= parked.bytes;
        Some(parked.warm)
    }

    /// Parks `warm` after a call that ended normally. Gives it back when it
    /// may not wait: its calls are used up, its memory ran out or grew past
    /// half its limit, it still holds host resources (an upstream body left
    /// open would keep its connection out of the pool for as long as the
    /// instance waits, and pass to the next call), or the pool is full. The
    /// caller drops what it gets back.
    pub fn put(&self, mut warm: Warm) -> Option<Warm> {
        let state = warm.store.data();
        let limits = &state.grants.limits;
        if warm.calls >= limits.calls_per_instance
            || state.limits.memory_limit_hit
            || state.limits.memory_bytes as u64 > (limits.memory_mb << 20) / 2
        {
            return Some(warm);
        }
        if state.holds_resources() {
            if tracing::enabled!(tracing::Level::DEBUG) {
                let state = warm.store.data_mut();
                let held = state.held_resources();
                let plugin = &state.grants.plugin;
                tracing::debug!(%plugin, ?held, "instance not parked: it holds host resources");
            }
            return Some(warm);
        }
        let state = warm.store.data();
        let key = Self::key(&state.grants, &state.tenant, state.overlay.as_ref());
        let bytes = state.limits.memory_bytes;
        let mut idle = crate::lock(&self.idle);
        if idle.total >= self.max_total || idle.bytes + bytes > self.max_bytes {
            return Some(warm);
        }
        let parked = idle.by_key.entry(key).or_default();
        if parked.len() >= MAX_IDLE_PER_KEY {
            return Some(warm);
        }
        warm.store.data_mut().park();
        parked.push(Parked {
            warm,
            since: Instant::now(),
            bytes,
        });
        idle.total += 1;
        idle.bytes += bytes;
        None
    }

    /// Removes what may no longer be used: instances of plugin versions for
    /// which `current` is false (swapped out, unloaded) and those parked
    /// longer than [`IDLE_TTL`]. Returns them, to be dropped off the lock.
    pub fn prune(&self, current: impl Fn(&Arc<Grants>) -> bool) -> Vec<Warm> {
        let mut idle = crate::lock(&self.idle);
        let mut gone = Vec::new();
        idle.by_key.retain(|_, parked| {
            let live = parked
                .first()
                .is_some_and(|p| current(&p.warm.store.data().grants));
            gone.extend(parked.extract_if(.., |p| !live || p.since.elapsed() >= IDLE_TTL));
            !parked.is_empty()
        });
        idle.total -= gone.len();
        idle.bytes -= gone.iter().map(|p| p.bytes).sum::<usize>();
        gone.into_iter().map(|p| p.warm).collect()
    }

    /// Instances parked now.
    pub fn idle(&self) -> usize {
        crate::lock(&self.idle).total
    }

    /// The linear memory parked instances hold now, together.
    pub fn bytes(&self) -> usize {
        crate::lock(&self.idle).bytes
    }
}
