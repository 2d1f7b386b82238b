//! A plugin call's context: on whose behalf it runs (tenant), through which
//! router deployment (its settings overlay), and how deeply nested it is.

use crate::tenant::Tenant;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who a plugin call is for and how it was reached.
#[derive(Clone, Debug)]
pub struct CallCtx {
    pub tenant: Tenant,
    /// The router deployment's settings and secrets, for a provider call
    /// made through one.
    pub overlay: Option<Arc<Overlay>>,
    /// Nesting of tool invocations made through `hanzo:node/tools` (0: a
    /// call from outside any plugin).
    pub depth: u32,
    /// The call may reach no host, whatever its plugin was granted (the
    /// operator's `[tools.<name>] network = false`).
    pub offline: bool,
    /// The call's linear memory, all memories together, is held under this
    /// many MiB, below its plugin's limit (the operator's
    /// `[tools.<name>] memory_mb`).
    pub memory_mb: Option<u64>,
}

impl CallCtx {
    /// A top-level call for `tenant`.
    pub fn new(tenant: impl Into<Tenant>) -> CallCtx {
        CallCtx {
            tenant: tenant.into(),
            overlay: None,
            depth: 0,
            offline: false,
            memory_mb: None,
        }
    }

    /// The same call through a deployment's overlay.
    pub fn with_overlay(mut self, overlay: Option<Arc<Overlay>>) -> CallCtx {
        self.overlay = overlay;
        self
    }

    /// With no outbound network.
    pub fn offline(mut self) -> CallCtx {
        self.offline = true;
        self
    }

    /// With its linear memory held under `mb` MiB (or its plugin's limit,
    /// if lower).
    pub fn memory_capped(mut self, mb: Option<u64>) -> CallCtx {
        self.memory_mb = mb;
        self
    }

    /// At nesting depth `depth`.
    pub fn at_depth(mut self, depth: u32) -> CallCtx {
        self.depth = depth;
        self
    }
}

impl From<Tenant> for CallCtx {
    fn from(tenant: Tenant) -> CallCtx {
        CallCtx::new(tenant)
    }
}

impl From<&Tenant> for CallCtx {
    fn from(tenant: &Tenant) -> CallCtx {
        CallCtx::new(tenant.clone())
    }
}

impl From<&str> for CallCtx {
    fn from(tenant: &str) -> CallCtx {
        CallCtx::new(tenant)
    }
}

/// Plugin settings and secret values that a router deployment sets for the
/// calls made through it (e.g. another `base_url` and API key for the same
/// provider plugin). Its settings override the plugin's own. Its secrets
/// *replace* the plugin's: a deployment may point the plugin at another host,
/// so the plugin-level keys reach its calls only when it says so
/// (`inherit_secrets`).
#[derive(Debug, Default)]
pub struct Overlay {
    pub settings: BTreeMap<String, String>,
    /// The deployment's secret values; `None` for one whose `env:` variable
    /// was unset (it stays unset: the plugin's value is never used instead).
    pub secrets: BTreeMap<String, Option<String>>,
    /// Whether the plugin's own secrets show through for names the
    /// deployment does not set.
    pub inherit_secrets: bool,
}

impl Overlay {
    /// The value of a declared secret for a call through this deployment,
    /// given the plugin's own value.
    pub fn secret<'a>(&'a self, name: &str, plugin: Option<&'a String>) -> Option<&'a String> {
        match self.secrets.get(name) {
            Some(value) => value.as_ref(),
            None if self.inherit_secrets => plugin,
            None => None,
        }
    }
}

/// A config value as the string a plugin reads: a string as itself, any
/// other value as JSON, so that a plugin reads node.toml's arrays and tables
/// with the JSON parser it has (and `5`, `true`, `0.5` read as before).
pub fn config_value_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => toml_json(other).to_string(),
    }
}

/// A TOML value as JSON; a datetime, which JSON lacks, as its TOML text.
fn toml_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_json).collect()),
        toml::Value::Table(t) => {
            Json::Object(t.iter().map(|(k, v)| (k.clone(), toml_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::config_value_string;

    fn value(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {text}")).unwrap()["v"].clone()
    }

    #[test]
    fn settings_reach_plugins_as_strings_or_json() {
        assert_eq!(config_value_string(&value(r#""a b""#)), "a b");
        assert_eq!(config_value_string(&value("5")), "5");
        assert_eq!(config_value_string(&value("true")), "true");
        assert_eq!(config_value_string(&value("0.5")), "0.5");
        let table = config_value_string(&value(r#"[{ name = "x", tags = ["a"], n = 2 }]"#));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&table).unwrap(),
            serde_json::json!([{"name": "x", "tags": ["a"], "n": 2}])
        );
        assert_eq!(config_value_string(&value("1979-05-27")), "\"1979-05-27\"");
    }
}
