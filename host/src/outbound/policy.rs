//! Outbound grants: `permissions.http` patterns ([`HostPattern`]), a
//! plugin's [`OutboundPolicy`] (the name check before DNS, the address check
//! after it, resolving), and which address ranges count as public.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use wasmtime_wasi_http::Error as HttpError;

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

    /// Whether this grants an address that is not public (loopback,
    /// private, link-local, ...: see [`is_public`]). A name never is: what
    /// it resolves to is checked after DNS.
    pub fn is_special_address(&self) -> bool {
        matches!(self.host, HostMatch::Ip(ip) if !is_public(ip))
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
    /// The granted patterns as written (what `crate::grants::resolve` kept
    /// of the manifest's, then the operator's own), for display.
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
