//! Glue every HTTP provider plugin needs around its wire format: timeouts
//! and keys from the plugin's config, sending a request and turning a
//! failure into the [`ProviderError`] the router acts on, and reading
//! bodies with a size limit.
//!
//! ```no_run
//! use hanzo_node_sdk::http::Request;
//! use hanzo_node_sdk::upstream::{self, Timeouts};
//! use hanzo_node_sdk::{anthropic, provider::ProviderError};
//!
//! fn list() -> Result<Vec<u8>, ProviderError> {
//!     let timeouts = Timeouts::from_config(10_000, 110_000)?;
//!     let request = timeouts.apply(Request::get("https://api.anthropic.com/v1/models"));
//!     let response = upstream::send(request, anthropic::error_from_response)?;
//!     upstream::read_body(response, 1 << 20)
//! }
//! ```

use crate::http::{self, HttpError, HttpErrorKind, Request, Response, header_value};
use crate::provider::{ChatChunk, ChatStream, ProviderError};
use crate::{config, log};
use std::time::Duration;

/// How much of an error body is read to explain the error.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;
/// The most a streamed answer may bring in all. It is read as it arrives,
/// never held whole, so this is only a backstop.
pub const MAX_STREAM_BYTES: usize = u32::MAX as usize;

/// Maps a non-2xx response (status, headers, the start of the body) onto
/// a provider error; each wire module has one (`error_from_response`).
pub type ErrorMapper = fn(u16, &[(String, Vec<u8>)], &[u8]) -> ProviderError;

/// Connect and read timeouts of outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Limit on establishing the connection.
    pub connect: Duration,
    /// Limit on the wait for the first byte, and between bytes of a stream.
    pub read: Duration,
}

impl Timeouts {
    /// From the config keys `connect_timeout_ms` and `read_timeout_ms`,
    /// with these defaults. A value that is not a number is an internal
    /// error naming the key.
    pub fn from_config(
        default_connect_ms: u64,
        default_read_ms: u64,
    ) -> Result<Self, ProviderError> {
        let get = |key: &str, default: u64| {
            config::get_parsed::<u64>(key)
                .map(|v| Duration::from_millis(v.unwrap_or(default)))
                .map_err(ProviderError::Internal)
        };
        Ok(Timeouts {
            connect: get("connect_timeout_ms", default_connect_ms)?,
            read: get("read_timeout_ms", default_read_ms)?,
        })
    }

    /// Sets the timeouts on a request.
    pub fn apply(&self, request: Request) -> Request {
        request
            .connect_timeout(self.connect)
            .first_byte_timeout(self.read)
            .between_bytes_timeout(self.read)
    }
}

/// The value of the first of `names` (declared secrets) that the operator
/// set; `None` when none is.
pub fn first_secret(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| config::optional_secret(name))
}

/// A config setting parsed with [`str::parse`], or `default` when unset or
/// blank; an unparsable value is an internal error naming the key.
pub fn setting<T: std::str::FromStr>(key: &str, default: T) -> Result<T, ProviderError>
where
    T::Err: std::fmt::Display,
{
    match config::get(key) {
        Some(text) if !text.trim().is_empty() => text.trim().parse().map_err(|e| {
            ProviderError::Internal(format!("config `{key}` = `{text}` is invalid: {e}"))
        }),
        _ => Ok(default),
    }
}

/// An optional config setting: `None` when unset or blank.
pub fn optional_setting<T: std::str::FromStr>(key: &str) -> Result<Option<T>, ProviderError>
where
    T::Err: std::fmt::Display,
{
    match config::get(key) {
        Some(text) if !text.trim().is_empty() => text.trim().parse().map(Some).map_err(|e| {
            ProviderError::Internal(format!("config `{key}` = `{text}` is invalid: {e}"))
        }),
        _ => Ok(None),
    }
}

/// A base URL without trailing slashes, so paths can be appended with
/// their own `/`.
pub fn normalize_base_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// `text` percent-encoded for a URL's query or path segment: everything
/// but the unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends `request` ([`Request::open`]) and returns once the response head
/// arrived, for a body read as it arrives; a transport failure becomes
/// timeout or upstream-unavailable, and a non-2xx status the error `map`
/// gives for it (after reading at most [`MAX_ERROR_BYTES`] of the body).
/// Failures are logged with the method and URL (never the headers).
pub fn send(request: Request, map: ErrorMapper) -> Result<Response, ProviderError> {
    exchange(request, map, |request| request.open(MAX_STREAM_BYTES))
}

/// As [`send`] then [`read_body`], in one host call ([`Request::fetch`]):
/// the whole body of a 2xx answer, at most `limit` bytes. For an answer that
/// is one JSON document.
pub fn fetch(request: Request, limit: usize, map: ErrorMapper) -> Result<Vec<u8>, ProviderError> {
    read_body(
        exchange(request, map, |request| request.fetch(limit))?,
        limit,
    )
}

fn exchange(
    request: Request,
    map: ErrorMapper,
    go: impl FnOnce(Request) -> Result<Response, HttpError>,
) -> Result<Response, ProviderError> {
    // Only a failure is logged: keep the parts, format them then.
    let method = http::method_name(request.method()).to_owned();
    let url = request.url().to_owned();
    let what = || format!("{method} {url}");
    let response = go(request).map_err(|e| {
        log::warn!("{}: {e}", what());
        error_from_http(&e)
    })?;
    if response.is_success() {
        return Ok(response);
    }
    let status = response.status();
    let headers = response.headers().to_vec();
    // A body we cannot read still leaves the status to go by.
    let body = response
        .into_body()
        .read_up_to(MAX_ERROR_BYTES)
        .map(|(bytes, _)| bytes)
        .unwrap_or_default();
    let error = map(status, &headers, &body);
    log::warn!("{}: HTTP {status}: {}", what(), error.message());
    Err(error)
}

/// The whole body, at most `limit` bytes; a failure while reading is a
/// timeout or upstream-unavailable.
pub fn read_body(response: Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    response.bytes(limit).map_err(|e| error_from_http(&e))
}

/// How long a 429 asked to wait: `retry-after-ms` (milliseconds, OpenAI's
/// own header), else `retry-after` in seconds. An HTTP-date is ignored.
pub fn retry_after_ms(headers: &[(String, Vec<u8>)]) -> Option<u64> {
    let parse = |name: &str, scale: f64| {
        header_value(headers, name)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| (v * scale).round() as u64)
    };
    parse("retry-after-ms", 1.0).or_else(|| parse("retry-after", 1000.0))
}

/// Maps a transport failure: timeouts stay timeouts, a malformed request
/// (a bad `base_url`) is the plugin's configuration problem, and everything
/// else, including the host refusing the destination, means the upstream
/// cannot be reached.
pub fn error_from_http(error: &HttpError) -> ProviderError {
    let message = error.to_string();
    match error.kind() {
        HttpErrorKind::Timeout => ProviderError::Timeout(message),
        HttpErrorKind::InvalidRequest | HttpErrorKind::NoHost => ProviderError::Internal(message),
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// True when the response is `text/event-stream`.
pub fn is_event_stream(response: &Response) -> bool {
    response
        .header("content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/event-stream"))
}

/// A stream of one chunk, for upstreams that answer a stream request whole.
pub struct Once(pub Option<ChatChunk>);

impl ChatStream for Once {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        self.0.take().map(Ok)
    }

    fn try_next(&mut self) -> std::task::Poll<Option<Result<ChatChunk, ProviderError>>> {
        std::task::Poll::Ready(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ErrorCode;

    #[test]
    fn base_urls_are_normalized() {
        assert_eq!(
            normalize_base_url(" http://127.0.0.1:11434/ "),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            normalize_base_url("https://api.anthropic.com"),
            "https://api.anthropic.com"
        );
        assert_eq!(
            normalize_base_url(" http://localhost:8000/v1/ "),
            "http://localhost:8000/v1"
        );
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode_component("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(encode_component("Ch5+/x= y"), "Ch5%2B%2Fx%3D%20y");
        assert_eq!(encode_component("é"), "%C3%A9");
    }

    #[test]
    fn maps_transport_errors() {
        let timeout = HttpError::from_code(&ErrorCode::ConnectionTimeout, "api.openai.com");
        assert!(matches!(
            error_from_http(&timeout),
            ProviderError::Timeout(_)
        ));
        let refused = HttpError::from_code(&ErrorCode::ConnectionRefused, "localhost:8000");
        assert!(matches!(
            error_from_http(&refused),
            ProviderError::UpstreamUnavailable(_)
        ));
        let denied = HttpError::from_code(&ErrorCode::HttpRequestDenied, "evil.example");
        assert!(
            matches!(error_from_http(&denied), ProviderError::UpstreamUnavailable(m) if m.contains("refused"))
        );
    }

    #[test]
    fn retry_after_headers() {
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        let ms = |pairs: &[(&str, &str)]| retry_after_ms(&headers(pairs));
        assert_eq!(
            ms(&[("retry-after-ms", "300"), ("retry-after", "1")]),
            Some(300)
        );
        assert_eq!(ms(&[("Retry-After", "2")]), Some(2000));
        assert_eq!(ms(&[("retry-after", "1.5")]), Some(1500));
        assert_eq!(
            ms(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            None
        );
        assert_eq!(ms(&[("retry-after", "-1")]), None);
        assert_eq!(ms(&[]), None);
    }

    #[test]
    fn settings_default_without_a_host() {
        assert_eq!(setting("default_max_tokens", 4096u32).unwrap(), 4096);
        assert_eq!(optional_setting::<u32>("num_ctx").unwrap(), None);
        assert_eq!(first_secret(&["A", "B"]), None);
        let t = Timeouts::from_config(1, 2).unwrap();
        assert_eq!(t.connect, Duration::from_millis(1));
        assert_eq!(t.read, Duration::from_millis(2));
    }
}
