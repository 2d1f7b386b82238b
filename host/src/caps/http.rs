//! Outbound HTTP for plugins (`wasi:http/outgoing-handler`), policed here and
//! nowhere else: a request leaves only when its host matches the plugin's
//! `permissions.http`, and only to an address checked after DNS resolution, so
//! a permitted name cannot point the plugin at loopback or a private network
//! unless that address itself is permitted. The connection goes to the checked
//! address (no second lookup), which also defeats DNS rebinding.

use super::upstream_body::TimedBody;
use http::uri::Scheme;
use http_body_util::BodyExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One entry of `permissions.http`: `host`, `host:port`, `*.domain`, or an IP
/// literal with its port (`127.0.0.1:8000`, `[::1]:8080`). A name without a
/// port matches every port; an address must name its port, so granting one
/// service on a machine does not grant all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
    Suffix(String),
    Ip(IpAddr),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let t = text.trim();
        if t.is_empty() || t.contains("://") || t.contains('/') || t.contains('@') {
            return Err(format!(
                "`{text}` must be a host, host:port or *.domain, not a URL"
            ));
        }
        if let Ok(addr) = t.parse::<SocketAddr>() {
            return Ok(HostPattern {
                host: HostMatch::Ip(addr.ip()),
                port: Some(addr.port()),
            });
        }
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let with_port = match ip {
                IpAddr::V4(_) => format!("{ip}:PORT"),
                IpAddr::V6(_) => format!("[{ip}]:PORT"),
            };
            return Err(format!(
                "`{text}` is an IP address without a port: name the port too (`{with_port}`)"
            ));
        }
        let (host, port) = match t.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("`{text}` has a bad port"))?,
                ),
            ),
            None => (t, None),
        };
        let host = host.to_ascii_lowercase();
        let valid = |h: &str| {
            !h.is_empty()
                && h.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        let host = if let Some(rest) = host.strip_prefix("*.") {
            if !valid(rest) {
                return Err(format!("`{text}` is not a valid wildcard domain"));
            }
            HostMatch::Suffix(format!(".{rest}"))
        } else {
            if !valid(&host) {
                return Err(format!("`{text}` is not a valid host name"));
            }
            HostMatch::Exact(host)
        };
        Ok(HostPattern { host, port })
    }

    fn matches_name(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.ends_with(s.as_str()),
            HostMatch::Ip(ip) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|h| h == *ip),
        }
    }

    fn matches_addr(&self, addr: SocketAddr) -> bool {
        matches!(self.host, HostMatch::Ip(ip) if canonical(ip) == canonical(addr.ip()))
            && self.port.is_none_or(|p| p == addr.port())
    }
}

/// The outbound grant of one plugin.
#[derive(Debug, Default)]
pub struct OutboundPolicy {
    pub plugin: String,
    /// The grants as written (manifest plus operator), for display.
    pub hosts: Vec<String>,
    pub allowed: Vec<HostPattern>,
}

/// Why a request did not leave the node.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    HostNotAllowed(String),
    AddressNotAllowed(String, IpAddr),
}

impl OutboundPolicy {
    pub fn new(plugin: &str, patterns: &[String]) -> OutboundPolicy {
        OutboundPolicy {
            plugin: plugin.to_string(),
            hosts: patterns.to_vec(),
            // Manifests are checked on load; an unparsable entry grants nothing.
            allowed: patterns
                .iter()
                .filter_map(|p| HostPattern::parse(p).ok())
                .collect(),
        }
    }

    /// Is the name allowed at all (before DNS)?
    pub fn check_host(&self, host: &str, port: u16) -> Result<(), Refusal> {
        let host = host.to_ascii_lowercase();
        if self.allowed.iter().any(|p| p.matches_name(&host, port)) {
            Ok(())
        } else {
            Err(Refusal::HostNotAllowed(format!("{host}:{port}")))
        }
    }

    /// Is a resolved address allowed? Public addresses are, once the name was;
    /// loopback, private, link-local and other special ranges only when the
    /// address itself is listed.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        if is_public(addr.ip()) || self.allowed.iter().any(|p| p.matches_addr(addr)) {
            Ok(())
        } else {
            Err(Refusal::AddressNotAllowed(host.to_string(), addr.ip()))
        }
    }

    /// Resolves `host:port` and keeps the addresses the policy allows.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::lookup_host((bare, port)),
            )
            .await
            .map_err(|_| HttpError::DnsTimeout)?
            .map_err(|e| HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })?
            .collect(),
        };
        if addrs.is_empty() {
            return Err(HttpError::DestinationNotFound);
        }
        let mut refused = None;
        let ok: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.check_addr(host, *a) {
                Ok(()) => true,
                Err(r) => {
                    refused = Some(r);
                    false
                }
            })
            .collect();
        if ok.is_empty() {
            if let Some(Refusal::AddressNotAllowed(h, ip)) = refused {
                tracing::warn!(plugin = %self.plugin, host = %h, %ip, "outbound request refused: address not allowed");
            }
            return Err(HttpError::DestinationIpProhibited);
        }
        Ok(ok)
    }
}

/// IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Globally routable unicast. Not IPv4 `0/8` (this network), `10/8`,
/// `172.16/12`, `192.168/16` (private), `100.64/10` (shared, CGNAT),
/// `127/8` (loopback), `169.254/16` (link-local), `192.0.0/24` (protocol
/// assignments), `192.0.2/24`, `198.51.100/24`, `203.0.113/24`
/// (documentation), `192.88.99/24` (6to4 relays), `198.18/15`
/// (benchmarking), `224/4` (multicast), `240/4` (reserved) or the broadcast
/// address. For IPv6, only global unicast `2000::/3` and within it not
/// `2001::/23` (protocol assignments: Teredo `2001::/32`, benchmarking,
/// ORCHID), `2001:db8::/32` and `3fff::/20` (documentation), `2002::/16`
/// (6to4, which would reach any IPv4 address); outside it are loopback,
/// unspecified, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, discard
/// `100::/64`, unique-local `fc00::/7`, link-local `fe80::/10`, site-local
/// `fec0::/10` and multicast. IPv4-mapped `::ffff:0:0/96` counts as the IPv4
/// address it carries.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xe000) == 0x2000
                && !((s[0] == 0x2001 && s[1] < 0x0200)
                    || (s[0] == 0x2001 && s[1] == 0x0db8)
                    || s[0] == 0x2002
                    || (s[0] & 0xfff0) == 0x3ff0)
        }
    }
}

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

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

type Sender = hyper::client::conn::http1::SendRequest<WasiBody>;

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

/// Opens a new HTTP/1.1 connection to the first reachable address of `addrs`;
/// the connection is driven by its own task.
async fn connect(
    addrs: &[SocketAddr],
    tls: bool,
    host: &str,
    timeout: Duration,
) -> Result<(Sender, SocketAddr), HttpError> {
    let mut last = HttpError::ConnectionRefused;
    let mut tcp = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some((s, *addr));
                break;
            }
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    let (tcp, addr) = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if tls {
        let name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )?;
        Box::new(
            tls_connector()
                .connect(name, tcp)
                .await
                .map_err(HttpError::Tls)?,
        )
    } else {
        Box::new(tcp)
    };
    let (sender, conn) = tokio::time::timeout(
        timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok((sender, addr))
}

/// Sends `request` to one of `addrs` (already checked), reusing an idle
/// keep-alive connection when one is ready, with TLS verified against `host`.
/// Modelled on wasmtime-wasi-http's `default_send_request`, which connects by
/// name for every request instead.
async fn send_to(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(p: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new("t", &p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn patterns_parse_and_reject_urls() {
        assert!(HostPattern::parse("api.openai.com").is_ok());
        assert!(HostPattern::parse("*.openai.azure.com").is_ok());
        assert!(HostPattern::parse("127.0.0.1:8080").is_ok());
        assert!(HostPattern::parse("[::1]:8080").is_ok());
        assert!(HostPattern::parse("::1").is_err());
        assert!(HostPattern::parse("https://api.openai.com").is_err());
        assert!(HostPattern::parse("a..b").is_err());
        assert!(HostPattern::parse("host:notaport").is_err());
    }

    #[test]
    fn names_and_ports_match() {
        let p = policy(&["api.openai.com", "*.example.com", "local.test:8080"]);
        assert!(p.check_host("API.openai.com", 443).is_ok());
        assert!(p.check_host("a.b.example.com", 80).is_ok());
        assert!(p.check_host("example.com", 80).is_err());
        assert!(p.check_host("local.test", 8080).is_ok());
        assert!(p.check_host("local.test", 8081).is_err());
        assert!(p.check_host("evil.com", 443).is_err());
        assert!(p.check_host("api.openai.com.evil.com", 443).is_err());
    }

    #[test]
    fn private_addresses_need_their_own_grant() {
        let p = policy(&["internal.test", "127.0.0.1:9000"]);
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(p.check_addr("internal.test", a("10.0.0.5:80")).is_err());
        assert!(p.check_addr("internal.test", a("127.0.0.1:80")).is_err());
        assert!(
            p.check_addr("internal.test", a("[::ffff:127.0.0.1]:9000"))
                .is_ok()
        );
        assert!(p.check_addr("x", a("127.0.0.1:9000")).is_ok());
        assert!(
            p.check_addr("internal.test", a("169.254.169.254:80"))
                .is_err()
        );
        assert!(p.check_addr("internal.test", a("[fd00::1]:80")).is_err());
        assert!(p.check_addr("internal.test", a("8.8.8.8:80")).is_ok());
    }

    #[test]
    fn an_address_grant_names_its_port() {
        for bare in ["127.0.0.1", "10.0.0.1", "::1", "[::1]", "fe80::1"] {
            let e = HostPattern::parse(bare).unwrap_err();
            assert!(e.contains("without a port") && e.contains(":PORT"), "{e}");
        }
        let e = HostPattern::parse("::1").unwrap_err();
        assert!(e.contains("`[::1]:PORT`"), "{e}");
        // Names may still go without one: they match every port.
        let p = policy(&["internal.test"]);
        assert!(p.check_host("internal.test", 1).is_ok());
        assert!(p.check_host("internal.test", 65535).is_ok());
    }

    #[test]
    fn special_ranges_are_not_public() {
        let special = [
            // IPv4
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:0808:0808::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
        ];
        for ip in special {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip), "{ip} must not count as public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ];
        for ip in public {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_public(ip), "{ip} must count as public");
        }
    }

    #[test]
    fn special_addresses_need_a_grant_of_their_own() {
        let p = policy(&["internal.test", "[2002:7f00:1::1]:443"]);
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        for refused in [
            "[2002:7f00:1::1]:80",
            "[2001::1]:443",
            "[::127.0.0.1]:443",
            "[fec0::1]:443",
            "[64:ff9b::7f00:1]:443",
        ] {
            assert!(
                p.check_addr("internal.test", a(refused)).is_err(),
                "{refused}"
            );
        }
        assert!(
            p.check_addr("internal.test", a("[2002:7f00:1::1]:443"))
                .is_ok()
        );
    }
}
