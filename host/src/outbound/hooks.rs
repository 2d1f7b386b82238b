//! The wasi-http hook every plugin call gets: its outgoing requests go
//! through [`super::send`] under the plugin's policy.

use super::{OutboundPolicy, send};
use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The per-call hooks handed to wasi-http.
pub struct PolicedHooks {
    pub policy: Arc<OutboundPolicy>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for PolicedHooks {
    /// Writes a plugin may queue on an outgoing body (a request to an
    /// upstream, or an API plugin's streamed response) before it waits: with
    /// wasi-http's default of one, every streamed chunk is a hand-off between
    /// the plugin and the connection; with a few, chunks produced together
    /// leave in one write.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        16
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let policy = self.policy.clone();
        Box::new(async move {
            let response = send(&policy, request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(std::future::ready(Ok(())))
                    as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}
