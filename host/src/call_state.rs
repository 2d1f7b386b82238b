//! The data of one plugin call's `Store`: who is calling (tenant), which plugin,
//! what it was granted, and the WASI state. Built fresh for every call and
//! dropped with it, so nothing leaks between calls, tenants or plugins; a
//! plugin whose manifest opts in to reuse keeps it for its next calls of the
//! same tenant ([`crate::warm`]), and [`CallState::resume`] re-arms it.

use crate::bindings::tools::ToolInfo;
use crate::context::CallCtx;
pub use crate::context::Overlay;
use crate::engine::{ActiveCall, Engine};
use crate::grants::{Capability, Denied, Grants};
use crate::guest_stderr::StderrTail;
use crate::jobs::{JobHost, Jobs};
use crate::kv_table::KvTable;
use crate::outbound::{OutboundPolicy, PolicedHooks};
use crate::sched::CpuHistory;
pub use crate::tenant::{DEFAULT_TENANT, Tenant};
use std::sync::{Arc, Weak};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What the host side of the interfaces reaches beyond the call itself: the
/// node's services, on top of what jobs reach too ([`JobHost`]: the router,
/// running a tool). The runtime implements it; a call's state holds it
/// weakly ([`CallState::node`]).
pub trait Services: JobHost {
    /// The kv table.
    fn kv(&self) -> &Arc<KvTable>;
    /// Bytes of kv data `tenant` may hold, when the operator set a quota.
    fn kv_quota(&self, tenant: &Tenant) -> Option<u64>;
    fn jobs(&self) -> &Arc<Jobs>;
    /// Whether plugin `plugin` may log one more line now (its rate limit).
    fn admit_log(&self, plugin: &str) -> bool;
    /// The tools of the catalog `tenant` may use.
    fn tools(&self, tenant: &Tenant) -> Vec<ToolInfo>;
    fn tool_info(&self, tenant: &Tenant, name: &str) -> Option<ToolInfo>;
    /// The container engine.
    fn containers(&self) -> &Arc<crate::containers::Containers>;
    /// Vector rows `tenant` may hold, when the operator set a quota.
    fn vector_rows_quota(&self, tenant: &Tenant) -> Option<u64>;
    /// The TEE the node runs in.
    fn tee(&self) -> &Arc<crate::tee::Tee>;
    /// The node's GPUs.
    fn gpus(&self) -> &Arc<crate::gpu::Gpus>;
    /// Key `key` of the node's key store for plugin `plugin`'s secret
    /// `secret`, mapped at `tier`; or why the node withholds it.
    fn release_key(
        &self,
        plugin: &str,
        secret: &str,
        key: &str,
        tier: u8,
    ) -> Result<String, String>;
}

/// The linear memory a call may hold, in bytes: its plugin's limit, or the
/// call's own cap when lower.
fn memory_limit(grants: &Grants, ctx: &CallCtx) -> usize {
    let mb = ctx.memory_mb.map_or(grants.limits.memory_mb, |cap| {
        cap.min(grants.limits.memory_mb)
    });
    (mb as usize) << 20
}

/// What a call may reach: its plugin's grant, or nothing when offline.
fn outbound_for(grants: &Grants, offline: bool) -> Arc<OutboundPolicy> {
    if offline {
        Arc::new(OutboundPolicy::new(&grants.plugin, &[]))
    } else {
        grants.outbound.clone()
    }
}

pub struct CallState {
    pub tenant: Tenant,
    pub overlay: Option<Arc<Overlay>>,
    /// What the plugin may do (and its name and limits).
    pub grants: Arc<Grants>,
    /// The plugin's CPU history, which the scheduler reads at each tick.
    pub cpu: Arc<CpuHistory>,
    /// The node's services. Weak: a reusable store waits in the runtime's
    /// warm pool, and must not keep the node alive from there. A call's
    /// caller holds the node.
    node: Weak<dyn Services>,
    /// When the call started; the epoch callback enforces the time limit from it.
    pub started: Instant,
    /// The instance is starting (instantiation runs its start code).
    pub starting: bool,
    pub limits: CallLimiter,
    /// Nesting depth of tool invocations made through `hanzo:node/tools`.
    pub depth: u32,
    /// Keeps the epoch ticker running while a call is in progress; none
    /// while the store waits for reuse.
    active: Option<ActiveCall>,
    /// The end of what the plugin wrote to stderr, for the message of a trap.
    pub stderr: StderrTail,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: PolicedHooks,
    table: ResourceTable,
}

impl CallState {
    pub fn new(
        node: Weak<dyn Services>,
        engine: &Engine,
        grants: Arc<Grants>,
        cpu: Arc<CpuHistory>,
        ctx: CallCtx,
    ) -> CallState {
        // WASI is linked so components from any toolchain load, but grants
        // nothing: no preopens, no env, no args, no sockets, stdin and stdout
        // discarded; stderr's tail is kept to explain a trap (a traceback).
        let stderr = StderrTail::default();
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .stderr(stderr.clone())
            .build();
        let limits = CallLimiter::new(memory_limit(&grants, &ctx));
        CallState {
            active: Some(engine.begin_call()),
            hooks: PolicedHooks {
                policy: outbound_for(&grants, ctx.offline),
            },
            tenant: ctx.tenant,
            overlay: ctx.overlay,
            grants,
            cpu,
            node,
            started: Instant::now(),
            starting: false,
            limits,
            depth: ctx.depth,
            stderr,
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        }
    }

    /// The node's services for an interface that needs `capability`, only
    /// when the plugin was granted it; the outer error: the node is shutting
    /// down. Interfaces needing a grant reach the node through this alone.
    pub fn granted(
        &self,
        capability: Capability,
    ) -> wasmtime::Result<Result<Arc<dyn Services>, Denied>> {
        if let Err(denied) = self.grants.require(capability) {
            return Ok(Err(denied));
        }
        self.node().map(Ok)
    }

    /// The hosts this call may reach (wasi:http and `hanzo:node/fetch`).
    pub fn outbound(&self) -> Arc<OutboundPolicy> {
        self.hooks.policy.clone()
    }

    /// The services of the node this call runs on (for interfaces that need
    /// no grant: config, log, fetch).
    pub fn node(&self) -> wasmtime::Result<Arc<dyn Services>> {
        self.node
            .upgrade()
            .ok_or_else(|| wasmtime::format_err!("the node is shutting down"))
    }

    /// The context of the call running now, for a call it makes.
    pub fn ctx(&self) -> CallCtx {
        CallCtx {
            tenant: self.tenant.clone(),
            overlay: None,
            depth: self.depth,
            // A tool it calls runs under that tool's own settings.
            offline: false,
            memory_mb: None,
        }
    }

    /// Before the store waits for its next call: no ticking on its behalf,
    /// no deployment settings left over.
    pub fn park(&mut self) {
        self.active = None;
        self.overlay = None;
    }

    /// Re-arms a parked store for a new call in `ctx`.
    pub fn resume(&mut self, engine: &Engine, ctx: CallCtx) {
        self.active = Some(engine.begin_call());
        self.limits.memory_limit = memory_limit(&self.grants, &ctx);
        self.overlay = ctx.overlay;
        self.depth = ctx.depth;
        self.hooks.policy = outbound_for(&self.grants, ctx.offline);
        self.started = Instant::now();
        self.stderr.clear();
    }

    /// The call's resource table, for host resources such as LLM streams.
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// True while the plugin holds host resources (an upstream body, an LLM
    /// stream, wasi handles) it has not dropped.
    pub fn holds_resources(&self) -> bool {
        !self.table.is_empty()
    }

    /// What the plugin still holds, by kind, for the log line saying why an
    /// instance was not parked.
    pub fn held_resources(&mut self) -> Vec<&'static str> {
        use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable};
        use wasmtime_wasi_http::FieldMap;
        use wasmtime_wasi_http::p2::body::{HostIncomingBody, HostOutgoingBody};
        use wasmtime_wasi_http::p2::types::{
            HostFutureIncomingResponse, HostIncomingRequest, HostIncomingResponse,
            HostOutgoingRequest, HostOutgoingResponse, HostResponseOutparam,
        };
        self.table
            .iter_mut()
            .map(|e| {
                let e: &dyn std::any::Any = e;
                macro_rules! kind {
                    ($($t:ty),*) => {{
                        $(if e.is::<$t>() { return stringify!($t); })*
                        "other"
                    }};
                }
                kind!(
                    HostIncomingRequest,
                    FieldMap,
                    HostResponseOutparam,
                    HostOutgoingResponse,
                    HostOutgoingRequest,
                    HostIncomingResponse,
                    HostFutureIncomingResponse,
                    HostIncomingBody,
                    HostOutgoingBody,
                    DynInputStream,
                    DynOutputStream,
                    DynPollable
                )
            })
            .collect()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The plugin's resource limits, remembering whether memory ran out so the
/// resulting trap is reported as a memory limit, not a generic crash.
///
/// The memory limit holds for all the store's linear memories together: a
/// component may have several (the pool allows 4 per component), and each
/// limited on its own would multiply the plugin's share.
pub struct CallLimiter {
    inner: StoreLimits,
    /// The limit on all linear memories together, in bytes.
    memory_limit: usize,
    pub memory_limit_hit: bool,
    /// The linear memory of the store, all memories together, in bytes.
    pub memory_bytes: usize,
}

impl CallLimiter {
    /// Limits for a plugin granted `memory_limit` bytes of linear memory.
    pub fn new(memory_limit: usize) -> CallLimiter {
        CallLimiter {
            // No per-memory size here: the total is checked first (below),
            // and the limit changes between calls of a parked instance.
            inner: StoreLimitsBuilder::new()
                .trap_on_grow_failure(true)
                .instances(64)
                .tables(64)
                .memories(8)
                .build(),
            memory_limit,
            memory_limit_hit: false,
            memory_bytes: 0,
        }
    }

    /// The limit on all linear memories together, in MiB.
    pub fn limit_mb(&self) -> u64 {
        (self.memory_limit >> 20) as u64
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Memories only grow; `current` of this one is counted already.
        let total = (self.memory_bytes - current.min(self.memory_bytes)).saturating_add(desired);
        if total > self.memory_limit {
            self.memory_limit_hit = true;
            wasmtime::bail!(
                "forcing trap when growing memory to {desired} bytes: the plugin's memories \
                 would take {total} bytes together, over its limit of {} bytes",
                self.memory_limit
            );
        }
        let r = self.inner.memory_growing(current, desired, maximum);
        if matches!(r, Ok(true)) {
            self.memory_bytes = total;
        } else {
            self.memory_limit_hit = true;
        }
        r
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_limit_hit = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::CallLimiter;
    use wasmtime::ResourceLimiter;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_memory_limit_holds_for_all_memories_together() {
        let mut l = CallLimiter::new(10 * MIB);
        // Two memories created, then grown.
        assert!(l.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(l.memory_growing(4 * MIB, 6 * MIB, None).unwrap());
        assert_eq!(l.memory_bytes, 10 * MIB);
        assert!(!l.memory_limit_hit);
        // Either memory growing past the total is refused, with a trap.
        assert!(l.memory_growing(4 * MIB, 4 * MIB + 65536, None).is_err());
        assert!(l.memory_limit_hit);
        // A third memory, each under the limit on its own, too.
        let mut l = CallLimiter::new(10 * MIB);
        for _ in 0..3 {
            let _ = l.memory_growing(0, 4 * MIB, None);
        }
        assert!(l.memory_limit_hit);
        assert!(l.memory_bytes <= 10 * MIB);
    }
}
