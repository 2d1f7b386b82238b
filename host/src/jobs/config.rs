//! `[jobs]` settings (`JobsConfig`) and their bounds, and the queue's error
//! type (`JobsError`).

use super::model::RetryPolicy;
use super::store;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[jobs]` in node.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs running at once on this node.
    pub max_concurrency: usize,
    /// Jobs running at once per tenant; 0: only the global limit applies.
    pub per_tenant: usize,
    /// Jobs running at once per provider plugin (the tool's plugin for tool
    /// jobs, the model's first deployment's provider for llm and agent jobs).
    pub per_provider: BTreeMap<String, usize>,
    /// For providers not named in `per_provider`; 0: no limit.
    pub default_per_provider: usize,
    /// Time limit of one attempt when the job sets none.
    pub default_timeout_ms: u64,
    /// Retries when the job sets none (the seed's RetryConfig).
    pub retry: RetryPolicy,
    /// Flush every group commit to disk. Off only to measure what durability costs.
    pub durable: bool,
    /// Events kept for subscribers that resume; older ones are pruned.
    pub events_retained: u64,
    /// Jobs of one tenant not yet finished (pending or running); a
    /// submission past it is refused with `too_many_pending_jobs`.
    pub max_pending_per_tenant: usize,
    /// Jobs that may name one job as their parent (`too_many_children`).
    pub max_children: usize,
}

impl JobsConfig {
    /// Checks the bounds, naming the `jobs.` key at fault.
    pub fn validate(&self) -> Result<(), String> {
        self.retry.validate("jobs.retry")?;
        if self.default_timeout_ms == 0 || self.default_timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!(
                "jobs.default_timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"
            ));
        }
        for (key, value) in [
            ("max_pending_per_tenant", self.max_pending_per_tenant),
            ("max_children", self.max_children),
        ] {
            if value == 0 {
                return Err(format!("jobs.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_concurrency: 64,
            per_tenant: 0,
            per_provider: BTreeMap::new(),
            default_per_provider: 0,
            default_timeout_ms: 300_000,
            retry: RetryPolicy::default(),
            durable: true,
            events_retained: 200_000,
            max_pending_per_tenant: 100_000,
            max_children: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(String),
    /// A bound was hit: `code` names it (`too_many_pending_jobs`,
    /// `too_many_children`), the message says which setting holds it.
    #[error("{message}")]
    Limit { code: &'static str, message: String },
}

impl JobsError {
    /// The stable code of a limit error, for transports with no case of
    /// their own for limits (WIT `conflict` carries it as `code: message`).
    pub fn limit_code(&self) -> Option<&'static str> {
        match self {
            JobsError::Limit { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Longest time limit of one attempt: one day.
pub(super) const MAX_TIMEOUT_MS: u64 = 86_400_000;

impl From<store::StoreError> for JobsError {
    fn from(e: store::StoreError) -> Self {
        JobsError::Store(e.to_string())
    }
}
