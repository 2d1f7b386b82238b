//! The scheduler: its loop, starting ready jobs that get their permits
//! (global, tenant, provider), and running one attempt under its time limit.

use super::model::{ChatMessage, Job, JobError, JobMessage, JobState, now_ms};
use super::store::{self, Write};
use super::{Jobs, run};
use crate::gpu::GpuAdmission;
use crate::lock;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Ready jobs set aside in one scheduling pass because their tenant or
/// provider is at its limit; the pass stops there.
const MAX_BLOCKED_PER_PASS: usize = 1024;

/// How long a job whose model needs GPU memory that the GPUs do not have
/// free waits before the scheduler looks again.
const GPU_RECHECK_MS: u64 = 1000;

/// What one attempt came to.
pub(super) enum Outcome {
    Done(serde_json::Value),
    Failed(JobError),
}

/// The permits a running job holds; releasing them wakes the scheduler.
pub(super) struct Permits {
    _held: Vec<OwnedSemaphorePermit>,
    wake: Arc<Notify>,
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl Jobs {
    /// The scheduler loop. It holds the queue only while starting jobs, so
    /// dropping the runtime closes the database.
    pub(super) async fn dispatch(jobs: Weak<Self>, wake: Arc<Notify>) {
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
            // Its model needs GPU memory the GPUs have but not free: it waits
            // (pending) and is looked at again. Where no GPU could ever serve
            // it, it starts, and the router fails it saying why.
            if let Some(mb) = live.gpu_memory_mb
                && let Some(host) = self.host()
                && let GpuAdmission::Later(why) = host.gpu_admission(mb)
            {
                let due = now + GPU_RECHECK_MS;
                tracing::debug!(job = %live.job.id, %why, "waiting for GPU memory");
                if let Some(live) = s.live.get_mut(&n) {
                    live.job.next_attempt_ms = Some(due);
                }
                s.delayed.push(Reverse((due, n)));
                continue;
            }
            // The tenant's and the provider's semaphores, where limited.
            let tenant_limit = (self.running_per_tenant.get(&live.job.tenant).copied())
                .unwrap_or(self.cfg.per_tenant);
            let tenant = (tenant_limit > 0)
                .then(|| Self::semaphore(&self.tenants, &live.job.tenant, tenant_limit));
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
