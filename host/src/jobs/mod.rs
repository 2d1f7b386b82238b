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

mod agents;
mod host;
pub mod model;
mod run;
pub mod store;

use crate::lock;
pub use host::JobHost;
use model::{
    Agent, ChatMessage, Job, JobError, JobKind, JobMessage, JobSpec, JobState, Origin, RetryPolicy,
    job_id, now_ms, parse_job_id,
};
use serde::Deserialize;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use store::{JobStore, Write};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// `[jobs]` in node.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs running at once on this node.
    pub max_concurrency: usize,
    /// Jobs running at once per tenant; 0: only the global limit applies.
    pub per_tenant: usize,
    /// Jobs running at once per provider plugin (the tool's plugin for tool
    /// jobs, the model's first deployment's provider for llm and agent jobs).
    pub per_provider: BTreeMap<String, usize>,
    /// For providers not named in `per_provider`; 0: no limit.
    pub default_per_provider: usize,
    /// Time limit of one attempt when the job sets none.
    pub default_timeout_ms: u64,
    /// Retries when the job sets none (the seed's RetryConfig).
    pub retry: RetryPolicy,
    /// Flush every group commit to disk. Off only to measure what durability costs.
    pub durable: bool,
    /// Events kept for subscribers that resume; older ones are pruned.
    pub events_retained: u64,
    /// Jobs of one tenant not yet finished (pending or running); a
    /// submission past it is refused with `too_many_pending_jobs`.
    pub max_pending_per_tenant: usize,
    /// Jobs that may name one job as their parent (`too_many_children`).
    pub max_children: usize,
}

impl JobsConfig {
    /// Checks the bounds, naming the `jobs.` key at fault.
    pub fn validate(&self) -> Result<(), String> {
        self.retry.validate("jobs.retry")?;
        if self.default_timeout_ms == 0 || self.default_timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!(
                "jobs.default_timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"
            ));
        }
        for (key, value) in [
            ("max_pending_per_tenant", self.max_pending_per_tenant),
            ("max_children", self.max_children),
        ] {
            if value == 0 {
                return Err(format!("jobs.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_concurrency: 64,
            per_tenant: 0,
            per_provider: BTreeMap::new(),
            default_per_provider: 0,
            default_timeout_ms: 300_000,
            retry: RetryPolicy::default(),
            durable: true,
            events_retained: 200_000,
            max_pending_per_tenant: 100_000,
            max_children: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(String),
    /// A bound was hit: `code` names it (`too_many_pending_jobs`,
    /// `too_many_children`), the message says which setting holds it.
    #[error("{message}")]
    Limit { code: &'static str, message: String },
}

impl JobsError {
    /// The stable code of a limit error, for transports with no case of
    /// their own for limits (WIT `conflict` carries it as `code: message`).
    pub fn limit_code(&self) -> Option<&'static str> {
        match self {
            JobsError::Limit { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Longest time limit of one attempt: one day.
const MAX_TIMEOUT_MS: u64 = 86_400_000;

impl From<store::StoreError> for JobsError {
    fn from(e: store::StoreError) -> Self {
        JobsError::Store(e.to_string())
    }
}

/// Parents a job may wait on.
const MAX_PARENTS: usize = 64;
/// Ready jobs set aside in one scheduling pass because their tenant or
/// provider is at its limit; the pass stops there.
const MAX_BLOCKED_PER_PASS: usize = 1024;

struct Live {
    job: Job,
    /// Parents not yet done.
    waiting_on: usize,
    provider: Option<String>,
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
    providers: Mutex<HashMap<String, Arc<Semaphore>>>,
    host: OnceLock<Weak<dyn JobHost>>,
    /// Serializes agent writes, so two creations cannot both take one name.
    agent_writes: tokio::sync::Mutex<()>,
    /// Set on shutdown: no job starts any more.
    stopping: std::sync::atomic::AtomicBool,
    pub counters: JobCounters,
}

/// What one attempt came to.
enum Outcome {
    Done(serde_json::Value),
    Failed(JobError),
}

/// The permits a running job holds; releasing them wakes the scheduler.
struct Permits {
    _held: Vec<OwnedSemaphorePermit>,
    wake: Arc<Notify>,
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
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
            providers: Mutex::default(),
            host: OnceLock::new(),
            agent_writes: Default::default(),
            stopping: Default::default(),
            counters: JobCounters::default(),
        })
    }

    /// Recovers the jobs a previous run left unfinished, then starts the
    /// scheduler. Jobs that were processing go back to pending with their
    /// attempt counted (or fail, out of attempts).
    pub async fn start(self: &Arc<Self>, host: Weak<dyn JobHost>) -> Result<(), JobsError> {
        let Some(rt) = host.upgrade() else {
            return Ok(());
        };
        if self.host.set(host).is_err() {
            return Ok(());
        }
        let stored = self.store.live_jobs()?;
        let processing = stored
            .iter()
            .filter(|j| j.state == JobState::Processing)
            .count();
        let pending = stored.len() - processing;
        let mut writes = Vec::new();
        {
            let mut s = lock(&self.sched);
            let now = now_ms();
            for mut job in stored {
                job.message_count = self.store.last_message_seq(job.number())?;
                if job.state == JobState::Processing {
                    let error = JobError::new(
                        "interrupted",
                        format!("the node stopped during attempt {}", job.attempts),
                        true,
                    );
                    job.error = Some(error);
                    job.updated_ms = now;
                    if job.attempts >= job.retry.max_attempts {
                        job.state = JobState::Failed;
                        job.finished_ms = Some(now);
                        job.error.as_mut().unwrap().retryable = false;
                    } else {
                        job.state = JobState::Pending;
                    }
                    writes.push(Write::update(job.clone()));
                }
                if job.state.is_terminal() {
                    continue;
                }
                let provider = self.provider_key(&*rt, job.kind, &job.input);
                s.add_live(
                    job.number(),
                    Live {
                        job,
                        waiting_on: 0,
                        provider,
                        cancel: None,
                    },
                );
            }
            // Dependencies: count the parents not yet done; a parent that
            // failed while this job waited settles it now.
            let numbers: Vec<u64> = s.live.keys().copied().collect();
            for n in numbers {
                let Some(parents) = s.live.get(&n).map(|l| l.job.parents.clone()) else {
                    continue;
                };
                let mut waiting = 0;
                let mut failed_parent = None;
                for p in &parents {
                    let pn = parse_job_id(p).unwrap_or(0);
                    if s.live.contains_key(&pn) {
                        waiting += 1;
                    } else {
                        match self.store.parent(pn)?.map(|j| j.state) {
                            Some(JobState::Done) => {}
                            _ => failed_parent = Some(p.clone()),
                        }
                    }
                }
                let Some(live) = s.live.get_mut(&n) else {
                    continue;
                };
                live.waiting_on = waiting;
                if let Some(parent) = failed_parent {
                    Self::fail_dependent(&mut live.job, &parent, now);
                    writes.push(Write::update(live.job.clone()));
                    // Nothing else runs yet, so settle the whole chain now.
                    let mut stack = vec![n];
                    while let Some(m) = stack.pop() {
                        stack.extend(self.settle(&mut s, m, &mut writes));
                    }
                }
            }
            let ready: Vec<(i32, Reverse<u64>)> = s
                .live
                .iter()
                .filter(|(_, l)| l.waiting_on == 0)
                .map(|(n, l)| (l.job.priority, Reverse(*n)))
                .collect();
            s.ready.extend(ready);
        }
        self.store.commit(writes).await.map_err(JobsError::Store)?;
        if pending + processing > 0 {
            tracing::info!(
                pending,
                interrupted = processing,
                "jobs recovered from the previous run"
            );
        }
        tokio::spawn(Self::dispatch(Arc::downgrade(self), self.wake.clone()));
        Ok(())
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

    /// The provider a job counts against, for per-provider limits.
    fn provider_key(&self, rt: &dyn JobHost, kind: JobKind, input: &Value) -> Option<String> {
        match kind {
            JobKind::Tool => Some(rt.tool(input.get("tool")?.as_str()?)?.0),
            JobKind::Llm => rt.router().provider_of(input.get("model")?.as_str()?),
            JobKind::Agent => {
                let agent = self
                    .store
                    .agent(model::parse_agent_id(input.get("agent")?.as_str()?)?)
                    .ok()??;
                rt.router().provider_of(&agent.spec.model)
            }
        }
    }

    // ---- submission ------------------------------------------------------

    /// Checks a spec's input against its kind, before anything is stored.
    /// An agent job's agent, read to check it exists, is returned.
    fn check_input(&self, tenant: &str, spec: &JobSpec) -> Result<Option<Agent>, JobsError> {
        let invalid = |m: &str| Err(JobsError::Invalid(m.to_string()));
        let input = &spec.input;
        let mut agent = None;
        match spec.kind {
            JobKind::Tool => {
                if !input.get("tool").is_some_and(|t| t.is_string()) {
                    return invalid("a tool job's input needs `tool` (a tool name)");
                }
                if input.get("arguments").is_some_and(|a| !a.is_object()) {
                    return invalid("a tool job's `arguments` must be a JSON object");
                }
            }
            JobKind::Llm => {
                if !input.get("model").is_some_and(|t| t.is_string()) {
                    return invalid("an llm job's input needs `model` (a model alias)");
                }
                run::llm_input(input).map_err(JobsError::Invalid)?;
            }
            JobKind::Agent => {
                let Some(id) = input.get("agent").and_then(|a| a.as_str()) else {
                    return invalid("an agent job's input needs `agent` (an agent id)");
                };
                agent = Some(
                    self.agent(tenant, id)
                        .map_err(|_| JobsError::Invalid(format!("no agent `{id}`")))?,
                );
                run::agent_input(input).map_err(JobsError::Invalid)?;
            }
        }
        if let Some(r) = &spec.retry {
            r.validate("retry").map_err(JobsError::Invalid)?;
        }
        if spec
            .timeout_ms
            .is_some_and(|t| t == 0 || t > MAX_TIMEOUT_MS)
        {
            return Err(JobsError::Invalid(format!(
                "timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"
            )));
        }
        if spec
            .idempotency_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 256)
        {
            return invalid("idempotency_key must be 1 to 256 characters");
        }
        if spec.parents.len() > MAX_PARENTS {
            return Err(JobsError::Invalid(format!(
                "a job may wait on at most {MAX_PARENTS} parents"
            )));
        }
        Ok(agent)
    }

    /// Submits a job. With an idempotency key already used by this tenant,
    /// returns that job and `true` instead. Returns once the job is durable.
    pub async fn submit(
        self: &Arc<Self>,
        tenant: &str,
        spec: JobSpec,
    ) -> Result<(Job, bool), JobsError> {
        let agent = self.check_input(tenant, &spec)?;
        // Looked up before `insert` locks the scheduler (it may read the
        // store); an agent job's agent was just read.
        let provider = self.host().and_then(|rt| match &agent {
            Some(agent) => rt.router().provider_of(&agent.spec.model),
            None => self.provider_key(&*rt, spec.kind, &spec.input),
        });
        self.insert(tenant, spec, provider, None, Vec::new()).await
    }

    /// Stores a new job (with `messages` as its conversation so far) and
    /// queues it, counted against `provider`'s limits. `origin` marks forks
    /// and branches.
    async fn insert(
        self: &Arc<Self>,
        tenant: &str,
        spec: JobSpec,
        provider: Option<String>,
        origin: Option<Origin>,
        messages: Vec<ChatMessage>,
    ) -> Result<(Job, bool), JobsError> {
        let ack;
        let job;
        let unsaved_children;
        {
            let mut s = lock(&self.sched);
            if let Some(key) = &spec.idempotency_key {
                let known = match s.keys.get(&(tenant.to_string(), key.clone())) {
                    Some(n) => Some(*n),
                    None => self.store.idempotency(tenant, key)?,
                };
                if let Some(n) = known {
                    drop(s);
                    let existing = self.get_number(tenant, n)?;
                    return Ok((existing, true));
                }
            }
            let pending = s.per_tenant.get(tenant).copied().unwrap_or(0);
            if pending >= self.cfg.max_pending_per_tenant {
                return Err(JobsError::Limit {
                    code: "too_many_pending_jobs",
                    message: format!(
                        "tenant `{tenant}` has {pending} jobs not yet finished, the most jobs.max_pending_per_tenant allows"
                    ),
                });
            }
            // Parents: same tenant, existing, with room for a child; all
            // checked before any is changed.
            let mut parents: Vec<(String, u64, bool)> = Vec::new();
            let mut failed_parent = None;
            for p in &spec.parents {
                let pn = parse_job_id(p)
                    .ok_or_else(|| JobsError::Invalid(format!("`{p}` is not a job id")))?;
                if parents.iter().any(|(_, n, _)| *n == pn) {
                    continue;
                }
                let missing = || JobsError::Invalid(format!("parent `{p}` does not exist"));
                let (children, live) = match s.live.get(&pn) {
                    Some(l) if l.job.tenant == tenant => (l.job.children.len() as u64, true),
                    Some(_) => return Err(missing()),
                    None => {
                        let head = self
                            .store
                            .parent(pn)?
                            .filter(|h| h.tenant == tenant)
                            .ok_or_else(missing)?;
                        if head.state != JobState::Done {
                            failed_parent = Some(p.clone());
                        }
                        let unsaved = s.new_children.get(&pn).copied().unwrap_or(0);
                        (head.children + unsaved, false)
                    }
                };
                if children >= self.cfg.max_children as u64 {
                    return Err(JobsError::Limit {
                        code: "too_many_children",
                        message: format!(
                            "job {p} already has {children} children, the most jobs.max_children allows"
                        ),
                    });
                }
                parents.push((p.clone(), pn, live));
            }
            let number = self.next_job.fetch_add(1, Ordering::Relaxed);
            let id = job_id(number);
            let mut writes = Vec::new();
            let mut waiting_on = 0;
            // Adding a child writes one index entry; the parent's record stays.
            for (_, pn, live) in &parents {
                writes.push(Write::Child {
                    parent: *pn,
                    child: number,
                });
                if *live {
                    if let Some(l) = s.live.get_mut(pn) {
                        l.job.children.push(id.clone());
                    }
                    waiting_on += 1;
                } else {
                    *s.new_children.entry(*pn).or_default() += 1;
                }
            }
            let stored_parents: Vec<u64> = parents
                .iter()
                .filter(|(_, _, live)| !live)
                .map(|(_, n, _)| *n)
                .collect();
            let parents: Vec<String> = parents.into_iter().map(|(p, _, _)| p).collect();
            let now = now_ms();
            let mut new = Job {
                id: id.clone(),
                tenant: tenant.to_string(),
                kind: spec.kind,
                state: JobState::Pending,
                priority: spec.priority,
                input: spec.input,
                attempts: 0,
                retry: spec.retry.unwrap_or_else(|| self.cfg.retry.clone()),
                parents,
                children: Vec::new(),
                on_parent_failure: spec.on_parent_failure,
                timeout_ms: spec.timeout_ms.unwrap_or(self.cfg.default_timeout_ms),
                idempotency_key: spec.idempotency_key.clone(),
                origin,
                result: None,
                error: None,
                created_ms: now,
                updated_ms: now,
                started_ms: None,
                finished_ms: None,
                next_attempt_ms: None,
                message_count: messages.len() as u32,
            };
            if let Some(parent) = failed_parent {
                Self::fail_dependent(&mut new, &parent, now);
            }
            writes.push(Write::created(new.clone()));
            for (i, m) in messages.into_iter().enumerate() {
                writes.push(Write::Message {
                    tenant: tenant.to_string(),
                    job: id.clone(),
                    number,
                    message: JobMessage {
                        seq: i as u32 + 1,
                        created_ms: now,
                        message: m,
                    },
                });
            }
            if let Some(key) = &spec.idempotency_key {
                s.keys.insert((tenant.to_string(), key.clone()), number);
                writes.push(Write::Idempotency {
                    tenant: tenant.to_string(),
                    key: key.clone(),
                    number,
                });
            }
            if !new.state.is_terminal() {
                s.add_live(
                    number,
                    Live {
                        job: new.clone(),
                        waiting_on,
                        provider,
                        cancel: None,
                    },
                );
                if waiting_on == 0 {
                    s.ready.push((new.priority, Reverse(number)));
                }
            }
            // Sent while the scheduler is locked, so this job's writes
            // precede any later write about it (its start, its end).
            ack = self.store.send(writes, true);
            job = new;
            unsaved_children = stored_parents;
        }
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        let stored = ack.await;
        if job.idempotency_key.is_some() || !unsaved_children.is_empty() {
            // Durable now (or failed): lookups go to the store from here on.
            let mut s = lock(&self.sched);
            if let Some(key) = &job.idempotency_key {
                s.keys.remove(&(tenant.to_string(), key.clone()));
            }
            for pn in unsaved_children {
                if let Some(c) = s.new_children.get_mut(&pn) {
                    *c -= 1;
                    if *c == 0 {
                        s.new_children.remove(&pn);
                    }
                }
            }
        }
        stored.map_err(JobsError::Store)?;
        Ok((job, false))
    }

    fn fail_dependent(job: &mut Job, parent: &str, now: u64) {
        job.state = match job.on_parent_failure {
            model::OnParentFailure::Fail => JobState::Failed,
            model::OnParentFailure::Skip => JobState::Skipped,
        };
        job.error = Some(JobError::new(
            "dependency_failed",
            format!("parent job {parent} did not finish successfully"),
            false,
        ));
        job.finished_ms = Some(now);
        job.updated_ms = now;
    }

    // ---- reading ---------------------------------------------------------

    fn get_number(&self, tenant: &str, n: u64) -> Result<Job, JobsError> {
        let live = lock(&self.sched).live.get(&n).map(|l| l.job.clone());
        let job = match live {
            Some(j) => Some(j),
            None => self.store.job(n)?,
        };
        job.filter(|j| j.tenant == tenant)
            .ok_or_else(|| JobsError::NotFound(format!("no job `{}`", job_id(n))))
    }

    pub fn get(&self, tenant: &str, id: &str) -> Result<Job, JobsError> {
        let n = parse_job_id(id).ok_or_else(|| JobsError::NotFound(format!("no job `{id}`")))?;
        self.get_number(tenant, n)
    }

    /// A page of a tenant's jobs, newest first.
    pub fn list(
        &self,
        tenant: &str,
        state: Option<JobState>,
        kind: Option<JobKind>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Job>, Option<String>), JobsError> {
        let before = match before {
            Some(b) => Some(
                parse_job_id(b)
                    .ok_or_else(|| JobsError::Invalid(format!("`{b}` is not a job id")))?,
            ),
            None => None,
        };
        let limit = match limit {
            0 => 50,
            n => n.min(1000),
        };
        // The scheduler's copy of a job is at least as new as the stored one.
        let fresher = |j: &Job| -> Job {
            lock(&self.sched)
                .live
                .get(&j.number())
                .map(|l| l.job.clone())
                .unwrap_or_else(|| j.clone())
        };
        let (jobs, next) = self.store.list(tenant, before, limit, |j| {
            let j = fresher(j);
            state.is_none_or(|s| s == j.state) && kind.is_none_or(|k| k == j.kind)
        })?;
        Ok((jobs.iter().map(fresher).collect(), next.map(job_id)))
    }

    pub fn messages(
        &self,
        tenant: &str,
        id: &str,
        after: u32,
        limit: u32,
    ) -> Result<Vec<JobMessage>, JobsError> {
        let job = self.get(tenant, id)?;
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        Ok(self.store.messages(job.number(), after, limit)?)
    }

    /// Running and waiting counts, for `/v2/health`.
    pub fn stats(&self) -> serde_json::Value {
        let s = lock(&self.sched);
        let c = &self.counters;
        serde_json::json!({
            "live": s.live.len(),
            "running": s.running,
            "ready": s.ready.len(),
            "delayed": s.delayed.len(),
            "submitted": c.submitted.load(Ordering::Relaxed),
            "started": c.started.load(Ordering::Relaxed),
            "done": c.done.load(Ordering::Relaxed),
            "failed": c.failed.load(Ordering::Relaxed),
            "retried": c.retried.load(Ordering::Relaxed),
            "tenants_with_live_jobs": s.per_tenant.len(),
            "group_commits": self.store.commits.load(Ordering::Relaxed),
            "writes": self.store.writes.load(Ordering::Relaxed),
        })
    }

    // ---- cancel, fork, branch -------------------------------------------

    /// Cancels a pending or running job: it becomes `cancelled` now (a running
    /// attempt is stopped) and its dependents fail or are skipped.
    pub async fn cancel(self: &Arc<Self>, tenant: &str, id: &str) -> Result<Job, JobsError> {
        let n = parse_job_id(id).ok_or_else(|| JobsError::NotFound(format!("no job `{id}`")))?;
        let (job, ack) = {
            let mut s = lock(&self.sched);
            let Some(live) = s
                .live
                .get_mut(&n)
                .filter(|l| l.job.tenant == tenant && !l.job.state.is_terminal())
            else {
                drop(s);
                let job = self.get_number(tenant, n)?;
                return Err(JobsError::Conflict(format!(
                    "job {id} is already {}",
                    job.state.as_str()
                )));
            };
            if let Some(token) = live.cancel.take() {
                token.cancel();
            }
            let now = now_ms();
            live.job.state = JobState::Cancelled;
            live.job.error = Some(JobError::new("cancelled", "cancelled by request", false));
            live.job.finished_ms = Some(now);
            live.job.updated_ms = now;
            live.job.next_attempt_ms = None;
            let job = live.job.clone();
            (job.clone(), self.store.send(vec![Write::update(job)], true))
        };
        ack.await.map_err(JobsError::Store)?;
        self.settle_durably(n).await;
        Ok(job)
    }

    /// A new job continuing the conversation of `id` from message `message`
    /// (included), with `append` as a new user message when given.
    pub async fn fork(
        self: &Arc<Self>,
        tenant: &str,
        id: &str,
        message: u32,
        append: Option<String>,
    ) -> Result<Job, JobsError> {
        let (source, mut messages) = self.conversation(tenant, id, message)?;
        messages.truncate(message as usize);
        if let Some(text) = append {
            messages.push(ChatMessage::text("user", text));
        }
        self.derive(tenant, source, messages, message, false).await
    }

    /// A new job that generates again from message `message` on, keeping the
    /// messages before it. The original job stays as it is.
    pub async fn branch(
        self: &Arc<Self>,
        tenant: &str,
        id: &str,
        message: u32,
    ) -> Result<Job, JobsError> {
        let (source, mut messages) = self.conversation(tenant, id, message)?;
        messages.truncate(message as usize - 1);
        self.derive(tenant, source, messages, message, true).await
    }

    fn conversation(
        &self,
        tenant: &str,
        id: &str,
        message: u32,
    ) -> Result<(Job, Vec<ChatMessage>), JobsError> {
        let source = self.get(tenant, id)?;
        if source.kind == JobKind::Tool {
            return Err(JobsError::Conflict(format!(
                "job {id} is a tool job: only llm and agent jobs have a conversation to fork"
            )));
        }
        let messages: Vec<ChatMessage> = self
            .store
            .messages(source.number(), 0, usize::MAX)?
            .into_iter()
            .map(|m| m.message)
            .collect();
        if message == 0 || message as usize > messages.len() {
            return Err(JobsError::Invalid(format!(
                "job {id} has {} messages; `message` must be between 1 and {}",
                messages.len(),
                messages.len()
            )));
        }
        Ok((source, messages))
    }

    async fn derive(
        self: &Arc<Self>,
        tenant: &str,
        source: Job,
        messages: Vec<ChatMessage>,
        message: u32,
        branch: bool,
    ) -> Result<Job, JobsError> {
        let spec = JobSpec {
            kind: source.kind,
            input: source.input.clone(),
            priority: source.priority,
            parents: Vec::new(),
            on_parent_failure: source.on_parent_failure,
            retry: Some(source.retry.clone()),
            timeout_ms: Some(source.timeout_ms),
            idempotency_key: None,
        };
        let origin = Origin {
            job: source.id.clone(),
            message,
            branch,
        };
        let provider = self
            .host()
            .and_then(|rt| self.provider_key(&*rt, spec.kind, &spec.input));
        Ok(self
            .insert(tenant, spec, provider, Some(origin), messages)
            .await?
            .0)
    }

    // ---- scheduling --------------------------------------------------------

    /// The scheduler loop. It holds the queue only while starting jobs, so
    /// dropping the runtime closes the database.
    async fn dispatch(jobs: Weak<Self>, wake: Arc<Notify>) {
        loop {
            let Some(next_due) = jobs.upgrade().map(|j| j.start_ready()) else {
                return;
            };
            match next_due {
                Some(due) => {
                    let wait = Duration::from_millis(due.saturating_sub(now_ms()).max(1));
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                None => wake.notified().await,
            }
        }
    }

    fn semaphore(
        map: &Mutex<HashMap<String, Arc<Semaphore>>>,
        key: &str,
        limit: usize,
    ) -> Arc<Semaphore> {
        lock(map)
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone()
    }

    /// Starts every ready job that has permits; returns when the next retry is due.
    fn start_ready(self: &Arc<Self>) -> Option<u64> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let mut s = lock(&self.sched);
        let now = now_ms();
        while let Some(&Reverse((due, n))) = s.delayed.peek() {
            if due > now {
                break;
            }
            s.delayed.pop();
            if let Some(l) = s.live.get(&n)
                && l.job.state == JobState::Pending
                && l.job.next_attempt_ms == Some(due)
            {
                let p = l.job.priority;
                s.ready.push((p, Reverse(n)));
            }
        }
        let mut blocked = Vec::new();
        while let Ok(global) = self.global.clone().try_acquire_owned() {
            let Some((priority, Reverse(n))) = s.ready.pop() else {
                break;
            };
            let Some(live) = s.live.get(&n) else {
                continue;
            };
            // Stale heap entries (cancelled, already started, waiting out a retry).
            if live.job.state != JobState::Pending
                || live.waiting_on > 0
                || live.job.next_attempt_ms.is_some_and(|t| t > now)
            {
                continue;
            }
            // The tenant's and the provider's semaphores, where limited.
            let tenant = (self.cfg.per_tenant > 0)
                .then(|| Self::semaphore(&self.tenants, &live.job.tenant, self.cfg.per_tenant));
            let provider = live.provider.as_ref().and_then(|p| {
                let limit = (self.cfg.per_provider.get(p).copied())
                    .unwrap_or(self.cfg.default_per_provider);
                (limit > 0).then(|| Self::semaphore(&self.providers, p, limit))
            });
            let mut held = vec![global];
            let all = [tenant, provider]
                .into_iter()
                .flatten()
                .all(|sem| sem.try_acquire_owned().map(|p| held.push(p)).is_ok());
            if !all {
                blocked.push((priority, Reverse(n)));
                if blocked.len() >= MAX_BLOCKED_PER_PASS {
                    break;
                }
                continue;
            }
            let live = s.live.get_mut(&n).unwrap();
            let token = CancellationToken::new();
            live.cancel = Some(token.clone());
            let job = &mut live.job;
            job.state = JobState::Processing;
            job.attempts += 1;
            job.started_ms = Some(now);
            job.updated_ms = now;
            job.next_attempt_ms = None;
            let job = job.clone();
            s.running += 1;
            let ack = self.store.send(vec![Write::update(job.clone())], true);
            let permits = Permits {
                _held: held,
                wake: self.wake.clone(),
            };
            self.counters.started.fetch_add(1, Ordering::Relaxed);
            let this = self.clone();
            tokio::spawn(crate::sched::offloadable(async move {
                this.run(job, token, ack, permits).await
            }));
        }
        s.ready.extend(blocked);
        s.delayed.peek().map(|Reverse((due, _))| *due)
    }

    /// Runs one attempt of `job` once its start is durable.
    async fn run(
        self: Arc<Self>,
        job: Job,
        token: CancellationToken,
        claimed: store::Ack,
        permits: Permits,
    ) {
        let outcome = match claimed.await {
            Err(e) => Outcome::Failed(JobError::new("store_error", e, true)),
            Ok(()) => {
                let limit = Duration::from_millis(job.timeout_ms);
                let work = async {
                    match self.host() {
                        Some(rt) => run::execute(&self, &rt, &job).await,
                        None => Err(JobError::new("shutting_down", "the node is stopping", true)),
                    }
                };
                tokio::select! {
                    biased;
                    // `cancel` already settled the job; drop the attempt.
                    _ = token.cancelled() => {
                        lock(&self.sched).running -= 1;
                        return;
                    }
                    r = tokio::time::timeout(limit, work) => match r {
                        Ok(Ok(v)) => Outcome::Done(v),
                        Ok(Err(e)) => Outcome::Failed(e),
                        Err(_) => Outcome::Failed(JobError::new(
                            "timeout",
                            format!("attempt {} ran past the job's {} ms limit", job.attempts, job.timeout_ms),
                            true,
                        )),
                    },
                }
            }
        };
        self.finish(job.number(), job.attempts, outcome, permits)
            .await;
    }

    /// Records an attempt's outcome: done, failed, or pending again after a
    /// backoff. A finished job's dependents are released once it is durable.
    async fn finish(self: &Arc<Self>, n: u64, attempt: u32, outcome: Outcome, permits: Permits) {
        let ack = {
            let mut s = lock(&self.sched);
            s.running -= 1;
            let Some(live) = s.live.get_mut(&n) else {
                return;
            };
            if live.job.state != JobState::Processing || live.job.attempts != attempt {
                return;
            }
            live.cancel = None;
            let now = now_ms();
            let job = &mut live.job;
            job.updated_ms = now;
            match outcome {
                Outcome::Done(value) => {
                    job.state = JobState::Done;
                    job.result = Some(value);
                    job.error = None;
                    job.finished_ms = Some(now);
                }
                Outcome::Failed(e) if e.retryable && job.attempts < job.retry.max_attempts => {
                    let due = now + job.retry.delay_after(job.attempts).as_millis() as u64;
                    tracing::info!(job = %job.id, tenant = %job.tenant, attempt = job.attempts, code = %e.code, error = %e.message, retry_in_ms = due - now, "job attempt failed; will retry");
                    job.state = JobState::Pending;
                    job.error = Some(e);
                    job.next_attempt_ms = Some(due);
                    s.delayed.push(Reverse((due, n)));
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Failed(e) => {
                    tracing::info!(job = %job.id, tenant = %job.tenant, attempt = job.attempts, code = %e.code, error = %e.message, "job failed");
                    job.state = JobState::Failed;
                    job.error = Some(e);
                    job.finished_ms = Some(now);
                }
            }
            let job = s.live[&n].job.clone();
            let terminal = job.state.is_terminal();
            let ack = self.store.send(vec![Write::update(job)], terminal);
            terminal.then_some(ack)
        };
        drop(permits);
        let Some(ack) = ack else {
            return;
        };
        if let Err(e) = ack.await {
            tracing::error!(job = %job_id(n), error = %e, "cannot record a finished job");
        }
        self.settle_durably(n).await;
    }

    /// Settles finished job `n` (its end already durable), then the
    /// dependents its failure failed or skipped, each once their own end is
    /// durable. A job leaves the live set only then, so anyone who finds it
    /// missing there reads its final state from the store.
    async fn settle_durably(self: &Arc<Self>, n: u64) {
        let mut next = vec![n];
        while !next.is_empty() {
            let (ack, more) = {
                let mut s = lock(&self.sched);
                let mut writes = Vec::new();
                let mut more = Vec::new();
                for m in next {
                    if s.live.get(&m).is_some_and(|l| l.job.state.is_terminal()) {
                        more.extend(self.settle(&mut s, m, &mut writes));
                    }
                }
                (self.store.send(writes, true), more)
            };
            if let Err(e) = ack.await {
                tracing::error!(error = %e, "cannot record failed dependents");
            }
            next = more;
        }
        self.wake.notify_one();
    }

    /// Removes finished job `n` from the live set and releases its
    /// dependents, or (it did not succeed) fails or skips them: those are
    /// returned, terminal but still live until their end is durable.
    fn settle(&self, s: &mut Sched, n: u64, writes: &mut Vec<Write>) -> Vec<u64> {
        let mut failed = Vec::new();
        {
            let Some(live) = s.remove_live(n) else {
                return failed;
            };
            let parent = live.job;
            match parent.state {
                JobState::Done => self.counters.done.fetch_add(1, Ordering::Relaxed),
                _ => self.counters.failed.fetch_add(1, Ordering::Relaxed),
            };
            let now = now_ms();
            for child in &parent.children {
                let Some(cn) = parse_job_id(child) else {
                    continue;
                };
                let Some(c) = s.live.get_mut(&cn) else {
                    continue;
                };
                if c.job.state != JobState::Pending {
                    continue;
                }
                if parent.state == JobState::Done {
                    c.waiting_on = c.waiting_on.saturating_sub(1);
                    if c.waiting_on == 0 {
                        let p = c.job.priority;
                        s.ready.push((p, Reverse(cn)));
                    }
                } else {
                    Self::fail_dependent(&mut c.job, &parent.id, now);
                    writes.push(Write::update(c.job.clone()));
                    failed.push(cn);
                }
            }
        }
        failed
    }

    /// Appends a message to a running job's conversation (stored with the next
    /// group commit, streamed to subscribers once durable).
    pub(crate) fn append_message(&self, n: u64, message: ChatMessage) {
        let mut s = lock(&self.sched);
        let Some(live) = s.live.get_mut(&n) else {
            return;
        };
        live.job.message_count += 1;
        let write = Write::Message {
            tenant: live.job.tenant.clone(),
            job: live.job.id.clone(),
            number: n,
            message: JobMessage {
                seq: live.job.message_count,
                created_ms: now_ms(),
                message,
            },
        };
        self.store.enqueue(vec![write]);
    }
}
