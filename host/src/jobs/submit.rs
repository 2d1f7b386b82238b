//! Submitting jobs: checking a spec's input, then storing and queueing the
//! job with its idempotency key and its parents' children bookkeeping.

use super::config::MAX_TIMEOUT_MS;
use super::model::{
    Agent, ChatMessage, Job, JobKind, JobMessage, JobSpec, JobState, Origin, job_id, now_ms,
    parse_job_id,
};
use super::run;
use super::store::Write;
use super::{Jobs, JobsError, Live};
use crate::lock;
use crate::router::Placement;
use std::cmp::Reverse;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Parents a job may wait on.
const MAX_PARENTS: usize = 64;

impl Jobs {
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
        let placement = self
            .host()
            .map(|rt| match &agent {
                Some(agent) => rt.router().placement_of(&tenant.into(), &agent.spec.model),
                None => self.placement(&*rt, tenant, spec.kind, &spec.input),
            })
            .unwrap_or_default();
        self.insert(tenant, spec, placement, None, Vec::new()).await
    }

    /// Stores a new job (with `messages` as its conversation so far) and
    /// queues it, counted against its placement's provider. `origin` marks forks
    /// and branches.
    pub(super) async fn insert(
        self: &Arc<Self>,
        tenant: &str,
        spec: JobSpec,
        placement: Placement,
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
                        provider: placement.provider,
                        gpu_memory_mb: placement.gpu_memory_mb,
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
}
