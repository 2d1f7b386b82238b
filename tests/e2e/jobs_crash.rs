//! Crash safety on the real binary: 10 000 jobs submitted over HTTP, the node
//! killed with SIGKILL while they run, restarted on the same files. Every job
//! must end done exactly once, and every attempt it took must be accounted
//! for: a start event per attempt, one `done` event, nothing lost.

use crate::common::{Dirs, Node, client, install};
use hanzo_node::jobs::Jobs;
use hanzo_node::jobs::model::{EventBody, JobState};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const JOBS: usize = 10_000;
const CONCURRENCY: usize = 16;

async fn health(c: &reqwest::Client, node: &Node) -> Value {
    c.get(node.url("/v2/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_survives_kill_9_done_exactly_once() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    // Few slots and 20 ms jobs: the queue drains in seconds, slowly enough
    // to be killed in the middle.
    std::fs::write(
        dirs.root.path().join("node.toml"),
        format!("[jobs]\nmax_concurrency = {CONCURRENCY}\n"),
    )
    .unwrap();
    let node = Node::start(&dirs, &[]);
    let c = client();

    // An agent and an idempotency key, to find again after the crash.
    let agent: Value = c
        .post(node.url("/v2/agents/create"))
        .json(&json!({"name": "survivor", "model": "openai/gpt-4o-mini"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let started = Instant::now();
    let mut ids = Vec::with_capacity(JOBS);
    let bodies: Vec<Value> = (0..JOBS)
        .map(|i| {
            let mut spec =
                json!({"kind": "tool", "input": {"tool": "slow_answer", "arguments": {"ms": 20}}});
            if i == 0 {
                spec["idempotency_key"] = json!("first");
            }
            spec
        })
        .collect();
    for chunk in bodies.chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for (i, body) in chunk.iter().cloned().enumerate() {
            let (c, url) = (c.clone(), node.url("/v2/jobs"));
            set.spawn(async move {
                let r = c.post(url).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 201);
                let v: Value = r.json().await.unwrap();
                (i, v["job"]["id"].as_str().unwrap().to_string())
            });
        }
        let mut got: Vec<(usize, String)> = set.join_all().await;
        got.sort();
        ids.extend(got.into_iter().map(|(_, id)| id));
    }
    let submit_s = started.elapsed().as_secs_f64();
    assert_eq!(ids.len(), JOBS);

    // Kill when about a third has run.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_before = loop {
        let h = health(&c, &node).await;
        let done = h["jobs"]["done"].as_u64().unwrap();
        if done >= (JOBS / 3) as u64 {
            break done;
        }
        assert!(Instant::now() < deadline, "jobs are not running: {h}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        done_before < JOBS as u64,
        "the queue drained before the kill"
    );
    let pid = node.pid();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = node.wait_killed();

    // Restart on the same files and let everything finish.
    let node = Node::start(&dirs, &[]);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let h = health(&c, &node).await;
        if h["jobs"]["live"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still live after restart: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The key and the agent outlived the crash.
    let again = c
        .post(node.url("/v2/jobs"))
        .json(&json!({"kind": "tool", "input": {"tool": "noop"}, "idempotency_key": "first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["job"]["id"], ids[0].as_str());
    let kept: Value = c
        .get(node.url(&format!("/v2/agents/{}", agent["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["name"], "survivor");
    let (status, log) = node.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("jobs recovered from the previous run"),
        "{log}"
    );

    // Audit the database: jobs and the event log.
    let db = Arc::new(redb::Database::open(dirs.data.join("node.redb")).unwrap());
    let jobs = Jobs::open(db, Default::default()).unwrap();
    let mut starts: HashMap<String, u32> = HashMap::new();
    let mut dones: HashMap<String, u32> = HashMap::new();
    for e in jobs
        .store
        .events_after("default", None, 0, usize::MAX)
        .unwrap()
    {
        if let EventBody::JobUpdate(j) = e.body {
            match j.state {
                JobState::Processing => *starts.entry(j.id.clone()).or_default() += 1,
                JobState::Done => *dones.entry(j.id.clone()).or_default() += 1,
                _ => {}
            }
        }
    }
    let mut retried = 0;
    for id in &ids {
        let job = jobs.get("default", id).unwrap();
        assert_eq!(job.state, JobState::Done, "{job:?}");
        assert_eq!(dones.get(id), Some(&1), "{id} done exactly once");
        assert_eq!(
            starts.get(id),
            Some(&job.attempts),
            "{id}: one start per attempt"
        );
        assert!(job.attempts >= 1);
        if job.attempts > 1 {
            retried += 1;
        }
    }
    // Only the attempts cut by the kill ran twice.
    assert!(retried <= CONCURRENCY, "{retried} jobs ran more than once");
    eprintln!(
        "crash test: {JOBS} jobs submitted in {submit_s:.1} s, killed after {done_before} done, {retried} re-run after restart"
    );
}
