//! The one way a plugin instance is held for a call: a concurrency permit,
//! then a store (a parked instance of the same version, tenant and
//! deployment, or a fresh one), calls bounded in time, and at the end the
//! instance parked for reuse or retired. Tool, provider, stream and API
//! calls all go through a [`Lease`].

use super::Runtime;
use crate::bindings::versioned::Provider;
use crate::bindings::versioned::Tool;
use crate::call_state::CallState;
use crate::context::CallCtx;
use crate::error::CallError;
use crate::plugins::{LoadedPlugin, PluginKind, PluginPre};
use crate::warm::{Reusable, Warm, WarmPool};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, Trap};
use wasmtime_wasi_http::p2::bindings::Proxy;

/// The exports of one plugin kind, instantiated from its `PluginPre`.
pub(crate) trait Instance: Reusable + Send + Sync {
    const KIND: PluginKind;
    fn instantiate(
        pre: &PluginPre,
        store: &mut Store<CallState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
}

macro_rules! instance {
    ($ty:ty, $kind:ident) => {
        impl Instance for $ty {
            const KIND: PluginKind = PluginKind::$kind;
            async fn instantiate(
                pre: &PluginPre,
                store: &mut Store<CallState>,
            ) -> wasmtime::Result<Self> {
                match pre {
                    PluginPre::$kind(pre) => pre.instantiate_async(store).await,
                    // `Runtime::lease` checked the kind.
                    _ => unreachable!("a lease of the wrong plugin kind"),
                }
            }
        }
    };
}
instance!(Tool, Tool);
instance!(Provider, Provider);
instance!(Proxy, Api);

/// How an instance that is not parked goes away.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Release {
    /// Dropped at once, with its permit (a caller such as a job or the
    /// loader may need the plugin's permit back right after).
    Now,
    /// After the thread ran what is ready: a response is being written
    /// (see [`Runtime::retire`]).
    AfterResponse,
}

/// One call's hold on an instance of a plugin. Dropping it retires the
/// instance; [`Lease::finish`] parks it instead when it may be reused.
pub(crate) struct Lease<E: Instance> {
    pub plugin: Arc<LoadedPlugin>,
    /// Taken only when the lease ends.
    store: Option<Store<CallState>>,
    permit: Option<OwnedSemaphorePermit>,
    /// The instance's exports once instantiated (or taken parked).
    exports: Option<E>,
    /// Calls of the instance, the running one included.
    calls: u32,
    /// Whether a finished instance may be parked for the next call.
    reuse: bool,
    release: Release,
    /// A call of this lease failed: the instance is never parked.
    failed: bool,
    warm: Arc<WarmPool>,
}

impl Runtime {
    /// Takes a lease on an instance of `plugin` for a call in `ctx`: waits
    /// for one of the plugin's concurrency permits (up to its time limit),
    /// starts in the background when the plugin ran long lately, and with
    /// `reuse` takes a parked instance when the plugin opts in to reuse.
    pub(crate) async fn lease<E: Instance>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: CallCtx,
        reuse: bool,
        release: Release,
    ) -> Result<Lease<E>, CallError> {
        if !plugin.serves(&ctx.tenant) {
            // A tenant's own plugin runs for that tenant only; to any other
            // it does not exist.
            return Err(CallError::PluginNotFound(plugin.name().to_string()));
        }
        if plugin.kind() != E::KIND {
            return Err(CallError::WrongKind {
                plugin: plugin.name().to_string(),
                expected: E::KIND.as_str(),
                actual: plugin.kind().as_str(),
            });
        }
        let permit = self.permit(plugin).await?;
        let parked = if reuse {
            self.warm.take(plugin, &ctx)
        } else {
            None
        };
        // A parked instance is always of its plugin's kind.
        let parked = parked.and_then(|w| Some((w.store, E::from_exports(w.exports)?, w.calls)));
        crate::sched::offload_if_heavy(&plugin.cpu, parked.is_none()).await;
        let (store, exports, calls) = match parked {
            Some((mut store, exports, calls)) => {
                store.data_mut().resume(&self.engine, ctx);
                store.set_epoch_deadline(1);
                (store, Some(exports), calls)
            }
            None => (self.new_store(plugin, ctx), None, 0),
        };
        Ok(Lease {
            plugin: plugin.clone(),
            store: Some(store),
            permit: Some(permit),
            exports,
            calls: calls + 1,
            reuse,
            release,
            failed: false,
            warm: self.warm.clone(),
        })
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
    pub(crate) async fn bounded<T>(
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
    pub(crate) fn retire(store: Store<CallState>, permit: Option<OwnedSemaphorePermit>) {
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

    /// Names the failure of a call whose store is `store`.
    pub(crate) fn classify(store: &Store<CallState>, err: wasmtime::Error) -> CallError {
        let state = store.data();
        let plugin = state.grants.plugin.clone();
        if state.limits.memory_limit_hit {
            return CallError::MemoryLimit {
                plugin,
                limit_mb: state.limits.limit_mb(),
            };
        }
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                plugin,
                limit_ms: state.grants.limits.timeout_ms,
            };
        }
        // The guest's last words first (a Python traceback, a panic
        // message), then the trap with its wasm backtrace.
        let message = match state.stderr.text() {
            Some(said) => format!("{said}\n{err:#}"),
            None => format!("{err:#}"),
        };
        CallError::Trap { plugin, message }
    }
}

impl<E: Instance> Lease<E> {
    /// Whether the instance is yet to be instantiated (not a parked one).
    pub fn is_fresh(&self) -> bool {
        self.exports.is_none()
    }

    /// The store, for host resources a call is given (an incoming request).
    pub fn store(&mut self) -> &mut Store<CallState> {
        self.store
            .as_mut()
            .expect("a lease's store is taken only when it ends")
    }

    /// Runs `call` on the instance, instantiating it first when fresh,
    /// within the plugin's time limit (which counts from here: each pull of
    /// a stream has its own). A failure is named after the plugin, and the
    /// instance is then never parked.
    pub async fn call<T>(
        &mut self,
        call: impl AsyncFnOnce(&E, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        let Lease {
            plugin,
            store,
            exports,
            ..
        } = self;
        let store = store
            .as_mut()
            .expect("a lease's store is taken only when it ends");
        store.data_mut().started = Instant::now();
        // What ran long since here tells whether this call did (`crate::sched`).
        let since = crate::sched::mark();
        let r = Runtime::bounded(plugin, async {
            let exports = match exports {
                Some(e) => e,
                None => {
                    // Ticks during the instance's start judge a slow start,
                    // not a long call.
                    store.data_mut().starting = true;
                    let instance = E::instantiate(&plugin.pre, store).await;
                    store.data_mut().starting = false;
                    let instance = instance?;
                    plugin.cpu.ended(since, true);
                    exports.insert(instance)
                }
            };
            let r = call(exports, store).await;
            if r.is_ok() {
                plugin.cpu.ended(since, false);
            }
            r
        })
        .await;
        let r = match r {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => Runtime::classify(store, e),
            Err(e) => e,
        };
        self.failed = true;
        Err(r)
    }

    /// Ends the lease after its calls: the instance is parked for the next
    /// call when the plugin opts in to reuse and room is left, else it goes.
    pub fn finish(mut self) {
        let (Some(store), Some(permit)) = (self.store.take(), self.permit.take()) else {
            return;
        };
        let store = match self.exports.take() {
            Some(exports) if self.reuse && !self.failed => match self.warm.put(Warm {
                store,
                exports: exports.into_exports(),
                calls: self.calls,
            }) {
                None => return drop(permit),
                Some(back) => back.store,
            },
            _ => store,
        };
        self.release(store, permit);
    }

    fn release(&self, store: Store<CallState>, permit: OwnedSemaphorePermit) {
        match self.release {
            Release::Now => {
                drop(store);
                drop(permit);
            }
            Release::AfterResponse => Runtime::retire(store, Some(permit)),
        }
    }
}

impl<E: Instance> Drop for Lease<E> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            match self.permit.take() {
                Some(permit) => self.release(store, permit),
                None => drop(store),
            }
        }
    }
}
