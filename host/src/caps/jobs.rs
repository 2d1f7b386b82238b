//! `hanzo:node/jobs`: the durable job queue for API plugins. Every call is
//! scoped to the calling plugin's tenant; the work itself is `crate::jobs`.

use crate::bindings::jobs as wit;
use crate::call_state::CallState;
use crate::grants::Capability;
use crate::jobs::model::{self, JobKind, JobSpec, JobState, OnParentFailure, RetryPolicy};
use crate::jobs::{Jobs, JobsError};
use std::sync::Arc;

type Res<T> = wasmtime::Result<Result<T, wit::JobsError>>;

impl CallState {
    /// Runs `call` with the job queue and the caller's tenant, when the
    /// manifest grants `permissions.jobs`.
    async fn with_jobs<T>(
        &mut self,
        call: impl AsyncFnOnce(&Arc<Jobs>, &str) -> Result<T, JobsError>,
    ) -> Res<T> {
        let node = match self.granted(Capability::Jobs)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(wit::JobsError::Denied(denied.to_string()))),
        };
        let jobs = node.jobs().clone();
        Ok(call(&jobs, &self.tenant).await.map_err(err))
    }
}

fn err(e: JobsError) -> wit::JobsError {
    match e {
        JobsError::NotFound(m) => wit::JobsError::NotFound(m),
        JobsError::Invalid(m) => wit::JobsError::Invalid(m),
        JobsError::Conflict(m) => wit::JobsError::Conflict(m),
        JobsError::Store(m) => wit::JobsError::Store(m),
        // The WIT has no case for limits: `conflict`, its stable code first.
        JobsError::Limit { code, message } => {
            wit::JobsError::Conflict(format!("{code}: {message}"))
        }
    }
}

fn kind_from(k: wit::JobKind) -> JobKind {
    match k {
        wit::JobKind::Tool => JobKind::Tool,
        wit::JobKind::Llm => JobKind::Llm,
        wit::JobKind::Agent => JobKind::Agent,
    }
}

fn kind_to(k: JobKind) -> wit::JobKind {
    match k {
        JobKind::Tool => wit::JobKind::Tool,
        JobKind::Llm => wit::JobKind::Llm,
        JobKind::Agent => wit::JobKind::Agent,
    }
}

fn state_from(s: wit::JobState) -> JobState {
    match s {
        wit::JobState::Pending => JobState::Pending,
        wit::JobState::Processing => JobState::Processing,
        wit::JobState::Done => JobState::Done,
        wit::JobState::Failed => JobState::Failed,
        wit::JobState::Cancelled => JobState::Cancelled,
        wit::JobState::Skipped => JobState::Skipped,
    }
}

fn state_to(s: JobState) -> wit::JobState {
    match s {
        JobState::Pending => wit::JobState::Pending,
        JobState::Processing => wit::JobState::Processing,
        JobState::Done => wit::JobState::Done,
        JobState::Failed => wit::JobState::Failed,
        JobState::Cancelled => wit::JobState::Cancelled,
        JobState::Skipped => wit::JobState::Skipped,
    }
}

fn retry_to(r: &RetryPolicy) -> wit::RetryPolicy {
    wit::RetryPolicy {
        max_attempts: r.max_attempts,
        initial_delay_ms: r.initial_delay_ms,
        max_delay_ms: r.max_delay_ms,
        multiplier: r.multiplier,
        randomization: r.randomization,
    }
}

fn on_failure_to(p: OnParentFailure) -> wit::OnParentFailure {
    match p {
        OnParentFailure::Fail => wit::OnParentFailure::Fail,
        OnParentFailure::Skip => wit::OnParentFailure::Skip,
    }
}

pub fn job_to(j: &model::Job) -> wit::Job {
    wit::Job {
        id: j.id.clone(),
        kind: kind_to(j.kind),
        state: state_to(j.state),
        priority: j.priority,
        input: j.input.to_string(),
        attempts: j.attempts,
        retry: retry_to(&j.retry),
        parents: j.parents.clone(),
        children: j.children.clone(),
        on_parent_failure: on_failure_to(j.on_parent_failure),
        timeout_ms: j.timeout_ms,
        idempotency_key: j.idempotency_key.clone(),
        origin: j.origin.as_ref().map(|o| wit::JobOrigin {
            job: o.job.clone(),
            message: o.message,
            branch: o.branch,
        }),
        result: j.result.as_ref().map(|r| r.to_string()),
        error: j.error.as_ref().map(|e| wit::JobError {
            code: e.code.clone(),
            message: e.message.clone(),
            retryable: e.retryable,
        }),
        created_ms: j.created_ms,
        updated_ms: j.updated_ms,
        started_ms: j.started_ms,
        finished_ms: j.finished_ms,
        next_attempt_ms: j.next_attempt_ms,
        message_count: j.message_count,
    }
}

fn spec_from(s: wit::JobSpec) -> Result<JobSpec, JobsError> {
    let input = serde_json::from_str(&s.input)
        .map_err(|e| JobsError::Invalid(format!("input is not valid JSON: {e}")))?;
    Ok(JobSpec {
        kind: kind_from(s.kind),
        input,
        priority: s.priority,
        parents: s.parents,
        on_parent_failure: match s.on_parent_failure {
            wit::OnParentFailure::Fail => OnParentFailure::Fail,
            wit::OnParentFailure::Skip => OnParentFailure::Skip,
        },
        retry: s.retry.map(|r| RetryPolicy {
            max_attempts: r.max_attempts,
            initial_delay_ms: r.initial_delay_ms,
            max_delay_ms: r.max_delay_ms,
            multiplier: r.multiplier,
            randomization: r.randomization,
        }),
        timeout_ms: s.timeout_ms,
        idempotency_key: s.idempotency_key,
    })
}

fn message_to(m: &model::JobMessage) -> wit::JobMessage {
    wit::JobMessage {
        seq: m.seq,
        created_ms: m.created_ms,
        body: serde_json::to_string(&m.message).expect("a message always serializes"),
    }
}

impl wit::Host for CallState {
    async fn submit(&mut self, spec: wit::JobSpec) -> Res<wit::Submitted> {
        self.with_jobs(async |jobs, tenant| {
            let (job, existing) = jobs.submit(tenant, spec_from(spec)?).await?;
            Ok(wit::Submitted {
                job: job_to(&job),
                existing,
            })
        })
        .await
    }

    async fn get(&mut self, id: String) -> Res<wit::Job> {
        self.with_jobs(async |jobs, tenant| jobs.get(tenant, &id).map(|j| job_to(&j)))
            .await
    }

    async fn list(&mut self, filter: wit::JobFilter) -> Res<wit::JobPage> {
        self.with_jobs(async |jobs, tenant| {
            let (page, next) = jobs.list(
                tenant,
                filter.state.map(state_from),
                filter.kind.map(kind_from),
                filter.before.as_deref(),
                filter.limit as usize,
            )?;
            Ok(wit::JobPage {
                jobs: page.iter().map(job_to).collect(),
                next,
            })
        })
        .await
    }

    async fn messages(&mut self, id: String, after: u32, limit: u32) -> Res<Vec<wit::JobMessage>> {
        self.with_jobs(async |jobs, tenant| {
            Ok(jobs
                .messages(tenant, &id, after, limit)?
                .iter()
                .map(message_to)
                .collect())
        })
        .await
    }

    async fn cancel(&mut self, id: String) -> Res<wit::Job> {
        self.with_jobs(async |jobs, tenant| jobs.cancel(tenant, &id).await.map(|j| job_to(&j)))
            .await
    }

    async fn fork(&mut self, id: String, message: u32, append: Option<String>) -> Res<wit::Job> {
        self.with_jobs(async |jobs, tenant| {
            jobs.fork(tenant, &id, message, append)
                .await
                .map(|j| job_to(&j))
        })
        .await
    }

    async fn branch(&mut self, id: String, message: u32) -> Res<wit::Job> {
        self.with_jobs(async |jobs, tenant| {
            jobs.branch(tenant, &id, message).await.map(|j| job_to(&j))
        })
        .await
    }
}
