//! What the operator allows each tenant: `[tenants.<name>]` in node.toml.
//! Which plugins, tools and model aliases it may use, what its own plugins
//! (`<plugins>/tenants/<name>/`) may do, and its quotas
//! (requests and tokens per minute, a monthly spend budget, jobs running at
//! once, kv bytes, vector rows). A tenant without a section, or a key left out, gets the
//! node-wide default (`router.tenant_rpm`, `jobs.per_tenant`,
//! …; unlimited where there is none). Read once at start; looked up per call
//! by the tenant's name.

use crate::grants::PluginOverrides;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One tenant's section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantPolicy {
    /// Plugins the tenant may reach (API plugins' routes, providers through
    /// the router, tool plugins); absent: every plugin.
    pub plugins: Option<Vec<String>>,
    /// Tools it may list and invoke; absent: every tool.
    pub tools: Option<Vec<String>>,
    /// Model aliases it may ask the router for (`"openai/*"` for every
    /// model of a provider); absent: every alias.
    pub models: Option<Vec<String>>,
    /// LLM requests per minute (replaces `router.tenant_rpm`).
    pub rpm: Option<u64>,
    /// LLM tokens per minute (replaces `router.tenant_tpm`).
    pub tpm: Option<u64>,
    /// Spend per calendar month (UTC) in USD, from the router's cost
    /// accounting; past it LLM requests are refused (HTTP 402).
    pub budget_usd: Option<f64>,
    /// Jobs running at once (replaces `jobs.per_tenant`).
    pub max_running_jobs: Option<usize>,
    /// Bytes of kv data (keys and values) across its plugins' namespaces.
    pub kv_bytes: Option<u64>,
    /// Rows in its vector collections, every namespace (`hanzo:node/vectors`).
    pub vector_rows: Option<u64>,
    /// The operator's settings for the tenant's own plugins, by manifest
    /// name, like `[plugins.<name>]` for the node's; their outbound hosts
    /// are only those listed here (see `grants::for_tenant_plugin`).
    pub own_plugins: BTreeMap<String, PluginOverrides>,
}

/// Every tenant's section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct TenantPolicies(BTreeMap<String, TenantPolicy>);

/// The section of tenants the operator did not name.
static UNNAMED: TenantPolicy = TenantPolicy {
    plugins: None,
    tools: None,
    models: None,
    rpm: None,
    tpm: None,
    budget_usd: None,
    max_running_jobs: None,
    kv_bytes: None,
    vector_rows: None,
    own_plugins: BTreeMap::new(),
};

impl TenantPolicies {
    pub fn get(&self, tenant: &str) -> &TenantPolicy {
        self.0.get(tenant).unwrap_or(&UNNAMED)
    }

    /// Whether any tenant has an rpm or tpm of its own.
    pub fn any_rate_limit(&self) -> bool {
        self.0.values().any(|p| p.rpm.is_some() || p.tpm.is_some())
    }

    /// Whether any tenant has a spend budget.
    pub fn any_budget(&self) -> bool {
        self.0.values().any(|p| p.budget_usd.is_some())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Problems an operator should fix before the node starts.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in &self.0 {
            for (plugin, o) in &p.own_plugins {
                if let Some(problem) = o.problem(&format!("tenants.{name}.own_plugins.{plugin}")) {
                    return Err(problem);
                }
            }
            if p.max_running_jobs == Some(0) {
                return Err(format!(
                    "tenants.{name}.max_running_jobs must be at least 1"
                ));
            }
            if let Some(b) = p.budget_usd
                && !(b.is_finite() && b >= 0.0)
            {
                return Err(format!(
                    "tenants.{name}.budget_usd must be a non-negative number"
                ));
            }
            for (key, list) in [
                ("plugins", &p.plugins),
                ("tools", &p.tools),
                ("models", &p.models),
            ] {
                for pattern in list.iter().flatten() {
                    if pattern.is_empty() || pattern[..pattern.len() - 1].contains('*') {
                        return Err(format!(
                            "tenants.{name}.{key}: `{pattern}` is not a name or a prefix \
                             ending in `*`"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl TenantPolicy {
    pub fn allows_plugin(&self, plugin: &str) -> bool {
        allowed(&self.plugins, plugin)
    }

    pub fn allows_tool(&self, tool: &str) -> bool {
        allowed(&self.tools, tool)
    }

    pub fn allows_model(&self, alias: &str) -> bool {
        allowed(&self.models, alias)
    }
}

/// `name` is in `list` (exactly, or under a `prefix*`); no list allows all.
fn allowed(list: &Option<Vec<String>>, name: &str) -> bool {
    let Some(list) = list else { return true };
    list.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(toml: &str) -> TenantPolicies {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn allow_lists_match_names_and_prefixes() {
        let p = policies(
            r#"
            [acme]
            models = ["gpt-4o-mini", "openai/*"]
            tools = []
            "#,
        );
        let acme = p.get("acme");
        assert!(acme.allows_model("gpt-4o-mini"));
        assert!(acme.allows_model("openai/gpt-4o"));
        assert!(!acme.allows_model("gpt-4o"));
        assert!(!acme.allows_model("anthropic/claude"));
        assert!(
            !acme.allows_tool("calculator"),
            "an empty list allows nothing"
        );
        assert!(acme.allows_plugin("anything"), "no list allows everything");
        assert!(p.get("other").allows_model("gpt-4o"));
    }

    #[test]
    fn bad_sections_are_refused() {
        assert!(toml::from_str::<TenantPolicies>("[a]\nrpm = 5\nlimit = 3\n").is_err());
        let bad = policies("[a]\nbudget_usd = -1.0\n");
        assert!(bad.validate().unwrap_err().contains("tenants.a.budget_usd"));
        let bad = policies("[a]\nmodels = [\"open*ai\"]\n");
        assert!(bad.validate().unwrap_err().contains("tenants.a.models"));
        assert!(policies("[a]\nmodels = [\"*\"]\n").validate().is_ok());
    }
}
