//! The LLM router behind `hanzo:node/llm`: model aliases mapped to deployments
//! (a provider plugin and its upstream model); capability matching, a strategy
//! per alias, failover on retryable errors, retries with exponential backoff
//! and jitter, a circuit breaker per deployment, rpm/tpm limits per deployment
//! and per tenant, an exact-match response cache, and usage accounting.

pub mod breaker;
pub mod config;
mod providers;
pub mod usage;
pub mod window;

use crate::bindings::llm::{CallOptions, ChatResult, EmbedResult, LlmError, Model, Route};
use crate::bindings::llm_types::{
    Capabilities, ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ProviderError,
    RateLimit, Usage as TokenUsage,
};
use crate::context::{CallCtx, Overlay};
use crate::error::CallError;
use crate::error::ProviderCallError;
use crate::tenant::{NODE_TENANT, Tenant};
use breaker::Breaker;
use config::{DeploymentConfig, RouterConfig, Strategy};
pub use providers::{ProviderStream, Providers};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use usage::{Spent, Usage};
use window::MinuteWindow;

/// A capability by its configuration name.
pub fn parse_capability(name: &str) -> Option<Capabilities> {
    Some(match name {
        "chat" => Capabilities::CHAT,
        "streaming" => Capabilities::STREAMING,
        "tools" => Capabilities::TOOLS,
        "vision" => Capabilities::VISION,
        "json-mode" => Capabilities::JSON_MODE,
        "embeddings" => Capabilities::EMBEDDINGS,
        _ => return None,
    })
}

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
    overlay: Option<Arc<Overlay>>,
    pub breaker: Breaker,
    rpm: MinuteWindow,
    tpm: MinuteWindow,
    /// Moving average of successful call latency in µs (f64 bits; 0 = none yet).
    latency_us: AtomicU64,
}

impl Deployment {
    fn new(c: &DeploymentConfig, router: &RouterConfig) -> Deployment {
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
    fn implicit(alias: &str, provider: &str, model: &str, router: &RouterConfig) -> Deployment {
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
            },
            router,
        )
    }

    fn latency(&self) -> f64 {
        f64::from_bits(self.latency_us.load(Ordering::Relaxed))
    }

    fn observe_latency(&self, took: Duration) {
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
    fn unit_cost(&self) -> f64 {
        self.input_price_per_mtok.unwrap_or(f64::MAX / 4.0)
            + self.output_price_per_mtok.unwrap_or(f64::MAX / 4.0)
    }

    fn cost(&self, usage: &TokenUsage) -> Option<f64> {
        Some(
            (usage.prompt_tokens as f64 * self.input_price_per_mtok?
                + usage.completion_tokens as f64 * self.output_price_per_mtok?)
                / 1e6,
        )
    }

    fn can_serve(&self, needs: Capabilities, prompt_tokens: u64) -> bool {
        self.capabilities.is_none_or(|c| c.contains(needs))
            && (self.context_length == 0 || prompt_tokens <= self.context_length as u64)
    }

    fn route(&self, attempts: u32, cached: bool, cost: Option<f64>) -> Route {
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

/// What the router does after a failed upstream call.
#[derive(Debug, PartialEq)]
enum Disposition {
    /// The request itself is wrong: no other deployment will do better.
    Fatal,
    /// Try another deployment, but not this one again for this request.
    Failover,
    /// Try another deployment, or this one again after the delay.
    Retry(Option<Duration>),
}

fn disposition(e: &ProviderCallError) -> Disposition {
    match e {
        ProviderCallError::Provider(p) => match p {
            ProviderError::RateLimited(r) => Retry(r.retry_after_ms.map(Duration::from_millis)),
            ProviderError::UpstreamUnavailable(_) | ProviderError::Timeout(_) => Retry(None),
            // Another deployment may hold another key or another plugin version.
            ProviderError::Auth(_) | ProviderError::Internal(_) | ProviderError::NotFound(_) => {
                Failover
            }
            ProviderError::BadRequest(_) | ProviderError::ContextTooLong(_) => Fatal,
        },
        ProviderCallError::Call(c) => match c {
            CallError::Timeout { .. } | CallError::Busy { .. } => Retry(None),
            _ => Failover,
        },
    }
}
use Disposition::*;

fn llm_error(e: ProviderCallError) -> LlmError {
    match e {
        ProviderCallError::Provider(p) => LlmError::Provider(p),
        ProviderCallError::Call(c) => LlmError::Provider(match c {
            CallError::Timeout { .. } => ProviderError::Timeout(c.to_string()),
            CallError::Busy { .. } => ProviderError::UpstreamUnavailable(c.to_string()),
            other => ProviderError::Internal(other.to_string()),
        }),
    }
}

/// A rough token count for limits and context checks (≈ 4 bytes a token).
fn estimate_prompt_tokens(req: &ChatRequest) -> u64 {
    let chars: usize = req
        .messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.tool_calls
                    .iter()
                    .map(|t| t.arguments.len() + t.name.len())
                    .sum::<usize>()
        })
        .sum::<usize>()
        + req
            .tools
            .iter()
            .map(|t| t.parameters.len() + t.description.len())
            .sum::<usize>();
    (chars as u64).div_ceil(4)
}

fn needs_for_chat(req: &ChatRequest, stream: bool) -> Capabilities {
    let mut needs = Capabilities::CHAT;
    if stream {
        needs |= Capabilities::STREAMING;
    }
    if !req.tools.is_empty() {
        needs |= Capabilities::TOOLS;
    }
    if req.json_mode {
        needs |= Capabilities::JSON_MODE;
    }
    needs
}

struct TenantLimits {
    rpm: MinuteWindow,
    tpm: MinuteWindow,
}

type CacheKey = [u8; 32];
type ResponseCache<R> = moka::sync::Cache<CacheKey, Arc<(R, Route)>>;

/// Longest `provider/model` alias served without configuration: the alias
/// is a client's string, and the router keeps state under it.
const MAX_IMPLICIT_ALIAS: usize = 256;

/// Bytes an answer holds, roughly, for the response cache's weigher.
trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for ChatResponse {
    fn weight(&self) -> usize {
        let m = &self.message;
        256 + self.id.len()
            + self.model.len()
            + m.content.len()
            + m.tool_calls
                .iter()
                .map(|t| 64 + t.id.len() + t.name.len() + t.arguments.len())
                .sum::<usize>()
    }
}

impl Weight for EmbedResponse {
    fn weight(&self) -> usize {
        256 + self.model.len()
            + self
                .embeddings
                .iter()
                .map(|e| 24 + e.len() * 4)
                .sum::<usize>()
    }
}

pub struct Router {
    cfg: RouterConfig,
    by_alias: BTreeMap<String, Vec<Arc<Deployment>>>,
    strategies: BTreeMap<String, Strategy>,
    /// Deployments of `provider/model` aliases clients asked for, the least
    /// recently used dropped past `max_implicit_models`.
    implicit: moka::sync::Cache<String, Arc<Deployment>>,
    /// Per-tenant windows, only when a tenant limit is set; a tenant idle
    /// for two minutes has nothing left in its windows and is dropped.
    tenants: Option<moka::sync::Cache<Tenant, Arc<TenantLimits>>>,
    chat_cache: Option<ResponseCache<ChatResponse>>,
    embed_cache: Option<ResponseCache<EmbedResponse>>,
    /// Provider plugins' own model lists, by plugin hash, refreshed every few minutes.
    catalogs: moka::sync::Cache<String, Arc<Vec<crate::bindings::llm_types::ModelInfo>>>,
    pub usage: Usage,
    /// The provider plugins it routes to (the node's runtime, which owns
    /// the router: hence weak).
    providers: Weak<dyn Providers>,
}

impl Router {
    pub fn new(
        cfg: &RouterConfig,
        deployments: &[DeploymentConfig],
        aliases: &BTreeMap<String, config::AliasConfig>,
        providers: Weak<dyn Providers>,
    ) -> Router {
        let mut by_alias: BTreeMap<String, Vec<Arc<Deployment>>> = BTreeMap::new();
        for d in deployments {
            by_alias
                .entry(d.alias.clone())
                .or_default()
                .push(Arc::new(Deployment::new(d, cfg)));
        }
        // Weighed in bytes, each answer at least its share of the budget:
        // at most `cache_max_entries` answers and about `cache_max_mb` bytes.
        fn cache<R: Weight + Clone + Send + Sync + 'static>(
            cfg: &RouterConfig,
        ) -> Option<ResponseCache<R>> {
            let bytes = cfg.cache_max_mb.saturating_mul(1 << 20).max(1);
            let least = bytes / cfg.cache_max_entries.max(1);
            (cfg.cache_ttl_s > 0).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(bytes)
                    .weigher(move |_, v: &Arc<(R, Route)>| {
                        (v.0.weight() as u64).max(least).min(u32::MAX as u64) as u32
                    })
                    .time_to_live(Duration::from_secs(cfg.cache_ttl_s))
                    .build()
            })
        }
        let tenant_limited = cfg.tenant_rpm > 0 || cfg.tenant_tpm > 0;
        Router {
            cfg: cfg.clone(),
            strategies: aliases
                .iter()
                .map(|(k, v)| (k.clone(), v.strategy))
                .collect(),
            implicit: moka::sync::Cache::new(cfg.max_implicit_models.max(1)),
            tenants: tenant_limited.then(|| {
                moka::sync::Cache::builder()
                    .time_to_idle(Duration::from_secs(120))
                    .build()
            }),
            chat_cache: cache(cfg),
            embed_cache: cache(cfg),
            catalogs: moka::sync::Cache::builder()
                .max_capacity(256)
                .time_to_live(Duration::from_secs(300))
                .build(),
            // Configured deployments, the implicit ones kept, and one
            // "(other)" bucket past that.
            usage: Usage::new(
                by_alias.values().map(Vec::len).sum::<usize>()
                    + cfg.max_implicit_models.min(1 << 20) as usize,
            ),
            by_alias,
            providers,
        }
    }

    /// The context of a call through deployment `d` for `tenant`.
    fn ctx(&self, tenant: &Tenant, d: &Deployment) -> CallCtx {
        CallCtx::new(tenant.clone()).with_overlay(d.overlay.clone())
    }

    /// The provider plugins, unless the node is shutting down.
    fn providers(&self) -> Result<Arc<dyn Providers>, LlmError> {
        self.providers.upgrade().ok_or_else(|| {
            LlmError::Provider(ProviderError::UpstreamUnavailable(
                "the node is shutting down".into(),
            ))
        })
    }

    /// Every configured deployment with its live state, for `/v2/deployments`.
    pub fn status(&self) -> Vec<serde_json::Value> {
        self.by_alias
            .iter()
            .flat_map(|(alias, ds)| {
                let strategy = self.strategies.get(alias).copied().unwrap_or_default();
                ds.iter().map(move |d| {
                    serde_json::json!({
                        "name": d.name,
                        "alias": d.alias,
                        "strategy": strategy,
                        "provider": d.provider,
                        "model": d.model,
                        "priority": d.priority,
                        "weight": d.weight,
                        "circuit": d.breaker.state(),
                        "latency_ms": (d.latency() > 0.0).then(|| d.latency() / 1000.0),
                        "input_price_per_mtok": d.input_price_per_mtok,
                        "output_price_per_mtok": d.output_price_per_mtok,
                    })
                })
            })
            .collect()
    }

    /// The tenant's windows; none when no tenant limit is set.
    fn tenant_limits(&self, tenant: &Tenant) -> Option<Arc<TenantLimits>> {
        let tenants = self.tenants.as_ref()?;
        Some(tenants.get_with_by_ref(tenant, || {
            Arc::new(TenantLimits {
                rpm: MinuteWindow::new(self.cfg.tenant_rpm),
                tpm: MinuteWindow::new(self.cfg.tenant_tpm),
            })
        }))
    }

    /// Answers in the response caches (after pending evictions).
    pub fn cached_answers(&self) -> u64 {
        let chat = self.chat_cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        });
        let embed = self.embed_cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        });
        chat + embed
    }

    /// How many `provider/model` aliases the router holds state for.
    pub fn implicit_models(&self) -> u64 {
        self.implicit.run_pending_tasks();
        self.implicit.entry_count()
    }

    /// The deployments of an alias, or the implicit one of `provider/model`.
    /// The provider plugin that would serve `alias` first (for per-provider
    /// job limits), if the alias is known.
    pub fn provider_of(&self, alias: &str) -> Option<String> {
        self.deployments_of(alias)
            .ok()?
            .first()
            .map(|d| d.provider.clone())
    }

    fn deployments_of(&self, alias: &str) -> Result<Vec<Arc<Deployment>>, LlmError> {
        if let Some(list) = self.by_alias.get(alias) {
            return Ok(list.clone());
        }
        if let Some((provider, model)) = alias.split_once('/')
            && self
                .providers
                .upgrade()
                .is_some_and(|p| p.has_provider(provider))
        {
            if alias.len() > MAX_IMPLICIT_ALIAS {
                return Err(LlmError::UnknownModel(format!(
                    "model names longer than {MAX_IMPLICIT_ALIAS} bytes are not served"
                )));
            }
            let d = self.implicit.get_with_by_ref(alias, || {
                Arc::new(Deployment::implicit(alias, provider, model, &self.cfg))
            });
            return Ok(vec![d]);
        }
        Err(LlmError::UnknownModel(format!(
            "no deployment serves model `{alias}`"
        )))
    }

    /// Capable deployments of `alias` in the order its strategy prefers.
    fn candidates(
        &self,
        alias: &str,
        needs: Capabilities,
        prompt_tokens: u64,
    ) -> Result<Vec<Arc<Deployment>>, LlmError> {
        let all = self.deployments_of(alias)?;
        let mut capable: Vec<Arc<Deployment>> = all
            .into_iter()
            .filter(|d| d.can_serve(needs, prompt_tokens))
            .collect();
        if capable.is_empty() {
            return Err(LlmError::Unsupported(format!(
                "no deployment of `{alias}` supports this request (needs {needs:?}, ~{prompt_tokens} prompt tokens)"
            )));
        }
        let by_priority = |a: &Arc<Deployment>, b: &Arc<Deployment>| {
            a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight))
        };
        match self.strategies.get(alias).copied().unwrap_or_default() {
            Strategy::Priority => capable.sort_by(by_priority),
            Strategy::LowestCost => capable.sort_by(|a, b| {
                a.unit_cost()
                    .total_cmp(&b.unit_cost())
                    .then(by_priority(a, b))
            }),
            // Unmeasured deployments first, so each gets measured.
            Strategy::LowestLatency => {
                capable.sort_by(|a, b| a.latency().total_cmp(&b.latency()).then(by_priority(a, b)))
            }
            Strategy::Weighted => {
                // Weighted random order: repeatedly draw one in proportion to weight.
                let mut rest = capable;
                let mut ordered = Vec::with_capacity(rest.len());
                while !rest.is_empty() {
                    let total: u64 = rest.iter().map(|d| d.weight.max(1) as u64).sum();
                    let mut ticket = fastrand::u64(0..total);
                    let i = rest
                        .iter()
                        .position(|d| {
                            let w = d.weight.max(1) as u64;
                            if ticket < w {
                                true
                            } else {
                                ticket -= w;
                                false
                            }
                        })
                        .unwrap_or(0);
                    ordered.push(rest.remove(i));
                }
                capable = ordered;
            }
        }
        Ok(capable)
    }

    /// Runs `call` on deployments of `alias` until one succeeds: failover on
    /// retryable errors, retries of a deployment after backoff once every
    /// deployment was tried, at most `max_attempts` upstream calls.
    async fn drive<T, F, Fut>(
        &self,
        tenant: &Tenant,
        alias: &str,
        needs: Capabilities,
        prompt_tokens: u64,
        mut call: F,
    ) -> Result<(T, Arc<Deployment>, u32), LlmError>
    where
        F: FnMut(Arc<Deployment>) -> Fut,
        Fut: Future<Output = Result<T, ProviderCallError>>,
    {
        let candidates = self.candidates(alias, needs, prompt_tokens)?;
        if let Some(limits) = self.tenant_limits(tenant) {
            if let Err(wait) = limits.tpm.check(prompt_tokens) {
                return Err(rate_limited(
                    wait,
                    format!("tenant `{tenant}` is over its tokens-per-minute limit"),
                ));
            }
            if let Err(wait) = limits.rpm.take(1) {
                return Err(rate_limited(
                    wait,
                    format!("tenant `{tenant}` is over its requests-per-minute limit"),
                ));
            }
        }
        let max_attempts = self.cfg.retry.max_attempts.max(1);
        let mut attempts = 0u32;
        let mut tries: HashMap<&str, u32> = HashMap::new();
        let mut retry_after: HashMap<&str, Duration> = HashMap::new();
        let mut excluded: Vec<&str> = Vec::new();
        let mut last: Option<ProviderCallError> = None;
        let mut limited: Option<Duration> = None;
        while attempts < max_attempts {
            let usable = |d: &&Arc<Deployment>| {
                !excluded.contains(&d.name.as_str())
                    && d.breaker.state() != breaker::BreakerState::Open
                    && match d.rpm.check(1).and_then(|_| d.tpm.check(prompt_tokens)) {
                        Ok(()) => true,
                        Err(wait) => {
                            limited = Some(limited.map_or(wait, |l| l.min(wait)));
                            false
                        }
                    }
            };
            let pick = candidates
                .iter()
                .filter(usable)
                .min_by_key(|d| tries.get(d.name.as_str()).copied().unwrap_or(0))
                .cloned();
            let Some(d) = pick else { break };
            let name = candidates
                .iter()
                .find(|c| c.name == d.name)
                .map(|c| c.name.as_str())
                .unwrap_or("");
            let n = tries.get(name).copied().unwrap_or(0);
            if n > 0 {
                let backoff = self.cfg.retry.delay(n);
                let wait = retry_after.get(name).map_or(backoff, |r| (*r).max(backoff));
                tokio::time::sleep(wait.min(Duration::from_millis(self.cfg.retry.max_delay_ms)))
                    .await;
            }
            if !d.breaker.try_acquire() {
                // Half-open with its trial already running: not this one now.
                excluded.push(name);
                continue;
            }
            attempts += 1;
            *tries.entry(name).or_default() += 1;
            d.rpm.add(1);
            let started = Instant::now();
            match call(d.clone()).await {
                Ok(v) => {
                    d.breaker.success();
                    d.observe_latency(started.elapsed());
                    return Ok((v, d, attempts));
                }
                Err(e) => {
                    let disp = disposition(&e);
                    tracing::warn!(alias, deployment = %d.name, %tenant, attempt = attempts, error = %e, ?disp, "upstream call failed");
                    match disp {
                        Fatal => {
                            // The upstream answered properly; the request was wrong.
                            d.breaker.success();
                            self.usage.record(
                                tenant,
                                Some(&d.name),
                                Spent {
                                    error: true,
                                    ..Default::default()
                                },
                            );
                            return Err(llm_error(e));
                        }
                        Failover => {
                            d.breaker.failure();
                            excluded.push(name);
                        }
                        Retry(after) => {
                            d.breaker.failure();
                            if let Some(a) = after {
                                retry_after.insert(name, a);
                            }
                        }
                    }
                    last = Some(e);
                }
            }
        }
        self.usage.record(
            tenant,
            None,
            Spent {
                error: true,
                ..Default::default()
            },
        );
        Err(match (last, limited) {
            (Some(e), _) => llm_error(e),
            (None, Some(wait)) => rate_limited(
                wait,
                format!("every deployment of `{alias}` is at its rate limit"),
            ),
            (None, None) => LlmError::Provider(ProviderError::UpstreamUnavailable(format!(
                "every deployment of `{alias}` is unavailable (circuit open)"
            ))),
        })
    }

    fn charge(&self, tenant: &Tenant, d: &Deployment, usage: Option<&TokenUsage>) -> Option<f64> {
        let u = usage?;
        let total = u.total_tokens.max(u.prompt_tokens + u.completion_tokens) as u64;
        d.tpm.add(total);
        if let Some(limits) = self.tenant_limits(tenant) {
            limits.tpm.add(total);
        }
        let cost = d.cost(u);
        self.usage.record(
            tenant,
            Some(&d.name),
            Spent {
                prompt_tokens: u.prompt_tokens as u64,
                completion_tokens: u.completion_tokens as u64,
                cost_usd: cost.unwrap_or(0.0),
                ..Default::default()
            },
        );
        cost
    }

    fn cache_key(kind: &str, tenant: &str, request: &impl std::fmt::Debug) -> CacheKey {
        // Debug output of the generated types covers every field in a fixed order.
        let mut h = blake3::Hasher::new();
        h.update(kind.as_bytes());
        h.update(&(tenant.len() as u64).to_le_bytes());
        h.update(tenant.as_bytes());
        h.update(format!("{request:?}").as_bytes());
        *h.finalize().as_bytes()
    }

    /// Answers from the response cache when it holds the request, otherwise
    /// routes `call`, charges its usage and caches the answer.
    #[allow(clippy::too_many_arguments)]
    async fn cached_call<R, F, Fut>(
        &self,
        cache: Option<&ResponseCache<R>>,
        key: CacheKey,
        tenant: &Tenant,
        alias: &str,
        needs: Capabilities,
        prompt_tokens: u64,
        usage_of: fn(&R) -> Option<&TokenUsage>,
        call: F,
    ) -> Result<(R, Route), LlmError>
    where
        R: Clone + Send + Sync + 'static,
        F: FnMut(Arc<Deployment>) -> Fut,
        Fut: Future<Output = Result<R, ProviderCallError>>,
    {
        if let Some(hit) = cache.and_then(|c| c.get(&key)) {
            let spent = Spent {
                cache_hit: true,
                ..Default::default()
            };
            self.usage.record(tenant, Some(&hit.1.deployment), spent);
            let route = Route {
                cached: true,
                attempts: 0,
                cost_usd: Some(0.0),
                ..hit.1.clone()
            };
            return Ok((hit.0.clone(), route));
        }
        let (response, d, attempts) = self
            .drive(tenant, alias, needs, prompt_tokens, call)
            .await?;
        let cost = self.charge(tenant, &d, usage_of(&response));
        let route = d.route(attempts, false, cost);
        if let Some(c) = cache {
            c.insert(key, Arc::new((response.clone(), route.clone())));
        }
        Ok((response, route))
    }

    pub async fn chat(
        &self,
        tenant: Tenant,
        request: ChatRequest,
        options: CallOptions,
    ) -> Result<ChatResult, LlmError> {
        let cache = self.chat_cache.as_ref().filter(|_| !options.bypass_cache);
        let key = cache
            .map(|_| Self::cache_key("chat", &tenant, &request))
            .unwrap_or_default();
        let needs = needs_for_chat(&request, false);
        let prompt = estimate_prompt_tokens(&request);
        let providers = self.providers()?;
        let (response, route) = self
            .cached_call(
                cache,
                key,
                &tenant,
                &request.model,
                needs,
                prompt,
                |r: &ChatResponse| r.usage.as_ref(),
                |d| {
                    let mut req = request.clone();
                    req.model = d.model.clone();
                    let (providers, ctx) = (providers.clone(), self.ctx(&tenant, &d));
                    async move { providers.chat(&d.provider, ctx, &req).await }
                },
            )
            .await?;
        Ok(ChatResult { response, route })
    }

    pub async fn embed(
        &self,
        tenant: Tenant,
        request: EmbedRequest,
        options: CallOptions,
    ) -> Result<EmbedResult, LlmError> {
        let cache = self.embed_cache.as_ref().filter(|_| !options.bypass_cache);
        let key = cache
            .map(|_| Self::cache_key("embed", &tenant, &request))
            .unwrap_or_default();
        let prompt = (request.inputs.iter().map(|i| i.len()).sum::<usize>() as u64).div_ceil(4);
        let providers = self.providers()?;
        let (response, route) = self
            .cached_call(
                cache,
                key,
                &tenant,
                &request.model,
                Capabilities::EMBEDDINGS,
                prompt,
                |r: &EmbedResponse| r.usage.as_ref(),
                |d| {
                    let mut req = request.clone();
                    req.model = d.model.clone();
                    let (providers, ctx) = (providers.clone(), self.ctx(&tenant, &d));
                    async move { providers.embed(&d.provider, ctx, &req).await }
                },
            )
            .await?;
        Ok(EmbedResult { response, route })
    }

    /// Opens a stream on the first deployment that delivers a first chunk:
    /// failover and retries happen only before anything reached the client.
    pub async fn stream(
        self: &Arc<Self>,
        tenant: Tenant,
        request: ChatRequest,
    ) -> Result<RouterStream, LlmError> {
        let providers = self.providers()?;
        let alias = request.model.clone();
        let prompt = estimate_prompt_tokens(&request);
        let ((inner, first), d, attempts) = self
            .drive(
                &tenant,
                &alias,
                needs_for_chat(&request, true),
                prompt,
                |d| {
                    let mut req = request.clone();
                    req.model = d.model.clone();
                    let (providers, ctx) = (providers.clone(), self.ctx(&tenant, &d));
                    async move {
                        let mut s = providers.stream(&d.provider, ctx, &req).await?;
                        match s.next().await {
                            Some(Err(e)) => Err(e),
                            Some(Ok(c)) => Ok((s, Some(c))),
                            None => Ok((s, None)),
                        }
                    }
                },
            )
            .await?;
        Ok(RouterStream {
            router: self.clone(),
            route: d.route(attempts, false, None),
            deployment: d,
            tenant,
            first,
            inner: Some(inner),
            usage: None,
        })
    }

    /// Model aliases: the configured ones, then each provider plugin's own
    /// models as `provider/model`.
    pub async fn models(&self) -> Vec<Model> {
        let mut out: Vec<Model> = self
            .by_alias
            .iter()
            .map(|(alias, ds)| {
                let mut sorted = ds.clone();
                sorted.sort_by_key(|d| d.priority);
                let first = &sorted[0];
                Model {
                    id: alias.clone(),
                    owned_by: first.provider.clone(),
                    capabilities: ds
                        .iter()
                        .map(|d| {
                            d.capabilities
                                .unwrap_or(Capabilities::CHAT | Capabilities::STREAMING)
                        })
                        .fold(Capabilities::empty(), |a, b| a | b),
                    context_length: ds.iter().map(|d| d.context_length).max().unwrap_or(0),
                    input_price_per_mtok: first.input_price_per_mtok,
                    output_price_per_mtok: first.output_price_per_mtok,
                }
            })
            .collect();
        let Some(providers) = self.providers.upgrade() else {
            return out;
        };
        for (name, version) in providers.provider_versions() {
            let key = format!("{name}@{version}");
            let models = match self.catalogs.get(&key) {
                Some(m) => m,
                None => match providers.models(&name, CallCtx::new(NODE_TENANT)).await {
                    Ok(m) => {
                        let m = Arc::new(m);
                        self.catalogs.insert(key, m.clone());
                        m
                    }
                    Err(e) => {
                        tracing::debug!(plugin = %name, error = %e, "provider model list unavailable");
                        continue;
                    }
                },
            };
            for m in models.iter() {
                out.push(Model {
                    id: format!("{name}/{}", m.id),
                    owned_by: name.clone(),
                    capabilities: m.capabilities,
                    context_length: m.context_length,
                    input_price_per_mtok: m.input_price_per_mtok,
                    output_price_per_mtok: m.output_price_per_mtok,
                });
            }
        }
        out
    }
}

fn rate_limited(wait: Duration, message: String) -> LlmError {
    LlmError::RateLimited(RateLimit {
        retry_after_ms: Some(wait.as_millis() as u64),
        message,
    })
}

/// A routed stream: the deployment's chat stream, its first chunk already
/// pulled, with usage charged when the stream ends.
pub struct RouterStream {
    router: Arc<Router>,
    deployment: Arc<Deployment>,
    pub route: Route,
    tenant: Tenant,
    first: Option<ChatChunk>,
    inner: Option<Box<dyn ProviderStream>>,
    usage: Option<TokenUsage>,
}

impl RouterStream {
    pub async fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        let item = match self.first.take() {
            Some(c) => Some(Ok(c)),
            None => match self.inner.as_mut()?.next().await {
                Some(Ok(c)) => Some(Ok(c)),
                Some(Err(e)) => {
                    self.deployment.breaker.failure();
                    Some(Err(llm_error(e)))
                }
                None => None,
            },
        };
        match &item {
            Some(Ok(c)) => {
                if c.usage.is_some() {
                    self.usage = c.usage;
                }
            }
            _ => self.finish(),
        }
        item
    }

    /// Charges usage once, when the stream ends (or is dropped early).
    fn finish(&mut self) {
        if self.inner.take().is_some() {
            let cost = self
                .router
                .charge(&self.tenant, &self.deployment, self.usage.as_ref());
            if self.usage.is_none() {
                self.router.usage.record(
                    &self.tenant,
                    Some(&self.deployment.name),
                    Spent::default(),
                );
            }
            self.route.cost_usd = cost;
        }
    }
}

impl Drop for RouterStream {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests;
