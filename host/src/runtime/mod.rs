//! The runtime: engine, linker, database and registry, and the one way a
//! plugin is called ([`lease`]): a store from the plugin's `InstancePre`,
//! carrying the call's context (tenant, deployment overlay, depth), the
//! plugin and its grants, bounded in time, memory and concurrency; dropped
//! when the call ends (or parked for the plugin's next call of the same
//! tenant, when its manifest opts in to reuse: see [`crate::warm`]). A trap,
//! timeout or limit fails that call only, with an error naming the plugin.

mod api;
mod lease;
mod stream;

pub use crate::error::ProviderCallError;
pub use api::ApiBody;
pub use stream::ChatStream;

use crate::bindings::llm_types::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo, ToolDefinition,
};
use crate::bindings::tool_types::{ToolError, ToolSpec};
use crate::bindings::versioned::Provider;
use crate::bindings::versioned::Tool;
use crate::call_state::CallState;
use crate::config::NodeConfig;
use crate::context::CallCtx;
use crate::engine::Engine;
use crate::error::CallError;
use crate::kv_table::KvTable;
use crate::plugins::registry::ToolEntry;
use crate::plugins::{LoadedPlugin, PluginKind, Registry};
use crate::router::{ProviderScope, ProviderStream, ProviderVersion, Providers, Refusal};
use crate::tenant::Tenant;
use crate::warm::WarmPool;
use futures_util::future::BoxFuture;
use lease::Release;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use wasmtime::{Store, UpdateDeadline};

pub struct Runtime {
    pub engine: Engine,
    pub(crate) linker: Linker<CallState>,
    /// The kv table (and the redb file the job queue shares).
    pub kv: Arc<KvTable>,
    pub registry: Registry,
    /// Parked instances of plugins that opt in to reuse.
    pub warm: Arc<WarmPool>,
    pub router: Arc<crate::router::Router>,
    /// The durable job queue; runs jobs once [`Runtime::start_jobs`] is called.
    pub jobs: Arc<crate::jobs::Jobs>,
    pub config: NodeConfig,
    /// The node's identity and its tenants' credentials.
    pub auth: Arc<crate::auth::Auth>,
    /// Each plugin's log budget and the lines it dropped.
    pub logs: crate::caps::log::PluginLogs,
    /// The container engine, reached on first use.
    pub containers: Arc<crate::containers::Containers>,
    /// The operator's settings for single tools (node.toml's, changed at run time).
    pub tool_settings: crate::tool_settings::ToolSettings,
    /// The vector store (`<data>/vectors`), opened on first use.
    pub vectors: Arc<crate::vectors::Vectors>,
    /// The TEE the node runs in and the privacy tier it proves.
    pub tee: Arc<crate::tee::Tee>,
    /// The node's GPUs.
    pub gpus: Arc<crate::gpu::Gpus>,
    /// Sealed keys the operator manages, released to plugins by tier.
    pub keys: Arc<crate::tee::keys::KeyStore>,
    pub plugins_dir: PathBuf,
    pub started: Instant,
    /// This runtime, for the stores of its calls (weak: a parked store must
    /// not keep the node alive).
    this: Weak<Runtime>,
}

impl Runtime {
    /// Opens the data directory and builds the engine; loads no plugins yet.
    pub fn new(config: NodeConfig) -> anyhow::Result<Arc<Runtime>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let plugins_dir = config.plugins_dir();
        std::fs::create_dir_all(&plugins_dir)?;
        let engine = Engine::new(&config.pool, Some(config.data_dir.join("compile-cache")))
            .map_err(|e| anyhow::anyhow!("cannot build the wasm engine: {e:#}"))?;
        let mut linker = Linker::new(&engine.wasmtime);
        crate::caps::add_to_linker(&mut linker)
            .map_err(|e| anyhow::anyhow!("cannot link host interfaces: {e:#}"))?;
        let kv = Arc::new(KvTable::open(&config.data_dir.join("node.redb"))?);
        let auth = Arc::new(crate::auth::Auth::open(
            &config.data_dir,
            config.auth.clone(),
        )?);
        let db = kv.database();
        let crate::hardware::Hardware { gpus, tee } = crate::hardware::Hardware::probe(
            config.tee.clone(),
            auth.identity.verifying_key().to_bytes(),
        );
        let keys = Arc::new(crate::tee::keys::KeyStore::open(
            kv.database(),
            &config.data_dir,
            tee.status().platform,
        )?);
        let tool_settings =
            crate::tool_settings::ToolSettings::open(config.tools.clone(), kv.database())?;
        let jobs = Arc::new(
            crate::jobs::Jobs::open(kv.database(), config.jobs.clone())?
                .with_tenant_limits(&config.tenants),
        );
        // Its containers carry the node's identity, so that the next start
        // finds those a crash left.
        let containers = Arc::new(crate::containers::Containers::new(
            config.containers.clone(),
            auth.identity.public_key_hex().to_string(),
        ));
        // The router calls provider plugins through the runtime it belongs
        // to: it holds it weakly, as `Providers`.
        Ok(Arc::new_cyclic(|runtime: &Weak<Runtime>| {
            let providers: Weak<dyn Providers> = runtime.clone();
            Runtime {
                jobs,
                engine,
                linker,
                kv,
                registry: Registry::default(),
                // A quarter of the instance pool at most, so that parked
                // instances never crowd out fresh ones.
                warm: Arc::new(WarmPool::new(
                    config.pool.instances as usize / 4,
                    (config.pool.warm_memory_mb as usize) << 20,
                )),
                router: Arc::new(
                    crate::router::Router::new(
                        &config.router,
                        &config.deployments,
                        &config.aliases,
                        providers,
                    )
                    .with_tenants(Arc::new(config.tenants.clone()), Some(db)),
                ),
                plugins_dir,
                auth,
                logs: crate::caps::log::PluginLogs::new(&config.log),
                containers,
                tool_settings,
                vectors: Arc::new(crate::vectors::Vectors::new(
                    config.data_dir.join("vectors"),
                )),
                tee,
                gpus,
                keys,
                config,
                started: Instant::now(),
                this: runtime.clone(),
            }
        }))
    }

    /// The value of plugin `plugin`'s secret `name` as the operator mapped
    /// it, or why the node withholds it (its tier is above the node's, its
    /// key is not in the store).
    pub fn release_secret(
        &self,
        plugin: &str,
        name: &str,
        mapping: &crate::grants::SecretMapping,
    ) -> Result<Option<String>, String> {
        use crate::grants::SecretSource;
        let what = format!("plugin `{plugin}`'s secret `{name}`");
        self.tee.admit(mapping.tier(), &what)?;
        match mapping.source() {
            SecretSource::Env(var) => Ok(std::env::var(var).ok()),
            SecretSource::Literal(value) => Ok(Some(value.to_string())),
            SecretSource::Key(key) => self.stored_key(key, &what).map(Some),
        }
    }

    /// Key `key` of the key store, for `what` (its own tier checked);
    /// or why not, naming `what`.
    fn stored_key(&self, key: &str, what: &str) -> Result<String, String> {
        self.keys
            .release(key, &self.tee, what)
            .map_err(|e| format!("{what}: {e}"))
    }

    /// A fresh store for one call of `plugin`, with its limits armed.
    fn new_store(&self, plugin: &Arc<LoadedPlugin>, ctx: CallCtx) -> Store<CallState> {
        let node: Weak<dyn crate::caps::Services> = self.this.clone();
        let state = CallState::new(
            node,
            &self.engine,
            plugin.grants.clone(),
            plugin.cpu.clone(),
            ctx,
        );
        let mut store = Store::new(&self.engine.wasmtime, state);
        store.limiter(|s| &mut s.limits);
        let limit = Duration::from_millis(plugin.manifest.limits.timeout_ms);
        // Each epoch tick: stop the plugin once past its time limit; a call
        // running long moves off the serving threads or takes its turn there
        // (see `crate::sched`).
        store.epoch_deadline_callback(move |ctx| {
            let state = ctx.data();
            if state.started.elapsed() >= limit {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(crate::sched::at_epoch_tick(&state.cpu, state.starting))
            }
        });
        store.set_epoch_deadline(1);
        store
    }

    /// Drops parked instances of plugin versions no longer loaded and those
    /// idle too long; the housekeeping tick and every load call it.
    pub fn prune_warm(&self) {
        let catalog = self.registry.catalog();
        let gone = self.warm.prune(|grants| {
            catalog.slots.values().any(|slot| {
                slot.current
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(&c.grants, grants))
            })
        });
        drop(catalog);
        drop(gone);
    }

    /// Recovers unfinished jobs and starts the scheduler. Call once the
    /// plugins are loaded, so recovered jobs find their tools and providers.
    pub async fn start_jobs(self: &Arc<Self>) -> anyhow::Result<()> {
        let host: Weak<dyn crate::jobs::JobHost> = Arc::downgrade(self) as _;
        self.jobs
            .start(host)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the job queue: {e}"))
    }

    /// The node's plugin named `name`.
    pub fn plugin(&self, name: &str) -> Result<Arc<LoadedPlugin>, CallError> {
        self.registry
            .get(name)
            .ok_or_else(|| CallError::PluginNotFound(name.to_string()))
    }

    /// The plugin named `name` that `tenant` sees: the node's, or its own.
    pub fn plugin_for(&self, tenant: &Tenant, name: &str) -> Result<Arc<LoadedPlugin>, CallError> {
        self.registry
            .catalog()
            .plugin(tenant, name)
            .cloned()
            .ok_or_else(|| CallError::PluginNotFound(name.to_string()))
    }

    // ---- tool plugins -------------------------------------------------------

    /// `describe()` of a tool plugin, on a fresh instance.
    pub async fn describe(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: impl Into<CallCtx>,
    ) -> Result<Vec<ToolSpec>, CallError> {
        let mut lease = self
            .lease::<Tool>(plugin, ctx.into(), false, Release::Now)
            .await?;
        let specs = lease.call(async |t, s| t.describe(s).await).await?;
        lease.finish();
        Ok(specs)
    }

    /// Calls tool `name` of a specific tool plugin, without schema checks.
    pub async fn call_tool_plugin(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: impl Into<CallCtx>,
        name: &str,
        arguments: &str,
    ) -> Result<Result<String, ToolError>, CallError> {
        // Dropped at once when not parked: the caller is often a job or
        // another plugin, not a response to write first.
        let mut lease = self
            .lease::<Tool>(plugin, ctx.into(), true, Release::Now)
            .await?;
        let r = lease
            .call(async |t, s| t.invoke(s, name, arguments).await)
            .await?;
        lease.finish();
        Ok(r)
    }

    /// Whether the operator lets `tenant` use tool `entry` (the tool and its
    /// plugin on its lists, `[tenants.<name>]`).
    fn tenant_may_use(&self, tenant: &Tenant, entry: &ToolEntry) -> bool {
        let policy = self.config.tenants.get(tenant);
        let enabled = self.tool_settings.get(&entry.spec.name).enabled;
        enabled && policy.allows_tool(&entry.spec.name) && policy.allows_plugin(entry.plugin.name())
    }

    /// Invokes a tool of the catalog by name: arguments are parsed and checked
    /// against the tool's schema, then its plugin runs it, and a result is
    /// checked against the tool's result schema when it declares one (a
    /// result that breaks its own contract is the tool's failure, not an
    /// answer to pass on).
    pub async fn invoke_tool(
        &self,
        ctx: impl Into<CallCtx>,
        name: &str,
        arguments: &str,
    ) -> Result<String, ToolError> {
        let ctx = ctx.into();
        let entry = match self.registry.catalog().tool(&ctx.tenant, name) {
            Some(entry) if self.tenant_may_use(&ctx.tenant, entry) => entry.clone(),
            // A tool the operator keeps from this tenant is one it cannot see.
            _ => return Err(ToolError::NotFound(format!("no tool named `{name}`"))),
        };
        let args: serde_json::Value = serde_json::from_str(arguments).map_err(|e| {
            ToolError::InvalidArguments(format!("arguments are not valid JSON: {e}"))
        })?;
        let problems = schema_problems(&entry.schemas.parameters, &args);
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments(problems));
        }
        let started = Instant::now();
        let tenant = ctx.tenant.clone();
        let policy = self.tool_settings.get(name);
        let ctx = if policy.network { ctx } else { ctx.offline() };
        let ctx = ctx.memory_capped(policy.memory_mb);
        let call = self.call_tool_plugin(&entry.plugin, ctx, name, arguments);
        // The operator's limit for this tool, under its plugin's: the call
        // is dropped (its instance with it) when it runs past.
        let result = match policy.timeout_ms {
            None => call.await,
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), call).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ToolError::PluginFailed(format!(
                        "tool `{name}` ran past its limit of {ms} ms (tools.{name}.timeout_ms)"
                    )));
                }
            },
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(r) => {
                tracing::debug!(tool = name, plugin = %entry.plugin.name(), %tenant, ms, ok = r.is_ok(), "tool invoked");
                if let Err(ToolError::NotFound(_)) = &r {
                    // A tool it listed is gone: its list is asked for again.
                    entry
                        .plugin
                        .stale
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let (Ok(text), Some(schema)) = (&r, &entry.schemas.result) else {
                    return r;
                };
                let problems = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => schema_problems(schema, &value),
                    Err(e) => format!("not JSON: {e}"),
                };
                if problems.is_empty() {
                    r
                } else {
                    Err(ToolError::Failed(format!(
                        "tool `{name}` returned a result its result schema refuses: {problems}"
                    )))
                }
            }
            Err(e) => {
                tracing::warn!(tool = name, plugin = %entry.plugin.name(), %tenant, ms, error = %e, "tool plugin failed");
                let capped = matches!(&e, CallError::MemoryLimit { limit_mb, .. }
                    if policy.memory_mb == Some(*limit_mb));
                Err(ToolError::PluginFailed(if capped {
                    format!("{e} (tools.{name}.memory_mb)")
                } else {
                    e.to_string()
                }))
            }
        }
    }

    // ---- provider plugins ---------------------------------------------------

    /// Runs one call of provider plugin `provider`. The provider's own error
    /// is a normal end: the instance is sound and may be parked.
    async fn provider_call<T>(
        &self,
        provider: &str,
        ctx: CallCtx,
        call: impl AsyncFnOnce(
            &Provider,
            &mut Store<CallState>,
        )
            -> wasmtime::Result<Result<T, crate::bindings::llm_types::ProviderError>>,
    ) -> Result<T, ProviderCallError> {
        let plugin = self.plugin_for(&ctx.tenant, provider)?;
        let mut lease = self
            .lease::<Provider>(&plugin, ctx, true, Release::AfterResponse)
            .await?;
        let r = lease.call(call).await?;
        lease.finish();
        r.map_err(ProviderCallError::Provider)
    }

    /// The models a provider plugin offers.
    pub async fn provider_models(
        &self,
        provider: &str,
        ctx: impl Into<CallCtx>,
    ) -> Result<Vec<ModelInfo>, ProviderCallError> {
        self.provider_call(provider, ctx.into(), async |p, s| p.models(s).await)
            .await
    }

    /// `chat` of a provider plugin (through a deployment's overlay when the
    /// context has one).
    pub async fn provider_chat(
        &self,
        provider: &str,
        ctx: impl Into<CallCtx>,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderCallError> {
        self.provider_call(provider, ctx.into(), async |p, s| p.chat(s, request).await)
            .await
    }

    /// `count-tokens` of a provider plugin: its upstream's own count.
    pub async fn provider_count_tokens(
        &self,
        provider: &str,
        ctx: impl Into<CallCtx>,
        request: &ChatRequest,
    ) -> Result<u32, ProviderCallError> {
        self.provider_call(provider, ctx.into(), async |p, s| {
            p.count_tokens(s, request).await
        })
        .await
    }

    /// `embed` of a provider plugin.
    pub async fn provider_embed(
        &self,
        provider: &str,
        ctx: impl Into<CallCtx>,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderCallError> {
        self.provider_call(provider, ctx.into(), async |p, s| p.embed(s, request).await)
            .await
    }
}

/// What `schema` finds wrong with `value` (at most 8 problems, each at its
/// path), joined; empty when it accepts it.
fn schema_problems(schema: &jsonschema::Validator, value: &serde_json::Value) -> String {
    schema
        .iter_errors(value)
        .take(8)
        .map(|e| {
            let at = e.instance_path.to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The router calls provider plugins through the runtime.
impl Providers for Runtime {
    fn admits(&self, tier: u8, gpu_memory_mb: Option<u64>) -> Result<(), Refusal> {
        use crate::gpu::GpuAdmission;
        self.tee.admit(tier, "it").map_err(Refusal::Never)?;
        match gpu_memory_mb.map(|mb| self.gpus.admission(mb)) {
            None | Some(GpuAdmission::Now) => Ok(()),
            Some(GpuAdmission::Later(why)) => Err(Refusal::Busy(why)),
            Some(GpuAdmission::Never(why)) => Err(Refusal::Never(why)),
        }
    }

    fn has_provider(&self, tenant: &Tenant, name: &str) -> Option<ProviderScope> {
        let catalog = self.registry.catalog();
        let p = catalog.plugin(tenant, name)?;
        (p.kind() == PluginKind::Provider).then_some(match p.owner {
            None => ProviderScope::Node,
            Some(_) => ProviderScope::Own,
        })
    }

    fn provider_versions(&self, tenant: &Tenant) -> Vec<ProviderVersion> {
        self.registry
            .catalog()
            .plugins(Some(tenant))
            .filter(|p| p.kind() == PluginKind::Provider)
            .map(|p| ProviderVersion {
                name: p.name().to_string(),
                version: p.hash.to_hex().to_string(),
                owner: p.owner.clone(),
            })
            .collect()
    }

    fn models<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, ProviderCallError>> {
        Box::pin(async move { self.provider_models(provider, ctx).await })
    }

    fn chat<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderCallError>> {
        Box::pin(async move { self.provider_chat(provider, ctx, request).await })
    }

    fn embed<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, ProviderCallError>> {
        Box::pin(async move { self.provider_embed(provider, ctx, request).await })
    }

    fn count_tokens<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<u32, ProviderCallError>> {
        Box::pin(async move { self.provider_count_tokens(provider, ctx, request).await })
    }

    fn stream<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Box<dyn ProviderStream>, ProviderCallError>> {
        Box::pin(async move {
            let stream = self.provider_stream(provider, ctx, request).await?;
            Ok(Box::new(stream) as Box<dyn ProviderStream>)
        })
    }
}

impl ProviderStream for ChatStream {
    fn next(&mut self) -> BoxFuture<'_, Option<Result<ChatChunk, ProviderCallError>>> {
        Box::pin(ChatStream::next(self))
    }

    fn ready(&mut self) -> std::task::Poll<Option<Result<ChatChunk, ProviderCallError>>> {
        ChatStream::ready(self)
    }
}

/// Jobs reach the router and the tool catalog through the runtime.
impl crate::jobs::JobHost for Runtime {
    fn vectors(&self) -> &Arc<crate::vectors::Vectors> {
        &self.vectors
    }

    fn gpu_admission(&self, mb: u64) -> crate::gpu::GpuAdmission {
        self.gpus.admission(mb)
    }

    fn router(&self) -> &Arc<crate::router::Router> {
        &self.router
    }

    fn tool(&self, tenant: &Tenant, name: &str) -> Option<(String, ToolDefinition)> {
        let catalog = self.registry.catalog();
        let entry = catalog.tool(tenant, name)?;
        if !self.tenant_may_use(tenant, entry) {
            return None;
        }
        Some((
            entry.plugin.name().to_string(),
            ToolDefinition {
                name: entry.spec.name.clone(),
                description: entry.spec.description.clone(),
                parameters: entry.spec.parameters.clone(),
            },
        ))
    }

    fn invoke_tool<'a>(
        &'a self,
        ctx: CallCtx,
        name: &'a str,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(Runtime::invoke_tool(self, ctx, name, arguments))
    }
}

/// The host side of the interfaces reaches the node's services through the
/// runtime.
impl crate::caps::Services for Runtime {
    fn kv(&self) -> &Arc<KvTable> {
        &self.kv
    }

    fn jobs(&self) -> &Arc<crate::jobs::Jobs> {
        &self.jobs
    }

    fn admit_log(&self, plugin: &str) -> bool {
        self.logs.admit(plugin)
    }

    fn containers(&self) -> &Arc<crate::containers::Containers> {
        &self.containers
    }

    fn kv_quota(&self, tenant: &Tenant) -> Option<u64> {
        self.config.tenants.get(tenant).kv_bytes
    }

    fn vector_rows_quota(&self, tenant: &Tenant) -> Option<u64> {
        self.config.tenants.get(tenant).vector_rows
    }

    fn tee(&self) -> &Arc<crate::tee::Tee> {
        &self.tee
    }

    fn gpus(&self) -> &Arc<crate::gpu::Gpus> {
        &self.gpus
    }

    fn release_key(
        &self,
        plugin: &str,
        secret: &str,
        key: &str,
        tier: u8,
    ) -> Result<String, String> {
        let what = format!("plugin `{plugin}`'s secret `{secret}`");
        self.tee.admit(tier, &what)?;
        self.stored_key(key, &what)
    }

    fn tools(&self, tenant: &Tenant) -> Vec<crate::bindings::tools::ToolInfo> {
        let catalog = self.registry.catalog();
        catalog
            .tools(tenant)
            .filter(|t| self.tenant_may_use(tenant, t))
            .map(|t| t.info())
            .collect()
    }

    fn tool_info(&self, tenant: &Tenant, name: &str) -> Option<crate::bindings::tools::ToolInfo> {
        let catalog = self.registry.catalog();
        let entry = catalog.tool(tenant, name)?;
        self.tenant_may_use(tenant, entry).then(|| entry.info())
    }
}
