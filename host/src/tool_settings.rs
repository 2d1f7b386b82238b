//! The operator's settings for single tools, whichever plugin serves them:
//! `[tools.<name>]` in node.toml, and changes made while the node serves
//! (`/v2/tool-settings`, admin level). A change is kept in the node's redb
//! file, so it outlives a restart; the fields it sets win over node.toml's,
//! and deleting it gives the tool node.toml's settings back. Reads are a
//! lock-free snapshot: every tool call and listing asks.
//!
//! | method | path | does |
//! | --- | --- | --- |
//! | GET | `/v2/tool-settings` | every loaded or configured tool's settings |
//! | GET | `/v2/tool-settings/{name}` | one tool's |
//! | PUT | `/v2/tool-settings/{name}` | replaces the tool's run-time change |
//! | DELETE | `/v2/tool-settings/{name}` | drops it: node.toml's settings again |

use crate::error::ApiError;
use arc_swap::ArcSwap;
use http::{Method, StatusCode};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Run-time changes by tool name, JSON.
const CHANGES: TableDefinition<&str, &[u8]> = TableDefinition::new("tool_settings");

/// The most tools a node keeps run-time changes for.
const MAX_CHANGES: usize = 10_000;

/// One tool's settings, on top of its plugin's limits.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolPolicy {
    /// Off: the tool is offered to no one (listings, agents, calls) while
    /// its plugin serves its other tools.
    pub enabled: bool,
    /// A call of it runs at most this long (under its plugin's `timeout_ms`).
    pub timeout_ms: Option<u64>,
    /// Off: its calls reach no host, whatever its plugin was granted.
    pub network: bool,
    /// A call of it holds at most this much linear memory (under its
    /// plugin's `memory_mb`).
    pub memory_mb: Option<u64>,
}

impl Default for ToolPolicy {
    fn default() -> Self {
        ToolPolicy {
            enabled: true,
            timeout_ms: None,
            network: true,
            memory_mb: None,
        }
    }
}

impl ToolPolicy {
    /// What is wrong with the settings of tool `name`, in words.
    pub fn problem(&self, name: &str) -> Option<String> {
        if self.timeout_ms == Some(0) {
            return Some(format!("tools.{name}.timeout_ms: must be more than 0"));
        }
        if self.memory_mb == Some(0) {
            return Some(format!("tools.{name}.memory_mb: must be more than 0"));
        }
        None
    }
}

/// A run-time change of one tool's settings: the fields it sets replace
/// node.toml's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

impl ToolChange {
    fn over(&self, base: ToolPolicy) -> ToolPolicy {
        ToolPolicy {
            enabled: self.enabled.unwrap_or(base.enabled),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            network: self.network.unwrap_or(base.network),
            memory_mb: self.memory_mb.or(base.memory_mb),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("tool settings store: {0}")]
pub struct StoreError(String);

macro_rules! store_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError(e.to_string())
            }
        }
    )*};
}
store_err!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub struct ToolSettings {
    /// node.toml's `[tools.<name>]`.
    file: BTreeMap<String, ToolPolicy>,
    changes: ArcSwap<BTreeMap<String, ToolChange>>,
    db: Arc<Database>,
    /// One writer at a time: a change is stored, then published.
    write: Mutex<()>,
}

impl ToolSettings {
    /// node.toml's settings and the changes stored in `db`.
    pub fn open(
        file: BTreeMap<String, ToolPolicy>,
        db: Arc<Database>,
    ) -> Result<ToolSettings, StoreError> {
        let tx = db.begin_write()?;
        let mut changes = BTreeMap::new();
        {
            let table = tx.open_table(CHANGES)?;
            for entry in table.iter()? {
                let (name, value) = entry?;
                match serde_json::from_slice::<ToolChange>(value.value()) {
                    Ok(change) => {
                        changes.insert(name.value().to_string(), change);
                    }
                    // Written by this module, so only a newer node's: skipped, not lost.
                    Err(e) => {
                        tracing::warn!(tool = name.value(), %e, "tool settings: a stored change is not readable; ignored")
                    }
                }
            }
        }
        tx.commit()?;
        Ok(ToolSettings {
            file,
            changes: ArcSwap::from_pointee(changes),
            db,
            write: Mutex::new(()),
        })
    }

    /// The settings of tool `name` now.
    pub fn get(&self, name: &str) -> ToolPolicy {
        let base = self.file.get(name).copied().unwrap_or_default();
        match self.changes.load().get(name) {
            Some(change) => change.over(base),
            None => base,
        }
    }

    /// Replaces tool `name`'s run-time change (`None`: drops it).
    pub fn set(&self, name: &str, change: Option<ToolChange>) -> Result<(), StoreError> {
        let _guard = crate::lock(&self.write);
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(CHANGES)?;
            match &change {
                Some(c) => {
                    let bytes = serde_json::to_vec(c).expect("a change serializes");
                    table.insert(name, bytes.as_slice())?;
                }
                None => {
                    table.remove(name)?;
                }
            }
        }
        tx.commit()?;
        let mut changes = (**self.changes.load()).clone();
        match change {
            Some(c) => changes.insert(name.to_string(), c),
            None => changes.remove(name),
        };
        self.changes.store(Arc::new(changes));
        Ok(())
    }

    /// One tool's settings as the admin routes show them: what holds now,
    /// node.toml's and the run-time change.
    fn view(&self, name: &str, loaded: bool) -> Value {
        json!({
            "name": name,
            "loaded": loaded,
            "settings": self.get(name),
            "node_toml": self.file.get(name),
            "change": self.changes.load().get(name),
        })
    }

    /// Serves `/v2/tool-settings[/{name}]`; `loaded` holds the names of the
    /// tools loaded now (any scope).
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        body: &[u8],
        loaded: &BTreeSet<String>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let rest = path.strip_prefix("/v2/tool-settings").unwrap_or(path);
        let name = match rest {
            "" | "/" => {
                if method != Method::GET {
                    return Err(ApiError::method_not_allowed(method, path));
                }
                let changes = self.changes.load();
                let names: BTreeSet<&str> = loaded
                    .iter()
                    .map(String::as_str)
                    .chain(self.file.keys().map(String::as_str))
                    .chain(changes.keys().map(String::as_str))
                    .collect();
                let tools: Vec<Value> = names
                    .into_iter()
                    .map(|n| self.view(n, loaded.contains(n)))
                    .collect();
                return Ok((StatusCode::OK, json!({ "tools": tools })));
            }
            r => &r[1..],
        };
        if name.is_empty() || name.len() > 128 || name.contains(['/', ' ']) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a tool name is 1-128 characters, without `/` or spaces",
            ));
        }
        let is_loaded = loaded.contains(name);
        let stored = |e: StoreError| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                e.to_string(),
            )
        };
        match *method {
            Method::GET => Ok((StatusCode::OK, self.view(name, is_loaded))),
            Method::PUT => {
                let change: ToolChange = serde_json::from_slice(body).map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!(
                            "invalid JSON body (fields: enabled, timeout_ms, network, memory_mb): {e}"
                        ),
                    )
                })?;
                if let Some(problem) = change.over(ToolPolicy::default()).problem(name) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        problem,
                    ));
                }
                // Any name may be set ahead of the plugin that serves it, but
                // not without bound.
                let full = {
                    let changes = self.changes.load();
                    !changes.contains_key(name) && changes.len() >= MAX_CHANGES
                };
                if !is_loaded && full {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "too_many_tool_settings",
                        format!("at most {MAX_CHANGES} tools have run-time settings"),
                    ));
                }
                self.set(name, Some(change)).map_err(stored)?;
                tracing::info!(tool = name, ?change, "tool settings changed");
                Ok((StatusCode::OK, self.view(name, is_loaded)))
            }
            Method::DELETE => {
                self.set(name, None).map_err(stored)?;
                tracing::info!(tool = name, "tool settings: run-time change dropped");
                Ok((StatusCode::OK, self.view(name, is_loaded)))
            }
            _ => Err(ApiError::method_not_allowed(method, path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path, file: BTreeMap<String, ToolPolicy>) -> ToolSettings {
        let db = Arc::new(Database::create(dir.join("node.redb")).unwrap());
        ToolSettings::open(file, db).unwrap()
    }

    #[test]
    fn a_change_wins_over_node_toml_outlives_a_restart_and_can_be_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = BTreeMap::from([(
            "fetch".to_string(),
            ToolPolicy {
                timeout_ms: Some(500),
                ..Default::default()
            },
        )]);
        let s = open(dir.path(), file.clone());
        assert_eq!(s.get("fetch").timeout_ms, Some(500));
        assert!(s.get("fetch").enabled && s.get("other").enabled);
        let change = ToolChange {
            enabled: Some(false),
            memory_mb: Some(16),
            ..Default::default()
        };
        s.set("fetch", Some(change)).unwrap();
        let now = s.get("fetch");
        assert!(!now.enabled);
        assert_eq!((now.timeout_ms, now.memory_mb), (Some(500), Some(16)));
        drop(s);

        let s = open(dir.path(), file);
        assert_eq!(s.get("fetch"), now, "the change outlives a restart");
        s.set("fetch", None).unwrap();
        assert!(s.get("fetch").enabled);
        assert_eq!(s.get("fetch").memory_mb, None);
    }

    #[test]
    fn the_routes_refuse_what_they_cannot_keep() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), BTreeMap::new());
        let loaded = BTreeSet::from(["echo".to_string()]);
        let code = |r: Result<(StatusCode, Value), ApiError>| match r {
            Ok((status, _)) => status.as_u16().to_string(),
            Err(e) => e.code.to_string(),
        };
        let path = "/v2/tool-settings/echo";
        assert_eq!(
            code(s.handle(&Method::PUT, path, b"{", &loaded)),
            "invalid_request"
        );
        assert_eq!(
            code(s.handle(&Method::PUT, path, br#"{"enabled":"no"}"#, &loaded)),
            "invalid_request"
        );
        assert_eq!(
            code(s.handle(&Method::PUT, path, br#"{"colour":1}"#, &loaded)),
            "invalid_request"
        );
        assert_eq!(
            code(s.handle(&Method::PUT, path, br#"{"timeout_ms":0}"#, &loaded)),
            "invalid_request"
        );
        assert_eq!(
            code(s.handle(&Method::POST, path, b"{}", &loaded)),
            "method_not_allowed"
        );
        assert_eq!(
            code(s.handle(&Method::GET, "/v2/tool-settings/a/b", b"", &loaded)),
            "invalid_request"
        );
        assert!(s.get("echo").enabled, "nothing refused was kept");
        let (_, listed) = s
            .handle(&Method::PUT, path, br#"{"enabled":false}"#, &loaded)
            .map(|_| {
                s.handle(&Method::GET, "/v2/tool-settings", b"", &loaded)
                    .unwrap()
            })
            .unwrap();
        assert_eq!(listed["tools"][0]["settings"]["enabled"], false);
        assert_eq!(listed["tools"][0]["change"], json!({"enabled": false}));
    }
}
