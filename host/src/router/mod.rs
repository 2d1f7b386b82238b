//! The LLM router behind `hanzo:node/llm`: model aliases mapped to deployments
//! (a provider plugin and its upstream model); capability matching, a strategy
//! per alias, failover on retryable errors, retries with exponential backoff
//! and jitter, a circuit breaker per deployment, rpm/tpm limits per deployment
//! and per tenant, an exact-match response cache, and usage accounting.
//!
//! Here: the `Router`, its public calls (chat, embed, models, status) and
//! what a request needs (capabilities, a token estimate). Beside it:
//! `route` (deployments of an alias, their order, the failover and retry
//! loop, charging), `deployment`, `disposition` (what a failed call means),
//! `cache` (the response cache), `stream` (routed streams), `breaker`,
//! `window` (rpm/tpm), `usage`, `config`, `providers` (what the router
//! calls).

pub mod breaker;
mod cache;
pub mod config;
mod deployment;
mod disposition;
mod providers;
mod route;
pub mod spend;
mod stream;
pub mod usage;
pub mod window;

pub use deployment::Deployment;
pub use providers::{
    ProviderScope, ProviderStream, ProviderVersion, Providers, Refusal, STREAM_BATCH_MAX,
};
pub use stream::RouterStream;

use crate::bindings::llm::{CallOptions, ChatResult, EmbedResult, LlmError, Model};
use crate::bindings::llm_types::{
    Capabilities, ChatRequest, ChatResponse, ContentPart, EmbedRequest, EmbedResponse,
    ProviderError,
};
use crate::context::CallCtx;
use crate::error::ProviderCallError;
use crate::tenant::Tenant;
use crate::tenant_policy::TenantPolicies;
use cache::ResponseCache;
use config::{DeploymentConfig, RouterConfig, Strategy};
use spend::SpendLedger;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use usage::Usage;
use window::MinuteWindow;

/// The capabilities by their configuration names.
const CAPABILITY_NAMES: [(&str, Capabilities); 6] = [
    ("chat", Capabilities::CHAT),
    ("streaming", Capabilities::STREAMING),
    ("tools", Capabilities::TOOLS),
    ("vision", Capabilities::VISION),
    ("json-mode", Capabilities::JSON_MODE),
    ("embeddings", Capabilities::EMBEDDINGS),
];

/// A capability by its configuration name.
pub fn parse_capability(name: &str) -> Option<Capabilities> {
    CAPABILITY_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
}

/// The configuration names of `capabilities`: `chat, vision`.
pub fn capability_names(capabilities: Capabilities) -> String {
    CAPABILITY_NAMES
        .iter()
        .filter(|(_, c)| capabilities.contains(*c))
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an image or document counts for in a prompt's estimate: about what
/// a 1024-pixel image or a page costs at the major providers.
const MEDIA_PART_TOKENS: u64 = 1_000;

/// What a chat request needs of a deployment (capabilities; an image or a
/// document needs `vision`) and a rough count of its prompt tokens for
/// limits and context checks (≈ 4 bytes a token), in one pass over it.
fn chat_needs(req: &ChatRequest, stream: bool) -> (Capabilities, u64) {
    let mut chars = 0usize;
    let mut media = 0u64;
    for m in &req.messages {
        for part in &m.content {
            match part {
                ContentPart::Text(t) => chars += t.len(),
                ContentPart::Image(_) | ContentPart::Document(_) => media += 1,
            }
        }
        chars += m.reasoning.iter().map(|r| r.text.len()).sum::<usize>();
        chars += m
            .tool_calls
            .iter()
            .map(|t| t.arguments.len() + t.name.len())
            .sum::<usize>();
    }
    chars += req
        .tools
        .iter()
        .map(|t| t.parameters.len() + t.description.len())
        .sum::<usize>();
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
    if media > 0 {
        needs |= Capabilities::VISION;
    }
    (
        needs,
        (chars as u64).div_ceil(4) + media * MEDIA_PART_TOKENS,
    )
}

fn tenant_windows() -> moka::sync::Cache<Tenant, Arc<TenantLimits>> {
    moka::sync::Cache::builder()
        .time_to_idle(Duration::from_secs(120))
        .build()
}

struct TenantLimits {
    rpm: MinuteWindow,
    tpm: MinuteWindow,
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
    tenant_windows: Option<moka::sync::Cache<Tenant, Arc<TenantLimits>>>,
    chat_cache: Option<ResponseCache<ChatResponse>>,
    embed_cache: Option<ResponseCache<EmbedResponse>>,
    /// Provider plugins' own model lists, by plugin hash, refreshed every few minutes.
    catalogs: moka::sync::Cache<String, Arc<Vec<crate::bindings::llm_types::ModelInfo>>>,
    pub usage: Usage,
    /// What the operator allows each tenant (models, providers, quotas).
    tenants: Arc<TenantPolicies>,
    /// This month's spend of tenants with a budget.
    spend: SpendLedger,
    /// The provider plugins it routes to (the node's runtime, which owns
    /// the router: hence weak).
    providers: Weak<dyn Providers>,
}

/// Where a model's calls go: the provider plugin that would serve it first
/// (the key of per-provider job limits), and the GPU memory (MiB) it needs
/// free: the least any of its deployments needs, when every one needs some.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    pub provider: Option<String>,
    pub gpu_memory_mb: Option<u64>,
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
        Router {
            cfg: cfg.clone(),
            strategies: aliases
                .iter()
                .map(|(k, v)| (k.clone(), v.strategy))
                .collect(),
            implicit: moka::sync::Cache::new(cfg.max_implicit_models.max(1)),
            tenant_windows: (cfg.tenant_rpm > 0 || cfg.tenant_tpm > 0).then(tenant_windows),
            chat_cache: cache::response_cache(cfg),
            embed_cache: cache::response_cache(cfg),
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
            tenants: Arc::default(),
            spend: SpendLedger::default(),
            providers,
        }
    }

    /// The router with the operator's tenant sections, spend recorded in
    /// `db` (none: in memory only).
    pub fn with_tenants(
        mut self,
        tenants: Arc<TenantPolicies>,
        db: Option<Arc<redb::Database>>,
    ) -> Router {
        if tenants.any_rate_limit() && self.tenant_windows.is_none() {
            self.tenant_windows = Some(tenant_windows());
        }
        self.tenants = tenants;
        self.spend = SpendLedger::new(db);
        self
    }

    /// Writes what is held in memory only (tenants' spend) before the node stops.
    pub fn flush(&self) {
        self.spend.flush();
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

    /// Where `alias`'s calls for `tenant` go (for the job scheduler), from
    /// one lookup of its deployments; nothing when the alias is unknown.
    pub fn placement_of(&self, tenant: &Tenant, alias: &str) -> Placement {
        let Ok(deployments) = self.deployments_of(tenant, alias) else {
            return Placement::default();
        };
        Placement {
            provider: deployments.first().map(|d| d.provider.clone()),
            gpu_memory_mb: deployments
                .iter()
                .map(|d| d.gpu_memory_mb)
                .collect::<Option<Vec<u64>>>()
                .and_then(|needs| needs.into_iter().min()),
        }
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
        let (needs, prompt) = chat_needs(&request, false);
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

    /// The request's input tokens as the upstream of the alias's first
    /// capable deployment counts them; `unsupported` when it cannot (the
    /// caller estimates instead). Not retried: a count is advice.
    pub async fn count_tokens(
        &self,
        tenant: Tenant,
        request: ChatRequest,
    ) -> Result<u32, LlmError> {
        let (needs, prompt) = chat_needs(&request, false);
        let candidates = self.tenant_candidates(&tenant, &request.model, needs, prompt)?;
        let d = &candidates[0];
        let mut req = request;
        req.model = d.model.clone();
        self.providers()?
            .count_tokens(&d.provider, self.ctx(&tenant, d), &req)
            .await
            .map_err(|e| match e {
                ProviderCallError::Provider(ProviderError::Unsupported(m)) => {
                    LlmError::Unsupported(m)
                }
                e => disposition::llm_error(e),
            })
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

    /// The aliases `tenant` may use: configured ones and the models of each
    /// provider plugin it sees (the node's and its own) as `provider/model`.
    pub async fn models(&self, tenant: &Tenant) -> Vec<Model> {
        let policy = self.tenants.get(tenant);
        let mut out = self.all_models(tenant).await;
        out.retain(|m| policy.allows_model(&m.id) && policy.allows_plugin(&m.owned_by));
        out
    }

    async fn all_models(&self, tenant: &Tenant) -> Vec<Model> {
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
        for ProviderVersion {
            name,
            version,
            owner,
        } in providers.provider_versions(tenant)
        {
            // A tenant's own provider lists its models as that tenant, and
            // its list is kept apart from another's of the same name.
            let (key, caller) = match owner {
                None => (format!("{name}@{version}"), Tenant::node()),
                Some(t) => (format!("{t}\0{name}@{version}"), t),
            };
            let models = match self.catalogs.get(&key) {
                Some(m) => m,
                None => match providers.models(&name, CallCtx::new(caller)).await {
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

#[cfg(test)]
pub(crate) mod tests;
