//! Fork and branch: new jobs made from a job's conversation (llm and agent
//! jobs); the source job stays as it is.

use super::model::{ChatMessage, Job, JobKind, JobSpec, Origin};
use super::{Jobs, JobsError};
use std::sync::Arc;

impl Jobs {
    /// A new job continuing the conversation of `id` from message `message`
    /// (included), with `append` as a new user message when given.
    pub async fn fork(
        self: &Arc<Self>,
        tenant: &str,
        id: &str,
        message: u32,
        append: Option<String>,
    ) -> Result<Job, JobsError> {
        let (source, mut messages) = self.conversation(tenant, id, message)?;
        messages.truncate(message as usize);
        if let Some(text) = append {
            messages.push(ChatMessage::text("user", text));
        }
        self.derive(tenant, source, messages, message, false).await
    }

    /// A new job that generates again from message `message` on, keeping the
    /// messages before it. The original job stays as it is.
    pub async fn branch(
        self: &Arc<Self>,
        tenant: &str,
        id: &str,
        message: u32,
    ) -> Result<Job, JobsError> {
        let (source, mut messages) = self.conversation(tenant, id, message)?;
        messages.truncate(message as usize - 1);
        self.derive(tenant, source, messages, message, true).await
    }

    fn conversation(
        &self,
        tenant: &str,
        id: &str,
        message: u32,
    ) -> Result<(Job, Vec<ChatMessage>), JobsError> {
        let source = self.get(tenant, id)?;
        if source.kind == JobKind::Tool {
            return Err(JobsError::Conflict(format!(
                "job {id} is a tool job: only llm and agent jobs have a conversation to fork"
            )));
        }
        let messages: Vec<ChatMessage> = self
            .store
            .messages(source.number(), 0, usize::MAX)?
            .into_iter()
            .map(|m| m.message)
            .collect();
        if message == 0 || message as usize > messages.len() {
            return Err(JobsError::Invalid(format!(
                "job {id} has {} messages; `message` must be between 1 and {}",
                messages.len(),
                messages.len()
            )));
        }
        Ok((source, messages))
    }

    async fn derive(
        self: &Arc<Self>,
        tenant: &str,
        source: Job,
        messages: Vec<ChatMessage>,
        message: u32,
        branch: bool,
    ) -> Result<Job, JobsError> {
        let spec = JobSpec {
            kind: source.kind,
            input: source.input.clone(),
            priority: source.priority,
            parents: Vec::new(),
            on_parent_failure: source.on_parent_failure,
            retry: Some(source.retry.clone()),
            timeout_ms: Some(source.timeout_ms),
            idempotency_key: None,
        };
        let origin = Origin {
            job: source.id.clone(),
            message,
            branch,
        };
        let placement = self
            .host()
            .map(|rt| self.placement(&*rt, tenant, spec.kind, &spec.input))
            .unwrap_or_default();
        Ok(self
            .insert(tenant, spec, placement, Some(origin), messages)
            .await?
            .0)
    }
}
