//! What the job queue stores: jobs, their messages, agents, and the events
//! subscribers see. These are the records in redb (as JSON) and, with the
//! same field names, what the WebSocket and the REST API show.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// A job id as clients see it: `job_<n>`, `n` increasing with submission.
pub fn job_id(n: u64) -> String {
    format!("job_{n}")
}

/// The number inside a job id, if it is one.
pub fn parse_job_id(id: &str) -> Option<u64> {
    id.strip_prefix("job_")?.parse().ok()
}

/// An agent id: `agent_<n>`.
pub fn agent_id(n: u64) -> String {
    format!("agent_{n}")
}

pub fn parse_agent_id(id: &str) -> Option<u64> {
    id.strip_prefix("agent_")?.parse().ok()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Tool,
    Llm,
    Agent,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Tool => "tool",
            JobKind::Llm => "llm",
            JobKind::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Processing,
    Done,
    Failed,
    Cancelled,
    Skipped,
}

impl JobState {
    /// Done, failed, cancelled or skipped: the job will not change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Pending | JobState::Processing)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Processing => "processing",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnParentFailure {
    #[default]
    Fail,
    Skip,
}

/// Retries of a job: the seed's RetryConfig, per job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub multiplier: f64,
    pub randomization: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 1000,
            max_delay_ms: 60_000,
            multiplier: 2.0,
            randomization: 0.1,
        }
    }
}

impl RetryPolicy {
    /// The wait before the attempt after `attempt` (1-based) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        crate::router::config::RetryConfig {
            max_attempts: self.max_attempts,
            initial_delay_ms: self.initial_delay_ms,
            max_delay_ms: self.max_delay_ms,
            multiplier: self.multiplier,
            randomization_factor: self.randomization,
        }
        .delay(attempt)
    }

    /// Checks the bounds, naming the field of `{prefix}` (`retry` in a job
    /// spec, `jobs.retry` in node.toml) at fault.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        crate::router::config::check_retry(
            prefix,
            self.max_attempts,
            self.initial_delay_ms,
            self.max_delay_ms,
            self.multiplier,
            ("randomization", self.randomization),
        )
    }
}

/// What a client submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub kind: JobKind,
    pub input: Value,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub on_parent_failure: OnParentFailure,
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl JobSpec {
    /// A job of `kind` with `input` and every other setting at its default.
    pub fn new(kind: JobKind, input: Value) -> JobSpec {
        JobSpec {
            kind,
            input,
            priority: 0,
            parents: Vec::new(),
            on_parent_failure: OnParentFailure::Fail,
            retry: None,
            timeout_ms: None,
            idempotency_key: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl JobError {
    pub fn new(code: &str, message: impl Into<String>, retryable: bool) -> JobError {
        JobError {
            code: code.into(),
            message: message.into(),
            retryable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub job: String,
    pub message: u32,
    pub branch: bool,
}

/// A job as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    #[serde(skip_serializing, default)]
    pub tenant: String,
    pub kind: JobKind,
    pub state: JobState,
    pub priority: i32,
    pub input: Value,
    pub attempts: u32,
    pub retry: RetryPolicy,
    pub parents: Vec<String>,
    pub on_parent_failure: OnParentFailure,
    pub timeout_ms: u64,
    pub idempotency_key: Option<String>,
    pub origin: Option<Origin>,
    pub result: Option<Value>,
    pub error: Option<JobError>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub next_attempt_ms: Option<u64>,
    pub message_count: u32,
    /// Jobs that named this one as a parent. Last, so that the store can cut
    /// it from a record without parsing it: the store keeps children in an
    /// index of their own (adding one never rewrites the parent).
    #[serde(default)]
    pub children: Vec<String>,
}

/// The stored form keeps the tenant (the shown form does not).
#[derive(Serialize, Deserialize)]
struct StoredJob<'a> {
    tenant: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    job: std::borrow::Cow<'a, Job>,
}

impl Job {
    pub fn number(&self) -> u64 {
        parse_job_id(&self.id).unwrap_or(0)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&StoredJob {
            tenant: self.tenant.as_str().into(),
            job: std::borrow::Cow::Borrowed(self),
        })
        .expect("a job always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Job, serde_json::Error> {
        let stored: StoredJob = serde_json::from_slice(bytes)?;
        let mut job = stored.job.into_owned();
        job.tenant = stored.tenant.into_owned();
        Ok(job)
    }
}

/// One message of an llm or agent job's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Token usage of the LLM call that produced this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// The deployment that answered (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Value>,
    /// The reasoning before an assistant message, kept to send back on the
    /// next turn (a provider that signs it needs it unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasoning: Vec<Reasoning>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
    /// The provider's opaque data for the call (Gemini's thought signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ChatMessage {
    pub fn text(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            usage: None,
            route: None,
            reasoning: Vec::new(),
        }
    }
}

/// A stored message: its place in the conversation and when it was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub seq: u32,
    pub created_ms: u64,
    #[serde(flatten)]
    pub message: ChatMessage,
}

/// An agent definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default = "AgentSpec::default_max_steps")]
    pub max_steps: u32,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default = "AgentSpec::empty_settings")]
    pub settings: Value,
}

impl AgentSpec {
    pub fn default_max_steps() -> u32 {
        8
    }

    fn empty_settings() -> Value {
        Value::Object(Default::default())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 128 {
            return Err("name must be 1 to 128 characters".into());
        }
        if self.model.trim().is_empty() {
            return Err("model must name a model alias".into());
        }
        if self.max_steps == 0 || self.max_steps > 100 {
            return Err("max_steps must be between 1 and 100".into());
        }
        if !self.settings.is_object() {
            return Err("settings must be a JSON object".into());
        }
        super::memory::MemorySpec::from_settings(&self.settings)?;
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err("temperature must be between 0 and 2".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    #[serde(skip_serializing, default)]
    pub tenant: String,
    #[serde(flatten)]
    pub spec: AgentSpec,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredAgent {
    tenant: String,
    #[serde(flatten)]
    agent: Agent,
}

impl Agent {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&StoredAgent {
            tenant: self.tenant.clone(),
            agent: self.clone(),
        })
        .expect("an agent always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Agent, serde_json::Error> {
        let stored: StoredAgent = serde_json::from_slice(bytes)?;
        let mut agent = stored.agent;
        agent.tenant = stored.tenant;
        Ok(agent)
    }
}

/// What happened to a job, as subscribers see it. Events are numbered in the
/// order they were committed; a client resumes after the last id it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    pub tenant: String,
    pub job: String,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventBody {
    /// The job's new state (the whole job, as `GET /v2/jobs/{id}` shows it).
    JobUpdate(Box<Job>),
    /// A message appended to the job's conversation.
    StreamChunk(JobMessage),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_job_keeps_tenant_shown_job_does_not() {
        let job = Job {
            id: job_id(7),
            tenant: "acme".into(),
            kind: JobKind::Tool,
            state: JobState::Pending,
            priority: 1,
            input: serde_json::json!({"tool": "calculator"}),
            attempts: 0,
            retry: RetryPolicy::default(),
            parents: vec![],
            children: vec![],
            on_parent_failure: OnParentFailure::Skip,
            timeout_ms: 1000,
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
        };
        let back = Job::decode(&job.encode()).unwrap();
        assert_eq!(back.tenant, "acme");
        assert_eq!(back.number(), 7);
        let shown = serde_json::to_value(&job).unwrap();
        assert!(shown.get("tenant").is_none());
        assert_eq!(shown["on_parent_failure"], "skip");
        assert_eq!(shown["state"], "pending");
    }

    #[test]
    fn spec_rejects_unknown_fields_and_defaults_the_rest() {
        let spec: JobSpec =
            serde_json::from_value(serde_json::json!({"kind": "tool", "input": {}})).unwrap();
        assert_eq!(spec.priority, 0);
        assert!(spec.retry.is_none());
        assert!(
            serde_json::from_value::<JobSpec>(
                serde_json::json!({"kind": "tool", "input": {}, "prio": 1})
            )
            .is_err()
        );
        let retry: RetryPolicy =
            serde_json::from_value(serde_json::json!({"max_attempts": 5})).unwrap();
        assert_eq!(retry.initial_delay_ms, 1000);
        assert_eq!(retry.max_attempts, 5);
    }
}
