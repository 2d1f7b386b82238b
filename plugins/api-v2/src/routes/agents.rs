//! `/v2/agents`: list, create, read, update and delete agent definitions.

use super::{HostNode, Reply, Request, read_json};
use hanzo_node_sdk::agents::{self, Agent, AgentSpec, AgentsError, agent_json};
use hanzo_node_sdk::api::BodyError;
use serde_json::{Value, json};

/// The node's agent definitions, as the handlers need them.
pub trait Agents {
    fn list_agents(&self) -> Result<Vec<Agent>, AgentsError>;
    fn create_agent(&self, spec: &AgentSpec) -> Result<Agent, AgentsError>;
    fn get_agent(&self, id: &str) -> Result<Agent, AgentsError>;
    fn update_agent(&self, id: &str, spec: &AgentSpec) -> Result<Agent, AgentsError>;
    fn delete_agent(&self, id: &str) -> Result<bool, AgentsError>;
}

/// The agents of the host (`hanzo:node/agents`).
impl Agents for HostNode {
    fn list_agents(&self) -> Result<Vec<Agent>, AgentsError> {
        agents::list()
    }

    fn create_agent(&self, spec: &AgentSpec) -> Result<Agent, AgentsError> {
        agents::create(spec)
    }

    fn get_agent(&self, id: &str) -> Result<Agent, AgentsError> {
        agents::get(id)
    }

    fn update_agent(&self, id: &str, spec: &AgentSpec) -> Result<Agent, AgentsError> {
        agents::update(id, spec)
    }

    fn delete_agent(&self, id: &str) -> Result<bool, AgentsError> {
        agents::delete(id)
    }
}

/// Methods of `/v2/agents/{id}`.
const ONE_AGENT: &str = "GET, PUT, PATCH, DELETE";

/// Answers a request under `/v2/agents`; `rest` holds the decoded path
/// segments after it.
pub fn route(
    node: &impl Agents,
    request: &Request,
    rest: &[&str],
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let method = request.method;
    match (rest, method) {
        (["list"], "GET") => match node.list_agents() {
            Ok(list) => Reply::ok(json!({
                "agents": list.iter().map(agent_json).collect::<Vec<_>>(),
            })),
            Err(e) => error(e),
        },
        (["list"], _) => Reply::method_not_allowed(method, "GET"),
        (["create"], "POST") => match read_json(read_body) {
            Ok(body) => create(node, &body),
            Err(reply) => reply,
        },
        (["create"], _) => Reply::method_not_allowed(method, "POST"),
        ([id], "GET") => match node.get_agent(id) {
            Ok(agent) => Reply::ok(agent_json(&agent)),
            Err(e) => error(e),
        },
        ([id], "PUT" | "PATCH") => match read_json(read_body) {
            Ok(body) => update(node, id, &body),
            Err(reply) => reply,
        },
        ([id], "DELETE") => match node.delete_agent(id) {
            Ok(true) => Reply::ok(json!({ "deleted": true })),
            Ok(false) => Reply::error(404, "agent_not_found", format!("no agent `{id}`")),
            Err(e) => error(e),
        },
        ([_], _) => Reply::method_not_allowed(method, ONE_AGENT),
        _ => Reply::not_found(request.path),
    }
}

/// The reply for a failed host call.
pub fn error(e: AgentsError) -> Reply {
    match e {
        AgentsError::Denied(m) => Reply::error(403, "forbidden", m),
        AgentsError::NotFound(m) => Reply::error(404, "agent_not_found", m),
        AgentsError::Invalid(m) => Reply::error(400, "invalid_request", m),
        AgentsError::Conflict(m) => Reply::error(409, "conflict", m),
        AgentsError::Store(m) => Reply::error(500, "store_error", m),
    }
}

fn create(node: &impl Agents, body: &Value) -> Reply {
    let spec = match agents::agent_spec_from_json(body, None) {
        Ok(spec) => spec,
        Err(m) => return Reply::error(400, "invalid_request", m),
    };
    match node.create_agent(&spec) {
        Ok(agent) => Reply::created(agent_json(&agent)),
        Err(e) => error(e),
    }
}

/// PUT and PATCH alike: the fields given replace those of the stored agent.
fn update(node: &impl Agents, id: &str, body: &Value) -> Reply {
    let stored = match node.get_agent(id) {
        Ok(agent) => agent,
        Err(e) => return error(e),
    };
    let spec = match agents::agent_spec_from_json(body, Some(&stored.spec)) {
        Ok(spec) => spec,
        Err(m) => return Reply::error(400, "invalid_request", m),
    };
    match node.update_agent(id, &spec) {
        Ok(agent) => Reply::ok(agent_json(&agent)),
        Err(e) => error(e),
    }
}

/// In-memory agents for tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use crate::routes::fake::FakeNode;

    #[derive(Default)]
    pub struct State {
        pub agents: Vec<Agent>,
        /// Every call fails with this when set.
        pub fail: Option<AgentsError>,
        /// The specs `update_agent` was given.
        pub updates: Vec<AgentSpec>,
    }

    impl FakeNode {
        fn with_agents<T>(
            &self,
            f: impl FnOnce(&mut State) -> Result<T, AgentsError>,
        ) -> Result<T, AgentsError> {
            let mut state = self.agents.borrow_mut();
            if let Some(e) = state.fail.clone() {
                return Err(e);
            }
            f(&mut state)
        }
    }

    fn not_found(id: &str) -> AgentsError {
        AgentsError::NotFound(format!("no agent `{id}`"))
    }

    fn check(state: &State, id: Option<&str>, spec: &AgentSpec) -> Result<(), AgentsError> {
        if spec.max_steps == 0 {
            return Err(AgentsError::Invalid("max_steps must be at least 1".into()));
        }
        if state
            .agents
            .iter()
            .any(|a| a.spec.name == spec.name && Some(a.id.as_str()) != id)
        {
            return Err(AgentsError::Conflict(format!(
                "the name `{}` is taken",
                spec.name
            )));
        }
        Ok(())
    }

    impl Agents for FakeNode {
        fn list_agents(&self) -> Result<Vec<Agent>, AgentsError> {
            self.with_agents(|state| Ok(state.agents.clone()))
        }

        fn create_agent(&self, spec: &AgentSpec) -> Result<Agent, AgentsError> {
            self.with_agents(|state| {
                check(state, None, spec)?;
                let agent = Agent {
                    id: format!("agent_{}", state.agents.len() + 1),
                    spec: spec.clone(),
                    created_ms: 5,
                    updated_ms: 5,
                };
                state.agents.push(agent.clone());
                Ok(agent)
            })
        }

        fn get_agent(&self, id: &str) -> Result<Agent, AgentsError> {
            self.with_agents(|state| {
                state
                    .agents
                    .iter()
                    .find(|a| a.id == id)
                    .cloned()
                    .ok_or_else(|| not_found(id))
            })
        }

        fn update_agent(&self, id: &str, spec: &AgentSpec) -> Result<Agent, AgentsError> {
            self.with_agents(|state| {
                check(state, Some(id), spec)?;
                state.updates.push(spec.clone());
                let agent = state
                    .agents
                    .iter_mut()
                    .find(|a| a.id == id)
                    .ok_or_else(|| not_found(id))?;
                agent.spec = spec.clone();
                agent.updated_ms += 1;
                Ok(agent.clone())
            })
        }

        fn delete_agent(&self, id: &str) -> Result<bool, AgentsError> {
            self.with_agents(|state| {
                let before = state.agents.len();
                state.agents.retain(|a| a.id != id);
                Ok(state.agents.len() < before)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::routes::fake::{FakeNode, code, send};
    use hanzo_node_sdk::agents::AgentsError;
    use serde_json::json;

    fn node_with_helper() -> FakeNode {
        let node = FakeNode::default();
        let r = send(
            &node,
            "POST",
            "/v2/agents/create",
            Some(
                r#"{"name":"helper","model":"gpt-4o","tools":["calculator"],"temperature":0.5,"settings":{"tone":"dry"}}"#,
            ),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        node
    }

    #[test]
    fn creates_and_reads() {
        let node = node_with_helper();
        let expected = json!({
            "id": "agent_1", "name": "helper", "model": "gpt-4o", "system_prompt": "",
            "tools": ["calculator"], "max_steps": 8, "temperature": 0.5, "max_tokens": null,
            "settings": {"tone": "dry"}, "created_ms": 5, "updated_ms": 5,
        });
        let r = send(&node, "GET", "/v2/agents/agent_1", None);
        assert_eq!((r.status, &r.body), (200, &expected));
        let r = send(&node, "GET", "/v2/agents/list", None);
        assert_eq!((r.status, &r.body), (200, &json!({"agents": [expected]})));
        let r = send(&node, "GET", "/v2/agents/agent_9", None);
        assert_eq!((r.status, code(&r)), (404, "agent_not_found"));
    }

    #[test]
    fn create_errors() {
        let node = node_with_helper();
        let cases = [
            ("nope", 400, "invalid_json"),
            (r#"{"model":"m"}"#, 400, "invalid_request"),
            (
                r#"{"name":"x","model":"m","color":"red"}"#,
                400,
                "invalid_request",
            ),
            (
                r#"{"name":"x","model":"m","max_steps":0}"#,
                400,
                "invalid_request",
            ),
            (r#"{"name":"helper","model":"m"}"#, 409, "conflict"),
        ];
        for (body, status, expected) in cases {
            let r = send(&node, "POST", "/v2/agents/create", Some(body));
            assert_eq!((r.status, code(&r)), (status, expected), "{body}");
        }
        let r = send(
            &node,
            "POST",
            "/v2/agents/create",
            Some(r#"{"name":"x","model":"m","color":"red"}"#),
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`color`")
        );
    }

    #[test]
    fn updates_merge_into_the_stored_agent() {
        let node = node_with_helper();
        for method in ["PATCH", "PUT"] {
            let r = send(
                &node,
                method,
                "/v2/agents/agent_1",
                Some(r#"{"system_prompt":"Be brief.","temperature":null}"#),
            );
            assert_eq!(r.status, 200, "{method} {}", r.body);
            assert_eq!(r.body["system_prompt"], "Be brief.");
            assert_eq!(r.body["temperature"], json!(null));
            assert_eq!(r.body["tools"], json!(["calculator"]));
            assert_eq!(r.body["settings"], json!({"tone": "dry"}));
            assert_eq!(r.body["name"], "helper");
        }
        let r = send(
            &node,
            "PATCH",
            "/v2/agents/agent_1",
            Some(r#"{"max_steps":3,"tools":[]}"#),
        );
        assert_eq!(
            (&r.body["max_steps"], &r.body["tools"]),
            (&json!(3), &json!([]))
        );
        assert_eq!(node.agents.borrow().updates.len(), 3);

        let cases = [
            ("agent_9", "{}", 404, "agent_not_found"),
            ("agent_1", "{", 400, "invalid_json"),
            ("agent_1", r#"{"id":"agent_1"}"#, 400, "invalid_request"),
            ("agent_1", r#"{"model":""}"#, 400, "invalid_request"),
            ("agent_1", r#"{"max_steps":0}"#, 400, "invalid_request"),
        ];
        for (id, body, status, expected) in cases {
            let r = send(&node, "PUT", &format!("/v2/agents/{id}"), Some(body));
            assert_eq!((r.status, code(&r)), (status, expected), "{id} {body}");
        }
        // A failed update leaves the agent as it was.
        assert_eq!(node.agents.borrow().updates.len(), 3);
    }

    #[test]
    fn deletes() {
        let node = node_with_helper();
        let r = send(&node, "DELETE", "/v2/agents/agent_1", None);
        assert_eq!((r.status, &r.body), (200, &json!({"deleted": true})));
        let r = send(&node, "DELETE", "/v2/agents/agent_1", None);
        assert_eq!((r.status, code(&r)), (404, "agent_not_found"));
        let r = send(&node, "GET", "/v2/agents/list", None);
        assert_eq!(r.body, json!({"agents": []}));
    }

    #[test]
    fn host_errors() {
        let cases = [
            (AgentsError::Denied("not granted".into()), 403, "forbidden"),
            (AgentsError::Store("disk".into()), 500, "store_error"),
            (AgentsError::Invalid("bad".into()), 400, "invalid_request"),
            (AgentsError::Conflict("taken".into()), 409, "conflict"),
            (AgentsError::NotFound("gone".into()), 404, "agent_not_found"),
        ];
        for (e, status, expected) in cases {
            let node = node_with_helper();
            node.agents.borrow_mut().fail = Some(e);
            for (method, path, body) in [
                ("GET", "/v2/agents/list", None),
                (
                    "POST",
                    "/v2/agents/create",
                    Some(r#"{"name":"a","model":"m"}"#),
                ),
                ("GET", "/v2/agents/agent_1", None),
                ("PATCH", "/v2/agents/agent_1", Some("{}")),
                ("DELETE", "/v2/agents/agent_1", None),
            ] {
                let r = send(&node, method, path, body);
                assert_eq!((r.status, code(&r)), (status, expected), "{method} {path}");
            }
        }
    }

    #[test]
    fn wrong_methods_and_paths() {
        let node = node_with_helper();
        for (method, path, allow) in [
            ("POST", "/v2/agents/list", "GET"),
            ("GET", "/v2/agents/create", "POST"),
            ("POST", "/v2/agents/agent_1", "GET, PUT, PATCH, DELETE"),
        ] {
            let r = send(&node, method, path, None);
            assert_eq!(
                (r.status, code(&r), r.allow),
                (405, "method_not_allowed", Some(allow)),
                "{method} {path}"
            );
        }
        for path in ["/v2/agents", "/v2/agents/", "/v2/agents/agent_1/x"] {
            let r = send(&node, "GET", path, None);
            assert_eq!((r.status, code(&r)), (404, "not_found"), "{path}");
        }
    }
}
