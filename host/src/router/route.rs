//! Routing one request: the deployments of an alias, their order under the
//! alias's strategy, and the loop that calls them (tenant limits, failover,
//! retries with backoff, the breaker), then charging the usage.

use super::breaker;
use super::config::Strategy;
use super::deployment::Deployment;
use super::disposition::Disposition::*;
use super::disposition::{disposition, llm_error, rate_limited};
use super::usage::Spent;
use super::window::MinuteWindow;
use super::{ProviderScope, Refusal, Router, TenantLimits};
use crate::bindings::llm::LlmError;
use crate::bindings::llm_types::{Capabilities, ProviderError, Usage as TokenUsage};
use crate::error::ProviderCallError;
use crate::tenant::Tenant;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest `provider/model` alias served without configuration: the alias
/// is a client's string, and the router keeps state under it.
const MAX_IMPLICIT_ALIAS: usize = 256;

impl Router {
    /// The tenant's windows; none when no tenant limit is set.
    fn tenant_limits(&self, tenant: &Tenant) -> Option<Arc<TenantLimits>> {
        let windows = self.tenant_windows.as_ref()?;
        Some(windows.get_with_by_ref(tenant, || {
            let policy = self.tenants.get(tenant);
            Arc::new(TenantLimits {
                rpm: MinuteWindow::new(policy.rpm.unwrap_or(self.cfg.tenant_rpm)),
                tpm: MinuteWindow::new(policy.tpm.unwrap_or(self.cfg.tenant_tpm)),
            })
        }))
    }

    /// The deployments of `alias` that `tenant` may use, once the operator's
    /// section for it allows the request: an alias or provider off its lists
    /// is answered like an unknown model (another tenant's aliases are none
    /// of its business), and nothing is served once its budget is spent.
    pub(super) fn tenant_candidates(
        &self,
        tenant: &Tenant,
        alias: &str,
        needs: Capabilities,
        prompt_tokens: u64,
    ) -> Result<Vec<Arc<Deployment>>, LlmError> {
        let policy = self.tenants.get(tenant);
        let unknown = || {
            LlmError::UnknownModel(format!(
                "no deployment serves model `{alias}` for tenant `{tenant}`"
            ))
        };
        if !policy.allows_model(alias) {
            return Err(unknown());
        }
        if let Some(budget) = policy.budget_usd {
            let (spent, month) = self.spend.spent(tenant);
            if spent >= budget {
                return Err(LlmError::OverBudget(format!(
                    "tenant `{tenant}` has spent ${spent:.4} of its ${budget:.2} budget for \
                     {month} (tenants.{tenant}.budget_usd)"
                )));
            }
        }
        let mut candidates = self.candidates(tenant, alias, needs, prompt_tokens)?;
        candidates.retain(|d| policy.allows_plugin(&d.provider));
        if candidates.is_empty() {
            return Err(unknown());
        }
        Ok(candidates)
    }

    /// The deployments of an alias, or the implicit one of `provider/model`
    /// when `tenant` sees that provider. The implicit deployment of a
    /// tenant's own provider is that tenant's: its breaker and latency are
    /// not shared with another tenant's provider of the same name.
    pub(super) fn deployments_of(
        &self,
        tenant: &Tenant,
        alias: &str,
    ) -> Result<Vec<Arc<Deployment>>, LlmError> {
        if let Some(list) = self.by_alias.get(alias) {
            return Ok(list.clone());
        }
        if let Some((provider, model)) = alias.split_once('/')
            && let Some(scope) = self
                .providers
                .upgrade()
                .and_then(|p| p.has_provider(tenant, provider))
        {
            if alias.len() > MAX_IMPLICIT_ALIAS {
                return Err(LlmError::UnknownModel(format!(
                    "model names longer than {MAX_IMPLICIT_ALIAS} bytes are not served"
                )));
            }
            let make = || Arc::new(Deployment::implicit(alias, provider, model, &self.cfg));
            let d = match scope {
                ProviderScope::Node => self.implicit.get_with_by_ref(alias, make),
                ProviderScope::Own => self.implicit.get_with(format!("{tenant}\0{alias}"), make),
            };
            return Ok(vec![d]);
        }
        Err(LlmError::UnknownModel(format!(
            "no deployment serves model `{alias}`"
        )))
    }

    /// Capable deployments of `alias` in the order its strategy prefers.
    fn candidates(
        &self,
        tenant: &Tenant,
        alias: &str,
        needs: Capabilities,
        prompt_tokens: u64,
    ) -> Result<Vec<Arc<Deployment>>, LlmError> {
        let all = self.deployments_of(tenant, alias)?;
        let mut capable: Vec<Arc<Deployment>> = all
            .into_iter()
            .filter(|d| d.can_serve(needs, prompt_tokens))
            .collect();
        // Deployments that need a privacy tier or GPU memory the node lacks
        // (for good, or until some GPU memory frees).
        let (mut never, mut busy) = (None, None);
        if capable
            .iter()
            .any(|d| d.tier > 0 || d.gpu_memory_mb.is_some())
        {
            let providers = self.providers.upgrade();
            capable.retain(|d| {
                if d.tier == 0 && d.gpu_memory_mb.is_none() {
                    return true;
                }
                let admitted = providers
                    .as_ref()
                    .map_or(Ok(()), |p| p.admits(d.tier, d.gpu_memory_mb));
                let (first, why) = match admitted {
                    Ok(()) => return true,
                    Err(Refusal::Never(why)) => (&mut never, why),
                    Err(Refusal::Busy(why)) => (&mut busy, why),
                };
                first.get_or_insert(format!("deployment `{}`: {why}", d.name));
                false
            });
        }
        // Busy GPUs are worth waiting for: retryable, for clients and jobs.
        if capable.is_empty() {
            if let Some(why) = busy {
                return Err(LlmError::Provider(ProviderError::UpstreamUnavailable(
                    format!("{why}; retry once GPU memory frees"),
                )));
            }
            if let Some(why) = never {
                return Err(LlmError::Unsupported(why));
            }
        }
        if capable.is_empty() {
            return Err(LlmError::Unsupported(format!(
                "no deployment of `{alias}` supports this request (it needs {}, and has ~{prompt_tokens} \
                 prompt tokens); set a deployment's `capabilities` to include what it needs",
                super::capability_names(needs)
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
    pub(super) async fn drive<T, F, Fut>(
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
        let candidates = self.tenant_candidates(tenant, alias, needs, prompt_tokens)?;
        if let Some(limits) = self.tenant_limits(tenant) {
            // Names the setting that decided it, the tenant's own or the node's.
            let setting = |own: Option<u64>, key: &str| match own {
                Some(_) => format!("tenants.{tenant}.{key}"),
                None => format!("router.tenant_{key}"),
            };
            let policy = self.tenants.get(tenant);
            if let Err(wait) = limits.tpm.check(prompt_tokens) {
                return Err(rate_limited(
                    wait,
                    format!(
                        "tenant `{tenant}` is over its tokens-per-minute limit ({})",
                        setting(policy.tpm, "tpm")
                    ),
                ));
            }
            if let Err(wait) = limits.rpm.take(1) {
                return Err(rate_limited(
                    wait,
                    format!(
                        "tenant `{tenant}` is over its requests-per-minute limit ({})",
                        setting(policy.rpm, "rpm")
                    ),
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

    pub(super) fn charge(
        &self,
        tenant: &Tenant,
        d: &Deployment,
        usage: Option<&TokenUsage>,
    ) -> Option<f64> {
        let u = usage?;
        let total = u.total_tokens.max(u.prompt_tokens + u.completion_tokens) as u64;
        d.tpm.add(total);
        if let Some(limits) = self.tenant_limits(tenant) {
            limits.tpm.add(total);
        }
        let cost = d.cost(u);
        if let Some(cost) = cost
            && self.tenants.get(tenant).budget_usd.is_some()
        {
            self.spend.add(tenant, cost);
        }
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
}
