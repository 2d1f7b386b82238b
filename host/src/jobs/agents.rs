//! Agent definitions: stored per tenant in the job store, names unique per
//! tenant. An agent job (`jobs::run`) runs one.

use super::model::{self, Agent, AgentSpec, now_ms};
use super::store::Write;
use super::{Jobs, JobsError};
use std::sync::atomic::Ordering;

impl Jobs {
    pub fn agents(&self, tenant: &str) -> Result<Vec<Agent>, JobsError> {
        Ok(self.store.agents(tenant)?)
    }

    pub fn agent(&self, tenant: &str, id: &str) -> Result<Agent, JobsError> {
        model::parse_agent_id(id)
            .map(|n| self.store.agent(n))
            .transpose()?
            .flatten()
            .filter(|a| a.tenant == tenant)
            .ok_or_else(|| JobsError::NotFound(format!("no agent `{id}`")))
    }

    pub async fn create_agent(&self, tenant: &str, spec: AgentSpec) -> Result<Agent, JobsError> {
        spec.validate().map_err(JobsError::Invalid)?;
        let _guard = self.agent_writes.lock().await;
        if self.store.agent_named(tenant, &spec.name)?.is_some() {
            return Err(JobsError::Conflict(format!(
                "an agent named `{}` exists",
                spec.name
            )));
        }
        let now = now_ms();
        let agent = Agent {
            id: model::agent_id(self.next_agent.fetch_add(1, Ordering::Relaxed)),
            tenant: tenant.to_string(),
            spec,
            created_ms: now,
            updated_ms: now,
        };
        self.store
            .commit(vec![Write::Agent(agent.clone())])
            .await
            .map_err(JobsError::Store)?;
        Ok(agent)
    }

    pub async fn update_agent(
        &self,
        tenant: &str,
        id: &str,
        spec: AgentSpec,
    ) -> Result<Agent, JobsError> {
        spec.validate().map_err(JobsError::Invalid)?;
        let _guard = self.agent_writes.lock().await;
        let mut agent = self.agent(tenant, id)?;
        if let Some(other) = self.store.agent_named(tenant, &spec.name)?
            && model::agent_id(other) != agent.id
        {
            return Err(JobsError::Conflict(format!(
                "an agent named `{}` exists",
                spec.name
            )));
        }
        agent.spec = spec;
        agent.updated_ms = now_ms();
        self.store
            .commit(vec![Write::Agent(agent.clone())])
            .await
            .map_err(JobsError::Store)?;
        Ok(agent)
    }

    pub async fn delete_agent(&self, tenant: &str, id: &str) -> Result<bool, JobsError> {
        let _guard = self.agent_writes.lock().await;
        let agent = match self.agent(tenant, id) {
            Ok(a) => a,
            Err(JobsError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.store
            .commit(vec![Write::AgentDelete {
                number: model::parse_agent_id(&agent.id).unwrap_or(0),
                tenant: agent.tenant,
                name: agent.spec.name,
            }])
            .await
            .map_err(JobsError::Store)?;
        Ok(true)
    }
}
