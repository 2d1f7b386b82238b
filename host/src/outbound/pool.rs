//! The keep-alive pool of upstream connections, shared by every plugin
//! call, and sending a request on a pooled or a fresh connection.

use super::TimedBody;
use super::connect::{Sender, connect};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// Where a pooled connection goes: the checked address, and for TLS the name
/// its certificate was verified against; and the runtime whose task drives
/// it. A request on one of the single-threaded serving runtimes reuses only
/// that runtime's connections, so its response is read by its own thread
/// instead of waking another thread to pass it on.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    runtime: tokio::runtime::Id,
    addr: SocketAddr,
    tls: bool,
    host: String,
}

impl PoolKey {
    /// The key for a connection from the current runtime.
    fn here(addr: SocketAddr, tls: bool, host: &str) -> PoolKey {
        PoolKey {
            runtime: tokio::runtime::Handle::current().id(),
            addr,
            tls,
            host: host.to_string(),
        }
    }
}

/// Idle keep-alive connections to upstreams, shared by every plugin call so an
/// LLM request does not pay a TCP (and TLS) handshake each time. Only plain
/// HTTP/1.1 connections to addresses the policy already allowed are kept.
struct Pool {
    idle: std::sync::Mutex<std::collections::HashMap<PoolKey, Vec<Pooled>>>,
}

static POOL: std::sync::LazyLock<Pool> = std::sync::LazyLock::new(|| Pool {
    idle: Default::default(),
});

/// A pooled connection, and whether the plugin is done with its last
/// response (read to the end, or dropped and being drained by the host).
struct Pooled {
    sender: Sender,
    since: std::time::Instant,
    released: Arc<AtomicBool>,
}

impl Pooled {
    /// Neither closed by the upstream nor idle too long.
    fn usable(&self) -> bool {
        !self.sender.is_closed() && self.since.elapsed() < POOL_IDLE
    }
}

/// How long to wait for a released connection to become ready: only its
/// connection task (or the drain of a response's tail) has yet to run.
const SETTLE_WAIT: Duration = Duration::from_millis(100);

/// Idle connections kept per destination.
const POOL_PER_KEY: usize = 64;
/// Idle connections older than this are closed (servers commonly allow 60-90 s).
const POOL_IDLE: Duration = Duration::from_secs(50);

impl Pool {
    /// A connection to `key` for a request: one that is ready, else one whose
    /// last response the plugin is done with (ready as soon as its connection
    /// task has run; `false` says to wait for it). Connections still
    /// streaming a response stay pooled; closed or stale ones go.
    fn checkout(&self, key: &PoolKey) -> Option<(Sender, bool)> {
        let mut idle = crate::lock(&self.idle);
        let list = idle.get_mut(key)?;
        list.retain(Pooled::usable);
        if let Some(i) = list.iter().position(|p| p.sender.is_ready()) {
            return Some((list.swap_remove(i).sender, true));
        }
        let i = list
            .iter()
            .position(|p| p.released.load(Ordering::Acquire))?;
        Some((list.swap_remove(i).sender, false))
    }

    /// Closes the idle connections that went stale or were closed by the upstream.
    fn sweep(&self) {
        let mut idle = crate::lock(&self.idle);
        idle.retain(|_, list| {
            list.retain(Pooled::usable);
            !list.is_empty()
        });
    }

    fn checkin(&self, key: PoolKey, sender: Sender, released: Arc<AtomicBool>) {
        let mut idle = crate::lock(&self.idle);
        let list = idle.entry(key).or_default();
        if list.len() < POOL_PER_KEY {
            list.push(Pooled {
                sender,
                since: std::time::Instant::now(),
                released,
            });
        }
    }
}

/// Closes stale idle upstream connections (checkouts skip them anyway; this
/// returns their sockets without waiting for the next request).
pub fn sweep_idle_connections() {
    POOL.sweep();
}

/// Sends `request` to one of `addrs` (already checked), reusing an idle
/// keep-alive connection when one is ready, with TLS verified against `host`.
/// Modelled on wasmtime-wasi-http's `default_send_request`, which connects by
/// name for every request instead.
pub(super) async fn send_to(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    tls: bool,
    host: &str,
    options: Option<RequestOptions>,
) -> Result<http::Response<TimedBody>, HttpError> {
    let opt = options.unwrap_or_default();
    let connect_timeout = opt.connect_timeout.unwrap_or(Duration::from_secs(30));
    let first_byte_timeout = opt.first_byte_timeout.unwrap_or(Duration::from_secs(600));
    let between_bytes_timeout = opt
        .between_bytes_timeout
        .unwrap_or(Duration::from_secs(600))
        .max(Duration::from_nanos(1));

    // Origin-form on the wire; the Host header already names the authority.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
        )
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let mut pooled = addrs.iter().find_map(|addr| {
        let key = PoolKey::here(*addr, tls, host);
        POOL.checkout(&key).map(|(s, ready)| (s, ready, key))
    });
    if let Some((sender, false, _)) = &mut pooled
        && !matches!(
            tokio::time::timeout(SETTLE_WAIT, sender.ready()).await,
            Ok(Ok(()))
        )
    {
        pooled = None;
    }
    let drained = Arc::new(AtomicBool::new(false));
    let (mut sender, key, request) = match pooled {
        Some((mut sender, _, key)) => {
            match tokio::time::timeout(first_byte_timeout, sender.try_send_request(request))
                .await
                .map_err(|_| HttpError::ConnectionReadTimeout)?
            {
                Ok(response) => {
                    POOL.checkin(key, sender, drained.clone());
                    return Ok(response
                        .map(|incoming| TimedBody::new(incoming, between_bytes_timeout, drained)));
                }
                // The idle connection went away before the request was written:
                // send it on a fresh connection instead.
                Err(mut e) => match e.take_message() {
                    Some(request) => {
                        let (sender, addr) = connect(addrs, tls, host, connect_timeout).await?;
                        (sender, PoolKey::here(addr, tls, host), request)
                    }
                    None => return Err(e.into_error().into()),
                },
            }
        }
        None => {
            let (sender, addr) = connect(addrs, tls, host, connect_timeout).await?;
            (sender, PoolKey::here(addr, tls, host), request)
        }
    };
    // A fresh connection: wait for the handshake to settle, then send.
    sender.ready().await?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    POOL.checkin(key, sender, drained.clone());
    Ok(response.map(|incoming| TimedBody::new(incoming, between_bytes_timeout, drained)))
}
