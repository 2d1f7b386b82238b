//! The wasi-http hook every plugin call gets: its outgoing requests go
//! through [`super::send`] under the plugin's policy.

use super::{OutboundPolicy, send};
use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

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

/// The forbidden-header filter, made once: wasi-http's default makes a new
/// `Arc` closure for every header it checks (each field of each request and
/// response a plugin builds or receives: a dozen allocations per gateway
/// request).
static FORBIDDEN_HEADER_FILTER: std::sync::LazyLock<ForbiddenHeaderFilter> =
    std::sync::LazyLock::new(|| Arc::new(|name| DEFAULT_FORBIDDEN_HEADERS.contains(name)));

impl WasiHttpHooks for PolicedHooks {
    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        DEFAULT_FORBIDDEN_HEADERS.contains(name)
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        FORBIDDEN_HEADER_FILTER.clone()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> PolicedHooks {
        PolicedHooks {
            policy: Arc::new(OutboundPolicy::new("test", &[])),
        }
    }

    #[test]
    fn forbids_what_wasi_http_forbids() {
        let mut hooks = hooks();
        let filter = hooks.forbidden_header_filter();
        for name in &DEFAULT_FORBIDDEN_HEADERS {
            assert!(hooks.is_forbidden_header(name), "{name}");
            assert!(filter(name), "{name}");
        }
        for name in ["content-type", "authorization", "x-hanzo-model"] {
            let name = http::HeaderName::from_static(name);
            assert!(!hooks.is_forbidden_header(&name), "{name}");
            assert!(!filter(&name), "{name}");
        }
    }

    /// One filter for every check: wasi-http's default made a new one each.
    #[test]
    fn the_filter_is_made_once() {
        let (mut a, mut b) = (hooks(), hooks());
        assert!(Arc::ptr_eq(
            &a.forbidden_header_filter(),
            &b.forbidden_header_filter()
        ));
    }
}
