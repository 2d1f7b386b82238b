//! A deployment: one way to serve an alias (a provider plugin and its
//! upstream model), with its credential overlay (settings and secrets), its
//! live state (breaker, rpm/tpm windows, latency) and its prices.

use super::breaker::Breaker;
use super::config::{DeploymentConfig, RouterConfig};
use super::parse_capability;
use super::window::MinuteWindow;
use crate::bindings::llm::Route;
use crate::bindings::llm_types::{Capabilities, Usage as TokenUsage};
use crate::context::Overlay;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A deployment's secret value: a literal, or `env:NAME`'s variable. An
/// unset variable leaves the secret unset (never the plugin-level value).
fn resolve_secret(deployment: &str, name: &str, value: &str) -> Option<String> {
    let Some(var) = value.strip_prefix("env:") else {
        return Some(value.to_string());
    };
    let found = std::env::var(var).ok();
    if found.is_none() {
        tracing::warn!(
            deployment,
            secret = name,
            variable = var,
            "the deployment's secret reads an unset environment variable: its calls get no value for it"
        );
    }
    found
}

/// One way to serve an alias, with its live state.
pub struct Deployment {
    pub name: String,
    pub alias: String,
    pub provider: String,
    pub model: String,
    pub priority: u32,
    pub weight: u32,
    pub input_price_per_mtok: Option<f64>,
    pub output_price_per_mtok: Option<f64>,
    /// None: not declared, so not filtered on.
    pub capabilities: Option<Capabilities>,
    pub context_length: u32,
    /// The privacy tier the node must prove to serve it.
    pub tier: u8,
    /// GPU memory (MiB) it needs free.
    pub gpu_memory_mb: Option<u64>,
    pub(super) overlay: Option<Arc<Overlay>>,
    pub breaker: Breaker,
    pub(super) rpm: MinuteWindow,
    pub(super) tpm: MinuteWindow,
    /// Moving average of successful call latency in µs (f64 bits; 0 = none yet).
    latency_us: AtomicU64,
}

impl Deployment {
    pub(super) fn new(c: &DeploymentConfig, router: &RouterConfig) -> Deployment {
        // A deployment that sets nothing calls the plugin as it is; one that
        // sets settings or secrets is its own credential scope.
        let overlay = (!c.config.is_empty() || !c.secrets.is_empty()).then(|| {
            Arc::new(Overlay {
                settings: c
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::context::config_value_string(v)))
                    .collect(),
                secrets: c
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), resolve_secret(&c.name(), k, v)))
                    .collect(),
                inherit_secrets: c.inherit_secrets,
            })
        });
        Deployment {
            name: c.name(),
            alias: c.alias.clone(),
            provider: c.provider.clone(),
            model: c.model.clone(),
            priority: c.priority,
            weight: c.weight,
            input_price_per_mtok: c.input_price_per_mtok,
            output_price_per_mtok: c.output_price_per_mtok,
            capabilities: c.capabilities.as_ref().map(|list| {
                list.iter()
                    .filter_map(|n| parse_capability(n))
                    .fold(Capabilities::empty(), |a, b| a | b)
            }),
            context_length: c.context_length,
            tier: c.tier,
            gpu_memory_mb: c.gpu_memory_mb,
            overlay,
            breaker: Breaker::new(
                router.breaker.failure_threshold,
                Duration::from_millis(router.breaker.open_ms),
            ),
            rpm: MinuteWindow::new(c.rpm),
            tpm: MinuteWindow::new(c.tpm),
            latency_us: AtomicU64::new(0),
        }
    }

    /// A deployment for a `provider/model` alias that no configuration names.
    pub(super) fn implicit(
        alias: &str,
        provider: &str,
        model: &str,
        router: &RouterConfig,
    ) -> Deployment {
        Deployment::new(
            &DeploymentConfig {
                name: Some(alias.to_string()),
                alias: alias.to_string(),
                provider: provider.to_string(),
                model: model.to_string(),
                priority: 0,
                weight: 1,
                rpm: 0,
                tpm: 0,
                input_price_per_mtok: None,
                output_price_per_mtok: None,
                capabilities: None,
                context_length: 0,
                config: BTreeMap::new(),
                secrets: BTreeMap::new(),
                inherit_secrets: false,
                tier: 0,
                gpu_memory_mb: None,
            },
            router,
        )
    }

    pub(super) fn latency(&self) -> f64 {
        f64::from_bits(self.latency_us.load(Ordering::Relaxed))
    }

    pub(super) fn observe_latency(&self, took: Duration) {
        let sample = took.as_secs_f64() * 1e6;
        let old = self.latency();
        let new = if old == 0.0 {
            sample
        } else {
            old * 0.8 + sample * 0.2
        };
        self.latency_us.store(new.to_bits(), Ordering::Relaxed);
    }

    /// Price of a typical request (1:1 input and output), for lowest-cost.
    pub(super) fn unit_cost(&self) -> f64 {
        self.input_price_per_mtok.unwrap_or(f64::MAX / 4.0)
            + self.output_price_per_mtok.unwrap_or(f64::MAX / 4.0)
    }

    pub(super) fn cost(&self, usage: &TokenUsage) -> Option<f64> {
        Some(
            (usage.prompt_tokens as f64 * self.input_price_per_mtok?
                + usage.completion_tokens as f64 * self.output_price_per_mtok?)
                / 1e6,
        )
    }

    pub(super) fn can_serve(&self, needs: Capabilities, prompt_tokens: u64) -> bool {
        self.capabilities.is_none_or(|c| c.contains(needs))
            && (self.context_length == 0 || prompt_tokens <= self.context_length as u64)
    }

    pub(super) fn route(&self, attempts: u32, cached: bool, cost: Option<f64>) -> Route {
        Route {
            deployment: self.name.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            cached,
            attempts,
            cost_usd: cost,
        }
    }
}
