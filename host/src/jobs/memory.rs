//! An agent's memory: `settings.memory = {"collection", "namespace"?, "k"?}`
//! names one of its tenant's vector collections. Before each LLM step the
//! latest user message is looked up there (embedded with the collection's
//! model and searched hybrid when the collection names one, else by full
//! text) and the hits reach the model as a system message after the
//! agent's own prompt. The message is not stored among the job's messages:
//! each step retrieves afresh, so what the collection holds now is what the
//! model sees.

use super::JobHost;
use super::model::{ChatMessage, JobError};
use crate::tenant::Tenant;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Most hits given to the model.
pub const MAX_K: u32 = 50;
/// Longest text of one hit given to the model, in bytes.
#[cfg(feature = "vectors")]
const MAX_HIT_TEXT: usize = 2000;

/// `settings.memory` of an agent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    pub collection: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default = "MemorySpec::default_k")]
    pub k: u32,
}

impl MemorySpec {
    fn default_k() -> u32 {
        4
    }

    /// The agent's memory, if its settings name one; what is wrong with it otherwise.
    pub fn from_settings(settings: &Value) -> Result<Option<MemorySpec>, String> {
        let Some(memory) = settings.get("memory").filter(|m| !m.is_null()) else {
            return Ok(None);
        };
        let spec: MemorySpec = serde_json::from_value(memory.clone()).map_err(|e| {
            format!("settings.memory must be {{\"collection\", \"namespace\"?, \"k\"?}}: {e}")
        })?;
        if spec.collection.is_empty() {
            return Err("settings.memory.collection must name a collection".into());
        }
        if spec.k == 0 || spec.k > MAX_K {
            return Err(format!("settings.memory.k must be between 1 and {MAX_K}"));
        }
        Ok(Some(spec))
    }
}

/// The text memory is searched with: the latest user message.
#[cfg_attr(not(feature = "vectors"), allow(dead_code))]
fn query_text(messages: &[ChatMessage]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.as_str())
        .filter(|t| !t.trim().is_empty())
}

/// The system message of what memory holds about the conversation; none
/// when there is nothing to search with or nothing was found.
#[cfg(feature = "vectors")]
pub async fn recall(
    rt: &Arc<dyn JobHost>,
    tenant: &Tenant,
    memory: &MemorySpec,
    messages: &[ChatMessage],
) -> Result<Option<ChatMessage>, JobError> {
    use crate::bindings::llm::CallOptions;
    use crate::bindings::llm_types::EmbedRequest;
    use crate::vectors::{Query, Scope, VectorError};

    let Some(text) = query_text(messages) else {
        return Ok(None);
    };
    let store_error = |e: VectorError| match e {
        VectorError::NotFound(name) => JobError::new(
            "memory_not_found",
            format!(
                "the agent's memory, collection `{name}` (namespace `{}`), does not exist",
                memory.namespace
            ),
            false,
        ),
        VectorError::Invalid(m) => JobError::new("invalid_memory", m, false),
        e => JobError::new("store_error", e.to_string(), true),
    };
    let store = rt.vectors().store().await.map_err(store_error)?;
    let collection = store
        .get(
            &Scope::new(tenant.as_str(), memory.namespace.as_str()),
            &memory.collection,
        )
        .await
        .map_err(store_error)?;
    let vector = match &collection.spec().model {
        Some(model) => {
            let request = EmbedRequest {
                model: model.clone(),
                inputs: vec![text.to_string()],
                dimensions: None,
            };
            let result = rt
                .router()
                .embed(
                    tenant.clone(),
                    request,
                    CallOptions {
                        bypass_cache: false,
                    },
                )
                .await
                .map_err(super::run::llm_error)?;
            result.response.embeddings.into_iter().next()
        }
        None => None,
    };
    let hits = collection
        .search(&Query {
            vector,
            text: Some(text.to_string()),
            filter: None,
            k: Some(memory.k as usize),
        })
        .await
        .map_err(store_error)?;
    let lines: Vec<String> = hits
        .iter()
        .filter_map(|h| {
            let text = h.text.as_deref()?;
            let mut end = text.len().min(MAX_HIT_TEXT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Some(format!("- {}", &text[..end]))
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChatMessage::text(
        "system",
        format!(
            "Relevant entries from memory (collection `{}`), most relevant first:\n{}",
            memory.collection,
            lines.join("\n")
        ),
    )))
}

#[cfg(not(feature = "vectors"))]
pub async fn recall(
    _: &Arc<dyn JobHost>,
    _: &Tenant,
    _: &MemorySpec,
    _: &[ChatMessage],
) -> Result<Option<ChatMessage>, JobError> {
    Err(JobError::new(
        "memory_unavailable",
        crate::vectors::NOT_BUILT,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_name_a_memory_or_say_what_is_wrong() {
        assert_eq!(MemorySpec::from_settings(&json!({})), Ok(None));
        assert_eq!(
            MemorySpec::from_settings(&json!({"memory": {"collection": "notes"}})),
            Ok(Some(MemorySpec {
                collection: "notes".into(),
                namespace: String::new(),
                k: 4
            }))
        );
        for bad in [
            json!({"memory": "notes"}),
            json!({"memory": {"collection": ""}}),
            json!({"memory": {"collection": "n", "k": 0}}),
            json!({"memory": {"collection": "n", "k": 51}}),
            json!({"memory": {"collection": "n", "other": 1}}),
        ] {
            assert!(MemorySpec::from_settings(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_latest_user_message_is_the_query() {
        let messages = [
            ChatMessage::text("system", "be brief"),
            ChatMessage::text("user", "first"),
            ChatMessage::text("assistant", "ok"),
            ChatMessage::text("user", "second"),
            ChatMessage::text("tool", "result"),
        ];
        assert_eq!(query_text(&messages), Some("second"));
        assert_eq!(query_text(&messages[..1]), None);
    }
}
