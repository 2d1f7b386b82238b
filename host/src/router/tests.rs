//! The router on its own, with fake providers: which deployment serves,
//! failover, retries, the circuit breaker, streams, overlays, the cache and
//! deployments that need GPU memory. The jobs' tests route through the same
//! fakes.

use super::*;
use crate::bindings::llm::ChunkBatch;
use crate::bindings::llm_types::{
    ChatChunk, FinishReason, Message, ModelInfo, Role, Usage as TokenUsage,
};
use crate::error::ProviderCallError;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What a fake provider does for one call.
#[derive(Clone)]
enum Step {
    /// Fails the call (for a stream: at its first pull).
    Fail(ProviderError),
    /// A stream that delivers this many chunks, then fails.
    ChunksThenFail(usize),
    /// A stream whose chunks (and its failure, if it fails) all arrived
    /// together: after the first pull, the rest is `ready`.
    Burst(usize, bool),
}

/// Provider plugins that answer from a script: each call of a provider takes
/// the next step in its queue, and an empty queue answers normally.
#[derive(Default)]
pub(crate) struct FakeProviders {
    script: Mutex<HashMap<String, VecDeque<Step>>>,
    /// Each call: provider, upstream model, tenant, the overlay's `base_url`.
    calls: Mutex<Vec<(String, String, String, Option<String>)>>,
    /// The node's one GPU: total and free memory (MiB); none: no GPU.
    pub(crate) gpu: Mutex<Option<(u64, u64)>>,
}

impl FakeProviders {
    fn then(&self, provider: &str, step: Step) -> &Self {
        crate::lock(&self.script)
            .entry(provider.to_string())
            .or_default()
            .push_back(step);
        self
    }

    fn next_step(&self, provider: &str, model: &str, ctx: &CallCtx) -> Option<Step> {
        let base_url = ctx
            .overlay
            .as_ref()
            .and_then(|o| o.settings.get("base_url").cloned());
        crate::lock(&self.calls).push((
            provider.to_string(),
            model.to_string(),
            ctx.tenant.to_string(),
            base_url,
        ));
        crate::lock(&self.script).get_mut(provider)?.pop_front()
    }

    /// What the node's GPU says about a need for `mb` MiB now.
    pub(crate) fn gpu_admission(&self, mb: u64) -> crate::gpu::GpuAdmission {
        let gpus: Vec<_> = (*crate::lock(&self.gpu))
            .map(|(total, free)| crate::gpu::GpuDevice::with_memory(0, total, free))
            .into_iter()
            .collect();
        crate::gpu::admission(&gpus, Some("no GPU here"), mb)
    }

    pub(crate) fn providers_called(&self) -> Vec<String> {
        crate::lock(&self.calls)
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }
}

fn answer(provider: &str, model: &str) -> ChatResponse {
    ChatResponse {
        id: "r1".into(),
        model: model.into(),
        message: Message {
            role: Role::Assistant,
            content: ContentPart::text(&format!("from {provider}")),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        },
        finish_reason: FinishReason::Stop,
        usage: Some(TokenUsage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
        }),
        stop_sequence: None,
    }
}

struct FakeStream {
    chunks: VecDeque<ChatChunk>,
    then_fail: bool,
    burst: bool,
    pulled: bool,
}

impl FakeStream {
    fn pop(&mut self) -> Option<Result<ChatChunk, ProviderCallError>> {
        self.pulled = true;
        match self.chunks.pop_front() {
            Some(c) => Some(Ok(c)),
            None if self.then_fail => {
                self.then_fail = false;
                Some(Err(ProviderCallError::Provider(
                    ProviderError::UpstreamUnavailable("cut".into()),
                )))
            }
            None => None,
        }
    }
}

impl ProviderStream for FakeStream {
    fn next(&mut self) -> BoxFuture<'_, Option<Result<ChatChunk, ProviderCallError>>> {
        Box::pin(async move { self.pop() })
    }

    fn ready(&mut self) -> std::task::Poll<Option<Result<ChatChunk, ProviderCallError>>> {
        if self.burst && self.pulled {
            std::task::Poll::Ready(self.pop())
        } else {
            std::task::Poll::Pending
        }
    }
}

use futures_util::future::BoxFuture;

impl Providers for FakeProviders {
    fn admits(&self, _tier: u8, gpu_memory_mb: Option<u64>) -> Result<(), Refusal> {
        let Some(mb) = gpu_memory_mb else {
            return Ok(());
        };
        match self.gpu_admission(mb) {
            crate::gpu::GpuAdmission::Now => Ok(()),
            crate::gpu::GpuAdmission::Later(why) => Err(Refusal::Busy(why)),
            crate::gpu::GpuAdmission::Never(why) => Err(Refusal::Never(why)),
        }
    }

    fn has_provider(&self, _tenant: &Tenant, name: &str) -> Option<ProviderScope> {
        name.starts_with("p-").then_some(ProviderScope::Node)
    }

    fn provider_versions(&self, _tenant: &Tenant) -> Vec<ProviderVersion> {
        vec![ProviderVersion {
            name: "p-one".into(),
            version: "v1".into(),
            owner: None,
        }]
    }

    fn models<'a>(
        &'a self,
        _provider: &'a str,
        _ctx: CallCtx,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, ProviderCallError>> {
        Box::pin(async {
            Ok(vec![ModelInfo {
                id: "m1".into(),
                capabilities: Capabilities::CHAT,
                context_length: 1000,
                max_output_tokens: None,
                input_price_per_mtok: None,
                output_price_per_mtok: None,
            }])
        })
    }

    fn chat<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderCallError>> {
        Box::pin(async move {
            match self.next_step(provider, &request.model, &ctx) {
                Some(Step::Fail(e)) => Err(ProviderCallError::Provider(e)),
                _ => Ok(answer(provider, &request.model)),
            }
        })
    }

    fn embed<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, ProviderCallError>> {
        Box::pin(async move {
            match self.next_step(provider, &request.model, &ctx) {
                Some(Step::Fail(e)) => Err(ProviderCallError::Provider(e)),
                _ => Ok(EmbedResponse {
                    model: request.model.clone(),
                    embeddings: vec![vec![1.0, 2.0]],
                    usage: None,
                }),
            }
        })
    }

    fn count_tokens<'a>(
        &'a self,
        provider: &'a str,
        _ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<u32, ProviderCallError>> {
        // What a provider with a counting endpoint answers: its own count.
        Box::pin(async move {
            if provider == "p-counts" {
                Ok(request.messages.len() as u32 * 10)
            } else {
                Err(ProviderCallError::Provider(ProviderError::Unsupported(
                    "no count".into(),
                )))
            }
        })
    }

    fn stream<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Box<dyn ProviderStream>, ProviderCallError>> {
        Box::pin(async move {
            let (n, then_fail, burst) = match self.next_step(provider, &request.model, &ctx) {
                Some(Step::Fail(e)) => return Err(ProviderCallError::Provider(e)),
                Some(Step::ChunksThenFail(n)) => (n, true, false),
                Some(Step::Burst(n, then_fail)) => (n, then_fail, true),
                None => (2, false, false),
            };
            let chunks = (0..n)
                .map(|i| ChatChunk::text_only(&format!("{provider}-{i}")))
                .collect();
            Ok(Box::new(FakeStream {
                chunks,
                then_fail,
                burst,
                pulled: false,
            }) as Box<dyn ProviderStream>)
        })
    }
}

fn deployment(toml_text: &str) -> DeploymentConfig {
    toml::from_str(toml_text).unwrap()
}

/// A router over `deployments` with fast retries; `edit` adjusts its config.
pub(crate) fn router(
    fake: &Arc<FakeProviders>,
    deployments: &[&str],
    edit: impl FnOnce(&mut RouterConfig),
) -> Arc<Router> {
    let mut cfg = RouterConfig::default();
    cfg.retry.initial_delay_ms = 1;
    cfg.retry.max_delay_ms = 5;
    cfg.cache_ttl_s = 0;
    edit(&mut cfg);
    let deployments: Vec<_> = deployments.iter().map(|d| deployment(d)).collect();
    let providers: Weak<dyn Providers> = Arc::downgrade(fake) as _;
    Arc::new(Router::new(&cfg, &deployments, &BTreeMap::new(), providers))
}

/// Deployment `name` of `alias` on `provider`, which needs `mb` MiB of GPU
/// memory free.
pub(crate) fn needs_gpu(name: &str, alias: &str, provider: &str, mb: u64) -> String {
    format!(
        "name = \"{name}\"\nalias = \"{alias}\"\nprovider = \"{provider}\"\n\
         model = \"up-{name}\"\ngpu_memory_mb = {mb}"
    )
}

fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message {
            role: Role::User,
            content: ContentPart::text("hi"),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        }],
        tools: Vec::new(),
        tool_choice: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        json_mode: false,
        extra: None,
    }
}

const NO_OPTIONS: CallOptions = CallOptions {
    bypass_cache: false,
};

const PRIMARY: &str = r#"name = "primary"
alias = "m"
provider = "p-a"
model = "up-a"
priority = 0"#;
const BACKUP: &str = r#"name = "backup"
alias = "m"
provider = "p-b"
model = "up-b"
priority = 1
config = { base_url = "http://backup/v1" }"#;

#[tokio::test]
async fn the_first_deployment_by_priority_serves() {
    let fake = Arc::new(FakeProviders::default());
    let r = router(&fake, &[BACKUP, PRIMARY], |_| {});
    let out = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    assert_eq!(out.route.deployment, "primary");
    assert_eq!(out.route.attempts, 1);
    assert_eq!(out.response.message.text(), "from p-a");
    // The upstream model, the tenant and no overlay reach the provider.
    assert_eq!(
        crate::lock(&fake.calls)[0],
        ("p-a".into(), "up-a".into(), "acme".into(), None)
    );
}

#[tokio::test]
async fn failover_goes_to_the_next_deployment_with_its_overlay() {
    let fake = Arc::new(FakeProviders::default());
    fake.then("p-a", Step::Fail(ProviderError::Auth("bad key".into())));
    let r = router(&fake, &[PRIMARY, BACKUP], |_| {});
    let out = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    assert_eq!(out.route.deployment, "backup");
    assert_eq!(out.route.attempts, 2);
    let calls = crate::lock(&fake.calls).clone();
    assert_eq!(calls[1].3.as_deref(), Some("http://backup/v1"));
    // An auth failure is not retried on the same deployment.
    assert_eq!(fake.providers_called(), ["p-a", "p-b"]);
}

#[tokio::test]
async fn a_bad_request_is_not_tried_elsewhere() {
    let fake = Arc::new(FakeProviders::default());
    fake.then("p-a", Step::Fail(ProviderError::BadRequest("no".into())));
    let r = router(&fake, &[PRIMARY, BACKUP], |_| {});
    let e = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Provider(ProviderError::BadRequest(_))),
        "{e:?}"
    );
    assert_eq!(fake.providers_called(), ["p-a"]);
}

#[tokio::test]
async fn retries_until_the_upstream_recovers_within_max_attempts() {
    let fake = Arc::new(FakeProviders::default());
    let down = || Step::Fail(ProviderError::UpstreamUnavailable("503".into()));
    fake.then("p-a", down()).then("p-a", down());
    let r = router(&fake, &[PRIMARY], |_| {});
    let out = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    assert_eq!(out.route.attempts, 3);
    assert_eq!(fake.providers_called(), ["p-a", "p-a", "p-a"]);

    // One failure more than the attempts allow: the last error comes back.
    for _ in 0..3 {
        fake.then("p-a", down());
    }
    let e = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Provider(ProviderError::UpstreamUnavailable(_))),
        "{e:?}"
    );
    assert_eq!(fake.providers_called().len(), 6);
}

#[tokio::test]
async fn the_breaker_opens_and_calls_stop_reaching_the_deployment() {
    let fake = Arc::new(FakeProviders::default());
    for _ in 0..2 {
        fake.then("p-a", Step::Fail(ProviderError::Internal("boom".into())));
    }
    let r = router(&fake, &[PRIMARY], |c| {
        c.breaker.failure_threshold = 2;
        c.breaker.open_ms = 60_000;
    });
    for _ in 0..2 {
        r.chat("acme".into(), request("m"), NO_OPTIONS)
            .await
            .unwrap_err();
    }
    assert_eq!(r.status()[0]["circuit"], "open");
    let e = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(e_text(&e).contains("circuit open"), "{e:?}");
    assert_eq!(
        fake.providers_called().len(),
        2,
        "the open circuit was not called"
    );
}

fn e_text(e: &LlmError) -> String {
    format!("{e:?}")
}

#[tokio::test]
async fn streams_fail_over_before_the_first_chunk_only() {
    let fake = Arc::new(FakeProviders::default());
    fake.then("p-a", Step::ChunksThenFail(0));
    let r = router(&fake, &[PRIMARY, BACKUP], |_| {});
    let mut s = r.stream("acme".into(), request("m")).await.unwrap();
    assert_eq!(s.route.deployment, "backup");
    let mut text = Vec::new();
    while let Some(c) = s.next().await {
        text.push(c.unwrap().content.unwrap());
    }
    assert_eq!(text, ["p-b-0", "p-b-1"]);

    // Cut after a chunk reached the client: the error is the client's.
    fake.then("p-a", Step::ChunksThenFail(1));
    let mut s = r.stream("acme".into(), request("m")).await.unwrap();
    assert_eq!(s.route.deployment, "primary");
    assert!(s.next().await.unwrap().is_ok());
    assert!(s.next().await.unwrap().is_err());
    assert!(s.next().await.is_none());
}

/// `next-many` hands on, with the next chunk, those the provider already
/// has, at most `max`, and says when the stream ended with them; an error
/// ends the batch and the stream; a provider that has nothing ready gives a
/// chunk a call.
#[tokio::test]
async fn next_many_takes_what_the_provider_has_ready() {
    fn texts(batch: &ChunkBatch) -> Vec<String> {
        batch
            .chunks
            .iter()
            .map(|c| match c {
                Ok(c) => c.content.clone().unwrap(),
                Err(e) => e_text(e),
            })
            .collect()
    }
    let fake = Arc::new(FakeProviders::default());
    let r = router(&fake, &[PRIMARY], |_| {});

    fake.then("p-a", Step::Burst(5, false));
    let mut s = r.stream("acme".into(), request("m")).await.unwrap();
    let batch = s.next_many(3).await;
    assert_eq!(texts(&batch), ["p-a-0", "p-a-1", "p-a-2"]);
    assert!(!batch.ended);
    // The end came with the rest: known without another pull.
    let batch = s.next_many(64).await;
    assert_eq!(texts(&batch), ["p-a-3", "p-a-4"]);
    assert!(batch.ended);
    let batch = s.next_many(64).await;
    assert!(batch.chunks.is_empty() && batch.ended);

    fake.then("p-a", Step::Burst(2, true));
    let mut s = r.stream("acme".into(), request("m")).await.unwrap();
    let batch = s.next_many(64).await;
    assert_eq!(batch.chunks.len(), 3, "{:?}", texts(&batch));
    assert!(batch.chunks[..2].iter().all(Result::is_ok));
    assert!(texts(&batch)[2].contains("cut"), "{:?}", texts(&batch));
    assert!(batch.ended, "ended by the error");
    assert!(s.next_many(64).await.chunks.is_empty());

    // Nothing ready: one chunk a call, and the end takes a pull of its own.
    let mut s = r.stream("acme".into(), request("m")).await.unwrap();
    assert_eq!(texts(&s.next_many(64).await), ["p-a-0"]);
    let batch = s.next_many(64).await;
    assert_eq!(texts(&batch), ["p-a-1"]);
    assert!(!batch.ended);
    let batch = s.next_many(64).await;
    assert!(batch.chunks.is_empty() && batch.ended);
}

#[tokio::test]
async fn answers_are_cached_per_tenant() {
    let fake = Arc::new(FakeProviders::default());
    let r = router(&fake, &[PRIMARY], |c| c.cache_ttl_s = 60);
    let first = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    let again = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    assert!(!first.route.cached && again.route.cached);
    assert_eq!(again.response.message.text(), first.response.message.text());
    r.chat("other".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap();
    let bypass = CallOptions { bypass_cache: true };
    r.chat("acme".into(), request("m"), bypass).await.unwrap();
    assert_eq!(fake.providers_called().len(), 3);
}

#[tokio::test]
async fn provider_model_aliases_need_a_loaded_provider() {
    let fake = Arc::new(FakeProviders::default());
    let r = router(&fake, &[], |_| {});
    let out = r
        .chat("acme".into(), request("p-x/gpt"), NO_OPTIONS)
        .await
        .unwrap();
    assert_eq!(out.route.provider, "p-x");
    assert_eq!(out.route.model, "gpt");
    let e = r
        .chat("acme".into(), request("nope/gpt"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::UnknownModel(_)), "{e:?}");
    assert_eq!(
        r.placement_of(&Tenant::from("t"), "p-x/gpt"),
        crate::router::Placement {
            provider: Some("p-x".into()),
            gpu_memory_mb: None
        }
    );
    // The provider's own models are listed as `provider/model`.
    let models = r.models(&Tenant::from("t")).await;
    assert!(models.iter().any(|m| m.id == "p-one/m1"), "{models:?}");
}

#[tokio::test]
async fn a_router_whose_node_is_gone_says_so() {
    let fake = Arc::new(FakeProviders::default());
    let r = router(&fake, &[PRIMARY], |_| {});
    drop(fake);
    let e = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(e_text(&e).contains("shutting down"), "{e:?}");
}

#[tokio::test]
async fn busy_gpus_are_worth_a_retry_and_too_small_ones_are_not() {
    let fake = Arc::new(FakeProviders::default());
    *crate::lock(&fake.gpu) = Some((80_000, 2_000));
    let (needs_40g, needs_100g) = (
        needs_gpu("needs-40g", "m", "p-a", 40_000),
        needs_gpu("needs-100g", "huge", "p-a", 100_000),
    );
    let r = router(&fake, &[&needs_40g, &needs_100g], |_| {});
    let chat = |model: &'static str| r.chat("acme".into(), request(model), NO_OPTIONS);

    // Large enough but busy: unavailable for now (503, retried by jobs).
    match chat("m").await.unwrap_err() {
        LlmError::Provider(ProviderError::UpstreamUnavailable(why)) => assert!(
            why.contains("deployment `needs-40g`") && why.contains("has free is 2000 MiB"),
            "{why}"
        ),
        e => panic!("{e:?}"),
    }
    // Larger than any GPU: unsupported, for good.
    match chat("huge").await.unwrap_err() {
        LlmError::Unsupported(why) => assert!(why.contains("largest GPU has 80000 MiB"), "{why}"),
        e => panic!("{e:?}"),
    }
    assert!(fake.providers_called().is_empty());

    // Memory freed: the same deployment serves.
    *crate::lock(&fake.gpu) = Some((80_000, 50_000));
    assert_eq!(chat("m").await.unwrap().route.deployment, "needs-40g");
    // No GPU at all: never.
    *crate::lock(&fake.gpu) = None;
    match chat("m").await.unwrap_err() {
        LlmError::Unsupported(why) => assert!(why.contains("no GPU here"), "{why}"),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn an_alias_waits_for_its_busy_gpu_deployment_over_one_that_never_fits() {
    let fake = Arc::new(FakeProviders::default());
    *crate::lock(&fake.gpu) = Some((80_000, 2_000));
    let (too_big, busy) = (
        needs_gpu("too-big", "m", "p-b", 100_000),
        needs_gpu("busy", "m", "p-a", 40_000),
    );
    let r = router(&fake, &[&too_big, &busy], |_| {});
    let e = r
        .chat("acme".into(), request("m"), NO_OPTIONS)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Provider(ProviderError::UpstreamUnavailable(why)) if why.contains("`busy`")),
        "{e:?}"
    );
}
