//! `hanzo:node/agents`: agent definitions in redb, per tenant, for API plugins.

use crate::bindings::agents as wit;
use crate::call_state::CallState;
use crate::grants::Capability;
use crate::jobs::model::{Agent, AgentSpec};
use crate::jobs::{Jobs, JobsError};

type Res<T> = wasmtime::Result<Result<T, wit::AgentsError>>;

fn err(e: JobsError) -> wit::AgentsError {
    match e {
        JobsError::NotFound(m) => wit::AgentsError::NotFound(m),
        JobsError::Invalid(m) => wit::AgentsError::Invalid(m),
        JobsError::Conflict(m) => wit::AgentsError::Conflict(m),
        JobsError::Store(m) => wit::AgentsError::Store(m),
        JobsError::Limit { code, message } => {
            wit::AgentsError::Conflict(format!("{code}: {message}"))
        }
    }
}

fn spec_from(s: wit::AgentSpec) -> Result<AgentSpec, JobsError> {
    let settings = if s.settings.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(&s.settings)
            .map_err(|e| JobsError::Invalid(format!("settings are not valid JSON: {e}")))?
    };
    Ok(AgentSpec {
        name: s.name,
        model: s.model,
        system_prompt: s.system_prompt,
        tools: s.tools,
        max_steps: if s.max_steps == 0 {
            AgentSpec::default_max_steps()
        } else {
            s.max_steps
        },
        temperature: s.temperature,
        max_tokens: s.max_tokens,
        settings,
    })
}

fn agent_to(a: &Agent) -> wit::Agent {
    wit::Agent {
        id: a.id.clone(),
        spec: wit::AgentSpec {
            name: a.spec.name.clone(),
            model: a.spec.model.clone(),
            system_prompt: a.spec.system_prompt.clone(),
            tools: a.spec.tools.clone(),
            max_steps: a.spec.max_steps,
            temperature: a.spec.temperature,
            max_tokens: a.spec.max_tokens,
            settings: a.spec.settings.to_string(),
        },
        created_ms: a.created_ms,
        updated_ms: a.updated_ms,
    }
}

impl CallState {
    /// Runs `call` with the agent store and the caller's tenant, when the
    /// manifest grants `permissions.agents`.
    async fn with_agents<T>(
        &mut self,
        call: impl AsyncFnOnce(&Jobs, &str) -> Result<T, JobsError>,
    ) -> Res<T> {
        let node = match self.granted(Capability::Agents)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(wit::AgentsError::Denied(denied.to_string()))),
        };
        let jobs = node.jobs().clone();
        Ok(call(&jobs, &self.tenant).await.map_err(err))
    }
}

impl wit::Host for CallState {
    async fn list(&mut self) -> Res<Vec<wit::Agent>> {
        self.with_agents(async |jobs, tenant| {
            Ok(jobs.agents(tenant)?.iter().map(agent_to).collect())
        })
        .await
    }

    async fn create(&mut self, spec: wit::AgentSpec) -> Res<wit::Agent> {
        self.with_agents(async |jobs, tenant| {
            jobs.create_agent(tenant, spec_from(spec)?)
                .await
                .map(|a| agent_to(&a))
        })
        .await
    }

    async fn get(&mut self, id: String) -> Res<wit::Agent> {
        self.with_agents(async |jobs, tenant| jobs.agent(tenant, &id).map(|a| agent_to(&a)))
            .await
    }

    async fn update(&mut self, id: String, spec: wit::AgentSpec) -> Res<wit::Agent> {
        self.with_agents(async |jobs, tenant| {
            jobs.update_agent(tenant, &id, spec_from(spec)?)
                .await
                .map(|a| agent_to(&a))
        })
        .await
    }

    async fn delete(&mut self, id: String) -> Res<bool> {
        self.with_agents(async |jobs, tenant| jobs.delete_agent(tenant, &id).await)
            .await
    }
}
