//! Outbound HTTP. A [`Request`] goes out one of three ways, all under the
//! same host policy, keep-alive pool and timeouts:
//! [`fetch`](Request::fetch) (`hanzo:node/fetch`, the whole answer in one
//! host call), [`open`](Request::open) (`hanzo:node/fetch`, the head in one
//! call and the body read as it arrives) and [`send`](Request::send) (the
//! standard `wasi:http/outgoing-handler`, some thirty calls).
//!
//! The host decides which hosts a plugin may reach (the manifest's
//! `permissions.http`); a refused request fails with
//! [`HttpErrorKind::Denied`]. Everything here blocks the calling export until
//! the host has answered, which is the model of a synchronous component call.
//!
//! ```no_run
//! use hanzo_node_sdk::http::{HttpError, Request};
//! use std::time::Duration;
//!
//! fn create_item() -> Result<serde_json::Value, HttpError> {
//!     // At most 1 MiB of JSON; larger bodies are an error, not a truncation.
//!     let limit = 1 << 20;
//!     let response = Request::post("https://api.example.com/v1/items")
//!         .header("accept", "application/json")
//!         .json(&serde_json::json!({"name": "x"}))
//!         .first_byte_timeout(Duration::from_secs(30))
//!         .fetch(limit)?;
//!     response.json(limit)
//! }
//! ```

use std::fmt;
use std::time::Duration;
use wasip2::http::types::{IncomingBody, IncomingResponse};
use wasip2::io::streams::{InputStream, StreamError};

pub use wasip2::http::types::{ErrorCode, Method};

/// Bytes requested from the host per read of a response body.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

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

/// The method as the upper-case token used on the wire.
pub fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}

/// An outbound request, built up and then [sent](Request::send).
///
/// Its `Debug` output redacts credential headers, so a request can be
/// logged safely.
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    connect_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    between_bytes_timeout: Option<Duration>,
}

impl Request {
    /// A request with no headers and no body. `url` is an absolute
    /// `http://` or `https://` URL.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header (repeated names are sent as repeated fields).
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    /// Adds `authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        // Serializing a `Serialize` value into a Vec only fails for maps with
        // non-string keys, which JSON cannot express anyway.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        self.header("content-type", "application/json").body(body)
    }

    /// Limit on establishing the connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Limit on waiting for the first byte of the response.
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = Some(timeout);
        self
    }

    /// Limit on the silence between two bytes of the response.
    pub fn between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.between_bytes_timeout = Some(timeout);
        self
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the request and reads the whole response, at most `limit` bytes
    /// of body ([`HttpErrorKind::BodyTooLarge`] beyond), in one host call
    /// (`hanzo:node/fetch`) instead of the thirty or so of
    /// [`send`](Request::send) and [`Response::bytes`]. Use
    /// [`open`](Request::open) for a body read as it arrives (SSE, NDJSON).
    pub fn fetch(self, limit: usize) -> Result<Response, HttpError> {
        let target = Target::parse(&self.url)?;
        #[cfg(target_arch = "wasm32")]
        return fetch(self, target, limit);
        #[cfg(not(target_arch = "wasm32"))]
        Err(target.no_host(&format!("fetch (limit {limit} bytes) from")))
    }

    /// Sends the request and returns the response head as soon as it
    /// arrives, like [`send`](Request::send), in one host call
    /// (`hanzo:node/fetch`); each read of the body is one more. The body
    /// may bring at most `limit` bytes in all
    /// ([`HttpErrorKind::BodyTooLarge`] beyond).
    pub fn open(self, limit: usize) -> Result<Response, HttpError> {
        let target = Target::parse(&self.url)?;
        #[cfg(target_arch = "wasm32")]
        return open(self, target, limit);
        #[cfg(not(target_arch = "wasm32"))]
        Err(target.no_host(&format!("open (limit {limit} bytes)")))
    }

    /// Sends the request through `wasi:http` and waits for the response
    /// head; the body is read from the returned [`Response`].
    /// [`open`](Request::open) does the same in fewer host calls.
    pub fn send(self) -> Result<Response, HttpError> {
        let target = Target::parse(&self.url)?;
        #[cfg(target_arch = "wasm32")]
        return send(self, target);
        #[cfg(not(target_arch = "wasm32"))]
        Err(target.no_host("send to"))
    }
}

/// Headers whose values are credentials and never shown by `Debug`.
fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["authorization", "cookie", "key", "token", "secret"]
        .iter()
        .any(|s| name.contains(s))
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, std::borrow::Cow<'_, str>)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_sensitive_header(name) {
                    "<redacted>".into()
                } else {
                    String::from_utf8_lossy(value)
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &method_name(&self.method))
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_bytes", &self.body.len())
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("between_bytes_timeout", &self.between_bytes_timeout)
            .finish()
    }
}

/// The parts of a URL that `wasi:http` wants separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) https: bool,
    pub(crate) authority: String,
    pub(crate) path_with_query: String,
}

impl Target {
    /// Outside a host (native unit tests) nothing can go out: `cannot
    /// {doing} {authority}`.
    #[cfg(not(target_arch = "wasm32"))]
    fn no_host(&self, doing: &str) -> HttpError {
        HttpError::new(
            HttpErrorKind::NoHost,
            format!("cannot {doing} {}: {}", self.authority, crate::NO_HOST),
        )
    }

    pub(crate) fn parse(url: &str) -> Result<Target, HttpError> {
        let invalid = |why: &str| {
            HttpError::new(
                HttpErrorKind::InvalidRequest,
                format!("invalid URL `{url}`: {why}"),
            )
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected http:// or https://"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(invalid("only http and https are supported")),
        };
        // The fragment is never sent.
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("missing host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported; use a header",
            ));
        }
        let path_with_query = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Target {
            https,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

#[cfg(target_arch = "wasm32")]
fn send(request: Request, target: Target) -> Result<Response, HttpError> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

    let invalid = |what: String| HttpError::new(HttpErrorKind::InvalidRequest, what);
    let mut entries = request.headers;
    let has_length = entries
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    // Without a length the host falls back to chunked encoding, which some
    // inference servers do not accept.
    if !request.body.is_empty() && !has_length {
        entries.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    // One host call for all of them; when the host refuses, find which.
    let headers = match Fields::from_list(&entries) {
        Ok(headers) => headers,
        Err(e) => {
            let probe = Fields::new();
            let rejected = entries
                .iter()
                .find(|(name, value)| probe.append(name, value).is_err())
                .map_or_else(
                    || "a header".to_string(),
                    |(name, _)| format!("header `{name}`"),
                );
            return Err(invalid(format!("{rejected} rejected: {e:?}")));
        }
    };
    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&request.method)
        .map_err(|()| invalid(format!("method {:?} rejected", request.method)))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme rejected".to_string()))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| invalid(format!("authority `{}` rejected", target.authority)))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid(format!("path `{}` rejected", target.path_with_query)))?;

    let options = if request.connect_timeout.is_some()
        || request.first_byte_timeout.is_some()
        || request.between_bytes_timeout.is_some()
    {
        let options = RequestOptions::new();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support a timeout says so with an error; the
        // request still works under the host's own limits, so carry on.
        if let Some(t) = request.connect_timeout {
            let _ = options.set_connect_timeout(Some(nanos(t)));
        }
        if let Some(t) = request.first_byte_timeout {
            let _ = options.set_first_byte_timeout(Some(nanos(t)));
        }
        if let Some(t) = request.between_bytes_timeout {
            let _ = options.set_between_bytes_timeout(Some(nanos(t)));
        }
        Some(options)
    } else {
        None
    };

    let body = outgoing
        .body()
        .map_err(|()| HttpError::new(HttpErrorKind::Other, "request body already taken"))?;
    let future = outgoing_handler::handle(outgoing, options)
        .map_err(|code| HttpError::from_code(&code, &target.authority))?;

    // Write the body after `handle`, so the host streams it out as it comes
    // instead of buffering all of it first.
    if let Err(write_error) = write_body(&body, &request.body, &target.authority) {
        drop(body);
        // A refused or failed request also breaks the body stream; the
        // response future has the real reason.
        return Err(match wait_response(&future, &target.authority) {
            Err(e) => e,
            Ok(_) => write_error,
        });
    }
    OutgoingBody::finish(body, None)
        .map_err(|code| HttpError::from_code(&code, &target.authority))?;

    let response = wait_response(&future, &target.authority)?;
    drop(future);
    Response::from_incoming(response, target.authority)
}

/// `request` as `hanzo:node/fetch` takes it.
#[cfg(target_arch = "wasm32")]
fn fetch_request(request: Request, limit: usize) -> crate::wit::hanzo::node::fetch::Request {
    let ms = |d: Option<Duration>| d.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
    crate::wit::hanzo::node::fetch::Request {
        method: method_name(&request.method).to_owned(),
        url: request.url,
        headers: request.headers,
        body: request.body,
        connect_timeout_ms: ms(request.connect_timeout),
        first_byte_timeout_ms: ms(request.first_byte_timeout),
        between_bytes_timeout_ms: ms(request.between_bytes_timeout),
        max_response_bytes: u32::try_from(limit).unwrap_or(u32::MAX),
    }
}

#[cfg(target_arch = "wasm32")]
fn fetch(request: Request, target: Target, limit: usize) -> Result<Response, HttpError> {
    let answer = crate::wit::hanzo::node::fetch::fetch(&fetch_request(request, limit))
        .map_err(|e| fetch_error(e, &target.authority))?;
    Ok(Response {
        status: answer.status,
        headers: answer.headers,
        body: Body::whole(answer.body, target.authority),
    })
}

#[cfg(target_arch = "wasm32")]
fn open(request: Request, target: Target, limit: usize) -> Result<Response, HttpError> {
    let (head, body) = crate::wit::hanzo::node::fetch::open(&fetch_request(request, limit))
        .map_err(|e| fetch_error(e, &target.authority))?;
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body: Body {
            source: Source::Fetched(body),
            authority: target.authority,
        },
    })
}

/// The SDK's error for a failed `hanzo:node/fetch` request to `authority`.
fn fetch_error(error: crate::wit::hanzo::node::fetch::FetchError, authority: &str) -> HttpError {
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

#[cfg(target_arch = "wasm32")]
fn write_body(
    body: &wasip2::http::types::OutgoingBody,
    bytes: &[u8],
    authority: &str,
) -> Result<(), HttpError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| HttpError::new(HttpErrorKind::Other, "request body stream already taken"))?;
    // `blocking-write-and-flush` accepts at most 4096 bytes per call.
    for chunk in bytes.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| stream_error(e, authority, "sending the request body to"))?;
    }
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn wait_response(
    future: &wasip2::http::types::FutureIncomingResponse,
    authority: &str,
) -> Result<IncomingResponse, HttpError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(HttpError::from_code(&code, authority)),
            Some(Err(())) => {
                return Err(HttpError::new(
                    HttpErrorKind::Other,
                    "response already taken",
                ));
            }
            None => future.subscribe().block(),
        }
    }
}

/// Turns a stream failure into an error, using the `wasi:http` error code
/// behind it when the host provides one.
fn stream_error(error: StreamError, authority: &str, doing: &str) -> HttpError {
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

/// Something a response body can be read from chunk by chunk. [`Body`]
/// implements it; the stream decoders in [`crate::openai`] are generic over
/// it so that they can be tested without a host.
pub trait ReadChunk {
    /// The next chunk of bytes, or `None` at the end of the body. Blocks
    /// until data is available.
    fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError>;
}

/// A response: status and headers, with the body still to be read.
#[derive(Debug)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

impl Response {
    #[cfg(target_arch = "wasm32")]
    fn from_incoming(response: IncomingResponse, authority: String) -> Result<Self, HttpError> {
        let status = response.status();
        let headers = {
            // The fields are a child of the response: take a copy and drop them.
            let fields = response.headers();
            fields.entries()
        };
        let body = response
            .consume()
            .map_err(|()| HttpError::new(HttpErrorKind::Other, "response body already taken"))?;
        let stream = body
            .stream()
            .map_err(|()| HttpError::new(HttpErrorKind::Other, "response stream already taken"))?;
        Ok(Response {
            status,
            headers,
            body: Body {
                source: Source::Wasi {
                    stream,
                    _body: body,
                    _response: response,
                },
                authority,
            },
        })
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All header fields, in the order received (names are lower-case).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body, for incremental reading.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Splits off the body, for incremental reading after the head is used.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The whole body; [`HttpErrorKind::BodyTooLarge`] beyond `limit` bytes.
    pub fn bytes(mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        self.body.read_to_end(limit)
    }

    /// The whole body as text (invalid UTF-8 is replaced).
    pub fn text(self, limit: usize) -> Result<String, HttpError> {
        let bytes = self.bytes(limit)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The whole body decoded from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(self, limit: usize) -> Result<T, HttpError> {
        let authority = self.body.authority.clone();
        let bytes = self.bytes(limit)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            HttpError::new(
                HttpErrorKind::Protocol,
                format!("response from {authority} is not the expected JSON: {e}"),
            )
        })
    }
}

/// The first value of header `name` in `headers` (case-insensitive), if it
/// is valid UTF-8.
pub fn header_value<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// A response body being received.
pub struct Body {
    source: Source,
    authority: String,
}

/// Where a body's bytes come from.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
enum Source {
    /// What is left of a body the host delivered whole ([`Request::fetch`]).
    Whole(Vec<u8>),
    /// A body read through `hanzo:node/fetch` ([`Request::open`]).
    Fetched(crate::wit::hanzo::node::fetch::Body),
    /// A `wasi:http` body ([`Request::send`]). Field order is drop order:
    /// the stream is a child of the body, which came from the response.
    Wasi {
        stream: InputStream,
        _body: IncomingBody,
        _response: IncomingResponse,
    },
    /// Read to its end, failed, or released.
    Done,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("from", &self.authority)
            .field("done", &matches!(self.source, Source::Done))
            .finish()
    }
}

impl Body {
    /// A body already read whole, from `authority` (`host[:port]`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn whole(bytes: Vec<u8>, authority: String) -> Body {
        Body {
            source: Source::Whole(bytes),
            authority,
        }
    }

    /// The next chunk of at most `max` bytes, or `None` at the end. Blocks
    /// until data arrives or the body ends; a between-bytes timeout or a
    /// broken connection is an error.
    pub fn read_chunk_max(&mut self, max: usize) -> Result<Option<Vec<u8>>, HttpError> {
        let max = max.max(1);
        let read = match &mut self.source {
            Source::Done => return Ok(None),
            Source::Whole(whole) if !whole.is_empty() => {
                let rest = whole.split_off(max.min(whole.len()));
                return Ok(Some(std::mem::replace(whole, rest)));
            }
            Source::Whole(_) => Ok(None),
            Source::Fetched(body) => body
                .read(u32::try_from(max).unwrap_or(u32::MAX))
                .map_err(|e| fetch_error(e, &self.authority)),
            Source::Wasi { stream, .. } => read_blocking(stream, max as u64)
                .map_err(|e| stream_error(e, &self.authority, "reading the response from")),
        };
        if !matches!(read, Ok(Some(_))) {
            self.finish();
        }
        read
    }

    /// Reads the rest of the body; [`HttpErrorKind::BodyTooLarge`] once it
    /// exceeds `limit` bytes.
    pub fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let (bytes, truncated) = self.read_up_to(limit)?;
        if truncated {
            self.finish();
            return Err(HttpError::new(
                HttpErrorKind::BodyTooLarge,
                format!(
                    "the response from {} is larger than {limit} bytes",
                    self.authority
                ),
            ));
        }
        Ok(bytes)
    }

    /// Reads at most `limit` bytes; the flag is true when the body had more
    /// (the rest is left unread).
    pub fn read_up_to(&mut self, limit: usize) -> Result<(Vec<u8>, bool), HttpError> {
        if let Source::Whole(whole) = &mut self.source {
            let mut whole = std::mem::take(whole);
            self.finish();
            let more = whole.len() > limit;
            whole.truncate(limit);
            return Ok((whole, more));
        }
        let mut out = Vec::new();
        // Ask for one byte past the limit to learn whether there is more.
        while out.len() <= limit {
            let want = (limit + 1 - out.len()).min(READ_CHUNK_BYTES);
            match self.read_chunk_max(want)? {
                Some(chunk) => out.extend_from_slice(&chunk),
                None => return Ok((out, false)),
            }
        }
        out.truncate(limit);
        Ok((out, true))
    }

    /// The host this body comes from (`host[:port]`), for messages.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Releases the body's handles early.
    fn finish(&mut self) {
        self.source = Source::Done;
    }
}

/// The next bytes (at most `max`) of a `wasi:io` input stream, waiting on
/// its pollable until some arrive; `None` at the end. Any other stream
/// error is the caller's to describe.
pub(crate) fn read_blocking(
    stream: &InputStream,
    max: u64,
) -> Result<Option<Vec<u8>>, StreamError> {
    loop {
        match stream.read(max) {
            Ok(bytes) if bytes.is_empty() => stream.subscribe().block(),
            Ok(bytes) => return Ok(Some(bytes)),
            Err(StreamError::Closed) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

impl ReadChunk for Body {
    fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        self.read_chunk_max(READ_CHUNK_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("https://api.openai.com/v1/models?limit=2#frag").unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "api.openai.com");
        assert_eq!(t.path_with_query, "/v1/models?limit=2");

        let t = Target::parse("HTTP://127.0.0.1:8080").unwrap();
        assert!(!t.https);
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path_with_query, "/");

        let t = Target::parse("http://[::1]:9000?x=1").unwrap();
        assert_eq!(t.authority, "[::1]:9000");
        assert_eq!(t.path_with_query, "/?x=1");
    }

    #[test]
    fn rejects_bad_urls() {
        for url in [
            "api.openai.com/v1",
            "ftp://host/file",
            "https:///path",
            "https://user:pw@host/",
            "https://host/a b",
        ] {
            let e = Target::parse(url).unwrap_err();
            assert_eq!(e.kind(), HttpErrorKind::InvalidRequest, "{url}");
        }
    }

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

    #[test]
    fn finds_headers_case_insensitively() {
        let headers = vec![
            ("content-type".to_string(), b"text/plain".to_vec()),
            ("Retry-After".to_string(), b" 2 ".to_vec()),
        ];
        assert_eq!(header_value(&headers, "retry-after"), Some("2"));
        assert_eq!(header_value(&headers, "x-missing"), None);
    }

    #[test]
    fn debug_redacts_credentials() {
        let r = Request::post("https://api.example.com/v1")
            .bearer_auth("sk-secret")
            .header("x-api-key", "k-secret")
            .header("accept", "application/json")
            .body("payload");
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("authorization"));
        assert!(shown.contains("application/json"));
        assert!(shown.contains("\"POST\""));
    }

    #[test]
    fn a_whole_body_reads_like_a_streamed_one() {
        let mut body = Body::whole(b"hello world".to_vec(), "h".into());
        assert_eq!(body.read_chunk_max(5).unwrap().unwrap(), b"hello");
        assert_eq!(body.read_chunk().unwrap().unwrap(), b" world");
        assert_eq!(body.read_chunk().unwrap(), None);
        assert_eq!(body.read_chunk().unwrap(), None);

        let mut body = Body::whole(b"hello world".to_vec(), "h".into());
        assert_eq!(body.read_up_to(5).unwrap(), (b"hello".to_vec(), true));
        let mut body = Body::whole(b"hello".to_vec(), "h".into());
        assert_eq!(body.read_to_end(5).unwrap(), b"hello");
        let mut body = Body::whole(b"hello!".to_vec(), "example.com".into());
        let e = body.read_to_end(5).unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::BodyTooLarge);
        assert!(e.message().contains("example.com"), "{e}");
        let mut body = Body::whole(Vec::new(), "h".into());
        assert_eq!(body.read_to_end(5).unwrap(), b"");
    }

    #[test]
    fn send_without_host_fails_cleanly() {
        let e = Request::get("https://example.com/").send().unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::NoHost);
        let e = Request::get("nonsense").send().unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::InvalidRequest);
        let e = Request::get("https://example.com/").fetch(10).unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::NoHost);
        let e = Request::get("nonsense").fetch(10).unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::InvalidRequest);
    }
}
