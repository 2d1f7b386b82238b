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
}

impl CallCtx {
    /// A top-level call for `tenant`.
    pub fn new(tenant: impl Into<Tenant>) -> CallCtx {
        CallCtx {
            tenant: tenant.into(),
            overlay: None,
            depth: 0,
            offline: false,
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

/// A config value as the string a plugin reads.
pub fn config_value_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
