//! The node's outbound HTTP, policed here and nowhere else: plugins'
//! `wasi:http/outgoing-handler` requests (through [`PolicedHooks`]) and
//! `hanzo:node/fetch`'s both go through [`send`]. A request leaves only when
//! its host matches the plugin's `permissions.http`, and only to an address
//! checked after DNS resolution, so a permitted name cannot point the plugin
//! at loopback or a private network unless that address itself is
//! permitted. The connection goes to the checked address (no second
//! lookup), which also defeats DNS rebinding.
//!
//! `policy` holds the grants and the address checks, `hooks` the wasi-http
//! hook, `connect` opening a connection (TCP, TLS, the HTTP/1.1 handshake),
//! `pool` the keep-alive pool and sending on it, `body` the response body
//! a plugin reads.

mod body;
mod connect;
mod hooks;
mod policy;
mod pool;

pub use body::TimedBody;
pub use hooks::PolicedHooks;
pub use policy::{HostPattern, OutboundPolicy, Refusal, is_public};
pub use pool::sweep_idle_connections;

use http::uri::Scheme;
use pool::send_to;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// Sends `request` (absolute URI, `host` header set) if `policy` allows its
/// destination: wasi:http's requests and `hanzo:node/fetch`'s both go here.
pub async fn send(
    policy: &OutboundPolicy,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<http::Response<TimedBody>, HttpError> {
    let uri = request.uri();
    let tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    if let Err(Refusal::HostNotAllowed(target)) = policy.check_host(&host, port) {
        tracing::warn!(plugin = %policy.plugin, %target, "outbound request refused: host not allowed");
        return Err(HttpError::HttpRequestDenied);
    }
    let addrs = policy.resolve(&host, port).await?;
    send_to(request, &addrs, tls, &host, options).await
}
