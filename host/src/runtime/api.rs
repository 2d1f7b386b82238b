//! API plugins: one HTTP request served by a `wasi:http` handler.

use super::Runtime;
use super::lease::Release;
use crate::context::CallCtx;
use crate::error::CallError;
use crate::plugins::LoadedPlugin;
use crate::tenant::Tenant;
use std::sync::Arc;
use wasmtime_wasi_http::p2::bindings::Proxy;

/// The body type API plugins answer with.
pub type ApiBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

impl Runtime {
    /// Serves one HTTP request with an API plugin.
    pub async fn handle_http<B>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        tenant: Tenant,
        request: http::Request<B>,
    ) -> Result<http::Response<ApiBody>, CallError>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        use wasmtime_wasi_http::WasiHttpView;
        let mut lease = self
            .lease::<Proxy>(plugin, CallCtx::new(tenant), true, Release::AfterResponse)
            .await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let instantiate_error = |e: wasmtime::Error| CallError::Instantiate {
            plugin: plugin.name().to_string(),
            message: format!("{e:#}"),
        };
        let http = lease.store().data_mut();
        let req = http
            .http()
            .new_incoming_request(
                wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
                request,
            )
            .map_err(instantiate_error)?;
        let out = http
            .http()
            .new_response_outparam(tx)
            .map_err(instantiate_error)?;
        // The handler keeps running after it set the response head, while it
        // writes the body; the task holds the instance until it returns.
        // The task starts here and moves to the background pool if the
        // handler (or a plugin it calls) runs long: `crate::sched`.
        let task = tokio::spawn(crate::sched::offloadable(async move {
            crate::sched::offload_if_heavy(&lease.plugin.cpu, lease.is_fresh()).await;
            lease
                .call(async |proxy, s| {
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(s, req, out)
                        .await
                })
                .await?;
            lease.finish();
            Ok::<(), CallError>(())
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
