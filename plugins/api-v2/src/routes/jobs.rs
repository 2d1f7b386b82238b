//! `/v2/jobs`: submit, list and inspect durable jobs; cancel, fork, branch
//! and retry them.

use super::{HostNode, Reply, Request, read_json};
use hanzo_node_sdk::api::{BodyError, query_pairs};
use hanzo_node_sdk::jobs::{
    self, Job, JobFilter, JobMessage, JobPage, JobSpec, JobsError, Submitted, job_error_json,
    job_json, message_json,
};
use serde_json::{Value, json};

/// The node's job queue, as the handlers need it.
pub trait Jobs {
    fn submit_job(&self, spec: &JobSpec) -> Result<Submitted, JobsError>;
    fn get_job(&self, id: &str) -> Result<Job, JobsError>;
    fn list_jobs(&self, filter: &JobFilter) -> Result<JobPage, JobsError>;
    fn job_messages(&self, id: &str, after: u32, limit: u32) -> Result<Vec<JobMessage>, JobsError>;
    fn cancel_job(&self, id: &str) -> Result<Job, JobsError>;
    fn fork_job(&self, id: &str, message: u32, append: Option<&str>) -> Result<Job, JobsError>;
    fn branch_job(&self, id: &str, message: u32) -> Result<Job, JobsError>;
}

/// The job queue of the host (`hanzo:node/jobs`).
impl Jobs for HostNode {
    fn submit_job(&self, spec: &JobSpec) -> Result<Submitted, JobsError> {
        jobs::submit(spec)
    }

    fn get_job(&self, id: &str) -> Result<Job, JobsError> {
        jobs::get(id)
    }

    fn list_jobs(&self, filter: &JobFilter) -> Result<JobPage, JobsError> {
        jobs::list(filter)
    }

    fn job_messages(&self, id: &str, after: u32, limit: u32) -> Result<Vec<JobMessage>, JobsError> {
        jobs::messages(id, after, limit)
    }

    fn cancel_job(&self, id: &str) -> Result<Job, JobsError> {
        jobs::cancel(id)
    }

    fn fork_job(&self, id: &str, message: u32, append: Option<&str>) -> Result<Job, JobsError> {
        jobs::fork(id, message, append)
    }

    fn branch_job(&self, id: &str, message: u32) -> Result<Job, JobsError> {
        jobs::branch(id, message)
    }
}

/// Answers a request under `/v2/jobs`; `rest` holds the decoded path
/// segments after it.
pub fn route(
    node: &impl Jobs,
    request: &Request,
    rest: &[&str],
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let method = request.method;
    let only = |allowed: &'static str, answer: &dyn Fn() -> Reply| {
        if method == allowed {
            answer()
        } else {
            Reply::method_not_allowed(method, allowed)
        }
    };
    let with_body = |answer: &dyn Fn(Value) -> Reply| match read_json(read_body) {
        Ok(body) => answer(body),
        Err(reply) => reply,
    };
    match rest {
        [] => match method {
            "GET" => list(node, request.query),
            "POST" => with_body(&|body| submit(node, &body, request.idempotency_key)),
            _ => Reply::method_not_allowed(method, "GET, POST"),
        },
        [id] => only("GET", &|| {
            answer(node.get_job(id).map(|job| job_json(&job)))
        }),
        [id, "status"] => only("GET", &|| {
            answer(node.get_job(id).map(|job| status_json(&job)))
        }),
        [id, "results"] => only("GET", &|| results(node, id)),
        [id, "messages"] => only("GET", &|| messages(node, id, request.query)),
        [id, "cancel"] => only("POST", &|| {
            answer(node.cancel_job(id).map(|j| job_json(&j)))
        }),
        [id, action @ ("fork" | "branch" | "retry")] if method == "POST" => {
            with_body(&|body| match message_body(&body, *action == "fork") {
                Ok((message, append)) => {
                    let job = match *action {
                        "fork" => node.fork_job(id, message, append.as_deref()),
                        _ => node.branch_job(id, message),
                    };
                    match job {
                        Ok(job) => Reply::created(job_json(&job)),
                        Err(e) => error(e),
                    }
                }
                Err(reply) => reply,
            })
        }
        [_, "fork" | "branch" | "retry"] => Reply::method_not_allowed(method, "POST"),
        _ => Reply::not_found(request.path),
    }
}

/// 200 with the value, or the error's reply.
fn answer(result: Result<Value, JobsError>) -> Reply {
    match result {
        Ok(value) => Reply::ok(value),
        Err(e) => error(e),
    }
}

/// The reply for a failed host call.
pub fn error(e: JobsError) -> Reply {
    match e {
        JobsError::Denied(m) => Reply::error(403, "forbidden", m),
        JobsError::NotFound(m) => Reply::error(404, "job_not_found", m),
        JobsError::Invalid(m) => Reply::error(400, "invalid_request", m),
        JobsError::Conflict(m) => match limit(&m) {
            Some((status, code, message)) => Reply::error(status, code, message),
            None => Reply::error(409, "conflict", m),
        },
        JobsError::Store(m) => Reply::error(500, "store_error", m),
    }
}

/// The node's job limits, which `hanzo:node/jobs` reports as a `conflict`
/// whose message starts with the limit's stable code: (status, code, rest).
fn limit(message: &str) -> Option<(u16, &'static str, &str)> {
    const LIMITS: [(&str, u16); 2] = [("too_many_pending_jobs", 429), ("too_many_children", 409)];
    LIMITS.iter().find_map(|&(code, status)| {
        let rest = message.strip_prefix(code)?.strip_prefix(": ")?;
        Some((status, code, rest))
    })
}

/// `POST /v2/jobs`: 201 with the new job, or 200 with the one an
/// idempotency key matched. The key in the body wins over the header's.
fn submit(node: &impl Jobs, body: &Value, header_key: Option<&str>) -> Reply {
    let mut spec = match jobs::job_spec_from_json(body) {
        Ok(spec) => spec,
        Err(m) => return Reply::error(400, "invalid_request", m),
    };
    if spec.idempotency_key.is_none() {
        spec.idempotency_key = header_key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string);
    }
    match node.submit_job(&spec) {
        Ok(Submitted { job, existing }) => {
            let body = json!({ "job": job_json(&job), "existing": existing });
            Reply::with_status(if existing { 200 } else { 201 }, body)
        }
        Err(e) => error(e),
    }
}

/// `GET /v2/jobs?state=&kind=&before=&limit=`.
fn list(node: &impl Jobs, query: Option<&str>) -> Reply {
    let mut filter = JobFilter {
        state: None,
        kind: None,
        before: None,
        limit: 0,
    };
    for (name, value) in query_pairs(query) {
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "state" => match jobs::parse_state(&value) {
                Some(state) => filter.state = Some(state),
                None => {
                    return Reply::error(
                        400,
                        "invalid_request",
                        format!(
                            "`state` must be one of pending, processing, done, failed, cancelled, skipped, not {value:?}"
                        ),
                    );
                }
            },
            "kind" => match jobs::parse_kind(&value) {
                Some(kind) => filter.kind = Some(kind),
                None => {
                    return Reply::error(
                        400,
                        "invalid_request",
                        format!("`kind` must be one of tool, llm, agent, not {value:?}"),
                    );
                }
            },
            "before" => filter.before = Some(value),
            "limit" => match parse_count("limit", &value) {
                Ok(limit) => filter.limit = limit,
                Err(reply) => return reply,
            },
            // Unknown parameters are ignored, as HTTP APIs usually do.
            _ => {}
        }
    }
    match node.list_jobs(&filter) {
        Ok(page) => Reply::ok(json!({
            "jobs": page.jobs.iter().map(job_json).collect::<Vec<_>>(),
            "next": page.next,
        })),
        Err(e) => error(e),
    }
}

/// A query parameter that must be a `u32`.
fn parse_count(name: &str, value: &str) -> Result<u32, Reply> {
    value.parse::<u32>().map_err(|_| {
        Reply::error(
            400,
            "invalid_request",
            format!("`{name}` must be an integer from 0 to 4294967295, not {value:?}"),
        )
    })
}

/// `GET /v2/jobs/{id}/status`.
pub fn status_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "state": jobs::state_name(job.state),
        "attempts": job.attempts,
        "error": job.error.as_ref().map(job_error_json),
        "next_attempt_ms": job.next_attempt_ms,
        "updated_ms": job.updated_ms,
    })
}

/// `GET /v2/jobs/{id}/results`: the outcome and the whole conversation.
fn results(node: &impl Jobs, id: &str) -> Reply {
    let job = match node.get_job(id) {
        Ok(job) => job,
        Err(e) => return error(e),
    };
    let messages = match node.job_messages(id, 0, 0) {
        Ok(messages) => messages,
        Err(e) => return error(e),
    };
    let full = job_json(&job);
    Reply::ok(json!({
        "id": job.id,
        "state": full["state"],
        "result": full["result"],
        "error": full["error"],
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    }))
}

/// `GET /v2/jobs/{id}/messages?after=&limit=`.
fn messages(node: &impl Jobs, id: &str, query: Option<&str>) -> Reply {
    let (mut after, mut limit) = (0, 0);
    for (name, value) in query_pairs(query) {
        if value.is_empty() {
            continue;
        }
        let slot = match name.as_str() {
            "after" => &mut after,
            "limit" => &mut limit,
            _ => continue,
        };
        match parse_count(&name, &value) {
            Ok(n) => *slot = n,
            Err(reply) => return reply,
        }
    }
    match node.job_messages(id, after, limit) {
        Ok(messages) => Reply::ok(json!({
            "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
        })),
        Err(e) => error(e),
    }
}

/// The body of fork (`{"message": n, "append"?: "text"}`) or of branch and
/// retry (`{"message": n}`).
fn message_body(body: &Value, fork: bool) -> Result<(u32, Option<String>), Reply> {
    let invalid = |m: String| Reply::error(400, "invalid_request", m);
    let Value::Object(fields) = body else {
        return Err(invalid("the body must be a JSON object".to_string()));
    };
    let known: &[&str] = if fork {
        &["message", "append"]
    } else {
        &["message"]
    };
    if let Some(field) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown field `{field}`; expected one of: {}",
            known.join(", ")
        )));
    }
    let message = match fields.get("message") {
        None | Some(Value::Null) => return Err(invalid("missing field `message`".to_string())),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                invalid("`message` must be a message number (an integer from 0)".to_string())
            })?,
    };
    let append = match fields.get("append") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(invalid("`append` must be a string".to_string())),
    };
    Ok((message, append))
}

/// An in-memory job queue for tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use crate::routes::fake::FakeNode;
    use hanzo_node_sdk::jobs::{DEFAULT_RETRY, JobKind, JobOrigin, JobState};

    #[derive(Default)]
    pub struct State {
        pub jobs: Vec<Job>,
        pub messages: Vec<(String, JobMessage)>,
        /// The last filter `list_jobs` was given.
        pub filter: Option<JobFilter>,
        /// The last spec `submit_job` was given.
        pub spec: Option<JobSpec>,
        /// The arguments of the last `job_messages` call.
        pub messages_call: Option<(u32, u32)>,
        /// Every call fails with this when set.
        pub fail: Option<JobsError>,
    }

    pub fn job(id: &str, kind: JobKind, state: JobState) -> Job {
        Job {
            id: id.into(),
            kind,
            state,
            priority: 0,
            input: "{}".into(),
            attempts: 0,
            retry: DEFAULT_RETRY,
            parents: vec![],
            children: vec![],
            on_parent_failure: jobs::OnParentFailure::Fail,
            timeout_ms: 60_000,
            idempotency_key: None,
            origin: None,
            result: None,
            error: None,
            created_ms: 1,
            updated_ms: 1,
            started_ms: None,
            finished_ms: None,
            next_attempt_ms: None,
            message_count: 0,
        }
    }

    impl FakeNode {
        fn with_jobs<T>(
            &self,
            f: impl FnOnce(&mut State) -> Result<T, JobsError>,
        ) -> Result<T, JobsError> {
            let mut state = self.jobs.borrow_mut();
            if let Some(e) = state.fail.clone() {
                return Err(e);
            }
            f(&mut state)
        }
    }

    fn not_found(id: &str) -> JobsError {
        JobsError::NotFound(format!("no job `{id}`"))
    }

    fn find<'a>(state: &'a mut State, id: &str) -> Result<&'a mut Job, JobsError> {
        state
            .jobs
            .iter_mut()
            .find(|j| j.id == id)
            .ok_or_else(|| not_found(id))
    }

    fn derive(state: &mut State, id: &str, message: u32, branch: bool) -> Result<Job, JobsError> {
        let parent = find(state, id)?.clone();
        if parent.kind == JobKind::Tool {
            return Err(JobsError::Conflict("a tool job has no conversation".into()));
        }
        let new = Job {
            id: format!("job_{}", state.jobs.len() + 1),
            state: JobState::Pending,
            origin: Some(JobOrigin {
                job: id.into(),
                message,
                branch,
            }),
            ..parent
        };
        state.jobs.push(new.clone());
        Ok(new)
    }

    impl Jobs for FakeNode {
        fn submit_job(&self, spec: &JobSpec) -> Result<Submitted, JobsError> {
            self.with_jobs(|state| {
                state.spec = Some(spec.clone());
                if let Some(key) = &spec.idempotency_key
                    && let Some(job) = state
                        .jobs
                        .iter()
                        .find(|j| j.idempotency_key.as_ref() == Some(key))
                {
                    return Ok(Submitted {
                        job: job.clone(),
                        existing: true,
                    });
                }
                if let Some(p) = spec
                    .parents
                    .iter()
                    .find(|p| !state.jobs.iter().any(|j| &j.id == *p))
                {
                    return Err(JobsError::Invalid(format!("no parent job `{p}`")));
                }
                let job = Job {
                    input: spec.input.clone(),
                    priority: spec.priority,
                    parents: spec.parents.clone(),
                    idempotency_key: spec.idempotency_key.clone(),
                    retry: spec.retry.unwrap_or(DEFAULT_RETRY),
                    ..job(
                        &format!("job_{}", state.jobs.len() + 1),
                        spec.kind,
                        JobState::Pending,
                    )
                };
                state.jobs.push(job.clone());
                Ok(Submitted {
                    job,
                    existing: false,
                })
            })
        }

        fn get_job(&self, id: &str) -> Result<Job, JobsError> {
            self.with_jobs(|state| find(state, id).cloned())
        }

        fn list_jobs(&self, filter: &JobFilter) -> Result<JobPage, JobsError> {
            self.with_jobs(|state| {
                state.filter = Some(filter.clone());
                let jobs: Vec<Job> = state
                    .jobs
                    .iter()
                    .rev()
                    .filter(|j| filter.state.is_none_or(|s| s == j.state))
                    .filter(|j| filter.kind.is_none_or(|k| k == j.kind))
                    .cloned()
                    .collect();
                Ok(JobPage {
                    next: (filter.limit == 1 && jobs.len() > 1).then(|| jobs[0].id.clone()),
                    jobs,
                })
            })
        }

        fn job_messages(
            &self,
            id: &str,
            after: u32,
            limit: u32,
        ) -> Result<Vec<JobMessage>, JobsError> {
            self.with_jobs(|state| {
                find(state, id)?;
                state.messages_call = Some((after, limit));
                Ok(state
                    .messages
                    .iter()
                    .filter(|(job, m)| job == id && m.seq > after)
                    .map(|(_, m)| m.clone())
                    .take(if limit == 0 {
                        usize::MAX
                    } else {
                        limit as usize
                    })
                    .collect())
            })
        }

        fn cancel_job(&self, id: &str) -> Result<Job, JobsError> {
            self.with_jobs(|state| {
                let job = find(state, id)?;
                if !matches!(job.state, JobState::Pending | JobState::Processing) {
                    return Err(JobsError::Conflict(format!("job `{id}` already finished")));
                }
                job.state = JobState::Cancelled;
                Ok(job.clone())
            })
        }

        fn fork_job(&self, id: &str, message: u32, append: Option<&str>) -> Result<Job, JobsError> {
            self.with_jobs(|state| {
                let mut job = derive(state, id, message, false)?;
                if let Some(text) = append {
                    job.input = json!({ "append": text }).to_string();
                    state.jobs.last_mut().unwrap().input = job.input.clone();
                }
                Ok(job)
            })
        }

        fn branch_job(&self, id: &str, message: u32) -> Result<Job, JobsError> {
            self.with_jobs(|state| derive(state, id, message, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::job;
    use crate::routes::fake::{FakeNode, code, send, send_with};
    use hanzo_node_sdk::jobs::{
        DEFAULT_RETRY, JobError, JobKind, JobMessage, JobState, JobsError, RetryPolicy,
    };
    use serde_json::{Value, json};

    fn node() -> FakeNode {
        let node = FakeNode::default();
        {
            let mut state = node.jobs.borrow_mut();
            state.jobs.push(Job {
                result: Some(r#"{"value":4}"#.into()),
                attempts: 1,
                updated_ms: 9,
                ..job("job_1", JobKind::Tool, JobState::Done)
            });
            state.jobs.push(Job {
                message_count: 3,
                attempts: 2,
                error: Some(JobError {
                    code: "timeout".into(),
                    message: "too slow".into(),
                    retryable: true,
                }),
                next_attempt_ms: Some(50),
                ..job("job_2", JobKind::Llm, JobState::Pending)
            });
            for (seq, body) in [
                r#"{"role":"user","content":"hi"}"#,
                r#"{"role":"assistant","content":"","tool_calls":[{"id":"c1","name":"calculator","arguments":"{}"}]}"#,
                r#"{"role":"tool","content":"4","tool_call_id":"c1"}"#,
            ]
            .into_iter()
            .enumerate()
            {
                state.messages.push((
                    "job_2".into(),
                    JobMessage {
                        seq: seq as u32 + 1,
                        created_ms: 100 + seq as u64,
                        body: body.into(),
                    },
                ));
            }
        }
        node
    }

    use hanzo_node_sdk::jobs::Job;

    #[test]
    fn submits_jobs() {
        let node = node();
        let r = send(
            &node,
            "POST",
            "/v2/jobs",
            Some(
                r#"{"kind":"tool","input":{"tool":"calculator","arguments":{"expression":"2+2"}},"priority":3,"retry":{"max_attempts":1}}"#,
            ),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["existing"], false);
        let job = &r.body["job"];
        assert_eq!(job["id"], "job_3");
        assert_eq!(job["kind"], "tool");
        assert_eq!(job["state"], "pending");
        assert_eq!(job["priority"], 3);
        assert_eq!(
            job["input"],
            json!({"tool": "calculator", "arguments": {"expression": "2+2"}})
        );
        assert_eq!(job["retry"]["max_attempts"], 1);
        assert_eq!(job["retry"]["initial_delay_ms"], 1000);
        let spec = node.jobs.borrow().spec.clone().unwrap();
        assert_eq!(
            spec.retry,
            Some(RetryPolicy {
                max_attempts: 1,
                ..DEFAULT_RETRY
            })
        );
    }

    #[test]
    fn idempotency_keys() {
        let node = node();
        let body = r#"{"kind":"llm","input":{"model":"m","messages":[]},"idempotency_key":"k1"}"#;
        let first = send(&node, "POST", "/v2/jobs", Some(body));
        assert_eq!(
            (first.status, &first.body["existing"]),
            (201, &json!(false))
        );
        let again = send(&node, "POST", "/v2/jobs", Some(body));
        assert_eq!((again.status, &again.body["existing"]), (200, &json!(true)));
        assert_eq!(again.body["job"], first.body["job"]);

        // From the header; the body's key wins over it.
        let bare = r#"{"kind":"tool","input":{}}"#;
        let r = send_with(&node, "POST", "/v2/jobs", Some("h1"), Some(bare));
        assert_eq!(
            (r.status, &r.body["job"]["idempotency_key"]),
            (201, &json!("h1"))
        );
        let r = send_with(&node, "POST", "/v2/jobs", Some("h1"), Some(bare));
        assert_eq!(r.status, 200);
        let r = send_with(&node, "POST", "/v2/jobs", Some("h1"), Some(body));
        assert_eq!(r.status, 200);
        assert_eq!(r.body["job"]["idempotency_key"], "k1");
        let r = send_with(&node, "POST", "/v2/jobs", Some(" "), Some(bare));
        assert_eq!(
            (r.status, &r.body["job"]["idempotency_key"]),
            (201, &Value::Null)
        );
    }

    #[test]
    fn submit_errors() {
        let node = node();
        let cases = [
            ("{oops", 400, "invalid_json", "not valid JSON"),
            ("[]", 400, "invalid_request", "JSON object"),
            (r#"{"input":{}}"#, 400, "invalid_request", "`kind`"),
            (r#"{"kind":"tool"}"#, 400, "invalid_request", "`input`"),
            (
                r#"{"kind":"tool","input":{},"extra":1}"#,
                400,
                "invalid_request",
                "`extra`",
            ),
            (
                r#"{"kind":"tool","input":{},"parents":["job_9"]}"#,
                400,
                "invalid_request",
                "job_9",
            ),
        ];
        for (body, status, expected, words) in cases {
            let r = send(&node, "POST", "/v2/jobs", Some(body));
            assert_eq!((r.status, code(&r)), (status, expected), "{body}");
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(words), "{body}: {message}");
        }
    }

    #[test]
    fn lists_jobs() {
        let node = node();
        let r = send(&node, "GET", "/v2/jobs", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.body["jobs"].as_array().unwrap().len(), 2);
        assert_eq!(r.body["jobs"][0]["id"], "job_2");
        assert_eq!(r.body["next"], Value::Null);
        let filter = node.jobs.borrow().filter.clone().unwrap();
        assert_eq!(
            (filter.state, filter.kind, filter.before, filter.limit),
            (None, None, None, 0)
        );

        let r = send(
            &node,
            "GET",
            "/v2/jobs/?state=done&kind=tool&before=job_9&limit=1&x=y",
            None,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body["jobs"][0]["id"], "job_1");
        let filter = node.jobs.borrow().filter.clone().unwrap();
        assert_eq!(filter.state, Some(JobState::Done));
        assert_eq!(filter.kind, Some(JobKind::Tool));
        assert_eq!(filter.before.as_deref(), Some("job_9"));
        assert_eq!(filter.limit, 1);

        let r = send(&node, "GET", "/v2/jobs?limit=1", None);
        assert_eq!(r.body["next"], "job_2");
        // Empty values are as good as absent.
        assert_eq!(
            send(&node, "GET", "/v2/jobs?state=&kind=&limit=", None).status,
            200
        );

        for query in [
            "state=running",
            "kind=shell",
            "limit=-1",
            "limit=ten",
            "limit=99999999999",
        ] {
            let r = send(&node, "GET", &format!("/v2/jobs?{query}"), None);
            assert_eq!((r.status, code(&r)), (400, "invalid_request"), "{query}");
        }
    }

    #[test]
    fn one_job_its_status_and_results() {
        let node = node();
        let r = send(&node, "GET", "/v2/jobs/job_1", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.body["result"], json!({"value": 4}));
        assert_eq!(r.body["message_count"], 0);

        let r = send(&node, "GET", "/v2/jobs/job_2/status", None);
        assert_eq!(
            r.body,
            json!({"id": "job_2", "state": "pending", "attempts": 2,
                   "error": {"code": "timeout", "message": "too slow", "retryable": true},
                   "next_attempt_ms": 50, "updated_ms": 1})
        );

        let r = send(&node, "GET", "/v2/jobs/job_1/results", None);
        assert_eq!(
            r.body,
            json!({"id": "job_1", "state": "done", "result": {"value": 4}, "error": null,
                   "messages": []})
        );
        let r = send(&node, "GET", "/v2/jobs/job_2/results/", None);
        assert_eq!(r.body["messages"].as_array().unwrap().len(), 3);
        assert_eq!(
            r.body["messages"][0],
            json!({"seq": 1, "created_ms": 100, "role": "user", "content": "hi"})
        );
        assert_eq!(node.jobs.borrow().messages_call, Some((0, 0)));

        for path in [
            "/v2/jobs/job_9",
            "/v2/jobs/job_9/status",
            "/v2/jobs/job_9/results",
            "/v2/jobs/job_9/messages",
        ] {
            let r = send(&node, "GET", path, None);
            assert_eq!((r.status, code(&r)), (404, "job_not_found"), "{path}");
            assert_eq!(r.body["error"]["message"], "no job `job_9`");
        }
    }

    #[test]
    fn messages_page() {
        let node = node();
        let r = send(
            &node,
            "GET",
            "/v2/jobs/job_2/messages?after=1&limit=1",
            None,
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"messages": [{"seq": 2, "created_ms": 101, "role": "assistant", "content": "",
                   "tool_calls": [{"id": "c1", "name": "calculator", "arguments": "{}"}]}]})
        );
        assert_eq!(node.jobs.borrow().messages_call, Some((1, 1)));
        let r = send(&node, "GET", "/v2/jobs/job_2/messages", None);
        assert_eq!(r.body["messages"].as_array().unwrap().len(), 3);
        let r = send(&node, "GET", "/v2/jobs/job_2/messages?after=x", None);
        assert_eq!((r.status, code(&r)), (400, "invalid_request"));
    }

    #[test]
    fn cancels() {
        let node = node();
        let r = send(&node, "POST", "/v2/jobs/job_2/cancel", None);
        assert_eq!((r.status, &r.body["state"]), (200, &json!("cancelled")));
        let r = send(&node, "POST", "/v2/jobs/job_2/cancel", None);
        assert_eq!((r.status, code(&r)), (409, "conflict"));
        let r = send(&node, "POST", "/v2/jobs/nope/cancel", None);
        assert_eq!((r.status, code(&r)), (404, "job_not_found"));
    }

    #[test]
    fn forks_branches_and_retries() {
        let node = node();
        let r = send(
            &node,
            "POST",
            "/v2/jobs/job_2/fork",
            Some(r#"{"message":2,"append":"and then?"}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.body["origin"],
            json!({"job": "job_2", "message": 2, "branch": false})
        );
        assert_eq!(r.body["input"], json!({"append": "and then?"}));
        let r = send(
            &node,
            "POST",
            "/v2/jobs/job_2/fork",
            Some(r#"{"message":1}"#),
        );
        assert_eq!(r.status, 201);
        for action in ["branch", "retry"] {
            let r = send(
                &node,
                "POST",
                &format!("/v2/jobs/job_2/{action}"),
                Some(r#"{"message":3}"#),
            );
            assert_eq!(r.status, 201, "{action}");
            assert_eq!(
                r.body["origin"],
                json!({"job": "job_2", "message": 3, "branch": true})
            );
        }
        let cases = [
            ("fork", "{}", 400, "invalid_request"),
            ("fork", r#"{"message":-1}"#, 400, "invalid_request"),
            ("fork", r#"{"message":"1"}"#, 400, "invalid_request"),
            (
                "fork",
                r#"{"message":1,"append":5}"#,
                400,
                "invalid_request",
            ),
            ("fork", r#"{"message":1,"extra":5}"#, 400, "invalid_request"),
            (
                "branch",
                r#"{"message":1,"append":"x"}"#,
                400,
                "invalid_request",
            ),
            ("retry", "[1]", 400, "invalid_request"),
            ("branch", "{", 400, "invalid_json"),
        ];
        for (action, body, status, expected) in cases {
            let r = send(
                &node,
                "POST",
                &format!("/v2/jobs/job_2/{action}"),
                Some(body),
            );
            assert_eq!((r.status, code(&r)), (status, expected), "{action} {body}");
        }
        let r = send(
            &node,
            "POST",
            "/v2/jobs/job_1/branch",
            Some(r#"{"message":1}"#),
        );
        assert_eq!((r.status, code(&r)), (409, "conflict"));
        let r = send(
            &node,
            "POST",
            "/v2/jobs/job_7/fork",
            Some(r#"{"message":1}"#),
        );
        assert_eq!((r.status, code(&r)), (404, "job_not_found"));
    }

    #[test]
    fn host_errors() {
        let cases = [
            (JobsError::Denied("not granted".into()), 403, "forbidden"),
            (JobsError::Invalid("bad".into()), 400, "invalid_request"),
            (JobsError::Conflict("no".into()), 409, "conflict"),
            (JobsError::Store("disk".into()), 500, "store_error"),
            (JobsError::NotFound("gone".into()), 404, "job_not_found"),
            // The node's limits: a conflict whose message starts with the code.
            (
                JobsError::Conflict("too_many_pending_jobs: tenant `t` has 5".into()),
                429,
                "too_many_pending_jobs",
            ),
            (
                JobsError::Conflict("too_many_children: job job_1 has 5".into()),
                409,
                "too_many_children",
            ),
            (
                JobsError::Conflict("too_many_pending_jobs".into()),
                409,
                "conflict",
            ),
        ];
        for (e, status, expected) in cases {
            let node = node();
            node.jobs.borrow_mut().fail = Some(e);
            for (method, path, body) in [
                ("GET", "/v2/jobs", None),
                ("POST", "/v2/jobs", Some(r#"{"kind":"tool","input":{}}"#)),
                ("GET", "/v2/jobs/job_1", None),
                ("POST", "/v2/jobs/job_1/cancel", None),
                ("POST", "/v2/jobs/job_2/fork", Some(r#"{"message":1}"#)),
            ] {
                let r = send(&node, method, path, body);
                assert_eq!((r.status, code(&r)), (status, expected), "{method} {path}");
            }
        }
    }

    #[test]
    fn wrong_methods() {
        let node = node();
        for (method, path, allow) in [
            ("DELETE", "/v2/jobs", "GET, POST"),
            ("POST", "/v2/jobs/job_1", "GET"),
            ("DELETE", "/v2/jobs/job_1", "GET"),
            ("POST", "/v2/jobs/job_1/status", "GET"),
            ("PUT", "/v2/jobs/job_1/results", "GET"),
            ("POST", "/v2/jobs/job_1/messages", "GET"),
            ("GET", "/v2/jobs/job_1/cancel", "POST"),
            ("GET", "/v2/jobs/job_1/fork", "POST"),
            ("GET", "/v2/jobs/job_1/branch", "POST"),
            ("PATCH", "/v2/jobs/job_1/retry", "POST"),
        ] {
            let r = send(&node, method, path, None);
            assert_eq!(
                (r.status, code(&r), r.allow),
                (405, "method_not_allowed", Some(allow)),
                "{method} {path}"
            );
        }
        for path in ["/v2/jobs/job_1/other", "/v2/jobs/job_1/status/x"] {
            let r = send(&node, "GET", path, None);
            assert_eq!((r.status, code(&r)), (404, "not_found"), "{path}");
        }
    }
}
