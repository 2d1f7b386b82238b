//! The exact-match response cache: its key (kind, tenant, request) and its
//! weigher, and answering from it before routing.

use super::Router;
use super::config::RouterConfig;
use super::deployment::Deployment;
use super::usage::Spent;
use crate::bindings::llm::{LlmError, Route};
use crate::bindings::llm_types::{
    Capabilities, ChatResponse, ContentPart, EmbedResponse, MediaSource, Usage as TokenUsage,
};
use crate::error::ProviderCallError;
use crate::tenant::Tenant;
use std::sync::Arc;
use std::time::Duration;

pub(super) type CacheKey = [u8; 32];
pub(super) type ResponseCache<R> = moka::sync::Cache<CacheKey, Arc<(R, Route)>>;

/// Bytes an answer holds, roughly, for the response cache's weigher.
pub(super) trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for ChatResponse {
    fn weight(&self) -> usize {
        let m = &self.message;
        256 + self.id.len()
            + self.model.len()
            + m.content.iter().map(part_weight).sum::<usize>()
            + m.reasoning
                .iter()
                .map(|r| 32 + r.text.len() + r.signature.as_ref().map_or(0, String::len))
                .sum::<usize>()
            + m.tool_calls
                .iter()
                .map(|t| {
                    64 + t.id.len()
                        + t.name.len()
                        + t.arguments.len()
                        + t.signature.as_ref().map_or(0, String::len)
                })
                .sum::<usize>()
    }
}

/// The bytes of a content part: its text, or its media's URL or bytes.
fn part_weight(part: &ContentPart) -> usize {
    let source = |s: &MediaSource| match s {
        MediaSource::Url(u) => u.len(),
        MediaSource::Inline(b) => b.media_type.len() + b.data.len(),
    };
    32 + match part {
        ContentPart::Text(t) => t.len(),
        ContentPart::Image(i) => source(&i.source),
        ContentPart::Document(d) => source(&d.source),
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

/// A response cache, when `cache_ttl_s` is set. Weighed in bytes, each
/// answer at least its share of the budget: at most `cache_max_entries`
/// answers and about `cache_max_mb` bytes.
pub(super) fn response_cache<R: Weight + Clone + Send + Sync + 'static>(
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

impl Router {
    pub(super) fn cache_key(kind: &str, tenant: &str, request: &impl std::fmt::Debug) -> CacheKey {
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
    pub(super) async fn cached_call<R, F, Fut>(
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
}
