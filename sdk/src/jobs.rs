//! The node's durable job queue (`hanzo:node/jobs`), for API plugins.
//!
//! Needs `permissions.jobs = true`. Jobs are stored by the host and run by its
//! scheduler; every call is scoped to the calling plugin's tenant.
//!
//! Besides the host calls, this module holds the JSON forms of the WIT records
//! that the node's HTTP APIs show ([`job_json`], [`message_json`]) and the
//! parsing of a job spec sent as JSON ([`job_spec_from_json`]), so that every
//! API plugin (and the host's WebSocket) speaks the same shapes.

pub use crate::wit::hanzo::node::jobs::{
    Job, JobError, JobFilter, JobKind, JobMessage, JobOrigin, JobPage, JobSpec, JobState,
    JobsError, OnParentFailure, RetryPolicy, Submitted,
};

use serde_json::{Map, Value, json};

/// Submits a job; with an idempotency key that matched an earlier job, that
/// job is returned as is (`existing`).
pub fn submit(spec: &JobSpec) -> Result<Submitted, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::submit(spec);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = spec;
        Err(no_host())
    }
}

/// The job `id`.
pub fn get(id: &str) -> Result<Job, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::get(id);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        Err(no_host())
    }
}

/// One page of jobs, newest first.
pub fn list(filter: &JobFilter) -> Result<JobPage, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::list(filter);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = filter;
        Err(no_host())
    }
}

/// The job's messages with `seq > after`, at most `limit` (0: all).
pub fn messages(id: &str, after: u32, limit: u32) -> Result<Vec<JobMessage>, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::messages(id, after, limit);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (id, after, limit);
        Err(no_host())
    }
}

/// Cancels a pending or running job.
pub fn cancel(id: &str) -> Result<Job, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::cancel(id);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        Err(no_host())
    }
}

/// A new job continuing the conversation of `id` after `message`, with
/// `append` as a new user message when given.
pub fn fork(id: &str, message: u32, append: Option<&str>) -> Result<Job, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::fork(id, message, append);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (id, message, append);
        Err(no_host())
    }
}

/// A new job regenerating the conversation of `id` from `message` on.
pub fn branch(id: &str, message: u32) -> Result<Job, JobsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::jobs::branch(id, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (id, message);
        Err(no_host())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn no_host() -> JobsError {
    JobsError::Store(crate::NO_HOST.to_string())
}

/// The node's default retry policy (the seed's `RetryConfig`): 3 attempts,
/// 1 s, capped at 60 s, ×2, ±10%. Retry fields a job spec leaves out take
/// these values.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    initial_delay_ms: 1000,
    max_delay_ms: 60_000,
    multiplier: 2.0,
    randomization: 0.1,
};

/// `tool`, `llm` or `agent`.
pub fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Tool => "tool",
        JobKind::Llm => "llm",
        JobKind::Agent => "agent",
    }
}

/// The kind called `name` ([`kind_name`]).
pub fn parse_kind(name: &str) -> Option<JobKind> {
    match name {
        "tool" => Some(JobKind::Tool),
        "llm" => Some(JobKind::Llm),
        "agent" => Some(JobKind::Agent),
        _ => None,
    }
}

/// `pending`, `processing`, `done`, `failed`, `cancelled` or `skipped`.
pub fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "pending",
        JobState::Processing => "processing",
        JobState::Done => "done",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
        JobState::Skipped => "skipped",
    }
}

/// The state called `name` ([`state_name`]).
pub fn parse_state(name: &str) -> Option<JobState> {
    match name {
        "pending" => Some(JobState::Pending),
        "processing" => Some(JobState::Processing),
        "done" => Some(JobState::Done),
        "failed" => Some(JobState::Failed),
        "cancelled" => Some(JobState::Cancelled),
        "skipped" => Some(JobState::Skipped),
        _ => None,
    }
}

/// `fail` or `skip`.
pub fn on_parent_failure_name(policy: OnParentFailure) -> &'static str {
    match policy {
        OnParentFailure::Fail => "fail",
        OnParentFailure::Skip => "skip",
    }
}

/// The policy called `name` ([`on_parent_failure_name`]).
pub fn parse_on_parent_failure(name: &str) -> Option<OnParentFailure> {
    match name {
        "fail" => Some(OnParentFailure::Fail),
        "skip" => Some(OnParentFailure::Skip),
        _ => None,
    }
}

/// JSON text stored by the host as a JSON value; text that does not parse
/// (which the host should never store) is shown as a string rather than lost.
pub(crate) fn parse_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `{"max_attempts","initial_delay_ms","max_delay_ms","multiplier","randomization"}`.
pub fn retry_json(retry: &RetryPolicy) -> Value {
    json!({
        "max_attempts": retry.max_attempts,
        "initial_delay_ms": retry.initial_delay_ms,
        "max_delay_ms": retry.max_delay_ms,
        "multiplier": retry.multiplier,
        "randomization": retry.randomization,
    })
}

/// `{"code","message","retryable"}`.
pub fn job_error_json(error: &JobError) -> Value {
    json!({
        "code": error.code,
        "message": error.message,
        "retryable": error.retryable,
    })
}

/// A job as the node's APIs show it: the record with snake_case keys, enums
/// as their names, and `input` and `result` as JSON values.
pub fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "kind": kind_name(job.kind),
        "state": state_name(job.state),
        "priority": job.priority,
        "input": parse_or_text(&job.input),
        "attempts": job.attempts,
        "retry": retry_json(&job.retry),
        "parents": job.parents,
        "children": job.children,
        "on_parent_failure": on_parent_failure_name(job.on_parent_failure),
        "timeout_ms": job.timeout_ms,
        "idempotency_key": job.idempotency_key,
        "origin": job.origin.as_ref().map(|o| json!({
            "job": o.job,
            "message": o.message,
            "branch": o.branch,
        })),
        "result": job.result.as_deref().map(parse_or_text),
        "error": job.error.as_ref().map(job_error_json),
        "created_ms": job.created_ms,
        "updated_ms": job.updated_ms,
        "started_ms": job.started_ms,
        "finished_ms": job.finished_ms,
        "next_attempt_ms": job.next_attempt_ms,
        "message_count": job.message_count,
    })
}

/// A message as the node's APIs show it: `{"seq","created_ms", ...}` with the
/// fields of its body (`role`, `content`, `tool_calls`, …) flattened in. A
/// body that is not a JSON object (never stored by the host) is kept as `body`.
pub fn message_json(message: &JobMessage) -> Value {
    let mut out = match parse_or_text(&message.body) {
        Value::Object(fields) => fields,
        other => {
            let mut fields = Map::new();
            fields.insert("body".to_string(), other);
            fields
        }
    };
    out.insert("seq".to_string(), json!(message.seq));
    out.insert("created_ms".to_string(), json!(message.created_ms));
    Value::Object(out)
}

/// The fields a job spec may have.
pub const JOB_SPEC_FIELDS: &[&str] = &[
    "kind",
    "input",
    "priority",
    "parents",
    "on_parent_failure",
    "retry",
    "timeout_ms",
    "idempotency_key",
];

const RETRY_FIELDS: &[&str] = &[
    "max_attempts",
    "initial_delay_ms",
    "max_delay_ms",
    "multiplier",
    "randomization",
];

/// Parses a job spec sent as JSON:
/// `{"kind", "input", "priority"?, "parents"?, "on_parent_failure"?, "retry"?,
/// "timeout_ms"?, "idempotency_key"?}`.
///
/// `kind` and `input` are required; `input` is any JSON value and goes to
/// the host as its JSON text. Retry fields left out take [`DEFAULT_RETRY`]'s
/// values; no `retry` at all leaves the choice to the node. An optional field
/// that is `null` counts as left out. Unknown fields are errors naming the
/// field. The message of an error is meant for the client.
pub fn job_spec_from_json(value: &Value) -> Result<JobSpec, String> {
    let spec = Fields::of(value, "the job spec", "", JOB_SPEC_FIELDS)?;
    let kind = match spec.string("kind")? {
        Some(name) => parse_kind(&name).ok_or_else(|| {
            format!("`kind` must be one of \"tool\", \"llm\", \"agent\", not {name:?}")
        })?,
        None => return Err("missing field `kind`".to_string()),
    };
    let input = match spec.get("input") {
        Some(input) => input.to_string(),
        None => return Err("missing field `input`".to_string()),
    };
    let on_parent_failure = match spec.string("on_parent_failure")? {
        Some(name) => parse_on_parent_failure(&name).ok_or_else(|| {
            format!("`on_parent_failure` must be \"fail\" or \"skip\", not {name:?}")
        })?,
        None => OnParentFailure::Fail,
    };
    let retry = match spec.get("retry") {
        None | Some(Value::Null) => None,
        Some(retry) => Some(retry_from_json(retry)?),
    };
    let idempotency_key = spec.string("idempotency_key")?;
    if idempotency_key.as_deref() == Some("") {
        return Err("`idempotency_key` must not be empty".to_string());
    }
    Ok(JobSpec {
        kind,
        input,
        priority: spec.int::<i32>("priority")?.unwrap_or(0),
        parents: spec.strings("parents")?.unwrap_or_default(),
        on_parent_failure,
        retry,
        timeout_ms: spec.int::<u64>("timeout_ms")?,
        idempotency_key,
    })
}

/// A retry policy from any subset of its fields, the rest from [`DEFAULT_RETRY`].
fn retry_from_json(value: &Value) -> Result<RetryPolicy, String> {
    let retry = Fields::of(value, "`retry`", "retry.", RETRY_FIELDS)?;
    let d = DEFAULT_RETRY;
    Ok(RetryPolicy {
        max_attempts: retry.int("max_attempts")?.unwrap_or(d.max_attempts),
        initial_delay_ms: retry.int("initial_delay_ms")?.unwrap_or(d.initial_delay_ms),
        max_delay_ms: retry.int("max_delay_ms")?.unwrap_or(d.max_delay_ms),
        multiplier: retry.number("multiplier")?.unwrap_or(d.multiplier),
        randomization: retry.number("randomization")?.unwrap_or(d.randomization),
    })
}

/// Typed reads of the fields of a JSON object, with error messages naming
/// the field (shared with [`crate::agents`]). An optional field that is
/// `null` reads as absent.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// Put before a key in messages (`retry.` for the fields of `retry`).
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    /// `value` as an object whose keys are all in `known`; `what` names it
    /// in the errors.
    pub(crate) fn of(
        value: &'a Value,
        what: &str,
        prefix: &'static str,
        known: &[&str],
    ) -> Result<Fields<'a>, String> {
        let map = value
            .as_object()
            .ok_or_else(|| format!("{what} must be a JSON object"))?;
        if let Some(field) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "unknown field `{field}` in {what}; expected one of: {}",
                known.join(", ")
            ));
        }
        Ok(Fields { map, prefix })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The field's name as messages show it.
    pub(crate) fn name(&self, key: &str) -> String {
        format!("`{}{key}`", self.prefix)
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{} must be a string", self.name(key))),
        }
    }

    /// An integer that fits `T`.
    pub(crate) fn int<T>(&self, key: &str) -> Result<Option<T>, String>
    where
        T: TryFrom<i64> + TryFrom<u64> + Bounded,
    {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        let fits = match (value.as_u64(), value.as_i64()) {
            (Some(u), _) => T::try_from(u).ok(),
            (None, Some(i)) => T::try_from(i).ok(),
            _ => None,
        };
        fits.map(Some).ok_or_else(|| {
            format!(
                "{} must be an integer from {} to {}",
                self.name(key),
                T::MIN_TEXT,
                T::MAX_TEXT
            )
        })
    }

    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(format!("{} must be a number", self.name(key))),
        }
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        let not_strings = || format!("{} must be an array of strings", self.name(key));
        match self.present(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(not_strings))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(not_strings()),
        }
    }
}

/// The range of an integer type, for error messages.
pub(crate) trait Bounded {
    const MIN_TEXT: &'static str;
    const MAX_TEXT: &'static str;
}

impl Bounded for i32 {
    const MIN_TEXT: &'static str = "-2147483648";
    const MAX_TEXT: &'static str = "2147483647";
}

impl Bounded for u32 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "4294967295";
}

impl Bounded for u64 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "18446744073709551615";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            id: "j1".into(),
            kind: JobKind::Llm,
            state: JobState::Failed,
            priority: -2,
            input: r#"{"model":"m","messages":[]}"#.into(),
            attempts: 2,
            retry: DEFAULT_RETRY,
            parents: vec!["j0".into()],
            children: vec![],
            on_parent_failure: OnParentFailure::Skip,
            timeout_ms: 30_000,
            idempotency_key: Some("k".into()),
            origin: Some(JobOrigin {
                job: "j0".into(),
                message: 3,
                branch: true,
            }),
            result: None,
            error: Some(JobError {
                code: "timeout".into(),
                message: "too slow".into(),
                retryable: true,
            }),
            created_ms: 1,
            updated_ms: 2,
            started_ms: Some(3),
            finished_ms: None,
            next_attempt_ms: Some(4),
            message_count: 5,
        }
    }

    #[test]
    fn job_shape() {
        assert_eq!(
            job_json(&job()),
            json!({
                "id": "j1", "kind": "llm", "state": "failed", "priority": -2,
                "input": {"model": "m", "messages": []},
                "attempts": 2,
                "retry": {"max_attempts": 3, "initial_delay_ms": 1000, "max_delay_ms": 60000,
                          "multiplier": 2.0, "randomization": 0.1},
                "parents": ["j0"], "children": [], "on_parent_failure": "skip",
                "timeout_ms": 30000, "idempotency_key": "k",
                "origin": {"job": "j0", "message": 3, "branch": true},
                "result": null,
                "error": {"code": "timeout", "message": "too slow", "retryable": true},
                "created_ms": 1, "updated_ms": 2, "started_ms": 3, "finished_ms": null,
                "next_attempt_ms": 4, "message_count": 5,
            })
        );
        let done = Job {
            state: JobState::Done,
            result: Some(r#"{"value":4}"#.into()),
            error: None,
            origin: None,
            idempotency_key: None,
            ..job()
        };
        let v = job_json(&done);
        assert_eq!(v["result"], json!({"value": 4}));
        assert_eq!(v["state"], "done");
        assert_eq!(v["origin"], Value::Null);
        assert_eq!(v["idempotency_key"], Value::Null);
        let odd = Job {
            input: "not json".into(),
            ..job()
        };
        assert_eq!(job_json(&odd)["input"], "not json");
    }

    #[test]
    fn message_shape() {
        let m = JobMessage {
            seq: 2,
            created_ms: 7,
            body: r#"{"role":"assistant","content":"hi","usage":{"input_tokens":1}}"#.into(),
        };
        assert_eq!(
            message_json(&m),
            json!({"seq": 2, "created_ms": 7, "role": "assistant", "content": "hi",
                   "usage": {"input_tokens": 1}})
        );
        let odd = JobMessage {
            seq: 1,
            created_ms: 0,
            body: "[1]".into(),
        };
        assert_eq!(
            message_json(&odd),
            json!({"seq": 1, "created_ms": 0, "body": [1]})
        );
    }

    #[test]
    fn names_round_trip() {
        for kind in [JobKind::Tool, JobKind::Llm, JobKind::Agent] {
            assert_eq!(parse_kind(kind_name(kind)), Some(kind));
        }
        for state in [
            JobState::Pending,
            JobState::Processing,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
            JobState::Skipped,
        ] {
            assert_eq!(parse_state(state_name(state)), Some(state));
        }
        for p in [OnParentFailure::Fail, OnParentFailure::Skip] {
            assert_eq!(parse_on_parent_failure(on_parent_failure_name(p)), Some(p));
        }
        assert_eq!(parse_kind("Tool"), None);
        assert_eq!(parse_state("running"), None);
    }

    #[test]
    fn minimal_spec_takes_defaults() {
        let spec = job_spec_from_json(&json!({
            "kind": "tool",
            "input": {"tool": "calculator", "arguments": {"expression": "1+1"}},
        }))
        .unwrap();
        // The input's JSON, whatever order serde_json keeps keys in (a build
        // beside LanceDB keeps insertion order).
        let input: serde_json::Value = serde_json::from_str(&spec.input).unwrap();
        assert_eq!(
            input,
            json!({"tool": "calculator", "arguments": {"expression": "1+1"}})
        );
        assert_eq!(
            JobSpec {
                input: String::new(),
                ..spec
            },
            JobSpec {
                kind: JobKind::Tool,
                input: String::new(),
                priority: 0,
                parents: vec![],
                on_parent_failure: OnParentFailure::Fail,
                retry: None,
                timeout_ms: None,
                idempotency_key: None,
            }
        );
        // Any JSON value is an input; null optional fields count as absent.
        let spec = job_spec_from_json(&json!({
            "kind": "agent", "input": "text", "priority": null, "retry": null,
        }))
        .unwrap();
        assert_eq!(spec.input, r#""text""#);
        assert_eq!((spec.priority, spec.retry), (0, None));
    }

    #[test]
    fn full_spec() {
        let spec = job_spec_from_json(&json!({
            "kind": "llm",
            "input": {"model": "m", "messages": []},
            "priority": -5,
            "parents": ["a", "b"],
            "on_parent_failure": "skip",
            "retry": {"max_attempts": 5, "multiplier": 1.5},
            "timeout_ms": 1500,
            "idempotency_key": "key-1",
        }))
        .unwrap();
        assert_eq!(spec.kind, JobKind::Llm);
        assert_eq!(spec.priority, -5);
        assert_eq!(spec.parents, vec!["a", "b"]);
        assert_eq!(spec.on_parent_failure, OnParentFailure::Skip);
        assert_eq!(
            spec.retry,
            Some(RetryPolicy {
                max_attempts: 5,
                multiplier: 1.5,
                ..DEFAULT_RETRY
            })
        );
        assert_eq!(spec.timeout_ms, Some(1500));
        assert_eq!(spec.idempotency_key.as_deref(), Some("key-1"));
        let spec = job_spec_from_json(&json!({"kind": "tool", "input": {}, "retry": {}})).unwrap();
        assert_eq!(spec.retry, Some(DEFAULT_RETRY));
    }

    #[test]
    fn spec_errors_name_the_field() {
        let cases = [
            (json!([1]), "must be a JSON object"),
            (json!({"input": {}}), "missing field `kind`"),
            (json!({"kind": "tool"}), "missing field `input`"),
            (json!({"kind": "job", "input": {}}), "`kind` must be one of"),
            (json!({"kind": 1, "input": {}}), "`kind` must be a string"),
            (
                json!({"kind": "tool", "input": {}, "colour": 1}),
                "unknown field `colour`",
            ),
            (
                json!({"kind": "tool", "input": {}, "priority": 1.5}),
                "`priority` must be an integer",
            ),
            (
                json!({"kind": "tool", "input": {}, "priority": 3_000_000_000u64}),
                "`priority` must be an integer",
            ),
            (
                json!({"kind": "tool", "input": {}, "parents": "a"}),
                "`parents` must be an array",
            ),
            (
                json!({"kind": "tool", "input": {}, "parents": [1]}),
                "`parents` must be an array",
            ),
            (
                json!({"kind": "tool", "input": {}, "on_parent_failure": "x"}),
                "`on_parent_failure` must be",
            ),
            (
                json!({"kind": "tool", "input": {}, "retry": 3}),
                "`retry` must be a JSON object",
            ),
            (
                json!({"kind": "tool", "input": {}, "retry": {"tries": 3}}),
                "unknown field `tries` in `retry`",
            ),
            (
                json!({"kind": "tool", "input": {}, "retry": {"max_attempts": -1}}),
                "`retry.max_attempts` must be an integer",
            ),
            (
                json!({"kind": "tool", "input": {}, "retry": {"initial_delay_ms": "1s"}}),
                "`retry.initial_delay_ms` must be an integer",
            ),
            (
                json!({"kind": "tool", "input": {}, "retry": {"multiplier": "2"}}),
                "`retry.multiplier` must be a number",
            ),
            (
                json!({"kind": "tool", "input": {}, "timeout_ms": -1}),
                "`timeout_ms` must be an integer",
            ),
            (
                json!({"kind": "tool", "input": {}, "idempotency_key": 5}),
                "`idempotency_key` must be a string",
            ),
            (
                json!({"kind": "tool", "input": {}, "idempotency_key": ""}),
                "`idempotency_key` must not be empty",
            ),
        ];
        for (spec, expected) in cases {
            let err = job_spec_from_json(&spec).unwrap_err();
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }

    #[test]
    fn no_host_natively() {
        assert!(matches!(get("x"), Err(JobsError::Store(m)) if m == crate::NO_HOST));
        assert!(matches!(cancel("x"), Err(JobsError::Store(_))));
    }
}
