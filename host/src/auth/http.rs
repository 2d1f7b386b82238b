//! Checks on a request's headers that a browser can be made to send:
//! `Host` on a loopback bind (DNS rebinding: a hostile page whose name now
//! resolves to 127.0.0.1), `Origin` on state-changing requests (a hostile
//! page posting to the node), and CORS for the origins the operator lists.

use http::{HeaderMap, HeaderValue, Method, header};

/// Whether `host` (a `Host` header, or the request URI's authority) names the
/// loopback machine, or one of `allowed`. Runs on every request of a
/// loopback-bound node: no allocation.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim();
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if name.is_empty()
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let localhost_suffix = name.len() > ".localhost".len()
        && name.as_bytes()[name.len() - ".localhost".len()..].eq_ignore_ascii_case(b".localhost");
    if name.eq_ignore_ascii_case("localhost")
        || localhost_suffix
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(host))
}

/// A `Host` value's name and port (`[::1]:80` → `::1`, `80`).
fn split_host(host: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        return match after {
            "" => Some((name, None)),
            p => Some((name, Some(p.strip_prefix(':')?))),
        };
    }
    Some(match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    })
}

/// The `Host` a request was sent to: the header, else (HTTP/2) the URI's authority.
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// Whether a method changes state (what a cross-site form or fetch could abuse).
pub fn state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `origin` is one of `listed` (`*` lists every origin).
pub fn origin_listed(origin: &str, listed: &[String]) -> bool {
    listed
        .iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin.trim()))
}

/// Whether a page of `origin` is the node's own: the scheme's host and port
/// are those the request was sent to.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Ok(uri) = origin.trim().parse::<http::Uri>() else {
        return false;
    };
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return false,
    };
    let (Some(from), Some(to)) = (
        uri.authority(),
        host.and_then(|h| h.parse::<http::uri::Authority>().ok()),
    ) else {
        return false;
    };
    from.host().eq_ignore_ascii_case(to.host())
        && from.port_u16().unwrap_or(default_port) == to.port_u16().unwrap_or(default_port)
}

/// The headers of a CORS answer to a listed `origin`.
pub fn add_cors(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// The headers of an answer to a listed origin's preflight (`OPTIONS`).
pub fn add_preflight(
    headers: &mut HeaderMap,
    origin: &HeaderValue,
    requested: Option<&HeaderValue>,
) {
    add_cors(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    // The origin is trusted: whatever headers its page sends (SDKs send many).
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        requested
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type, x-api-key")),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_listed_ones() {
        for ok in [
            "127.0.0.1:3690",
            "localhost",
            "LOCALHOST:1",
            "[::1]:80",
            "app.localhost:3690",
            "127.1.2.3",
        ] {
            assert!(host_allowed(ok, &[]), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3690",
            "127.0.0.1.evil.example",
            "",
            "a b",
        ] {
            assert!(!host_allowed(bad, &[]), "{bad}");
        }
        let listed = ["node.lan".to_string()];
        assert!(host_allowed("node.lan:3690", &listed));
        assert!(!host_allowed("other.lan:3690", &listed));
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://127.0.0.1:3690", Some("127.0.0.1:3690")));
        assert!(!same_origin(
            "http://127.0.0.1:3691",
            Some("127.0.0.1:3690")
        ));
        assert!(!same_origin("https://evil.example", Some("127.0.0.1:3690")));
        assert!(!same_origin("null", Some("127.0.0.1:3690")));
        let listed = ["https://app.example.com/".to_string()];
        assert!(origin_listed("https://app.example.com", &listed));
        assert!(!origin_listed("https://evil.example", &listed));
        assert!(state_changing(&Method::POST) && !state_changing(&Method::GET));
    }
}
