//! The job queue through the real binary: `/v2/jobs` and `/v2/agents` served
//! by the `api-v2` plugin, tool jobs run by `echo-version` (`answer`,
//! `slow_answer`), the OpenAPI document, and the host's WebSocket `/v2/ws`
//! (requests, subscriptions, resuming after a dropped connection, heartbeat
//! and idle timeout). Every wait is bounded.

use crate::common::{Dirs, Node, client, eventually, install};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

/// The bound on every wait for the node to do something.
const WAIT: Duration = Duration::from_secs(30);

/// A node with `api-v2`, `echo-version` and `tools-basic` installed.
fn start(dirs: &Dirs, extra: &[&str]) -> Node {
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    Node::start(dirs, extra)
}

// ---- HTTP helpers -----------------------------------------------------------

/// Sends a request; the status, the headers and the body, which must be JSON.
async fn send(rb: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = rb.send().await.expect("request failed");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: the body is not JSON ({e}): {text}"));
    (status, headers, body)
}

/// `body` is exactly `{"error":{"code","message"}}` with `code`, sent with `status`.
#[track_caller]
fn assert_error(what: &str, status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    let top: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["error"], "{what}: {body}");
    let mut keys: Vec<&str> = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: `error` is not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message"], "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// POST /v2/jobs with `spec`: the status and the body.
async fn submit(c: &reqwest::Client, node: &Node, spec: Value) -> (u16, Value) {
    let (s, _, v) = send(c.post(node.url("/v2/jobs")).json(&spec)).await;
    (s, v)
}

/// Submits `spec`, which must be accepted as a new job; its id.
async fn submit_new(c: &reqwest::Client, node: &Node, spec: Value) -> String {
    let (s, v) = submit(c, node, spec).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["existing"], false, "{v}");
    assert_eq!(v["job"]["state"], "pending", "{v}");
    v["job"]["id"].as_str().unwrap().to_string()
}

fn tool_job(tool: &str, arguments: Value) -> Value {
    json!({"kind": "tool", "input": {"tool": tool, "arguments": arguments}})
}

async fn get_json(c: &reqwest::Client, node: &Node, path: &str) -> Value {
    let (s, _, v) = send(c.get(node.url(path))).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

/// Polls `/v2/jobs/{id}/status` until the job is in `state`; that status.
async fn wait_state(c: &reqwest::Client, node: &Node, id: &str, state: &str) -> Value {
    let path = format!("/v2/jobs/{id}/status");
    let mut last = Value::Null;
    let reached = eventually(WAIT, async || {
        last = get_json(c, node, &path).await;
        last["state"] == state
    })
    .await;
    assert!(reached, "job {id} did not reach `{state}`: {last}");
    last
}

/// Polls until the job is done, failed, cancelled or skipped; the whole job.
async fn wait_finished(c: &reqwest::Client, node: &Node, id: &str) -> Value {
    let path = format!("/v2/jobs/{id}/status");
    let mut last = Value::Null;
    let finished = eventually(WAIT, async || {
        last = get_json(c, node, &path).await;
        matches!(
            last["state"].as_str(),
            Some("done" | "failed" | "cancelled" | "skipped")
        )
    })
    .await;
    assert!(finished, "job {id} did not finish: {last}");
    get_json(c, node, &format!("/v2/jobs/{id}")).await
}

fn number(id: &str) -> u64 {
    id.strip_prefix("job_")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("`{id}` is not a job id"))
}

/// Every job id of `GET /v2/jobs?{query}`, one page of `limit=1` at a time
/// through `next`.
async fn page_ids(c: &reqwest::Client, node: &Node, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v2/jobs?{query}&limit=1");
        if let Some(b) = &before {
            path.push_str(&format!("&before={b}"));
        }
        let page = get_json(c, node, &path).await;
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 1, "limit=1 gave {} jobs: {page}", jobs.len());
        ids.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    jobs.len(),
                    1,
                    "a page with `next` must not be empty: {page}"
                );
                before = Some(next.to_string());
            }
            None => {
                assert!(page["next"].is_null(), "{page}");
                return ids;
            }
        }
    }
    panic!("paging did not end after 1000 pages: {ids:?}");
}

// ---- WebSocket helpers ------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

/// `host:port` of the node.
fn addr(node: &Node) -> String {
    node.base.strip_prefix("http://").unwrap().to_string()
}

async fn ws_connect(node: &Node) -> Ws {
    let addr = addr(node);
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (ws, response) =
        tokio::time::timeout(WAIT, client_async(format!("ws://{addr}/v2/ws"), tcp))
            .await
            .expect("the WebSocket handshake timed out")
            .expect("the WebSocket handshake failed");
    assert_eq!(response.status(), 101);
    ws
}

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Sends `request` and checks that the reply is an `Error` with `code`,
/// echoing the request's `request_id` (null when it has none).
async fn ws_expect_error(ws: &mut Ws, request: Value, code: &str) {
    let request_id = request.get("request_id").cloned().unwrap_or(Value::Null);
    ws_send(ws, request).await;
    let e = ws_recv(ws).await;
    assert_eq!(
        (&e["type"], &e["code"], &e["request_id"]),
        (&json!("Error"), &json!(code), &request_id),
        "{e}"
    );
}

/// The next JSON text message (pings and pongs skipped).
async fn ws_recv(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no message from the node in time")
            .expect("the node closed the WebSocket")
            .expect("WebSocket error");
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text.as_str()));
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A job event as the WebSocket sends it.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: u64,
    job: String,
    state: String,
}

#[track_caller]
fn event(v: &Value) -> Event {
    assert_eq!(v["type"], "JobUpdate", "{v}");
    Event {
        id: v["event_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("an event without event_id: {v}")),
        job: v["job"]["id"].as_str().unwrap().to_string(),
        state: v["job"]["state"].as_str().unwrap().to_string(),
    }
}

/// Reads events into `into` until `stop` holds for one; that event's message.
async fn read_events_until(
    ws: &mut Ws,
    into: &mut Vec<Event>,
    mut stop: impl FnMut(&Event) -> bool,
) -> Value {
    loop {
        let v = ws_recv(ws).await;
        let e = event(&v);
        into.push(e.clone());
        if stop(&e) {
            return v;
        }
    }
}

#[track_caller]
fn states_of(events: &[Event], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.job == job)
        .map(|e| e.state.clone())
        .collect()
}

// ---- REST: jobs --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_jobs() {
    let dirs = Dirs::new();
    let node = start(&dirs, &[]);
    let c = client();

    // Submit a tool job and follow it to its result.
    let (s, v) = submit(&c, &node, tool_job("answer", json!({}))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["existing"], false, "{v}");
    let job = &v["job"];
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("job_"), "{v}");
    assert_eq!(job["kind"], "tool");
    assert_eq!(job["state"], "pending");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["input"], json!({"tool": "answer", "arguments": {}}));
    assert!(job.get("tenant").is_none(), "{v}");

    let status = wait_state(&c, &node, &id, "done").await;
    assert_eq!(status["id"], id);
    assert_eq!(status["attempts"], 1);
    assert!(status["error"].is_null(), "{status}");
    let mut keys: Vec<&str> = status
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attempts",
            "error",
            "id",
            "next_attempt_ms",
            "state",
            "updated_ms"
        ],
        "{status}"
    );

    let job = get_json(&c, &node, &format!("/v2/jobs/{id}")).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"], json!({"answer": "v1"}), "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(job["error"].is_null(), "{job}");
    let created = job["created_ms"].as_u64().unwrap();
    let started = job["started_ms"].as_u64().unwrap();
    let finished = job["finished_ms"].as_u64().unwrap();
    assert!(created <= started && started <= finished, "{job}");

    let results = get_json(&c, &node, &format!("/v2/jobs/{id}/results")).await;
    assert_eq!(
        results,
        json!({"id": id, "state": "done", "result": {"answer": "v1"}, "error": null, "messages": []})
    );

    let done = get_json(&c, &node, "/v2/jobs?state=done").await;
    let listed = done["jobs"].as_array().unwrap();
    assert!(listed.iter().any(|j| j["id"] == id.as_str()), "{done}");
    assert!(listed.iter().all(|j| j["state"] == "done"), "{done}");
    let pending = get_json(&c, &node, "/v2/jobs?state=pending").await;
    assert!(
        !pending["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id.as_str()),
        "{pending}"
    );

    // Paging: three more jobs; limit=1 and `next` visit each job once, newest first.
    let mut three = Vec::new();
    for _ in 0..3 {
        three.push(submit_new(&c, &node, tool_job("answer", json!({}))).await);
    }
    for j in &three {
        wait_state(&c, &node, j, "done").await;
    }
    let all = get_json(&c, &node, "/v2/jobs?limit=1000").await;
    let all: Vec<String> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
    let paged = page_ids(&c, &node, "").await;
    assert_eq!(paged, all, "paged and unpaged listings differ");
    assert!(
        paged.windows(2).all(|w| number(&w[0]) > number(&w[1])),
        "not newest first: {paged:?}"
    );
    let unique: HashSet<&String> = paged.iter().collect();
    assert_eq!(unique.len(), paged.len(), "a job listed twice: {paged:?}");
    let positions: Vec<usize> = three
        .iter()
        .map(|j| paged.iter().position(|p| p == j).unwrap())
        .collect();
    assert!(
        positions[0] > positions[1] && positions[1] > positions[2],
        "{three:?} in {paged:?}"
    );
    // The same with filters.
    let paged_done = page_ids(&c, &node, "state=done&kind=tool").await;
    assert_eq!(paged_done, all);
    assert!(page_ids(&c, &node, "state=failed").await.is_empty());

    // Idempotency through the body's key.
    let keyed = json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}, "idempotency_key": "body-key-1"});
    let (s, first) = submit(&c, &node, keyed.clone()).await;
    assert_eq!((s, &first["existing"]), (201, &json!(false)), "{first}");
    assert_eq!(first["job"]["idempotency_key"], "body-key-1");
    let (s, again) = submit(&c, &node, keyed).await;
    assert_eq!((s, &again["existing"]), (200, &json!(true)), "{again}");
    assert_eq!(again["job"]["id"], first["job"]["id"]);

    // … and through the `Idempotency-Key` header.
    let header_post = || {
        c.post(node.url("/v2/jobs"))
            .header("Idempotency-Key", "header-key-1")
            .json(&tool_job("answer", json!({})))
    };
    let (s, _, first) = send(header_post()).await;
    assert_eq!((s, &first["existing"]), (201, &json!(false)), "{first}");
    assert_eq!(first["job"]["idempotency_key"], "header-key-1", "{first}");
    let (s, _, again) = send(header_post()).await;
    assert_eq!((s, &again["existing"]), (200, &json!(true)), "{again}");
    assert_eq!(again["job"]["id"], first["job"]["id"]);
    // Another key is another job.
    let (s, _, other) = send(
        c.post(node.url("/v2/jobs"))
            .header("Idempotency-Key", "header-key-2")
            .json(&tool_job("answer", json!({}))),
    )
    .await;
    assert_eq!((s, &other["existing"]), (201, &json!(false)), "{other}");
    assert_ne!(other["job"]["id"], first["job"]["id"]);

    // Cancel a running job.
    let slow = submit_new(&c, &node, tool_job("slow_answer", json!({"ms": 5000}))).await;
    wait_state(&c, &node, &slow, "processing").await;
    let (s, _, cancelled) = send(c.post(node.url(&format!("/v2/jobs/{slow}/cancel")))).await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["id"], slow.as_str());
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["error"]["code"], "cancelled", "{cancelled}");
    assert!(cancelled["finished_ms"].is_u64(), "{cancelled}");
    let status = get_json(&c, &node, &format!("/v2/jobs/{slow}/status")).await;
    assert_eq!(status["state"], "cancelled", "{status}");
    assert_eq!(status["error"]["code"], "cancelled", "{status}");
    let (s, _, v) = send(c.post(node.url(&format!("/v2/jobs/{slow}/cancel")))).await;
    assert_error("cancel twice", s, &v, 409, "conflict");
    // A finished job cannot be cancelled either.
    let (s, _, v) = send(c.post(node.url(&format!("/v2/jobs/{id}/cancel")))).await;
    assert_error("cancel a done job", s, &v, 409, "conflict");

    // Dependencies: B starts only once A is done.
    let a = submit_new(&c, &node, tool_job("slow_answer", json!({"ms": 300}))).await;
    let (s, v) = submit(
        &c,
        &node,
        json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}, "parents": [a]}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["job"]["parents"], json!([a]), "{v}");
    let b = v["job"]["id"].as_str().unwrap().to_string();
    let b_job = wait_finished(&c, &node, &b).await;
    let a_job = wait_finished(&c, &node, &a).await;
    assert_eq!(a_job["state"], "done", "{a_job}");
    assert_eq!(b_job["state"], "done", "{b_job}");
    assert_eq!(b_job["result"], json!({"answer": "v1"}));
    assert!(
        a_job["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch == b.as_str()),
        "{a_job}"
    );
    let a_finished = a_job["finished_ms"].as_u64().unwrap();
    let b_started = b_job["started_ms"].as_u64().unwrap();
    assert!(
        b_started >= a_finished,
        "B started at {b_started}, before A finished at {a_finished}"
    );

    // Tool jobs have no conversation to fork or branch.
    let (s, _, v) = send(
        c.post(node.url(&format!("/v2/jobs/{a}/fork")))
            .json(&json!({"message": 1})),
    )
    .await;
    assert_error("fork a tool job", s, &v, 409, "conflict");
    let (s, _, v) = send(
        c.post(node.url(&format!("/v2/jobs/{a}/branch")))
            .json(&json!({"message": 1})),
    )
    .await;
    assert_error("branch a tool job", s, &v, 409, "conflict");
}

// ---- REST: errors, agents, OpenAPI ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_errors_agents_and_openapi() {
    let dirs = Dirs::new();
    let node = start(&dirs, &[]);
    let c = client();

    // Bad submissions.
    let (s, h, v) = send(
        c.post(node.url("/v2/jobs"))
            .header("content-type", "application/json")
            .body("{oops"),
    )
    .await;
    assert_error("malformed JSON", s, &v, 400, "invalid_json");
    assert_eq!(h["content-type"], "application/json");
    let cases = [
        (
            "unknown field",
            json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}, "bogus": 1}),
            "bogus",
        ),
        (
            "unknown kind",
            json!({"kind": "shell", "input": {}}),
            "shell",
        ),
        ("missing kind", json!({"input": {}}), "kind"),
        ("missing input", json!({"kind": "tool"}), "input"),
        (
            "a tool job without a tool",
            json!({"kind": "tool", "input": {}}),
            "tool",
        ),
        (
            "a parent that does not exist",
            json!({"kind": "tool", "input": {"tool": "answer"}, "parents": ["job_424242"]}),
            "job_424242",
        ),
        ("not an object", json!([1, 2]), "object"),
    ];
    for (what, body, words) in cases {
        let (s, v) = submit(&c, &node, body).await;
        assert_error(what, s, &v, 400, "invalid_request");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
    }
    // Nothing was stored by any of them.
    let list = get_json(&c, &node, "/v2/jobs").await;
    assert_eq!(list, json!({"jobs": [], "next": null}));

    // Unknown jobs.
    for (method, path) in [
        ("GET", "/v2/jobs/job_999999"),
        ("GET", "/v2/jobs/job_999999/status"),
        ("GET", "/v2/jobs/job_999999/results"),
        ("GET", "/v2/jobs/job_999999/messages"),
        ("POST", "/v2/jobs/job_999999/cancel"),
        ("GET", "/v2/jobs/not-a-job"),
    ] {
        let rb = match method {
            "GET" => c.get(node.url(path)),
            _ => c.post(node.url(path)),
        };
        let (s, _, v) = send(rb).await;
        assert_error(&format!("{method} {path}"), s, &v, 404, "job_not_found");
    }
    let (s, _, v) = send(c.get(node.url("/v2/jobs/job_1/nothing"))).await;
    assert_error("unknown endpoint", s, &v, 404, "not_found");

    // Wrong methods: 405 with `allow`.
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/v2/jobs", "GET, POST"),
        (reqwest::Method::POST, "/v2/jobs/job_1", "GET"),
        (reqwest::Method::PUT, "/v2/jobs/job_1/status", "GET"),
        (reqwest::Method::GET, "/v2/jobs/job_1/cancel", "POST"),
        (reqwest::Method::GET, "/v2/jobs/job_1/fork", "POST"),
        (reqwest::Method::POST, "/v2/agents/list", "GET"),
        (reqwest::Method::GET, "/v2/agents/create", "POST"),
        (
            reqwest::Method::POST,
            "/v2/agents/agent_1",
            "GET, PUT, PATCH, DELETE",
        ),
    ] {
        let what = format!("{method} {path}");
        let (s, h, v) = send(c.request(method, node.url(path))).await;
        assert_error(&what, s, &v, 405, "method_not_allowed");
        assert_eq!(
            h.get("allow").and_then(|a| a.to_str().ok()),
            Some(allow),
            "{what}"
        );
    }

    // Bad listing parameters.
    for query in ["state=running", "kind=shell", "limit=ten", "before=nope"] {
        let (s, _, v) = send(c.get(node.url(&format!("/v2/jobs?{query}")))).await;
        assert_error(query, s, &v, 400, "invalid_request");
    }

    // Agents: create, read, list, update, delete.
    let spec = json!({"name": "helper", "model": "test-model", "system_prompt": "be brief", "tools": ["answer"]});
    let (s, _, agent) = send(c.post(node.url("/v2/agents/create")).json(&spec)).await;
    assert_eq!(s, 201, "{agent}");
    let agent_id = agent["id"].as_str().unwrap().to_string();
    assert!(agent_id.starts_with("agent_"), "{agent}");
    assert_eq!(agent["name"], "helper");
    assert_eq!(agent["model"], "test-model");
    assert_eq!(agent["system_prompt"], "be brief");
    assert_eq!(agent["tools"], json!(["answer"]));
    assert_eq!(agent["max_steps"], 8, "{agent}");
    assert!(agent.get("tenant").is_none(), "{agent}");

    let (s, _, v) = send(c.post(node.url("/v2/agents/create")).json(&spec)).await;
    assert_error("duplicate agent name", s, &v, 409, "conflict");
    let (s, _, v) = send(
        c.post(node.url("/v2/agents/create"))
            .json(&json!({"name": "no-model"})),
    )
    .await;
    assert_error("agent without model", s, &v, 400, "invalid_request");
    let (s, _, v) = send(
        c.post(node.url("/v2/agents/create"))
            .json(&json!({"name": "x", "model": "m", "bogus": true})),
    )
    .await;
    assert_error("agent with unknown field", s, &v, 400, "invalid_request");

    let got = get_json(&c, &node, &format!("/v2/agents/{agent_id}")).await;
    assert_eq!(got, agent);
    let list = get_json(&c, &node, "/v2/agents/list").await;
    let agents = list["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{list}");
    assert_eq!(agents[0], agent);

    let (s, _, patched) = send(
        c.patch(node.url(&format!("/v2/agents/{agent_id}")))
            .json(&json!({"system_prompt": "be thorough"})),
    )
    .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["id"], agent_id.as_str());
    assert_eq!(patched["system_prompt"], "be thorough");
    assert_eq!(patched["name"], "helper");
    assert_eq!(patched["model"], "test-model");
    assert_eq!(patched["tools"], json!(["answer"]));
    assert_eq!(patched["created_ms"], agent["created_ms"]);
    assert!(patched["updated_ms"].as_u64() >= agent["updated_ms"].as_u64());
    let got = get_json(&c, &node, &format!("/v2/agents/{agent_id}")).await;
    assert_eq!(got, patched);

    // Renaming onto another agent's name conflicts.
    let (s, _, other) = send(
        c.post(node.url("/v2/agents/create"))
            .json(&json!({"name": "other", "model": "test-model"})),
    )
    .await;
    assert_eq!(s, 201, "{other}");
    let (s, _, v) = send(
        c.patch(node.url(&format!("/v2/agents/{agent_id}")))
            .json(&json!({"name": "other"})),
    )
    .await;
    assert_error("rename onto a taken name", s, &v, 409, "conflict");

    let (s, _, v) = send(c.delete(node.url(&format!("/v2/agents/{agent_id}")))).await;
    assert_eq!((s, &v), (200, &json!({"deleted": true})));
    let (s, _, v) = send(c.get(node.url(&format!("/v2/agents/{agent_id}")))).await;
    assert_error("GET a deleted agent", s, &v, 404, "agent_not_found");
    let (s, _, v) = send(c.delete(node.url(&format!("/v2/agents/{agent_id}")))).await;
    assert_error("DELETE a deleted agent", s, &v, 404, "agent_not_found");
    let (s, _, v) = send(
        c.patch(node.url(&format!("/v2/agents/{agent_id}")))
            .json(&json!({"system_prompt": "x"})),
    )
    .await;
    assert_error("PATCH a deleted agent", s, &v, 404, "agent_not_found");
    let list = get_json(&c, &node, "/v2/agents/list").await;
    let names: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other"], "{list}");
    // The name is free again.
    let (s, _, v) = send(c.post(node.url("/v2/agents/create")).json(&spec)).await;
    assert_eq!(s, 201, "{v}");
    assert_ne!(v["id"], agent_id.as_str());

    // An agent job needs an agent that exists.
    for missing in [agent_id.as_str(), "agent_424242", "nobody"] {
        let (s, v) = submit(
            &c,
            &node,
            json!({"kind": "agent", "input": {"agent": missing, "input": "hi"}}),
        )
        .await;
        assert_error(
            &format!("agent job for {missing}"),
            s,
            &v,
            400,
            "invalid_request",
        );
    }

    // The OpenAPI document.
    let (s, h, doc) = send(c.get(node.url("/v2/openapi.json"))).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(h["content-type"], "application/json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    for p in ["/v2/jobs", "/v2/jobs/{id}", "/v2/agents/list", "/v2/ws"] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
}

// ---- WebSocket -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_requests_and_subscriptions() {
    let dirs = Dirs::new();
    let node = start(&dirs, &[]);
    let c = client();

    // (a) Not an upgrade: 426.
    for rb in [c.get(node.url("/v2/ws")), c.post(node.url("/v2/ws"))] {
        let (s, _, v) = send(rb).await;
        assert_error("/v2/ws without upgrade", s, &v, 426, "websocket_required");
    }
    // An upgrade without a WebSocket version or key: 400.
    let upgrade = || {
        c.get(node.url("/v2/ws"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
    };
    let (s, _, v) = send(upgrade()).await;
    assert_error("no Sec-WebSocket-Version", s, &v, 400, "websocket_version");
    let (s, _, v) = send(upgrade().header("sec-websocket-version", "13")).await;
    assert_error("no Sec-WebSocket-Key", s, &v, 400, "websocket_key");

    // (b) JobCreate with subscribe: the reply, then every state of the job.
    let mut ws = ws_connect(&node).await;
    ws_send(
        &mut ws,
        json!({"type": "JobCreate", "request_id": "r1",
               "job": {"kind": "tool", "input": {"tool": "slow_answer", "arguments": {"ms": 200}}},
               "subscribe": true}),
    )
    .await;
    let reply = ws_recv(&mut ws).await;
    assert_eq!(reply["type"], "JobUpdate", "{reply}");
    assert_eq!(reply["request_id"], "r1", "{reply}");
    assert!(reply.get("event_id").is_some_and(Value::is_null), "{reply}");
    assert_eq!(reply["existing"], false, "{reply}");
    assert_eq!(reply["job"]["state"], "pending", "{reply}");
    let id = reply["job"]["id"].as_str().unwrap().to_string();
    let mut events = Vec::new();
    let done = read_events_until(&mut ws, &mut events, |e| e.state == "done").await;
    assert!(events.iter().all(|e| e.job == id), "{events:?}");
    assert_eq!(
        states_of(&events, &id),
        ["pending", "processing", "done"],
        "{events:?}"
    );
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "event ids must increase: {events:?}"
    );
    assert_eq!(done["job"]["result"], json!({"answer": "v1"}), "{done}");
    assert!(done.get("request_id").is_none(), "{done}");
    drop(ws);

    // (c) JobStatus and ToolExecute on a new connection.
    let mut ws = ws_connect(&node).await;
    ws_send(
        &mut ws,
        json!({"type": "JobStatus", "request_id": "s1", "job_id": id}),
    )
    .await;
    let status = ws_recv(&mut ws).await;
    assert_eq!(status["type"], "JobUpdate", "{status}");
    assert_eq!(status["request_id"], "s1", "{status}");
    assert!(status["event_id"].is_null(), "{status}");
    assert_eq!(status["job"]["id"], id.as_str());
    assert_eq!(status["job"]["state"], "done", "{status}");
    assert_eq!(status["job"]["result"], json!({"answer": "v1"}));
    // The same job over REST.
    let rest = get_json(&c, &node, &format!("/v2/jobs/{id}")).await;
    assert_eq!(status["job"], rest);

    ws_expect_error(
        &mut ws,
        json!({"type": "JobStatus", "request_id": "s2", "job_id": "job_999999"}),
        "job_not_found",
    )
    .await;

    ws_send(
        &mut ws,
        json!({"type": "ToolExecute", "request_id": 7, "tool": "answer", "arguments": {}}),
    )
    .await;
    let result = ws_recv(&mut ws).await;
    assert_eq!(result["type"], "ToolResult", "{result}");
    assert_eq!(result["request_id"], 7, "{result}");
    assert_eq!(result["tool"], "answer", "{result}");
    assert_eq!(result["result"], json!({"answer": "v1"}), "{result}");
    assert!(result.get("error").is_none(), "{result}");

    ws_send(
        &mut ws,
        json!({"type": "ToolExecute", "request_id": 8, "tool": "no_such_tool", "arguments": {}}),
    )
    .await;
    let result = ws_recv(&mut ws).await;
    assert_eq!(result["type"], "ToolResult", "{result}");
    assert_eq!(result["request_id"], 8, "{result}");
    assert_eq!(result["error"]["code"], "tool_not_found", "{result}");
    assert!(result["error"]["message"].is_string(), "{result}");
    assert!(result.get("result").is_none(), "{result}");

    // JobCreate with an idempotency key, twice; no subscription.
    let keyed = json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}, "idempotency_key": "ws-key-1"});
    ws_send(
        &mut ws,
        json!({"type": "JobCreate", "request_id": "k1", "job": keyed}),
    )
    .await;
    let first = ws_recv(&mut ws).await;
    assert_eq!(
        (&first["request_id"], &first["existing"]),
        (&json!("k1"), &json!(false)),
        "{first}"
    );
    ws_send(
        &mut ws,
        json!({"type": "JobCreate", "request_id": "k2", "job": keyed}),
    )
    .await;
    let again = ws_recv(&mut ws).await;
    assert_eq!(
        (&again["request_id"], &again["existing"]),
        (&json!("k2"), &json!(true)),
        "{again}"
    );
    assert_eq!(again["job"]["id"], first["job"]["id"]);

    // (d) Malformed and unknown messages.
    ws.send(Message::text("this is { not json")).await.unwrap();
    let e = ws_recv(&mut ws).await;
    assert_eq!(
        (&e["type"], &e["code"]),
        (&json!("Error"), &json!("invalid_json")),
        "{e}"
    );
    assert!(e["message"].is_string(), "{e}");
    ws_expect_error(
        &mut ws,
        json!({"type": "Teleport", "request_id": "x1"}),
        "invalid_message",
    )
    .await;
    ws_expect_error(&mut ws, json!({"no_type": true}), "invalid_message").await;
    ws_expect_error(
        &mut ws,
        json!({"type": "JobCreate", "request_id": "x2",
               "job": {"kind": "tool", "input": {"tool": "answer"}, "bogus": 1}}),
        "invalid_request",
    )
    .await;
    ws_expect_error(
        &mut ws,
        json!({"type": "Subscribe", "request_id": "x3", "job_id": "job_999999"}),
        "job_not_found",
    )
    .await;
    ws_expect_error(
        &mut ws,
        json!({"type": "Unsubscribe", "request_id": "x4", "job_id": id}),
        "not_subscribed",
    )
    .await;
    // The connection still serves requests after all of them.
    ws_send(
        &mut ws,
        json!({"type": "JobStatus", "request_id": "s3", "job_id": id}),
    )
    .await;
    let status = ws_recv(&mut ws).await;
    assert_eq!(
        (&status["request_id"], &status["job"]["state"]),
        (&json!("s3"), &json!("done")),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_resumes_without_gaps() {
    let dirs = Dirs::new();
    let node = start(&dirs, &[]);
    let c = client();

    // Every event of the tenant from the start.
    let mut ws = ws_connect(&node).await;
    ws_send(
        &mut ws,
        json!({"type": "Subscribe", "request_id": "all", "last_event_id": 0}),
    )
    .await;

    // A chain of five jobs, each waiting on the one before.
    let mut chain: Vec<String> = Vec::new();
    for _ in 0..5 {
        let parents: Vec<&String> = chain.last().into_iter().collect();
        let id = submit_new(
            &c,
            &node,
            json!({"kind": "tool", "input": {"tool": "slow_answer", "arguments": {"ms": 150}},
                   "parents": parents}),
        )
        .await;
        chain.push(id);
    }

    // Read until the second job is done, then drop the connection.
    let mut before = Vec::new();
    read_events_until(&mut ws, &mut before, |e| {
        e.job == chain[1] && e.state == "done"
    })
    .await;
    let last = before.last().unwrap().id;
    drop(ws);

    // Resume after the last event seen.
    let mut ws = ws_connect(&node).await;
    ws_send(
        &mut ws,
        json!({"type": "Subscribe", "request_id": "resume", "last_event_id": last}),
    )
    .await;
    let mut after = Vec::new();
    read_events_until(&mut ws, &mut after, |e| {
        e.job == chain[4] && e.state == "done"
    })
    .await;
    assert_eq!(
        after.first().map(|e| e.id),
        Some(last + 1),
        "the resumed stream must start right after event {last}: {after:?}"
    );

    let all: Vec<Event> = before.iter().chain(&after).cloned().collect();
    assert!(
        all.windows(2).all(|w| w[1].id == w[0].id + 1),
        "event ids must increase by one, without gaps or repeats: {all:?}"
    );
    for job in &chain {
        assert_eq!(
            states_of(&all, job),
            ["pending", "processing", "done"],
            "{job}: {all:?}"
        );
    }
    assert!(
        all.iter().all(|e| chain.contains(&e.job)),
        "events of other jobs: {all:?}"
    );
    assert_eq!(all.len(), 3 * chain.len(), "{all:?}");
    let jobs_by_start: Vec<&String> = all
        .iter()
        .filter(|e| e.state == "processing")
        .map(|e| &e.job)
        .collect();
    assert_eq!(
        jobs_by_start,
        chain.iter().collect::<Vec<_>>(),
        "the chain ran out of order"
    );
    for job in &chain {
        let j = get_json(&c, &node, &format!("/v2/jobs/{job}")).await;
        assert_eq!(j["state"], "done", "{j}");
    }

    // One job's stream, resumed after its pending event: processing, then done.
    let last_job = &chain[4];
    let job_events: Vec<&Event> = all.iter().filter(|e| &e.job == last_job).collect();
    let mut ws = ws_connect(&node).await;
    ws_send(
        &mut ws,
        json!({"type": "Subscribe", "job_id": last_job, "last_event_id": job_events[0].id}),
    )
    .await;
    let mut one = Vec::new();
    read_events_until(&mut ws, &mut one, |e| e.state == "done").await;
    assert_eq!(
        one,
        job_events[1..]
            .iter()
            .map(|e| (*e).clone())
            .collect::<Vec<_>>()
    );

    // The stored log replays what was streamed live, in the same order.
    ws_send(&mut ws, json!({"type": "Subscribe", "last_event_id": 0})).await;
    let mut replay = Vec::new();
    let mut n = 0;
    read_events_until(&mut ws, &mut replay, |_| {
        n += 1;
        n == all.len()
    })
    .await;
    assert_eq!(replay, all);
}

/// Parses the frames a server sent (unmasked): their opcodes and payloads.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, head) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n if n < 126 => (n as usize, 2),
            _ => break,
        };
        if bytes.len() < head + len {
            break;
        }
        out.push((opcode, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat_and_idle_timeout() {
    let dirs = Dirs::new();
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[ws]\nping_interval_ms = 200\nidle_timeout_ms = 1000\n",
    )
    .unwrap();
    let node = start(&dirs, &["--config", config.to_str().unwrap()]);

    // A client that reads gets pings, answers them (tungstenite pongs on its
    // next read), and is kept past the idle timeout.
    let mut ws = ws_connect(&node).await;
    let first_ping = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_))) => return,
                Some(Ok(_)) => {}
                other => panic!("the connection ended before a ping: {other:?}"),
            }
        }
    })
    .await;
    assert!(first_ping.is_ok(), "no ping within 10 s");
    // Read for three idle timeouts: only pings arrive, the connection stays.
    let kept = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => return other,
            }
        }
    })
    .await;
    assert!(kept.is_err(), "the reading client was not kept: {kept:?}");
    ws_send(
        &mut ws,
        json!({"type": "JobStatus", "request_id": "alive", "job_id": "job_999999"}),
    )
    .await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(
        (&e["request_id"], &e["code"]),
        (&json!("alive"), &json!("job_not_found")),
        "{e}"
    );

    // A client that upgrades and then sends nothing is disconnected.
    let mut raw = TcpStream::connect(addr(&node)).await.unwrap();
    let request = format!(
        "GET /v2/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        addr(&node)
    );
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut received)).await;
    let outcome = ended.expect("the silent client was still connected after 10 s");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{text}"
    );
    match outcome {
        // A clean end: the last frame says why.
        Ok(_) => {
            let head = received
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("no end of the response head")
                + 4;
            let frames = frames(&received[head..]);
            let (opcode, payload) = frames.last().expect("no frames before the end");
            assert_eq!(*opcode, 0x8, "the last frame is not a close: {frames:?}");
            assert!(payload.len() >= 2, "{frames:?}");
            assert_eq!(
                u16::from_be_bytes([payload[0], payload[1]]),
                1001,
                "close code: {frames:?}"
            );
            assert!(
                frames[..frames.len() - 1].iter().all(|(op, _)| *op == 0x9),
                "only pings before the close: {frames:?}"
            );
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[cfg(target_os = "linux")]
/// The TCP state (as /proc/net/tcp writes it, "01" established) of the
/// connection from local port `local` to remote port `remote` on 127.0.0.1.
fn tcp_state(local: u16, remote: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let want = (
        format!("0100007F:{local:04X}"),
        format!("0100007F:{remote:04X}"),
    );
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.len() > 3 && cols[1] == want.0 && cols[2] == want.1).then(|| cols[3].to_string())
    })
}

/// A masked client text frame.
#[cfg(target_os = "linux")]
fn client_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut out = vec![0x81];
    assert!(payload.len() < 65536);
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A subscriber that stops reading (its socket buffers full of events) and
/// stops sending is let go after the idle timeout: the node's side of the
/// connection closes (checked in /proc/net/tcp, so Linux only).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_drops_a_subscriber_that_stops_reading() {
    let dirs = Dirs::new();
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[ws]\nping_interval_ms = 200\nidle_timeout_ms = 1000\n",
    )
    .unwrap();
    let node = start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let node_port: u16 = addr(&node).rsplit(':').next().unwrap().parse().unwrap();

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut raw = socket.connect(addr(&node).parse().unwrap()).await.unwrap();
    let client_port = raw.local_addr().unwrap().port();
    let request = format!(
        "GET /v2/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        addr(&node)
    );
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(WAIT, raw.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    raw.write_all(&client_frame(r#"{"type":"Subscribe","last_event_id":0}"#))
        .await
        .unwrap();

    // Events far larger than the socket buffers: the node's writer blocks.
    let padding = "x".repeat(512 * 1024);
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(
            submit_new(
                &c,
                &node,
                json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}, "padding": padding}}),
            )
            .await,
        );
    }
    for id in &ids {
        wait_state(&c, &node, id, "done").await;
    }
    assert_eq!(tcp_state(node_port, client_port).as_deref(), Some("01"));
    // Silent for far longer than the idle timeout: the node lets go of it.
    let mut state = None;
    let released = eventually(Duration::from_secs(15), async || {
        state = tcp_state(node_port, client_port);
        state.as_deref() != Some("01")
    })
    .await;
    assert!(
        released,
        "the node's side of a silent, non-reading client is still established: {state:?}"
    );
    drop(raw);
}
