//! The router's part of `node.toml`: deployments, per-alias strategies,
//! retries, circuit breaking, limits and the response cache.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// How long a cached answer is served; 0 disables the cache.
    pub cache_ttl_s: u64,
    /// Entries kept in the response cache.
    pub cache_max_entries: u64,
    /// Megabytes the response cache holds at most (answers weighed by size).
    pub cache_max_mb: u64,
    /// `provider/model` aliases (no deployment configured) the router keeps
    /// state for (circuit, usage); the least recently used go beyond it.
    pub max_implicit_models: u64,
    /// Requests per minute per tenant (0: unlimited).
    pub tenant_rpm: u64,
    /// Tokens per minute per tenant (0: unlimited).
    pub tenant_tpm: u64,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            cache_ttl_s: 300,
            cache_max_entries: 10_000,
            cache_max_mb: 256,
            max_implicit_models: 1000,
            tenant_rpm: 0,
            tenant_tpm: 0,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Retries with exponential backoff and jitter (the seed's RetryConfig).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Upstream calls per request, failover included.
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub multiplier: f64,
    /// Each delay is varied by up to this fraction, up or down.
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_delay_ms: 1000,
            max_delay_ms: 60_000,
            multiplier: 2.0,
            randomization_factor: 0.1,
        }
    }
}

/// Most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest delay between attempts: one day.
pub const MAX_DELAY_MS: u64 = 86_400_000;

/// Checks a retry policy's numbers, naming the field (`{prefix}.{field}`)
/// that is out of bounds. `randomization` is the jitter field's name.
pub fn check_retry(
    prefix: &str,
    max_attempts: u32,
    initial_delay_ms: u64,
    max_delay_ms: u64,
    multiplier: f64,
    (randomization, randomization_value): (&str, f64),
) -> Result<(), String> {
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(format!(
            "{prefix}.max_attempts must be between 1 and {MAX_ATTEMPTS}"
        ));
    }
    for (field, value) in [
        ("initial_delay_ms", initial_delay_ms),
        ("max_delay_ms", max_delay_ms),
    ] {
        if !(1..=MAX_DELAY_MS).contains(&value) {
            return Err(format!(
                "{prefix}.{field} must be between 1 and {MAX_DELAY_MS} (one day)"
            ));
        }
    }
    if initial_delay_ms > max_delay_ms {
        return Err(format!(
            "{prefix}.initial_delay_ms must not exceed {prefix}.max_delay_ms"
        ));
    }
    if !(multiplier.is_finite() && (1.0..=1000.0).contains(&multiplier)) {
        return Err(format!(
            "{prefix}.multiplier must be a number between 1 and 1000"
        ));
    }
    if !(0.0..=1.0).contains(&randomization_value) {
        return Err(format!("{prefix}.{randomization} must be between 0 and 1"));
    }
    Ok(())
}

impl RetryConfig {
    /// Checks the bounds, naming the field of `router.retry` at fault.
    pub fn validate(&self) -> Result<(), String> {
        check_retry(
            "router.retry",
            self.max_attempts,
            self.initial_delay_ms,
            self.max_delay_ms,
            self.multiplier,
            ("randomization_factor", self.randomization_factor),
        )
    }

    /// The delay before retry number `retry` (1-based) of the same deployment.
    pub fn delay(&self, retry: u32) -> std::time::Duration {
        let base =
            self.initial_delay_ms as f64 * self.multiplier.powi(retry.saturating_sub(1) as i32);
        let base = base.min(self.max_delay_ms as f64);
        let jitter = 1.0 + self.randomization_factor * (fastrand::f64() * 2.0 - 1.0);
        std::time::Duration::from_secs_f64((base * jitter).max(0.0) / 1000.0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures in a row that open a deployment's circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before a trial call.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_ms: 30_000,
        }
    }
}

/// How an alias chooses among its deployments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Lowest `priority` first; equal priorities by weight.
    #[default]
    Priority,
    /// At random, in proportion to `weight`.
    Weighted,
    /// Cheapest by the deployment's prices.
    LowestCost,
    /// Fastest by the moving average of recent latencies.
    LowestLatency,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AliasConfig {
    pub strategy: Strategy,
}

/// One way to serve an alias: a provider plugin and its upstream model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Unique name; defaults to `alias@provider/model`.
    #[serde(default)]
    pub name: Option<String>,
    /// The model name clients ask for.
    pub alias: String,
    /// The provider plugin's name.
    pub provider: String,
    /// The upstream model id.
    pub model: String,
    #[serde(default)]
    pub priority: u32,
    #[serde(default = "one")]
    pub weight: u32,
    /// Requests per minute (0: unlimited).
    #[serde(default)]
    pub rpm: u64,
    /// Tokens per minute (0: unlimited).
    #[serde(default)]
    pub tpm: u64,
    #[serde(default)]
    pub input_price_per_mtok: Option<f64>,
    #[serde(default)]
    pub output_price_per_mtok: Option<f64>,
    /// chat, streaming, tools, vision, json-mode, embeddings; unset: not filtered.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Context window in tokens (0: unknown, not checked).
    #[serde(default)]
    pub context_length: u32,
    /// Plugin settings for calls through this deployment (e.g. `preset`, `base_url`).
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Values of the plugin's declared secrets for this deployment: a literal,
    /// or `env:NAME` to read an environment variable. A deployment that sets
    /// `config` or `secrets` gets only these (it may send them to another
    /// host); an `env:` variable that is unset leaves its secret unset.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Let the plugin-level secrets through for names `secrets` does not set
    /// (for a deployment whose `config` keeps the plugin's upstream).
    #[serde(default)]
    pub inherit_secrets: bool,
    /// The privacy tier the node must prove to serve this deployment
    /// (`crate::tee`): below it the router skips the deployment and says why.
    #[serde(default)]
    pub tier: u8,
    /// GPU memory (MiB) a GPU must have free for this deployment (a model
    /// served on the node itself): without it the router skips it.
    #[serde(default)]
    pub gpu_memory_mb: Option<u64>,
}

fn one() -> u32 {
    1
}

impl DeploymentConfig {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}@{}/{}", self.alias, self.provider, self.model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_bounds_name_the_field() {
        let ok = RetryConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = |edit: fn(&mut RetryConfig), field: &str| {
            let mut r = RetryConfig::default();
            edit(&mut r);
            let e = r.validate().unwrap_err();
            assert!(e.starts_with(&format!("router.retry.{field} ")), "{e}");
        };
        bad(|r| r.max_attempts = 0, "max_attempts");
        bad(|r| r.max_attempts = 101, "max_attempts");
        bad(|r| r.max_delay_ms = 0, "max_delay_ms");
        bad(|r| r.initial_delay_ms = 0, "initial_delay_ms");
        bad(|r| r.max_delay_ms = 86_400_001, "max_delay_ms");
        bad(|r| r.initial_delay_ms = 70_000, "initial_delay_ms");
        bad(|r| r.multiplier = 0.5, "multiplier");
        bad(|r| r.multiplier = f64::INFINITY, "multiplier");
        bad(|r| r.multiplier = f64::NAN, "multiplier");
        bad(|r| r.randomization_factor = 1.5, "randomization_factor");
        bad(
            |r| r.randomization_factor = f64::NAN,
            "randomization_factor",
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let r = RetryConfig {
            max_attempts: 5,
            initial_delay_ms: 100,
            max_delay_ms: 1000,
            multiplier: 2.0,
            randomization_factor: 0.1,
        };
        for _ in 0..100 {
            let d1 = r.delay(1).as_secs_f64() * 1000.0;
            let d3 = r.delay(3).as_secs_f64() * 1000.0;
            let d9 = r.delay(9).as_secs_f64() * 1000.0;
            assert!((90.0..=110.0).contains(&d1), "{d1}");
            assert!((360.0..=440.0).contains(&d3), "{d3}");
            assert!((900.0..=1100.0).contains(&d9), "{d9}");
        }
    }
}
