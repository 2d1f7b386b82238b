//! What a failed request is: [`HttpError`] and its [`HttpErrorKind`], from
//! a `wasi:http` error code, a `hanzo:node/fetch` error or a broken stream.

use std::fmt;
use wasip2::http::types::ErrorCode;
use wasip2::io::streams::StreamError;

/// What kind of failure an [`HttpError`] is; the message has the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpErrorKind {
    /// The request itself is malformed: URL, method or header.
    InvalidRequest,
    /// The host refused the request: the destination is not allowed by the
    /// plugin's `permissions.http`.
    Denied,
    /// The destination's name could not be resolved.
    Dns,
    /// The destination refused the connection.
    ConnectionRefused,
    /// The connection failed or broke for another reason.
    Connection,
    /// A connect, first-byte, between-bytes or DNS timeout expired.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer broke the HTTP protocol, or a size limit of the host was hit.
    Protocol,
    /// The response body is larger than the caller's limit.
    BodyTooLarge,
    /// There is no host to send the request through (native unit tests).
    NoHost,
    /// Anything else the host reported.
    Other,
}

/// A failed outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    kind: HttpErrorKind,
    message: String,
}

impl HttpError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        HttpError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    /// The full message (also what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True for the timeout kinds, which callers usually report differently
    /// from hard failures.
    pub fn is_timeout(&self) -> bool {
        self.kind == HttpErrorKind::Timeout
    }

    /// Maps a `wasi:http` error code, for a request to `target`
    /// (`host[:port]`), onto a kind and a message that says what happened.
    pub fn from_code(code: &ErrorCode, target: &str) -> Self {
        use HttpErrorKind as K;
        let (kind, text) = match code {
            ErrorCode::HttpRequestDenied => (
                K::Denied,
                format!(
                    "the host refused the request to {target}: it is not allowed by the \
                     plugin's permissions.http (HTTP-request-denied)"
                ),
            ),
            ErrorCode::DestinationIpProhibited => (
                K::Denied,
                format!(
                    "the host refused the request to {target}: its address is not allowed by \
                     the plugin's permissions.http (destination-IP-prohibited)"
                ),
            ),
            ErrorCode::DnsTimeout => (K::Timeout, format!("DNS lookup of {target} timed out")),
            ErrorCode::DnsError(p) => (
                K::Dns,
                format!(
                    "DNS lookup of {target} failed{}",
                    match (&p.rcode, p.info_code) {
                        (Some(rcode), _) => format!(": {rcode}"),
                        (None, Some(info)) => format!(" (info code {info})"),
                        (None, None) => String::new(),
                    }
                ),
            ),
            ErrorCode::DestinationNotFound => (K::Dns, format!("{target} was not found")),
            ErrorCode::DestinationUnavailable => {
                (K::Connection, format!("{target} is unavailable"))
            }
            ErrorCode::DestinationIpUnroutable => {
                (K::Connection, format!("{target} is unroutable"))
            }
            ErrorCode::ConnectionRefused => (
                K::ConnectionRefused,
                format!("{target} refused the connection"),
            ),
            ErrorCode::ConnectionTerminated => (
                K::Connection,
                format!("the connection to {target} was closed unexpectedly"),
            ),
            ErrorCode::ConnectionTimeout => {
                (K::Timeout, format!("connecting to {target} timed out"))
            }
            ErrorCode::ConnectionReadTimeout => {
                (K::Timeout, format!("reading from {target} timed out"))
            }
            ErrorCode::ConnectionWriteTimeout => {
                (K::Timeout, format!("writing to {target} timed out"))
            }
            ErrorCode::ConnectionLimitReached => (
                K::Connection,
                format!("connection limit reached for {target}"),
            ),
            ErrorCode::TlsProtocolError => (K::Tls, format!("TLS protocol error with {target}")),
            ErrorCode::TlsCertificateError => (
                K::Tls,
                format!("the TLS certificate of {target} was rejected"),
            ),
            ErrorCode::TlsAlertReceived(p) => (
                K::Tls,
                format!(
                    "{target} sent a TLS alert{}",
                    p.alert_message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ),
            ErrorCode::HttpRequestLengthRequired => (
                K::InvalidRequest,
                format!("{target} requires a content-length"),
            ),
            ErrorCode::HttpRequestBodySize(_) => (
                K::InvalidRequest,
                format!(
                    "request body to {target} does not match its content-length or is too large"
                ),
            ),
            ErrorCode::HttpRequestMethodInvalid => {
                (K::InvalidRequest, "invalid HTTP method".to_string())
            }
            ErrorCode::HttpRequestUriInvalid => {
                (K::InvalidRequest, format!("invalid URI for {target}"))
            }
            ErrorCode::HttpRequestUriTooLong => {
                (K::InvalidRequest, format!("URI for {target} is too long"))
            }
            ErrorCode::HttpRequestHeaderSectionSize(_)
            | ErrorCode::HttpRequestHeaderSize(_)
            | ErrorCode::HttpRequestTrailerSectionSize(_)
            | ErrorCode::HttpRequestTrailerSize(_) => (
                K::InvalidRequest,
                format!("request headers to {target} are too large"),
            ),
            ErrorCode::HttpResponseIncomplete => (
                K::Connection,
                format!("the response from {target} ended before it was complete"),
            ),
            ErrorCode::HttpResponseTimeout => {
                (K::Timeout, format!("{target} did not respond in time"))
            }
            ErrorCode::HttpResponseHeaderSectionSize(_)
            | ErrorCode::HttpResponseHeaderSize(_)
            | ErrorCode::HttpResponseTrailerSectionSize(_)
            | ErrorCode::HttpResponseTrailerSize(_) => (
                K::Protocol,
                format!("response headers from {target} are too large"),
            ),
            ErrorCode::HttpResponseBodySize(_) => (
                K::Protocol,
                format!("response body from {target} is too large for the host"),
            ),
            ErrorCode::HttpResponseTransferCoding(c) | ErrorCode::HttpResponseContentCoding(c) => (
                K::Protocol,
                format!(
                    "{target} used an unsupported coding{}",
                    c.as_deref().map(|c| format!(" `{c}`")).unwrap_or_default()
                ),
            ),
            ErrorCode::HttpUpgradeFailed | ErrorCode::HttpProtocolError => {
                (K::Protocol, format!("HTTP protocol error with {target}"))
            }
            ErrorCode::LoopDetected => (K::Other, format!("request loop detected to {target}")),
            ErrorCode::ConfigurationError => (
                K::Other,
                format!("the host's HTTP configuration rejected the request to {target}"),
            ),
            ErrorCode::InternalError(detail) => (
                K::Other,
                format!(
                    "request to {target} failed{}",
                    detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            ),
        };
        HttpError::new(kind, text)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// The SDK's error for a failed `hanzo:node/fetch` request to `authority`.
pub(super) fn fetch_error(
    error: crate::wit::hanzo::node::fetch::FetchError,
    authority: &str,
) -> HttpError {
    use crate::wit::hanzo::node::fetch::FetchError;
    let (kind, message) = match error {
        FetchError::InvalidRequest(m) => (HttpErrorKind::InvalidRequest, m),
        FetchError::Denied(m) => (HttpErrorKind::Denied, m),
        FetchError::Dns(m) => (HttpErrorKind::Dns, m),
        FetchError::ConnectionRefused(m) => (HttpErrorKind::ConnectionRefused, m),
        FetchError::Connection(m) => (HttpErrorKind::Connection, m),
        FetchError::Timeout(m) => (HttpErrorKind::Timeout, m),
        FetchError::Tls(m) => (HttpErrorKind::Tls, m),
        FetchError::Protocol(m) => (HttpErrorKind::Protocol, m),
        FetchError::BodyTooLarge(limit) => (
            HttpErrorKind::BodyTooLarge,
            format!("the response from {authority} is larger than {limit} bytes"),
        ),
    };
    HttpError::new(kind, message)
}

/// Turns a stream failure into an error, using the `wasi:http` error code
/// behind it when the host provides one.
pub(super) fn stream_error(error: StreamError, authority: &str, doing: &str) -> HttpError {
    match error {
        StreamError::Closed => HttpError::new(
            HttpErrorKind::Connection,
            format!("{doing} {authority}: the stream was closed"),
        ),
        StreamError::LastOperationFailed(e) => match wasip2::http::types::http_error_code(&e) {
            Some(code) => {
                let mapped = HttpError::from_code(&code, authority);
                HttpError::new(
                    mapped.kind,
                    format!("{doing} {authority}: {}", mapped.message),
                )
            }
            None => HttpError::new(
                HttpErrorKind::Connection,
                format!("{doing} {authority}: {}", e.to_debug_string()),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_error_codes() {
        let denied = HttpError::from_code(&ErrorCode::HttpRequestDenied, "example.com:443");
        assert_eq!(denied.kind(), HttpErrorKind::Denied);
        assert!(denied.to_string().contains("refused"));
        assert!(denied.to_string().contains("HTTP-request-denied"));
        assert!(denied.to_string().contains("example.com:443"));

        let e = HttpError::from_code(&ErrorCode::ConnectionRefused, "h");
        assert_eq!(e.kind(), HttpErrorKind::ConnectionRefused);
        assert!(HttpError::from_code(&ErrorCode::ConnectionReadTimeout, "h").is_timeout());
        assert!(HttpError::from_code(&ErrorCode::HttpResponseTimeout, "h").is_timeout());
        let e = HttpError::from_code(&ErrorCode::InternalError(Some("boom".into())), "h");
        assert!(e.to_string().ends_with(": boom"));
    }
}
