//! The durable job queue and its scheduler (the seed's Job Queue Manager).
//!
//! Jobs live in the node's redb file (`store`); the jobs not yet finished are
//! also held in memory, where the scheduler keeps a priority heap of those
//! ready to run, a timer heap of retries waiting out their backoff, and the
//! dependency counts of jobs waiting on parents. A job starts only with a
//! global, a tenant and a provider permit (semaphores); its attempt is
//! counted durably before any of its work runs, so after a crash every job is
//! done, failed, or pending again with that attempt counted (at-least-once).
//!
//! State machine: pending → processing → done | failed (| cancelled | skipped),
//! processing → pending again while retries remain. Fork and branch make new
//! jobs from a job's conversation; both stay.
//!
//! Here: the `Jobs` queue and the scheduler's in-memory state. Beside it:
//! `config` (settings, errors), `recovery` (start after a restart),
//! `submit`, `queries` (get, list, messages, stats), `fork` (fork, branch),
//! `dispatch` (the scheduler loop, starting and running attempts), `settle`
//! (an attempt's outcome, cancel, dependents), `agents`, `run` (what each
//! job kind does), `model` (the types), `store` (redb), `host` (what jobs
//! need from the node).

mod agents;
mod config;
mod dispatch;
mod fork;
mod host;
pub mod memory;
pub mod model;
mod queries;
mod recovery;
mod run;
mod settle;
pub mod store;
mod submit;

pub use config::{JobsConfig, JobsError};
pub use host::JobHost;

use crate::lock;
use crate::router::Placement;
use crate::tenant::Tenant;
use model::{Job, JobKind};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use store::JobStore;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

struct Live {
    job: Job,
    /// Parents not yet done.
    waiting_on: usize,
    provider: Option<String>,
    /// GPU memory (MiB) its model needs free to start (every deployment of
    /// the model needs some: `gpu_memory_mb`).
    gpu_memory_mb: Option<u64>,
    cancel: Option<CancellationToken>,
}

#[derive(Default)]
struct Sched {
    live: HashMap<u64, Live>,
    /// Ready to run: highest priority first, then oldest.
    ready: BinaryHeap<(i32, Reverse<u64>)>,
    /// Retries waiting out their backoff: (due ms, job).
    delayed: BinaryHeap<Reverse<(u64, u64)>>,
    /// Idempotency keys submitted but not yet durable (the rest are in redb).
    keys: HashMap<(String, String), u64>,
    /// Children of stored (finished) parents not yet durable, by parent:
    /// with the store's count, what `max_children` is checked against.
    new_children: HashMap<u64, u64>,
    /// Live jobs per tenant, for `max_pending_per_tenant`.
    per_tenant: HashMap<String, usize>,
    running: usize,
}

impl Sched {
    fn add_live(&mut self, n: u64, live: Live) {
        match self.per_tenant.get_mut(&live.job.tenant) {
            Some(c) => *c += 1,
            None => {
                self.per_tenant.insert(live.job.tenant.clone(), 1);
            }
        }
        self.live.insert(n, live);
    }

    fn remove_live(&mut self, n: u64) -> Option<Live> {
        let live = self.live.remove(&n)?;
        if let Some(c) = self.per_tenant.get_mut(&live.job.tenant) {
            *c -= 1;
            if *c == 0 {
                self.per_tenant.remove(&live.job.tenant);
            }
        }
        Some(live)
    }
}

/// Counters since start, for `/v2/health` and the benchmark.
#[derive(Default)]
pub struct JobCounters {
    pub submitted: AtomicU64,
    pub started: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

pub struct Jobs {
    pub store: JobStore,
    cfg: JobsConfig,
    sched: Mutex<Sched>,
    wake: Arc<Notify>,
    next_job: AtomicU64,
    next_agent: AtomicU64,
    global: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Tenants with a running-jobs limit of their own (`tenants.<name>.max_running_jobs`).
    running_per_tenant: HashMap<String, usize>,
    providers: Mutex<HashMap<String, Arc<Semaphore>>>,
    host: OnceLock<Weak<dyn JobHost>>,
    /// Serializes agent writes, so two creations cannot both take one name.
    agent_writes: tokio::sync::Mutex<()>,
    /// Set on shutdown: no job starts any more.
    stopping: std::sync::atomic::AtomicBool,
    pub counters: JobCounters,
}

impl Drop for Jobs {
    fn drop(&mut self) {
        // Lets the scheduler loop see that the queue is gone.
        self.wake.notify_one();
    }
}

impl Jobs {
    /// Opens the job tables in `db`; nothing runs until [`Jobs::start`].
    pub fn open(db: Arc<redb::Database>, cfg: JobsConfig) -> Result<Jobs, store::StoreError> {
        let (store, counters) = JobStore::open(db, cfg.durable, cfg.events_retained.max(1))?;
        Ok(Jobs {
            store,
            global: Arc::new(Semaphore::new(cfg.max_concurrency.max(1))),
            cfg,
            sched: Mutex::default(),
            wake: Arc::new(Notify::new()),
            next_job: AtomicU64::new(counters.last_job + 1),
            next_agent: AtomicU64::new(counters.last_agent + 1),
            tenants: Mutex::default(),
            running_per_tenant: HashMap::new(),
            providers: Mutex::default(),
            host: OnceLock::new(),
            agent_writes: Default::default(),
            stopping: Default::default(),
            counters: JobCounters::default(),
        })
    }

    /// The queue with the operator's per-tenant limits on jobs running at
    /// once (they replace `jobs.per_tenant` for those tenants).
    pub fn with_tenant_limits(mut self, tenants: &crate::tenant_policy::TenantPolicies) -> Jobs {
        self.running_per_tenant = tenants
            .names()
            .filter_map(|name| Some((name.to_string(), tenants.get(name).max_running_jobs?)))
            .collect();
        self
    }

    /// Stops starting jobs, lets running attempts finish for up to `grace`,
    /// and waits until every write is on disk. Attempts still running after
    /// that resume on the next start (counted, as after a crash).
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let deadline = std::time::Instant::now() + grace;
        let mut running = lock(&self.sched).running;
        while running > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            running = lock(&self.sched).running;
        }
        if running > 0 {
            tracing::warn!(
                running,
                "jobs still running at shutdown; they resume on the next start"
            );
        }
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "cannot flush the job store at shutdown");
        }
    }

    fn host(&self) -> Option<Arc<dyn JobHost>> {
        self.host.get().and_then(Weak::upgrade)
    }

    /// The provider a job of `tenant` counts against, for per-provider
    /// limits, and the GPU memory its model needs.
    fn placement(&self, rt: &dyn JobHost, tenant: &str, kind: JobKind, input: &Value) -> Placement {
        let tenant = Tenant::from(tenant);
        let placed = || match kind {
            // Only a key for limits: whether the tenant may use the tool is
            // decided when the job runs.
            JobKind::Tool => Some(Placement {
                provider: Some(rt.tool(&tenant, input.get("tool")?.as_str()?)?.0),
                gpu_memory_mb: None,
            }),
            JobKind::Llm => Some(
                rt.router()
                    .placement_of(&tenant, input.get("model")?.as_str()?),
            ),
            JobKind::Agent => {
                let agent = self
                    .store
                    .agent(model::parse_agent_id(input.get("agent")?.as_str()?)?)
                    .ok()??;
                Some(rt.router().placement_of(&tenant, &agent.spec.model))
            }
        };
        placed().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
