//! The queue with a real redb file and the router over fake providers whose
//! node has one GPU of a set size: jobs whose model needs GPU memory.

use super::model::{JobKind, JobSpec, JobState, RetryPolicy};
use super::{JobHost, Jobs, JobsConfig};
use crate::bindings::llm_types::ToolDefinition;
use crate::bindings::tool_types::ToolError;
use crate::context::CallCtx;
use crate::gpu::GpuAdmission;
use crate::router::Router;
use crate::router::tests::{FakeProviders, needs_gpu, router};
use crate::tenant::Tenant;
use futures_util::future::BoxFuture;
use serde_json::json;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

struct Node {
    fake: Arc<FakeProviders>,
    router: Arc<Router>,
    vectors: Arc<crate::vectors::Vectors>,
}

impl JobHost for Node {
    fn router(&self) -> &Arc<Router> {
        &self.router
    }

    fn gpu_admission(&self, mb: u64) -> GpuAdmission {
        self.fake.gpu_admission(mb)
    }

    fn vectors(&self) -> &Arc<crate::vectors::Vectors> {
        &self.vectors
    }

    fn tool(&self, _tenant: &Tenant, _name: &str) -> Option<(String, ToolDefinition)> {
        None
    }

    fn invoke_tool<'a>(
        &'a self,
        _ctx: CallCtx,
        name: &'a str,
        _arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move { Err(ToolError::NotFound(name.to_string())) })
    }
}

/// A started queue in `dir` whose node's GPU has `total` MiB, `free` free.
async fn queue(dir: &tempfile::TempDir, total: u64, free: u64) -> (Arc<Jobs>, Arc<Node>) {
    let fake = Arc::new(FakeProviders::default());
    *crate::lock(&fake.gpu) = Some((total, free));
    let node = Arc::new(Node {
        // Model `m` is served only while its GPU has 40 GB free.
        router: router(
            &fake,
            &[&needs_gpu("needs-40g", "m", "p-a", 40_000)],
            |_| {},
        ),
        fake,
        vectors: Arc::new(crate::vectors::Vectors::new(dir.path().join("vectors"))),
    });
    let db = Arc::new(redb::Database::create(dir.path().join("node.redb")).unwrap());
    let jobs = Arc::new(Jobs::open(db, JobsConfig::default()).unwrap());
    let host: Weak<dyn JobHost> = Arc::downgrade(&node) as _;
    jobs.start(host).await.unwrap();
    (jobs, node)
}

fn chat_job() -> JobSpec {
    let mut spec = JobSpec::new(
        JobKind::Llm,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    );
    spec.retry = Some(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    spec
}

/// The job once `done` says so, within 10 s.
async fn wait_for(jobs: &Jobs, id: &str, done: impl Fn(JobState) -> bool) -> super::model::Job {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = jobs.get("acme", id).unwrap();
        if done(job.state) || Instant::now() > deadline {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_waits_pending_while_its_gpu_is_busy_and_runs_once_memory_frees() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, node) = queue(&dir, 80_000, 2_000).await;
    let (job, _) = jobs.submit("acme", chat_job()).await.unwrap();

    // Past more than one recheck (every second): still pending, no attempt
    // spent, no provider called.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let waiting = jobs.get("acme", &job.id).unwrap();
    assert_eq!(waiting.state, JobState::Pending, "{waiting:?}");
    assert_eq!(waiting.attempts, 0);
    assert!(waiting.next_attempt_ms.is_some());
    assert!(node.fake.providers_called().is_empty());

    *crate::lock(&node.fake.gpu) = Some((80_000, 50_000));
    let done = wait_for(&jobs, &job.id, JobState::is_terminal).await;
    assert_eq!(done.state, JobState::Done, "{done:?}");
    assert_eq!(done.attempts, 1);
    assert_eq!(node.fake.providers_called(), ["p-a"]);
}

#[tokio::test]
async fn a_job_no_gpu_could_serve_fails_at_once_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, node) = queue(&dir, 24_000, 24_000).await;
    let (job, _) = jobs.submit("acme", chat_job()).await.unwrap();
    let failed = wait_for(&jobs, &job.id, JobState::is_terminal).await;
    assert_eq!(failed.state, JobState::Failed, "{failed:?}");
    let error = failed.error.unwrap();
    assert_eq!(error.code, "unsupported");
    assert!(
        error.message.contains("largest GPU has 24000 MiB"),
        "{}",
        error.message
    );
    assert!(!error.retryable);
    assert!(node.fake.providers_called().is_empty());
}
