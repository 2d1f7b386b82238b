//! Token usage and cost accounting, per tenant and per deployment, served at
//! `GET /v2/usage` and logged per request.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counters {
    pub requests: u64,
    pub errors: u64,
    pub cache_hits: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Default)]
pub struct Usage {
    tenants: Mutex<BTreeMap<String, Counters>>,
    deployments: Mutex<BTreeMap<String, Counters>>,
}

/// What one request used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub cache_hit: bool,
    pub error: bool,
}

impl Usage {
    pub fn record(&self, tenant: &str, deployment: Option<&str>, spent: Spent) {
        let apply = |c: &mut Counters| {
            c.requests += 1;
            c.errors += spent.error as u64;
            c.cache_hits += spent.cache_hit as u64;
            c.prompt_tokens += spent.prompt_tokens;
            c.completion_tokens += spent.completion_tokens;
            c.cost_usd += spent.cost_usd;
        };
        apply(
            crate::lock(&self.tenants)
                .entry(tenant.to_string())
                .or_default(),
        );
        if let Some(d) = deployment {
            apply(
                crate::lock(&self.deployments)
                    .entry(d.to_string())
                    .or_default(),
            );
        }
    }

    pub fn tenant(&self, tenant: &str) -> Counters {
        crate::lock(&self.tenants)
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }

    pub fn deployment(&self, name: &str) -> Counters {
        crate::lock(&self.deployments)
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "tenants": &*crate::lock(&self.tenants),
            "deployments": &*crate::lock(&self.deployments),
        })
    }
}
