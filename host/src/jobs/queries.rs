//! Reading jobs: one job, a page of a tenant's jobs, a job's messages, and
//! the queue's counts.

use super::model::{Job, JobKind, JobMessage, JobState, job_id, parse_job_id};
use super::{Jobs, JobsError};
use crate::lock;
use std::sync::atomic::Ordering;

impl Jobs {
    pub(super) fn get_number(&self, tenant: &str, n: u64) -> Result<Job, JobsError> {
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
}
