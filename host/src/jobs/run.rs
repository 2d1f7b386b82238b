//! What a job does when it runs, by kind: one tool call, one LLM call, or the
//! agent loop (LLM → tool calls in parallel → LLM … until an answer or the
//! step limit). LLM and agent jobs keep their conversation as job messages,
//! each stored and streamed as it happens; a later attempt (after a failure,
//! a crash, a fork or a branch) continues from the stored messages.

use super::JobHost;
use super::Jobs;
use super::model::{ChatMessage, Job, JobError, JobKind, Reasoning, ToolCall};
use crate::bindings::llm::{CallOptions, LlmError};
use crate::bindings::llm_types::{
    ChatRequest, ContentPart, FinishReason, Message, ProviderError, Reasoning as WitReasoning,
    Role, ToolCall as WitToolCall, ToolDefinition,
};
use crate::bindings::tool_types::ToolError;
use crate::context::CallCtx;
use crate::error::error_document;
use crate::tenant::Tenant;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// An llm job's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmInput {
    pub model: String,
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub tools: Vec<ToolDef>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    json!({"type": "object"})
}

/// An agent job's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    pub agent: String,
    /// The user's request.
    #[serde(default)]
    pub input: Option<String>,
    /// Or a whole conversation to continue.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
}

pub fn llm_input(input: &Value) -> Result<LlmInput, String> {
    let parsed: LlmInput =
        serde_json::from_value(input.clone()).map_err(|e| format!("invalid llm job input: {e}"))?;
    if parsed.messages.is_empty() {
        return Err("an llm job's input needs at least one message".into());
    }
    parsed.messages.iter().try_for_each(check_role)?;
    Ok(parsed)
}

pub fn agent_input(input: &Value) -> Result<AgentInput, String> {
    let parsed: AgentInput = serde_json::from_value(input.clone())
        .map_err(|e| format!("invalid agent job input: {e}"))?;
    if parsed.input.is_none() && parsed.messages.is_empty() {
        return Err("an agent job's input needs `input` (text) or `messages`".into());
    }
    parsed.messages.iter().try_for_each(check_role)?;
    Ok(parsed)
}

fn check_role(m: &ChatMessage) -> Result<(), String> {
    role(&m.role)
        .map(|_| ())
        .ok_or_else(|| format!("unknown message role `{}`", m.role))
}

fn role(name: &str) -> Option<Role> {
    Some(match name {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

pub async fn execute(
    jobs: &Arc<Jobs>,
    rt: &Arc<dyn JobHost>,
    job: &Job,
) -> Result<Value, JobError> {
    let tenant: Tenant = job.tenant.as_str().into();
    match job.kind {
        JobKind::Tool => {
            let name = job.input["tool"].as_str().unwrap_or_default();
            let arguments = job
                .input
                .get("arguments")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let text = rt
                .invoke_tool(CallCtx::new(tenant), name, &arguments.to_string())
                .await
                .map_err(tool_error)?;
            Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        JobKind::Llm => {
            let input =
                llm_input(&job.input).map_err(|e| JobError::new("invalid_input", e, false))?;
            let mut conversation = Conversation::load(jobs, job, input.messages)?;
            let tools = input
                .tools
                .into_iter()
                .map(|t| ToolDefinition {
                    name: t.name,
                    description: t.description,
                    parameters: t.parameters.to_string(),
                })
                .collect();
            let settings = Settings {
                model: input.model,
                temperature: input.temperature,
                max_tokens: input.max_tokens,
            };
            let reply = conversation
                .ask(rt, &tenant, &settings, tools, None)
                .await?;
            Ok(json!({
                "content": reply.content,
                "tool_calls": reply.tool_calls,
                "usage": reply.usage,
                "route": reply.route,
            }))
        }
        JobKind::Agent => run_agent(jobs, rt, job, tenant).await,
    }
}

struct Settings {
    model: String,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
}

/// A job's conversation: the stored messages, extended as the job runs.
struct Conversation<'a> {
    jobs: &'a Arc<Jobs>,
    number: u64,
    /// A branch asks for a new answer where one exists: skip the response cache.
    regenerate: bool,
    messages: Vec<ChatMessage>,
}

impl<'a> Conversation<'a> {
    /// The stored messages, or (first attempt) `initial`, which is stored.
    fn load(
        jobs: &'a Arc<Jobs>,
        job: &Job,
        initial: Vec<ChatMessage>,
    ) -> Result<Conversation<'a>, JobError> {
        let stored = jobs
            .store
            .messages(job.number(), 0, usize::MAX)
            .map_err(|e| JobError::new("store_error", e.to_string(), true))?;
        let mut c = Conversation {
            jobs,
            number: job.number(),
            regenerate: job.origin.as_ref().is_some_and(|o| o.branch),
            messages: stored.into_iter().map(|m| m.message).collect(),
        };
        if c.messages.is_empty() {
            for m in initial {
                c.push(m);
            }
        }
        Ok(c)
    }

    fn push(&mut self, m: ChatMessage) {
        self.jobs.append_message(self.number, m.clone());
        self.messages.push(m);
    }

    /// One LLM call over the conversation; its answer is appended.
    async fn ask(
        &mut self,
        rt: &Arc<dyn JobHost>,
        tenant: &Tenant,
        settings: &Settings,
        tools: Vec<ToolDefinition>,
        context: Option<ChatMessage>,
    ) -> Result<ChatMessage, JobError> {
        let mut messages: Vec<Message> = self.messages.iter().map(to_wit).collect();
        // Context for this step only (an agent's memory): after the leading
        // system messages, not stored.
        if let Some(context) = context {
            let at = self
                .messages
                .iter()
                .take_while(|m| m.role == "system")
                .count();
            messages.insert(at, to_wit(&context));
        }
        let request = ChatRequest {
            model: settings.model.clone(),
            messages,
            tools,
            tool_choice: None,
            temperature: settings.temperature,
            top_p: None,
            max_tokens: settings.max_tokens,
            stop: Vec::new(),
            json_mode: false,
            extra: None,
        };
        let result = rt
            .router()
            .chat(
                tenant.clone(),
                request,
                CallOptions {
                    bypass_cache: self.regenerate,
                },
            )
            .await
            .map_err(llm_error)?;
        let response = result.response;
        let mut reply = from_wit(&response.message);
        reply.role = "assistant".into();
        reply.usage = response.usage.map(|u| {
            json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens})
        });
        reply.route = Some(json!({
            "deployment": result.route.deployment,
            "provider": result.route.provider,
            "model": result.route.model,
            "cached": result.route.cached,
            "attempts": result.route.attempts,
            "cost_usd": result.route.cost_usd,
        }));
        if response.finish_reason == FinishReason::Length && reply.tool_calls.is_empty() {
            tracing::debug!(job = %super::model::job_id(self.number), "answer cut at max_tokens");
        }
        self.push(reply.clone());
        Ok(reply)
    }
}

/// The agent loop.
async fn run_agent(
    jobs: &Arc<Jobs>,
    rt: &Arc<dyn JobHost>,
    job: &Job,
    tenant: Tenant,
) -> Result<Value, JobError> {
    let input = agent_input(&job.input).map_err(|e| JobError::new("invalid_input", e, false))?;
    let agent = jobs
        .agent(&job.tenant, &input.agent)
        .map_err(|e| JobError::new("agent_not_found", e.to_string(), false))?;
    let spec = &agent.spec;
    let mut initial = Vec::new();
    if !spec.system_prompt.is_empty() {
        initial.push(ChatMessage::text("system", spec.system_prompt.clone()));
    }
    initial.extend(input.messages);
    if let Some(text) = input.input {
        initial.push(ChatMessage::text("user", text));
    }
    let mut conversation = Conversation::load(jobs, job, initial)?;

    // The agent's tools, as the catalog describes them now.
    let mut tools = Vec::new();
    for name in &spec.tools {
        let Some((_, tool)) = rt.tool(&tenant, name) else {
            return Err(JobError::new(
                "tool_not_found",
                format!(
                    "agent `{}` lists tool `{name}`, which no loaded plugin provides to this tenant",
                    spec.name
                ),
                false,
            ));
        };
        tools.push(tool);
    }
    let settings = Settings {
        model: spec.model.clone(),
        temperature: spec.temperature,
        max_tokens: spec.max_tokens,
    };
    let memory = super::memory::MemorySpec::from_settings(&spec.settings)
        .map_err(|e| JobError::new("invalid_memory", e, false))?;

    loop {
        // Tool calls of the last answer that have no result yet (all of them,
        // unless an earlier attempt stopped between two results).
        let pending = unanswered_calls(&conversation.messages);
        if !pending.is_empty() {
            run_tools(rt, &tenant, &spec.tools, &pending, &mut conversation).await;
        }
        let steps = conversation
            .messages
            .iter()
            .filter(|m| m.role == "assistant")
            .count() as u32;
        if let Some(last) = conversation.messages.last()
            && last.role == "assistant"
            && last.tool_calls.is_empty()
        {
            return Ok(summary(&conversation.messages, steps));
        }
        if steps >= spec.max_steps {
            return Err(JobError::new(
                "max_steps",
                format!("no final answer after {steps} LLM calls (the agent's max_steps)"),
                false,
            ));
        }
        let recalled = match &memory {
            Some(memory) => {
                super::memory::recall(rt, &tenant, memory, &conversation.messages).await?
            }
            None => None,
        };
        conversation
            .ask(rt, &tenant, &settings, tools.clone(), recalled)
            .await?;
    }
}

/// The tool calls of the last assistant message not yet answered by a tool message.
fn unanswered_calls(messages: &[ChatMessage]) -> Vec<ToolCall> {
    let Some(at) = messages.iter().rposition(|m| m.role == "assistant") else {
        return Vec::new();
    };
    let answered: Vec<&str> = messages[at + 1..]
        .iter()
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    messages[at]
        .tool_calls
        .iter()
        .filter(|c| !answered.contains(&c.id.as_str()))
        .cloned()
        .collect()
}

/// Runs tool calls in parallel, each its own plugin call with its own
/// limits; results (or errors, for the model to see) are appended in order.
async fn run_tools(
    rt: &Arc<dyn JobHost>,
    tenant: &Tenant,
    allowed: &[String],
    calls: &[ToolCall],
    conversation: &mut Conversation<'_>,
) {
    let mut set = tokio::task::JoinSet::new();
    for (i, call) in calls.iter().enumerate() {
        let (rt, tenant, call) = (rt.clone(), tenant.clone(), call.clone());
        let allowed = allowed.contains(&call.name);
        set.spawn(crate::sched::offloadable(async move {
            let result = if allowed {
                rt.invoke_tool(
                    CallCtx::new(tenant).at_depth(1),
                    &call.name,
                    &call.arguments,
                )
                .await
            } else {
                Err(ToolError::NotFound(format!(
                    "tool `{}` is not one of this agent's tools",
                    call.name
                )))
            };
            (i, result)
        }));
    }
    let mut results: Vec<Option<Result<String, ToolError>>> = vec![None; calls.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
    }
    for (call, result) in calls.iter().zip(results) {
        let content = match result {
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                let e = tool_error(e);
                error_document(&e.code, &e.message).to_string()
            }
            None => error_document("tool_failed", "the tool call panicked").to_string(),
        };
        let mut m = ChatMessage::text("tool", content);
        m.tool_call_id = Some(call.id.clone());
        m.name = Some(call.name.clone());
        conversation.push(m);
    }
}

/// An agent job's result: the answer, the steps taken and the usage summed.
fn summary(messages: &[ChatMessage], steps: u32) -> Value {
    let mut usage = [0u64; 3];
    let mut cost = 0.0;
    let mut tool_calls = 0;
    for m in messages.iter().filter(|m| m.role == "assistant") {
        tool_calls += m.tool_calls.len();
        if let Some(u) = &m.usage {
            for (i, k) in ["prompt_tokens", "completion_tokens", "total_tokens"]
                .iter()
                .enumerate()
            {
                usage[i] += u[k].as_u64().unwrap_or(0);
            }
        }
        cost += m
            .route
            .as_ref()
            .and_then(|r| r["cost_usd"].as_f64())
            .unwrap_or(0.0);
    }
    json!({
        "answer": messages.last().map(|m| m.content.clone()).unwrap_or_default(),
        "steps": steps,
        "tool_calls": tool_calls,
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[2]},
        "cost_usd": cost,
    })
}

/// A stored message as the router takes it. Agent conversations are text.
fn to_wit(m: &ChatMessage) -> Message {
    Message {
        role: role(&m.role).unwrap_or(Role::User),
        content: ContentPart::text(m.content.as_str()),
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| WitToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                signature: c.signature.clone(),
            })
            .collect(),
        tool_call_id: m.tool_call_id.clone(),
        name: m.name.clone(),
        reasoning: m
            .reasoning
            .iter()
            .map(|r| WitReasoning {
                text: r.text.clone(),
                signature: r.signature.clone(),
                redacted: r.redacted,
            })
            .collect(),
    }
}

fn from_wit(m: &Message) -> ChatMessage {
    let mut out = ChatMessage::text(
        match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        },
        m.text(),
    );
    out.tool_calls = m
        .tool_calls
        .iter()
        .map(|c| ToolCall {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
            signature: c.signature.clone(),
        })
        .collect();
    out.reasoning = m
        .reasoning
        .iter()
        .map(|r| Reasoning {
            text: r.text.clone(),
            signature: r.signature.clone(),
            redacted: r.redacted,
        })
        .collect();
    out.tool_call_id = m.tool_call_id.clone();
    out.name = m.name.clone();
    out
}

/// Tool errors as job errors: a plugin that trapped, timed out or was busy
/// may do better next time; a wrong call will not.
fn tool_error(e: ToolError) -> JobError {
    let retryable = matches!(e, ToolError::PluginFailed(_));
    let (code, message) = crate::error::tool_error_parts(&e);
    JobError::new(code, message, retryable)
}

/// LLM errors as job errors: rate limits and upstream outages are retried.
pub(super) fn llm_error(e: LlmError) -> JobError {
    match e {
        LlmError::Denied(m) => JobError::new("forbidden", m, false),
        LlmError::OverBudget(m) => JobError::new("budget_exhausted", m, false),
        LlmError::UnknownModel(m) => JobError::new("unknown_model", m, false),
        LlmError::Unsupported(m) => JobError::new("unsupported", m, false),
        LlmError::RateLimited(r) => JobError::new("rate_limited", r.message, true),
        LlmError::Provider(p) => match p {
            ProviderError::RateLimited(r) => JobError::new("rate_limited", r.message, true),
            ProviderError::ContextTooLong(m) => JobError::new("context_too_long", m, false),
            ProviderError::Auth(m) => JobError::new("auth", m, false),
            ProviderError::BadRequest(m) => JobError::new("bad_request", m, false),
            ProviderError::NotFound(m) => JobError::new("not_found", m, false),
            ProviderError::UpstreamUnavailable(m) => JobError::new("upstream_unavailable", m, true),
            ProviderError::Timeout(m) => JobError::new("upstream_timeout", m, true),
            ProviderError::Internal(m) => JobError::new("internal", m, true),
            ProviderError::Unsupported(m) => JobError::new("unsupported", m, false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "t".into(),
            arguments: "{}".into(),
            signature: None,
        }
    }

    #[test]
    fn unanswered_calls_skip_those_with_results() {
        let mut asked = ChatMessage::text("assistant", "");
        asked.tool_calls = vec![call("a"), call("b")];
        let mut answer = ChatMessage::text("tool", "1");
        answer.tool_call_id = Some("a".into());
        let msgs = vec![ChatMessage::text("user", "q"), asked, answer];
        let left = unanswered_calls(&msgs);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, "b");
        assert!(unanswered_calls(&msgs[..1]).is_empty());
    }

    #[test]
    fn inputs_are_checked() {
        assert!(llm_input(&json!({"model": "m", "messages": []})).is_err());
        assert!(
            llm_input(&json!({"model": "m", "messages": [{"role": "boss", "content": "x"}]}))
                .is_err()
        );
        assert!(
            llm_input(&json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
                .is_ok()
        );
        assert!(agent_input(&json!({"agent": "agent_1"})).is_err());
        assert!(agent_input(&json!({"agent": "agent_1", "input": "hi"})).is_ok());
    }
}
