//! The job queue and scheduler in-process, with real tool plugins, a real
//! redb file and (for llm and agent jobs) the real `openai` provider plugin
//! against a local OpenAI-wire mock: every state transition, priorities,
//! dependencies, retries with backoff, timeouts, cancellation, fork and
//! branch, idempotency and the agent loop. Recovery after `kill -9` is in
//! `jobs_crash.rs`.

use crate::common::{Dirs, install, runtime};
use crate::mock_openai::{MockOpenAi, Overrides};
use hanzo_node::Runtime;
use hanzo_node::jobs::JobsError;
use hanzo_node::jobs::model::{
    AgentSpec, EventBody, Job, JobKind, JobSpec, JobState, OnParentFailure, RetryPolicy,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Node {
    rt: Arc<Runtime>,
    mock: MockOpenAi,
    _dirs: Dirs,
}

/// A node with the test tools, tools-basic and the openai provider (pointed
/// at a mock), its job settings changed by `edit`.
async fn node(edit: impl FnOnce(&mut hanzo_node::NodeConfig)) -> Node {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "spin-forever", "spin-forever", |_| {});
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    cfg.plugins.insert("openai".into(), mock.overrides());
    // The router makes one upstream call per job attempt: job retries are
    // what these tests look at.
    cfg.router.retry.max_attempts = 1;
    edit(&mut cfg);
    let rt = runtime(cfg).await;
    Node {
        rt,
        mock,
        _dirs: dirs,
    }
}

fn tool(name: &str, arguments: Value) -> JobSpec {
    spec(JobKind::Tool, json!({"tool": name, "arguments": arguments}))
}

fn spec(kind: JobKind, input: Value) -> JobSpec {
    JobSpec::new(kind, input)
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay_ms: 100,
        max_delay_ms: 1000,
        multiplier: 2.0,
        randomization: 0.0,
    }
}

const T: &str = "default";

async fn submit(rt: &Arc<Runtime>, spec: JobSpec) -> Job {
    rt.jobs.submit(T, spec).await.unwrap().0
}

/// Waits (bounded) until the job is finished, and for its last event.
async fn finished(rt: &Arc<Runtime>, id: &str) -> Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = rt.jobs.get(T, id).unwrap();
        if job.state.is_terminal() && states(rt, id).last() == Some(&job.state) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not finish: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The job's state updates, in event order (as subscribers receive them).
fn states(rt: &Arc<Runtime>, id: &str) -> Vec<JobState> {
    updates(rt, id).into_iter().map(|j| j.state).collect()
}

fn updates(rt: &Arc<Runtime>, id: &str) -> Vec<Job> {
    let events = rt
        .jobs
        .store
        .events_after(T, Some(id), 0, usize::MAX)
        .unwrap();
    let mut last = 0;
    events
        .into_iter()
        .filter_map(|e| {
            assert!(e.id > last, "event ids go up");
            last = e.id;
            match e.body {
                EventBody::JobUpdate(j) => Some(*j),
                EventBody::StreamChunk(_) => None,
            }
        })
        .collect()
}

use JobState::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_job_goes_pending_processing_done_and_keeps_its_result() {
    let n = node(|_| {}).await;
    let job = submit(&n.rt, tool("answer", json!({}))).await;
    assert_eq!(job.state, Pending);
    assert_eq!(job.id, "job_1");
    let done = finished(&n.rt, &job.id).await;
    assert_eq!(done.state, Done);
    assert_eq!(done.result, Some(json!({"answer": "v1"})));
    assert_eq!(done.attempts, 1);
    assert!(done.started_ms.is_some() && done.finished_ms >= done.started_ms);
    assert_eq!(states(&n.rt, &job.id), vec![Pending, Processing, Done]);

    // A wrong call fails at once: no retry can fix it.
    let bad = submit(&n.rt, tool("calculator", json!({"expression": 5}))).await;
    let bad = finished(&n.rt, &bad.id).await;
    assert_eq!(bad.state, Failed);
    assert_eq!(bad.attempts, 1);
    assert_eq!(bad.error.as_ref().unwrap().code, "invalid_arguments");
    assert_eq!(states(&n.rt, &bad.id), vec![Pending, Processing, Failed]);

    // Malformed specs are refused before anything is stored.
    for (spec, what) in [
        (spec(JobKind::Tool, json!({"arguments": {}})), "tool"),
        (
            spec(JobKind::Llm, json!({"model": "x", "messages": []})),
            "message",
        ),
        (
            spec(JobKind::Agent, json!({"agent": "agent_9", "input": "hi"})),
            "agent",
        ),
    ] {
        match n.rt.jobs.submit(T, spec).await {
            Err(JobsError::Invalid(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }
    let mut with_bad_parent = tool("noop", json!({}));
    with_bad_parent.parents = vec!["job_999".into()];
    assert!(matches!(
        n.rt.jobs.submit(T, with_bad_parent).await,
        Err(JobsError::Invalid(_))
    ));
    // Another tenant sees none of it.
    assert!(matches!(
        n.rt.jobs.get("other", &job.id),
        Err(JobsError::NotFound(_))
    ));
    assert!(
        n.rt.jobs
            .list("other", None, None, None, 0)
            .unwrap()
            .0
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_runs_first_then_submission_order() {
    let n = node(|c| c.jobs.max_concurrency = 1).await;
    // Occupies the only slot while the others queue up.
    let blocker = submit(&n.rt, tool("slow_answer", json!({"ms": 300}))).await;
    let mut ids = Vec::new();
    for priority in [0, 5, 1, 5, -3, 1] {
        let mut s = tool("noop", json!({}));
        s.priority = priority;
        ids.push((priority, submit(&n.rt, s).await.id));
    }
    for (_, id) in &ids {
        finished(&n.rt, id).await;
    }
    finished(&n.rt, &blocker.id).await;
    // The order of the start events is the order the scheduler chose.
    let started: Vec<String> = n
        .rt
        .jobs
        .store
        .events_after(T, None, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::JobUpdate(j) if j.state == Processing && j.id != blocker.id => Some(j.id),
            _ => None,
        })
        .collect();
    let priority_of = |id: &String| ids.iter().find(|(_, i)| i == id).unwrap().0;
    let order: Vec<i32> = started.iter().map(priority_of).collect();
    assert_eq!(order, vec![5, 5, 1, 1, 0, -3]);
    // Equal priorities keep submission order.
    assert_eq!(started[0], ids[1].1);
    assert_eq!(started[1], ids[3].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_wait_for_parents_and_failures_fail_or_skip_dependents() {
    let n = node(|_| {}).await;
    let a = submit(&n.rt, tool("slow_answer", json!({"ms": 200}))).await;
    let mut b = tool("noop", json!({}));
    b.parents = vec![a.id.clone()];
    let b = submit(&n.rt, b).await;
    let mut c = tool("noop", json!({}));
    c.parents = vec![b.id.clone(), a.id.clone()];
    let c = submit(&n.rt, c).await;

    let (a, b, c) = (
        finished(&n.rt, &a.id).await,
        finished(&n.rt, &b.id).await,
        finished(&n.rt, &c.id).await,
    );
    assert_eq!((a.state, b.state, c.state), (Done, Done, Done));
    assert!(b.started_ms.unwrap() >= a.finished_ms.unwrap());
    assert!(c.started_ms.unwrap() >= b.finished_ms.unwrap());
    assert_eq!(a.children, vec![b.id.clone(), c.id.clone()]);

    // A parent that fails: one dependent fails, one is skipped, and the
    // failure travels down the chain.
    let mut bad = tool("panic", json!({}));
    bad.retry = Some(fast_retry(1));
    let bad = submit(&n.rt, bad).await;
    let mut fails = tool("noop", json!({}));
    fails.parents = vec![bad.id.clone()];
    let fails = submit(&n.rt, fails).await;
    let mut skips = tool("noop", json!({}));
    skips.parents = vec![bad.id.clone()];
    skips.on_parent_failure = OnParentFailure::Skip;
    let skips = submit(&n.rt, skips).await;
    let mut grandchild = tool("noop", json!({}));
    grandchild.parents = vec![fails.id.clone()];
    let grandchild = submit(&n.rt, grandchild).await;

    assert_eq!(finished(&n.rt, &bad.id).await.state, Failed);
    let fails = finished(&n.rt, &fails.id).await;
    assert_eq!(fails.state, Failed);
    assert_eq!(fails.error.unwrap().code, "dependency_failed");
    assert_eq!(fails.attempts, 0, "a dependent of a failed job never runs");
    assert_eq!(finished(&n.rt, &skips.id).await.state, Skipped);
    assert_eq!(finished(&n.rt, &grandchild.id).await.state, Failed);
    // Pending then skipped, or skipped at once if the parent had failed by
    // the time it was submitted; never started.
    let seen = states(&n.rt, &skips.id);
    assert!(seen == [Pending, Skipped] || seen == [Skipped], "{seen:?}");

    // Submitted after its parent already failed: settled at once.
    let mut late = tool("noop", json!({}));
    late.parents = vec![bad.id.clone()];
    late.on_parent_failure = OnParentFailure::Skip;
    assert_eq!(submit(&n.rt, late).await.state, Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_retry_with_exponential_backoff() {
    let n = node(|_| {}).await;
    // A plugin that traps fails the attempt; traps are worth retrying.
    let mut s = tool("panic", json!({}));
    s.retry = Some(fast_retry(3));
    let job = submit(&n.rt, s).await;
    let job = finished(&n.rt, &job.id).await;
    assert_eq!(job.state, Failed);
    assert_eq!(job.attempts, 3);
    assert_eq!(job.error.as_ref().unwrap().code, "plugin_failed");
    let ups = updates(&n.rt, &job.id);
    let seen: Vec<JobState> = ups.iter().map(|j| j.state).collect();
    assert_eq!(
        seen,
        vec![
            Pending, Processing, Pending, Processing, Pending, Processing, Failed
        ]
    );
    // Each wait at least the policy's delay: 100 ms, then 200 ms.
    let retry_due: Vec<u64> = ups.iter().filter_map(|j| j.next_attempt_ms).collect();
    let fails_at: Vec<u64> = ups
        .iter()
        .filter(|j| j.state == Pending && j.attempts > 0)
        .map(|j| j.updated_ms)
        .collect();
    assert_eq!(retry_due.len(), 2);
    assert_eq!(retry_due[0] - fails_at[0], 100);
    assert_eq!(retry_due[1] - fails_at[1], 200);
    let starts: Vec<u64> = ups
        .iter()
        .filter(|j| j.state == Processing)
        .map(|j| j.started_ms.unwrap())
        .collect();
    assert!(starts[1] >= retry_due[0] && starts[2] >= retry_due[1]);

    // An upstream that is down twice, then answers: the third attempt succeeds.
    let mut s = spec(
        JobKind::Llm,
        json!({"model": "openai/flaky", "messages": [{"role": "user", "content": "hello"}]}),
    );
    s.retry = Some(fast_retry(3));
    let job = finished(&n.rt, &submit(&n.rt, s).await.id).await;
    assert_eq!(job.state, Done, "{job:?}");
    assert_eq!(job.attempts, 3);
    assert_eq!(n.mock.calls_for("flaky"), 3);
    assert_eq!(job.result.as_ref().unwrap()["content"], "echo: hello");

    // A timeout is an attempt that failed.
    let mut s = tool("slow_answer", json!({"ms": 3000}));
    s.timeout_ms = Some(100);
    s.retry = Some(fast_retry(1));
    let job = finished(&n.rt, &submit(&n.rt, s).await.id).await;
    assert_eq!(job.state, Failed);
    assert_eq!(job.error.unwrap().code, "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_pending_and_running_jobs() {
    let n = node(|c| c.jobs.max_concurrency = 1).await;
    let running = submit(&n.rt, tool("slow_answer", json!({"ms": 4000}))).await;
    let waiting = submit(&n.rt, tool("noop", json!({}))).await;
    let mut child = tool("noop", json!({}));
    child.parents = vec![running.id.clone()];
    child.on_parent_failure = OnParentFailure::Skip;
    let child = submit(&n.rt, child).await;
    assert!(
        crate::common::eventually(Duration::from_secs(10), async || {
            n.rt.jobs.get(T, &running.id).unwrap().state == Processing
        })
        .await
    );

    let cancelled = n.rt.jobs.cancel(T, &waiting.id).await.unwrap();
    assert_eq!(cancelled.state, Cancelled);
    assert_eq!(states(&n.rt, &waiting.id), vec![Pending, Cancelled]);

    let t = Instant::now();
    let cancelled = n.rt.jobs.cancel(T, &running.id).await.unwrap();
    assert_eq!(cancelled.state, Cancelled);
    assert_eq!(cancelled.error.unwrap().code, "cancelled");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cancel does not wait for the attempt"
    );
    assert_eq!(
        states(&n.rt, &running.id),
        vec![Pending, Processing, Cancelled]
    );
    assert_eq!(finished(&n.rt, &child.id).await.state, Skipped);

    // The slot is free again, and finished jobs cannot be cancelled.
    let next = finished(&n.rt, &submit(&n.rt, tool("noop", json!({}))).await.id).await;
    assert_eq!(next.state, Done);
    assert!(matches!(
        n.rt.jobs.cancel(T, &next.id).await,
        Err(JobsError::Conflict(_))
    ));
    assert!(matches!(
        n.rt.jobs.cancel(T, "job_12345").await,
        Err(JobsError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_return_the_first_job_per_tenant() {
    let n = node(|_| {}).await;
    let mut s = tool("noop", json!({}));
    s.idempotency_key = Some("order-42".into());
    let (first, existing) = n.rt.jobs.submit(T, s.clone()).await.unwrap();
    assert!(!existing);
    let (again, existing) = n.rt.jobs.submit(T, s.clone()).await.unwrap();
    assert!(existing);
    assert_eq!(again.id, first.id);
    let (other, existing) = n.rt.jobs.submit("tenant-b", s.clone()).await.unwrap();
    assert!(!existing);
    assert_ne!(other.id, first.id);
    // Concurrent duplicates still make one job.
    let mut set = tokio::task::JoinSet::new();
    let mut s2 = s.clone();
    s2.idempotency_key = Some("burst".into());
    for _ in 0..16 {
        let (rt, s2) = (n.rt.clone(), s2.clone());
        set.spawn(async move { rt.jobs.submit(T, s2).await.unwrap() });
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut new = 0;
    while let Some(r) = set.join_next().await {
        let (job, existing) = r.unwrap();
        ids.insert(job.id);
        new += usize::from(!existing);
    }
    assert_eq!((ids.len(), new), (1, 1));
}

fn agent(name: &str, model: &str, tools: &[&str]) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        model: model.into(),
        system_prompt: "You are terse.".into(),
        tools: tools.iter().map(|t| t.to_string()).collect(),
        max_steps: 4,
        temperature: Some(0.2),
        max_tokens: None,
        settings: json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_two_tools_in_parallel_and_answers() {
    let n = node(|_| {}).await;
    let a =
        n.rt.jobs
            .create_agent(
                T,
                agent(
                    "researcher",
                    "openai/agent-two-tools",
                    &["calculator", "json_query"],
                ),
            )
            .await
            .unwrap();
    assert!(matches!(
        n.rt.jobs
            .create_agent(T, agent("researcher", "m", &[]))
            .await,
        Err(JobsError::Conflict(_))
    ));
    let job = submit(
        &n.rt,
        spec(
            JobKind::Agent,
            json!({"agent": a.id, "input": "What is 6*7, and which city?"}),
        ),
    )
    .await;
    let job = finished(&n.rt, &job.id).await;
    assert_eq!(job.state, Done, "{job:?}");
    let result = job.result.unwrap();
    assert_eq!(result["steps"], 2);
    assert_eq!(result["tool_calls"], 2);
    assert_eq!(
        result["answer"],
        r#"tools said: {"value":42} | {"matches":["Kyoto"]}"#
    );
    assert_eq!(result["usage"]["total_tokens"], 38);

    // Every step is a stored message, and each was streamed as an event.
    let messages = n.rt.jobs.messages(T, &job.id, 0, 0).unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m.message.role.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "assistant"]
    );
    assert_eq!(messages[2].message.tool_calls.len(), 2);
    assert_eq!(
        messages[3].message.tool_call_id.as_deref(),
        Some("call_calc")
    );
    assert_eq!(messages[4].message.name.as_deref(), Some("json_query"));
    assert!(messages[2].message.usage.is_some());
    let chunks: Vec<u32> =
        n.rt.jobs
            .store
            .events_after(T, Some(&job.id), 0, usize::MAX)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::StreamChunk(m) => Some(m.seq),
                _ => None,
            })
            .collect();
    assert_eq!(chunks, [1, 2, 3, 4, 5, 6]);
    assert_eq!(job.message_count, 6);

    // Both tool calls went upstream with the tools' schemas; the second call
    // carried both results.
    let seen = n.mock.seen.lock().unwrap().clone();
    let calls: Vec<&Value> = seen
        .iter()
        .filter(|s| s.body["model"] == "agent-two-tools")
        .map(|s| &s.body)
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["tools"].as_array().unwrap().len(), 2);
    assert_eq!(calls[1]["messages"].as_array().unwrap().len(), 5);

    // An agent that never stops asking for tools hits its step limit.
    let mut looping = agent("looper", "openai/gpt-4o-mini", &["calculator"]);
    looping.max_steps = 1;
    let looper = n.rt.jobs.create_agent(T, looping).await.unwrap();
    let job = submit(
        &n.rt,
        spec(
            JobKind::Agent,
            json!({"agent": looper.id, "input": "compute"}),
        ),
    )
    .await;
    let job = finished(&n.rt, &job.id).await;
    assert_eq!(job.state, Failed);
    assert_eq!(job.error.unwrap().code, "max_steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_and_branch_make_new_jobs_from_a_conversation() {
    let n = node(|_| {}).await;
    let source = submit(
        &n.rt,
        spec(
            JobKind::Llm,
            json!({"model": "openai/gpt-4o-mini", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"}
            ]}),
        ),
    )
    .await;
    let source = finished(&n.rt, &source.id).await;
    assert_eq!(source.state, Done);
    assert_eq!(source.message_count, 3);

    // Fork after the answer, with a new question.
    let fork =
        n.rt.jobs
            .fork(T, &source.id, 3, Some("and then?".into()))
            .await
            .unwrap();
    let origin = fork.origin.clone().unwrap();
    assert_eq!(
        (origin.job.as_str(), origin.message, origin.branch),
        (source.id.as_str(), 3, false)
    );
    let fork = finished(&n.rt, &fork.id).await;
    assert_eq!(fork.state, Done);
    let texts: Vec<String> =
        n.rt.jobs
            .messages(T, &fork.id, 0, 0)
            .unwrap()
            .into_iter()
            .map(|m| format!("{}:{}", m.message.role, m.message.content))
            .collect();
    assert_eq!(
        texts,
        [
            "system:Be brief.",
            "user:hi",
            "assistant:echo: hi",
            "user:and then?",
            "assistant:echo: and then?"
        ]
    );

    // Branch: generate message 3 again; the original keeps its answer.
    let branch = n.rt.jobs.branch(T, &source.id, 3).await.unwrap();
    assert!(branch.origin.as_ref().unwrap().branch);
    let branch = finished(&n.rt, &branch.id).await;
    let msgs = n.rt.jobs.messages(T, &branch.id, 0, 0).unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[2].message.content, "echo: hi");
    assert_eq!(n.rt.jobs.messages(T, &source.id, 0, 0).unwrap().len(), 3);
    assert_eq!(n.mock.calls_for("gpt-4o-mini"), 3);

    // Out of range, or a tool job: refused.
    assert!(matches!(
        n.rt.jobs.fork(T, &source.id, 9, None).await,
        Err(JobsError::Invalid(_))
    ));
    let t = finished(&n.rt, &submit(&n.rt, tool("noop", json!({}))).await.id).await;
    assert!(matches!(
        n.rt.jobs.branch(T, &t.id, 1).await,
        Err(JobsError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tenant_and_per_provider_limits_cap_running_jobs() {
    let n = node(|c| {
        c.jobs.max_concurrency = 8;
        c.jobs.per_tenant = 2;
        c.jobs.per_provider.insert("spin-forever".into(), 1);
        // The operator's section for one tenant replaces `per_tenant`.
        c.tenants = toml::from_str("[tenant-c]\nmax_running_jobs = 1\n").unwrap();
    })
    .await;
    let mut jobs = Vec::new();
    for _ in 0..6 {
        jobs.push((
            T,
            submit(&n.rt, tool("slow_answer", json!({"ms": 150}))).await,
        ));
    }
    for (tenant, spec) in [
        ("tenant-b", tool("ok", json!({}))),
        ("tenant-b", tool("ok", json!({}))),
        ("tenant-b", tool("ok", json!({}))),
        ("tenant-c", tool("slow_answer", json!({"ms": 150}))),
        ("tenant-c", tool("slow_answer", json!({"ms": 150}))),
        ("tenant-c", tool("slow_answer", json!({"ms": 150}))),
    ] {
        jobs.push((tenant, n.rt.jobs.submit(tenant, spec).await.unwrap().0));
    }
    let mut spans = Vec::new();
    for (tenant, j) in &jobs {
        let deadline = Instant::now() + Duration::from_secs(30);
        let done = loop {
            let job = n.rt.jobs.get(tenant, &j.id).unwrap();
            if job.state.is_terminal() {
                break job;
            }
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(done.state, Done);
        spans.push((*tenant, done.started_ms.unwrap(), done.finished_ms.unwrap()));
    }
    let most_at_once = |pick: &str| {
        let mine: Vec<(u64, u64)> = spans
            .iter()
            .filter(|s| s.0 == pick)
            .map(|s| (s.1, s.2))
            .collect();
        mine.iter()
            .map(|(start, _)| mine.iter().filter(|(s, f)| s <= start && start < f).count())
            .max()
            .unwrap()
    };
    assert!(most_at_once(T) <= 2, "the default tenant's limit is 2");
    assert!(most_at_once("tenant-b") <= 1, "spin-forever's limit is 1");
    assert_eq!(most_at_once("tenant-c"), 1, "tenant-c's own limit is 1");
}

fn limit_code(r: Result<(Job, bool), JobsError>) -> &'static str {
    match r {
        Err(JobsError::Limit { code, .. }) => code,
        other => panic!("{other:?}"),
    }
}

/// A tenant's jobs not yet finished are bounded; finishing (or cancelling)
/// makes room, other tenants are not affected, and a known idempotency key
/// still answers with its job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_jobs_per_tenant_are_bounded() {
    let n = node(|c| c.jobs.max_pending_per_tenant = 3).await;
    let mut blocker = tool("slow_answer", json!({"ms": 20000}));
    blocker.idempotency_key = Some("blocker".into());
    let blocker = submit(&n.rt, blocker).await;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut child = tool("noop", json!({}));
        child.parents = vec![blocker.id.clone()];
        children.push(submit(&n.rt, child).await);
    }
    let refused = n.rt.jobs.submit(T, tool("noop", json!({}))).await;
    match &refused {
        Err(e @ JobsError::Limit { message, .. }) => {
            assert!(message.contains("jobs.max_pending_per_tenant"), "{message}");
            assert_eq!(e.limit_code(), Some("too_many_pending_jobs"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(limit_code(refused), "too_many_pending_jobs");
    let mut again = tool("slow_answer", json!({"ms": 20000}));
    again.idempotency_key = Some("blocker".into());
    let (same, existing) = n.rt.jobs.submit(T, again).await.unwrap();
    assert!(existing);
    assert_eq!(same.id, blocker.id);
    // Another tenant has its own bound.
    let other =
        n.rt.jobs
            .submit("other", tool("noop", json!({})))
            .await
            .unwrap()
            .0;
    assert_eq!(n.rt.jobs.get("other", &other.id).unwrap().tenant, "other");

    // Cancelling the blocker fails its children: three jobs finished.
    n.rt.jobs.cancel(T, &blocker.id).await.unwrap();
    for c in &children {
        assert_eq!(finished(&n.rt, &c.id).await.state, Failed);
    }
    let ok = submit(&n.rt, tool("noop", json!({}))).await;
    assert_eq!(finished(&n.rt, &ok.id).await.state, Done);
    assert_eq!(n.rt.jobs.stats()["tenants_with_live_jobs"], 0);
}

/// Children per parent are bounded, for running and for finished parents,
/// and a parent's children are listed as they were added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_per_parent_are_bounded() {
    let n = node(|c| c.jobs.max_children = 2).await;
    let done = finished(&n.rt, &submit(&n.rt, tool("noop", json!({}))).await.id).await;
    let running = submit(&n.rt, tool("slow_answer", json!({"ms": 20000}))).await;
    for parent in [&done.id, &running.id] {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut child = tool("noop", json!({}));
            child.parents = vec![parent.clone()];
            ids.push(submit(&n.rt, child).await.id);
        }
        let mut third = tool("noop", json!({}));
        third.parents = vec![parent.clone()];
        let refused = n.rt.jobs.submit(T, third).await;
        match &refused {
            Err(JobsError::Limit { message, .. }) => {
                assert!(message.contains("jobs.max_children"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(limit_code(refused), "too_many_children");
        assert_eq!(n.rt.jobs.get(T, parent).unwrap().children, ids);
    }
    // A refused job with several parents left none of them changed.
    let mut two = tool("noop", json!({}));
    two.parents = vec![
        submit(&n.rt, tool("noop", json!({}))).await.id,
        running.id.clone(),
    ];
    assert_eq!(
        limit_code(n.rt.jobs.submit(T, two.clone()).await),
        "too_many_children"
    );
    assert!(
        n.rt.jobs
            .get(T, &two.parents[0])
            .unwrap()
            .children
            .is_empty()
    );
    n.rt.jobs.cancel(T, &running.id).await.unwrap();
}

/// Retry policies out of bounds are refused, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_policies_are_bounded() {
    let n = node(|_| {}).await;
    let cases: [(fn(&mut RetryPolicy), &str); 5] = [
        (|r| r.max_attempts = 101, "retry.max_attempts"),
        (|r| r.max_attempts = u32::MAX, "retry.max_attempts"),
        (
            |r| {
                r.initial_delay_ms = 0;
                r.max_delay_ms = 0
            },
            "retry.initial_delay_ms",
        ),
        (|r| r.max_delay_ms = 86_400_001, "retry.max_delay_ms"),
        (|r| r.multiplier = f64::INFINITY, "retry.multiplier"),
    ];
    for (edit, field) in cases {
        let mut s = tool("noop", json!({}));
        let mut retry = RetryPolicy::default();
        edit(&mut retry);
        s.retry = Some(retry);
        match n.rt.jobs.submit(T, s).await {
            Err(JobsError::Invalid(m)) => assert!(m.contains(field), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
