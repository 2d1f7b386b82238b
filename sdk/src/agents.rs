//! Agent definitions (`hanzo:node/agents`), for API plugins.
//!
//! Needs `permissions.agents = true`. Agents are stored by the host, per
//! tenant; a job of kind `agent` (see [`crate::jobs`]) runs one.
//!
//! Besides the host calls, this module holds the JSON form of an agent that
//! the node's HTTP APIs show ([`agent_json`]) and the parsing of an agent
//! spec sent as JSON ([`agent_spec_from_json`]).

pub use crate::wit::hanzo::node::agents::{Agent, AgentSpec, AgentsError};

use crate::jobs::{Fields, parse_or_text};
use serde_json::{Value, json};

/// Every agent of the tenant.
pub fn list() -> Result<Vec<Agent>, AgentsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::agents::list();
    #[cfg(not(target_arch = "wasm32"))]
    Err(no_host())
}

/// Stores a new agent; its name must not be taken.
pub fn create(spec: &AgentSpec) -> Result<Agent, AgentsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::agents::create(spec);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = spec;
        Err(no_host())
    }
}

/// The agent `id`.
pub fn get(id: &str) -> Result<Agent, AgentsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::agents::get(id);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        Err(no_host())
    }
}

/// Replaces the spec of agent `id`.
pub fn update(id: &str, spec: &AgentSpec) -> Result<Agent, AgentsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::agents::update(id, spec);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (id, spec);
        Err(no_host())
    }
}

/// Deletes agent `id`; true when it existed.
pub fn delete(id: &str) -> Result<bool, AgentsError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::agents::delete(id);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        Err(no_host())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn no_host() -> AgentsError {
    AgentsError::Store(crate::NO_HOST.to_string())
}

/// LLM calls per run when a new agent's spec does not say.
pub const DEFAULT_MAX_STEPS: u32 = 8;

/// The fields an agent spec may have.
pub const AGENT_SPEC_FIELDS: &[&str] = &[
    "name",
    "model",
    "system_prompt",
    "tools",
    "max_steps",
    "temperature",
    "max_tokens",
    "settings",
];

/// An agent as the node's APIs show it: `{"id","name","model",
/// "system_prompt","tools","max_steps","temperature","max_tokens",
/// "settings","created_ms","updated_ms"}`, `settings` as a JSON value.
pub fn agent_json(agent: &Agent) -> Value {
    let spec = &agent.spec;
    json!({
        "id": agent.id,
        "name": spec.name,
        "model": spec.model,
        "system_prompt": spec.system_prompt,
        "tools": spec.tools,
        "max_steps": spec.max_steps,
        // Through its shortest text, so that 0.7f32 shows as 0.7, not 0.699999988.
        "temperature": spec.temperature.map(|t| t.to_string().parse::<f64>().unwrap_or(t as f64)),
        "max_tokens": spec.max_tokens,
        "settings": parse_or_text(&spec.settings),
        "created_ms": agent.created_ms,
        "updated_ms": agent.updated_ms,
    })
}

/// Parses an agent spec sent as JSON (the fields of [`AGENT_SPEC_FIELDS`]).
///
/// Without `base` (creating an agent) `name` and `model` are required and the
/// rest default: `system_prompt` "", `tools` [], `max_steps`
/// [`DEFAULT_MAX_STEPS`], no `temperature` or `max_tokens`, `settings` {}.
/// With `base` (updating one) every field is optional and those given
/// replace the base's. `temperature` and `max_tokens` may be `null` to
/// unset them; other fields that are `null` count as left out. Unknown
/// fields are errors naming the field. The message of an error is meant for
/// the client.
pub fn agent_spec_from_json(value: &Value, base: Option<&AgentSpec>) -> Result<AgentSpec, String> {
    let fields = Fields::of(value, "the agent spec", "", AGENT_SPEC_FIELDS)?;
    let required = |key: &str, base: Option<&String>| -> Result<String, String> {
        let value = match (fields.string(key)?, base) {
            (Some(v), _) => v,
            (None, Some(b)) => b.clone(),
            (None, None) => return Err(format!("missing field `{key}`")),
        };
        if value.trim().is_empty() {
            return Err(format!("`{key}` must not be empty"));
        }
        Ok(value)
    };
    let name = required("name", base.map(|b| &b.name))?;
    let model = required("model", base.map(|b| &b.model))?;
    let temperature = match fields.get("temperature") {
        None => base.and_then(|b| b.temperature),
        Some(Value::Null) => None,
        Some(_) => {
            let t = fields.number("temperature")?.unwrap_or_default() as f32;
            if !t.is_finite() {
                return Err("`temperature` is out of range".to_string());
            }
            Some(t)
        }
    };
    let max_tokens = match fields.get("max_tokens") {
        None => base.and_then(|b| b.max_tokens),
        Some(_) => fields.int::<u32>("max_tokens")?,
    };
    let settings = match fields.get("settings") {
        None | Some(Value::Null) => base.map_or_else(|| "{}".to_string(), |b| b.settings.clone()),
        Some(settings @ Value::Object(_)) => settings.to_string(),
        Some(_) => return Err("`settings` must be a JSON object".to_string()),
    };
    Ok(AgentSpec {
        name,
        model,
        system_prompt: match fields.string("system_prompt")? {
            Some(prompt) => prompt,
            None => base.map(|b| b.system_prompt.clone()).unwrap_or_default(),
        },
        tools: match fields.strings("tools")? {
            Some(tools) => tools,
            None => base.map(|b| b.tools.clone()).unwrap_or_default(),
        },
        max_steps: match fields.int::<u32>("max_steps")? {
            Some(steps) => steps,
            None => base.map_or(DEFAULT_MAX_STEPS, |b| b.max_steps),
        },
        temperature,
        max_tokens,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentSpec {
        AgentSpec {
            name: "helper".into(),
            model: "gpt-4o".into(),
            system_prompt: "Be brief.".into(),
            tools: vec!["calculator".into()],
            max_steps: 4,
            temperature: Some(0.7),
            max_tokens: Some(256),
            settings: r#"{"style":"terse"}"#.into(),
        }
    }

    #[test]
    fn agent_shape() {
        let agent = Agent {
            id: "a1".into(),
            spec: spec(),
            created_ms: 10,
            updated_ms: 20,
        };
        assert_eq!(
            agent_json(&agent),
            json!({
                "id": "a1", "name": "helper", "model": "gpt-4o", "system_prompt": "Be brief.",
                "tools": ["calculator"], "max_steps": 4, "temperature": 0.7, "max_tokens": 256,
                "settings": {"style": "terse"}, "created_ms": 10, "updated_ms": 20,
            })
        );
        let bare = Agent {
            spec: AgentSpec {
                temperature: None,
                max_tokens: None,
                ..spec()
            },
            ..agent
        };
        let v = agent_json(&bare);
        assert_eq!(
            (&v["temperature"], &v["max_tokens"]),
            (&Value::Null, &Value::Null)
        );
    }

    #[test]
    fn create_takes_defaults() {
        let s = agent_spec_from_json(&json!({"name": "a", "model": "m"}), None).unwrap();
        assert_eq!(
            s,
            AgentSpec {
                name: "a".into(),
                model: "m".into(),
                system_prompt: String::new(),
                tools: vec![],
                max_steps: DEFAULT_MAX_STEPS,
                temperature: None,
                max_tokens: None,
                settings: "{}".into(),
            }
        );
        let s = agent_spec_from_json(
            &json!({"name": "helper", "model": "gpt-4o", "system_prompt": "Be brief.",
                    "tools": ["calculator"], "max_steps": 4, "temperature": 0.7,
                    "max_tokens": 256, "settings": {"style": "terse"}}),
            None,
        )
        .unwrap();
        assert_eq!(s, spec());
    }

    #[test]
    fn update_merges_into_base() {
        let base = spec();
        let s = agent_spec_from_json(&json!({}), Some(&base)).unwrap();
        assert_eq!(s, base);
        let s = agent_spec_from_json(
            &json!({"model": "claude", "tools": [], "temperature": null, "settings": {"a": 1}}),
            Some(&base),
        )
        .unwrap();
        assert_eq!(
            s,
            AgentSpec {
                model: "claude".into(),
                tools: vec![],
                temperature: None,
                settings: r#"{"a":1}"#.into(),
                ..spec()
            }
        );
        // `null` leaves other fields as they were.
        let s =
            agent_spec_from_json(&json!({"name": null, "max_steps": null}), Some(&base)).unwrap();
        assert_eq!(s, base);
    }

    #[test]
    fn spec_errors_name_the_field() {
        let cases = [
            (json!("x"), "must be a JSON object"),
            (json!({"model": "m"}), "missing field `name`"),
            (json!({"name": "a"}), "missing field `model`"),
            (
                json!({"name": " ", "model": "m"}),
                "`name` must not be empty",
            ),
            (
                json!({"name": "a", "model": "m", "id": "x"}),
                "unknown field `id`",
            ),
            (json!({"name": "a", "model": 3}), "`model` must be a string"),
            (
                json!({"name": "a", "model": "m", "tools": "calc"}),
                "`tools` must be an array of strings",
            ),
            (
                json!({"name": "a", "model": "m", "max_steps": -1}),
                "`max_steps` must be an integer",
            ),
            (
                json!({"name": "a", "model": "m", "temperature": "hot"}),
                "`temperature` must be a number",
            ),
            (
                json!({"name": "a", "model": "m", "temperature": 1e300}),
                "`temperature` is out of range",
            ),
            (
                json!({"name": "a", "model": "m", "max_tokens": 1.5}),
                "`max_tokens` must be an integer",
            ),
            (
                json!({"name": "a", "model": "m", "settings": [1]}),
                "`settings` must be a JSON object",
            ),
        ];
        for (value, expected) in cases {
            let err = agent_spec_from_json(&value, None).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
        let err = agent_spec_from_json(&json!({"model": ""}), Some(&spec())).unwrap_err();
        assert!(err.contains("`model` must not be empty"), "{err}");
    }

    #[test]
    fn no_host_natively() {
        assert!(matches!(list(), Err(AgentsError::Store(m)) if m == crate::NO_HOST));
    }
}
