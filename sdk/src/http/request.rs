//! Building a request, and the three ways it goes out.

#[cfg(target_arch = "wasm32")]
use super::transport;
use super::{HttpError, HttpErrorKind, Response};
use std::fmt;
use std::time::Duration;
use wasip2::http::types::Method;

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
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: Vec<u8>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) first_byte_timeout: Option<Duration>,
    pub(super) between_bytes_timeout: Option<Duration>,
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
        self.json_text(body)
    }

    /// A body already written as JSON, with its content type.
    pub fn json_text(self, body: Vec<u8>) -> Self {
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
        return transport::fetch(self, target, limit);
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
        return transport::open(self, target, limit);
        #[cfg(not(target_arch = "wasm32"))]
        Err(target.no_host(&format!("open (limit {limit} bytes)")))
    }

    /// Sends the request through `wasi:http` and waits for the response
    /// head; the body is read from the returned [`Response`].
    /// [`open`](Request::open) does the same in fewer host calls.
    pub fn send(self) -> Result<Response, HttpError> {
        let target = Target::parse(&self.url)?;
        #[cfg(target_arch = "wasm32")]
        return transport::send(self, target);
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
