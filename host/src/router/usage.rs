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

/// Where deployments past the bound are counted together.
pub const OTHER: &str = "(other)";

#[derive(Debug)]
pub struct Usage {
    tenants: Mutex<BTreeMap<String, Counters>>,
    deployments: Mutex<BTreeMap<String, Counters>>,
    /// Deployment names counted apart; later ones go to [`OTHER`]. Implicit
    /// deployments are named by the client's model string.
    max_deployments: usize,
}

impl Default for Usage {
    fn default() -> Self {
        Usage::new(10_000)
    }
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
    /// Usage counted for at most `max_deployments` deployment names.
    pub fn new(max_deployments: usize) -> Usage {
        Usage {
            tenants: Mutex::default(),
            deployments: Mutex::default(),
            max_deployments: max_deployments.max(1),
        }
    }

    pub fn record(&self, tenant: &str, deployment: Option<&str>, spent: Spent) {
        let apply = |c: &mut Counters| {
            c.requests += 1;
            c.errors += spent.error as u64;
            c.cache_hits += spent.cache_hit as u64;
            c.prompt_tokens += spent.prompt_tokens;
            c.completion_tokens += spent.completion_tokens;
            c.cost_usd += spent.cost_usd;
        };
        {
            let mut map = crate::lock(&self.tenants);
            match map.get_mut(tenant) {
                Some(c) => apply(c),
                None => apply(map.entry(tenant.to_string()).or_default()),
            }
        }
        if let Some(d) = deployment {
            let mut map = crate::lock(&self.deployments);
            if let Some(c) = map.get_mut(d) {
                apply(c);
            } else if map.len() < self.max_deployments {
                apply(map.entry(d.to_string()).or_default());
            } else {
                apply(map.entry(OTHER.to_string()).or_default());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_past_the_bound_are_counted_together() {
        let u = Usage::new(2);
        for d in ["a", "b", "c", "d", "a"] {
            u.record("t", Some(d), Spent::default());
        }
        assert_eq!(u.deployment("a").requests, 2);
        assert_eq!(u.deployment("b").requests, 1);
        assert_eq!(u.deployment("c").requests, 0);
        assert_eq!(u.deployment(OTHER).requests, 2);
        assert_eq!(u.tenant("t").requests, 5);
    }
}
