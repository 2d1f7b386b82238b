//! Starting the queue: recovering the jobs a previous run left unfinished
//! (interrupted attempts counted, dependency counts rebuilt, dependents of
//! failed parents settled), then starting the scheduler.

use super::model::{JobError, JobState, now_ms, parse_job_id};
use super::store::Write;
use super::{JobHost, Jobs, JobsError, Live};
use crate::lock;
use std::cmp::Reverse;
use std::sync::{Arc, Weak};

impl Jobs {
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
                let placement = self.placement(&*rt, &job.tenant, job.kind, &job.input);
                s.add_live(
                    job.number(),
                    Live {
                        job,
                        waiting_on: 0,
                        provider: placement.provider,
                        gpu_memory_mb: placement.gpu_memory_mb,
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
}
