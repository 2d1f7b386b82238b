//! The runtime: engine, linker, database and registry, and the one way a
//! plugin is called: a fresh `Store` from the plugin's `InstancePre`, carrying
//! the tenant, the plugin and its grants, bounded in time, memory and
//! concurrency; dropped when the call ends (or parked for the plugin's next
//! call of the same tenant, when its manifest opts in to reuse: see
//! [`crate::warm`]). A trap, timeout or limit fails that call only, with an
//! error naming the plugin.

use crate::bindings::llm_types::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo, ProviderError,
};
use crate::bindings::provider::Provider;
use crate::bindings::tool::Tool;
use crate::bindings::tool_types::{ToolError, ToolSpec};
use crate::config::NodeConfig;
use crate::engine::Engine;
use crate::error::CallError;
use crate::plugins::{LoadedPlugin, PluginKind, PluginPre, Registry};
use crate::state::{CallState, Overlay, Tenant};
use crate::store::Store as Db;
use crate::warm::{Reusable, Warm, WarmPool};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{Linker, ResourceAny};
use wasmtime::{Store, Trap, UpdateDeadline};

pub struct Runtime {
    pub engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub store: Arc<Db>,
    pub registry: Registry,
    /// Parked instances of plugins that opt in to reuse.
    pub warm: WarmPool,
    pub router: Arc<crate::router::Router>,
    /// The durable job queue; runs jobs once [`Runtime::start_jobs`] is called.
    pub jobs: Arc<crate::jobs::Jobs>,
    pub config: NodeConfig,
    /// Each plugin's log budget and the lines it dropped.
    pub logs: crate::caps::log::PluginLogs,
    pub plugins_dir: PathBuf,
    pub started: Instant,
}

/// A failure of a provider call: the provider's own typed error, or the call
/// itself failed (trap, timeout, limit).
#[derive(Debug, thiserror::Error)]
pub enum ProviderCallError {
    #[error("{0:?}")]
    Provider(ProviderError),
    #[error(transparent)]
    Call(#[from] CallError),
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
        let store = Arc::new(Db::open(&config.data_dir.join("node.redb"))?);
        let jobs = Arc::new(crate::jobs::Jobs::open(
            store.database(),
            config.jobs.clone(),
        )?);
        Ok(Arc::new(Runtime {
            jobs,
            engine,
            linker,
            store,
            registry: Registry::default(),
            // A quarter of the instance pool at most, so that parked
            // instances never crowd out fresh ones.
            warm: WarmPool::new(config.pool.instances as usize / 4),
            router: Arc::new(crate::router::Router::new(
                &config.router,
                &config.deployments,
                &config.aliases,
            )),
            plugins_dir,
            logs: crate::caps::log::PluginLogs::new(&config.log),
            config,
            started: Instant::now(),
        }))
    }

    /// A fresh store for one call of `plugin`, with its limits armed.
    fn new_store(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        depth: u32,
    ) -> Store<CallState> {
        let state = CallState::new(self.clone(), plugin.clone(), tenant, overlay, depth);
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
                Ok(crate::sched::at_epoch_tick(&state.plugin.cpu))
            }
        });
        store.set_epoch_deadline(1);
        store
    }

    /// A store for one call of `plugin`: a parked one of this version and
    /// tenant when there is one, with the exports it was instantiated with
    /// and the calls it served; else a fresh one to instantiate (no
    /// exports, no calls).
    fn store_for<E: Reusable>(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        depth: u32,
    ) -> (Store<CallState>, Option<E>, u32) {
        if let Some(Warm {
            mut store,
            exports,
            calls,
        }) = self.warm.take(plugin, &tenant, overlay.as_ref())
            && let Some(exports) = E::from_exports(exports)
        {
            store.data_mut().resume(self, overlay, depth);
            store.set_epoch_deadline(1);
            return (store, Some(exports), calls);
        }
        (self.new_store(plugin, tenant, overlay, depth), None, 0)
    }

    /// After a call that ended normally: parks the instance for the next
    /// call when the plugin opts in to reuse and room is left, else retires
    /// it. `calls` counts the one that just ended.
    fn finish(
        &self,
        store: Store<CallState>,
        exports: impl Reusable,
        calls: u32,
        permit: OwnedSemaphorePermit,
    ) {
        match self.warm.put(Warm {
            store,
            exports: exports.into_exports(),
            calls,
        }) {
            None => drop(permit),
            Some(warm) => Self::retire(warm.store, permit),
        }
    }

    /// Drops parked instances of plugin versions no longer loaded and those
    /// idle too long; the housekeeping tick and every load call it.
    pub fn prune_warm(&self) {
        let catalog = self.registry.catalog();
        let gone = self.warm.prune(|plugin| {
            catalog.slots.values().any(|slot| {
                slot.current
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(c, plugin))
            })
        });
        drop(catalog);
        drop(gone);
    }

    async fn permit(&self, plugin: &Arc<LoadedPlugin>) -> Result<OwnedSemaphorePermit, CallError> {
        let limit = Duration::from_millis(plugin.manifest.limits.timeout_ms);
        match tokio::time::timeout(limit, plugin.concurrency.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(CallError::Busy {
                plugin: plugin.name().to_string(),
                limit: plugin.manifest.limits.max_concurrency,
            }),
        }
    }

    /// Runs `fut` (which drives a store) within the plugin's time limit and
    /// turns failures into a `CallError`; `store` is inspected afterwards.
    async fn bounded<T>(
        plugin: &LoadedPlugin,
        fut: impl Future<Output = wasmtime::Result<T>>,
    ) -> Result<wasmtime::Result<T>, CallError> {
        // Guest CPU is stopped by the epoch callback; this catches time spent
        // waiting on the host (outbound HTTP, a nested tool call).
        let limit = Duration::from_millis(plugin.manifest.limits.timeout_ms);
        let r = tokio::time::timeout(limit + Duration::from_millis(20), fut).await;
        // The caller's slice starts again: this call's CPU was judged at its own ticks.
        crate::sched::restart_slice();
        r.map_err(|_| CallError::Timeout {
            plugin: plugin.name().to_string(),
            limit_ms: plugin.manifest.limits.timeout_ms,
        })
    }

    /// Drops a finished call's store once this thread has run what is ready.
    /// Returning an instance to the pool (rewriting the memory pages it
    /// dirtied, releasing its tables and fiber stack) costs several
    /// microseconds, which need not delay the response the call produced:
    /// `yield_now` puts the drop behind the tasks already woken (the
    /// connection writing that response) and the next I/O poll. The call's
    /// concurrency permit goes with the store, so `max_concurrency` still
    /// bounds the instances in calls (parked ones aside) alive at once.
    fn retire(store: Store<CallState>, permit: OwnedSemaphorePermit) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    tokio::task::yield_now().await;
                    drop(store);
                    drop(permit);
                });
            }
            Err(_) => drop(store),
        }
    }

    /// A plugin that ran long lately starts its call on the background pool
    /// (when the caller runs in a lane on a serving thread): see `crate::sched`.
    async fn offload_if_heavy(plugin: &LoadedPlugin) {
        crate::sched::offload_if_heavy(&plugin.cpu).await
    }

    /// Names the failure of a call whose store is `store`.
    fn classify(store: &Store<CallState>, err: wasmtime::Error) -> CallError {
        let state = store.data();
        let plugin = state.plugin.name().to_string();
        if state.limits.memory_limit_hit {
            return CallError::MemoryLimit {
                plugin,
                limit_mb: state.plugin.manifest.limits.memory_mb,
            };
        }
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                plugin,
                limit_ms: state.plugin.manifest.limits.timeout_ms,
            };
        }
        CallError::Trap {
            plugin,
            message: format!("{err:#}"),
        }
    }

    /// The error for calling `plugin` as a plugin of kind `expected`.
    fn wrong_kind(plugin: &LoadedPlugin, expected: PluginKind) -> CallError {
        CallError::WrongKind {
            plugin: plugin.name().to_string(),
            expected: expected.as_str(),
            actual: plugin.kind().as_str(),
        }
    }

    /// Recovers unfinished jobs and starts the scheduler. Call once the
    /// plugins are loaded, so recovered jobs find their tools and providers.
    pub async fn start_jobs(self: &Arc<Self>) -> anyhow::Result<()> {
        self.jobs
            .start(self)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the job queue: {e}"))
    }

    pub fn plugin(&self, name: &str) -> Result<Arc<LoadedPlugin>, CallError> {
        self.registry
            .get(name)
            .ok_or_else(|| CallError::PluginNotFound(name.to_string()))
    }

    // ---- tool plugins -------------------------------------------------------

    /// Runs `call` on an instance of tool plugin `plugin`: a fresh one, or
    /// with `reuse` a parked one when the plugin opts in to reuse.
    async fn tool_call<T>(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        depth: u32,
        reuse: bool,
        call: impl AsyncFnOnce(&Tool, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        let PluginPre::Tool(pre) = &plugin.pre else {
            return Err(Self::wrong_kind(plugin, PluginKind::Tool));
        };
        let permit = self.permit(plugin).await?;
        Self::offload_if_heavy(plugin).await;
        let (mut store, warm, calls) = if reuse {
            self.store_for(plugin, tenant, None, depth)
        } else {
            (self.new_store(plugin, tenant, None, depth), None, 0)
        };
        let r = Self::bounded(plugin, async {
            let tool = match warm {
                Some(tool) => tool,
                None => pre.instantiate_async(&mut store).await?,
            };
            let r = call(&tool, &mut store).await?;
            Ok((tool, r))
        })
        .await?;
        match r {
            Ok((tool, v)) if reuse => {
                // Parked for the next call, or else dropped here like every
                // other tool call's store (not retired: the caller is often
                // a job or another plugin, not a response to write first).
                drop(self.warm.put(Warm {
                    store,
                    exports: tool.into_exports(),
                    calls: calls + 1,
                }));
                drop(permit);
                Ok(v)
            }
            // Dropped here, not retired: `describe` at load time needs the
            // plugin back to itself right after.
            Ok((_, v)) => Ok(v),
            Err(e) => Err(Self::classify(&store, e)),
        }
    }

    /// `describe()` of a tool plugin.
    pub async fn describe(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
    ) -> Result<Vec<ToolSpec>, CallError> {
        self.tool_call(plugin, tenant, 0, false, async |t, s| {
            t.hanzo_node_toolbox().call_describe(s).await
        })
        .await
    }

    /// Calls tool `name` of a specific tool plugin, without schema checks.
    pub async fn call_tool_plugin(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        name: &str,
        arguments: &str,
        depth: u32,
    ) -> Result<Result<String, ToolError>, CallError> {
        self.tool_call(plugin, tenant, depth, true, async |t, s| {
            t.hanzo_node_toolbox().call_invoke(s, name, arguments).await
        })
        .await
    }

    /// Invokes a tool of the catalog by name: arguments are parsed and checked
    /// against the tool's schema, then its plugin runs it.
    pub async fn invoke_tool(
        self: &Arc<Self>,
        tenant: Tenant,
        name: &str,
        arguments: &str,
        depth: u32,
    ) -> Result<String, ToolError> {
        let Some(entry) = self.registry.catalog().tools.get(name).cloned() else {
            return Err(ToolError::NotFound(format!("no tool named `{name}`")));
        };
        let args: serde_json::Value = serde_json::from_str(arguments).map_err(|e| {
            ToolError::InvalidArguments(format!("arguments are not valid JSON: {e}"))
        })?;
        let problems: Vec<String> = entry
            .validator
            .iter_errors(&args)
            .take(8)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments(problems.join("; ")));
        }
        let started = Instant::now();
        let result = self
            .call_tool_plugin(&entry.plugin, tenant.clone(), name, arguments, depth)
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(r) => {
                tracing::debug!(tool = name, plugin = %entry.plugin.name(), %tenant, ms, ok = r.is_ok(), "tool invoked");
                r
            }
            Err(e) => {
                tracing::warn!(tool = name, plugin = %entry.plugin.name(), %tenant, ms, error = %e, "tool plugin failed");
                Err(ToolError::PluginFailed(e.to_string()))
            }
        }
    }

    // ---- provider plugins ---------------------------------------------------

    async fn provider_call<T>(
        self: &Arc<Self>,
        plugin_name: &str,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        call: impl AsyncFnOnce(
            &Provider,
            &mut Store<CallState>,
        ) -> wasmtime::Result<Result<T, ProviderError>>,
    ) -> Result<T, ProviderCallError> {
        let plugin = self.plugin(plugin_name)?;
        let PluginPre::Provider(pre) = &plugin.pre else {
            return Err(Self::wrong_kind(&plugin, PluginKind::Provider).into());
        };
        let permit = self.permit(&plugin).await?;
        Self::offload_if_heavy(&plugin).await;
        let (mut store, warm, calls) = self.store_for(&plugin, tenant, overlay, 0);
        let r = Self::bounded(&plugin, async {
            let provider = match warm {
                Some(provider) => provider,
                None => pre.instantiate_async(&mut store).await?,
            };
            let r = call(&provider, &mut store).await?;
            Ok((provider, r))
        })
        .await?;
        match r {
            // The provider's own error is a normal end: the instance is sound.
            Ok((provider, r)) => {
                self.finish(store, provider, calls + 1, permit);
                r.map_err(ProviderCallError::Provider)
            }
            Err(e) => {
                let e = Self::classify(&store, e);
                Self::retire(store, permit);
                Err(e.into())
            }
        }
    }

    pub async fn provider_models(
        self: &Arc<Self>,
        plugin: &str,
        tenant: Tenant,
    ) -> Result<Vec<ModelInfo>, ProviderCallError> {
        self.provider_call(plugin, tenant, None, async |p, s| {
            p.hanzo_node_model_provider().call_models(s).await
        })
        .await
    }

    pub async fn provider_chat(
        self: &Arc<Self>,
        plugin: &str,
        tenant: Tenant,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderCallError> {
        self.provider_chat_with(plugin, tenant, None, request).await
    }

    /// `chat` with a deployment's settings overlay.
    pub async fn provider_chat_with(
        self: &Arc<Self>,
        plugin: &str,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderCallError> {
        self.provider_call(plugin, tenant, overlay, async |p, s| {
            p.hanzo_node_model_provider().call_chat(s, request).await
        })
        .await
    }

    pub async fn provider_embed(
        self: &Arc<Self>,
        plugin: &str,
        tenant: Tenant,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderCallError> {
        self.provider_embed_with(plugin, tenant, None, request)
            .await
    }

    /// `embed` with a deployment's settings overlay.
    pub async fn provider_embed_with(
        self: &Arc<Self>,
        plugin: &str,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        request: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderCallError> {
        self.provider_call(plugin, tenant, overlay, async |p, s| {
            p.hanzo_node_model_provider().call_embed(s, request).await
        })
        .await
    }

    /// Starts a streamed chat. The stream owns its store (and a concurrency
    /// permit) until dropped; each pull is bounded by the plugin's time limit.
    pub async fn provider_stream(
        self: &Arc<Self>,
        plugin_name: &str,
        tenant: Tenant,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderCallError> {
        self.provider_stream_with(plugin_name, tenant, None, request)
            .await
    }

    /// `stream-chat` with a deployment's settings overlay.
    pub async fn provider_stream_with(
        self: &Arc<Self>,
        plugin_name: &str,
        tenant: Tenant,
        overlay: Option<Arc<Overlay>>,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderCallError> {
        let plugin = self.plugin(plugin_name)?;
        let PluginPre::Provider(pre) = &plugin.pre else {
            return Err(Self::wrong_kind(&plugin, PluginKind::Provider).into());
        };
        let permit = self.permit(&plugin).await?;
        Self::offload_if_heavy(&plugin).await;
        let (mut store, warm, calls) = self.store_for(&plugin, tenant, overlay, 0);
        let r = Self::bounded(&plugin, async {
            let provider = match warm {
                Some(provider) => provider,
                None => pre.instantiate_async(&mut store).await?,
            };
            let stream = provider
                .hanzo_node_model_provider()
                .call_stream_chat(&mut store, request)
                .await?;
            Ok((provider, stream))
        })
        .await?;
        match r {
            Ok((provider, Ok(stream))) => Ok(ChatStream {
                store: Some(store),
                provider: Some(provider),
                stream,
                plugin,
                permit: Some(permit),
                calls: calls + 1,
                done: false,
            }),
            Ok((provider, Err(e))) => {
                self.finish(store, provider, calls + 1, permit);
                Err(ProviderCallError::Provider(e))
            }
            Err(e) => {
                let e = Self::classify(&store, e);
                Self::retire(store, permit);
                Err(e.into())
            }
        }
    }
}

/// A streamed chat answer being pulled from a provider plugin.
pub struct ChatStream {
    /// Taken only by `drop`.
    store: Option<Store<CallState>>,
    /// Taken only by `park`, with the store.
    provider: Option<Provider>,
    stream: ResourceAny,
    plugin: Arc<LoadedPlugin>,
    /// Taken with the store by `drop`.
    permit: Option<OwnedSemaphorePermit>,
    /// Calls of the instance, this stream included.
    calls: u32,
    done: bool,
}

impl ChatStream {
    /// The next chunk; `None` once the stream ended. After an error the stream ends.
    pub async fn next(&mut self) -> Option<Result<ChatChunk, ProviderCallError>> {
        if self.done {
            return None;
        }
        let (Some(store), Some(provider)) = (self.store.as_mut(), self.provider.as_ref()) else {
            return None;
        };
        // The time limit applies to each pull, not to the whole stream.
        store.data_mut().started = Instant::now();
        let stream = self.stream;
        let r = Runtime::bounded(&self.plugin, async {
            provider
                .hanzo_node_model_provider()
                .chat_stream()
                .call_next(&mut *store, stream)
                .await
        })
        .await;
        let item = match r {
            Err(e) => Some(Err(e.into())),
            Ok(Err(e)) => Some(Err(Runtime::classify(store, e).into())),
            Ok(Ok(None)) => {
                self.done = true;
                self.park().await;
                return None;
            }
            Ok(Ok(Some(Ok(chunk)))) => return Some(Ok(chunk)),
            Ok(Ok(Some(Err(e)))) => Some(Err(ProviderCallError::Provider(e))),
        };
        self.done = true;
        item
    }

    /// After the stream's end: drops the plugin's stream resource and parks
    /// the instance for reuse, when the plugin opts in to it.
    async fn park(&mut self) {
        if !crate::warm::reuses(&self.plugin) {
            return;
        }
        let (Some(mut store), Some(permit), Some(provider)) =
            (self.store.take(), self.permit.take(), self.provider.take())
        else {
            return;
        };
        let stream = self.stream;
        let dropped = Runtime::bounded(&self.plugin, stream.resource_drop_async(&mut store)).await;
        let runtime = match (dropped, store.data().runtime()) {
            (Ok(Ok(())), Ok(runtime)) => runtime,
            _ => return Runtime::retire(store, permit),
        };
        runtime.finish(store, provider, self.calls, permit);
    }

    /// The plugin version serving this stream.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        if let (Some(store), Some(permit)) = (self.store.take(), self.permit.take()) {
            Runtime::retire(store, permit);
        }
    }
}

// ---- API plugins ------------------------------------------------------------

/// The body type API plugins answer with.
pub type ApiBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

impl Runtime {
    /// Serves one HTTP request with an API plugin (a fresh instance).
    pub async fn handle_http<B>(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        request: http::Request<B>,
    ) -> Result<http::Response<ApiBody>, CallError>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        use wasmtime_wasi_http::WasiHttpView;
        let PluginPre::Api(pre) = &plugin.pre else {
            return Err(Self::wrong_kind(plugin, PluginKind::Api));
        };
        let permit = self.permit(plugin).await?;
        let (mut store, warm, calls) = self.store_for(plugin, tenant, None, 0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let instantiate_error = |e: wasmtime::Error| CallError::Instantiate {
            plugin: plugin.name().to_string(),
            message: format!("{e:#}"),
        };
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(
                wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
                request,
            )
            .map_err(instantiate_error)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(tx)
            .map_err(instantiate_error)?;
        let pre = pre.clone();
        let task_plugin = plugin.clone();
        let runtime = self.clone();
        // The handler keeps running after it set the response head, while it
        // writes the body; the task owns the store until it returns.
        // The task starts here and moves to the background pool if the
        // handler (or a plugin it calls) runs long: `crate::sched`.
        let task = tokio::spawn(crate::sched::offloadable(async move {
            Runtime::offload_if_heavy(&task_plugin).await;
            let r = Runtime::bounded(&task_plugin, async {
                let proxy = match warm {
                    Some(proxy) => proxy,
                    None => pre.instantiate_async(&mut store).await?,
                };
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await?;
                Ok(proxy)
            })
            .await;
            match r {
                Ok(Ok(proxy)) => {
                    runtime.finish(store, proxy, calls + 1, permit);
                    Ok(())
                }
                Ok(Err(e)) => {
                    let e = Runtime::classify(&store, e);
                    Runtime::retire(store, permit);
                    Err(e)
                }
                Err(e) => Err(e),
            }
        }));
        match rx.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(CallError::Trap {
                plugin: plugin.name().to_string(),
                message: format!("the handler answered with an error: {code:?}"),
            }),
            // The handler ended without setting a response.
            Err(_) => match task.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(CallError::Trap {
                    plugin: plugin.name().to_string(),
                    message: "the handler returned without setting a response".into(),
                }),
                Err(e) => Err(CallError::Trap {
                    plugin: plugin.name().to_string(),
                    message: format!("handler task failed: {e}"),
                }),
            },
        }
    }
}
