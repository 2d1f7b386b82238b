//! How jobs end: an attempt's outcome (done, failed, or pending again after
//! a backoff), cancellation, and the dependents a finished job releases,
//! fails or skips.

use super::dispatch::{Outcome, Permits};
use super::model::{self, Job, JobError, JobState, job_id, now_ms, parse_job_id};
use super::store::Write;
use super::{Jobs, JobsError, Sched};
use crate::lock;
use std::cmp::Reverse;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Jobs {
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

    /// Records an attempt's outcome: done, failed, or pending again after a
    /// backoff. A finished job's dependents are released once it is durable.
    pub(super) async fn finish(
        self: &Arc<Self>,
        n: u64,
        attempt: u32,
        outcome: Outcome,
        permits: Permits,
    ) {
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
    pub(super) fn settle(&self, s: &mut Sched, n: u64, writes: &mut Vec<Write>) -> Vec<u64> {
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

    pub(super) fn fail_dependent(job: &mut Job, parent: &str, now: u64) {
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
}
