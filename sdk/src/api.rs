//! HTTP API plugins (`hanzo:node/api` world): a `wasi:http/incoming-handler`
//! that may also use the node's `log`, `config`, `kv`, `tools` and `llm`.
//!
//! Implement [`Handler`] on a type and export it with
//! [`export_api!`](crate::export_api). The helpers here cover the usual
//! JSON API chores: [`path_and_query`], [`query_pairs`] and
//! [`percent_decode`] for the URL, [`read_body`] with a size cap,
//! [`respond_json`] and [`respond_error`]
//! (`{"error":{"code":...,"message":...}}`), and [`respond_streaming`] for
//! bodies written piece by piece as they are produced (server-sent events,
//! for instance).
//!
//! ```no_run
//! use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     fn handle(request: IncomingRequest, out: ResponseOutparam) {
//!         let (path, _query) = api::path_and_query(&request);
//!         api::respond_json(out, 200, &serde_json::json!({ "path": path }));
//!     }
//! }
//!
//! hanzo_node_sdk::export_api!(Hello);
//! ```

use serde_json::{Value, json};
use std::fmt;
use wasip2::io::streams::StreamError;

pub use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// An HTTP handler. The host calls it once per request routed to the plugin
/// (the manifest's `routes`), with the full request path.
pub trait Handler {
    /// Answers `request` by setting `response_out` (exactly once).
    fn handle(request: IncomingRequest, response_out: ResponseOutparam);
}

pub use crate::http::method_name;

/// The request path (`/` when absent) and the query string, if any.
pub fn path_and_query(request: &IncomingRequest) -> (String, Option<String>) {
    split_path_query(&request.path_with_query().unwrap_or_default())
}

/// Splits `/a/b?x=1` into `("/a/b", Some("x=1"))`.
pub fn split_path_query(path_with_query: &str) -> (String, Option<String>) {
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (path_with_query, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    (path.to_string(), query)
}

/// The decoded `name=value` pairs of a query string, in order (`+` is a
/// space; a pair without `=` has an empty value; empty pairs are skipped).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Decodes the `%XX` escapes of a path segment or query value (`+` is left
/// as it is). A malformed escape or a result that is not UTF-8 leaves the
/// text as it was, so that it matches nothing rather than something else.
pub fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return text.to_string(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The first value of request header `name`, if it is text. To read
/// several, take [`Headers::of`] once: each call copies the request's headers.
pub fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    Headers::of(request).get(name)
}

/// A request's headers, copied from the host once: each lookup after that
/// is the plugin's own, not another host call.
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    pub fn of(request: &IncomingRequest) -> Headers {
        Headers(request.headers().entries())
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is larger than the limit (in bytes).
    TooLarge(usize),
    /// The body could not be received.
    Read(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge(limit) => write!(f, "request body larger than {limit} bytes"),
            BodyError::Read(why) => write!(f, "cannot read the request body: {why}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Most bytes of an oversized body read and discarded before answering.
///
/// A client that is still uploading when the answer comes and the
/// connection closes sees a broken pipe instead of the 413, so a body up to
/// this size is drained first; anything larger is cut off at once.
pub const DRAIN_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

const READ_CHUNK: u64 = 64 * 1024;

/// Reads the whole request body, refusing more than `limit` bytes
/// ([`BodyError::TooLarge`]). A body declared larger than
/// [`DRAIN_LIMIT_BYTES`] is refused without reading it.
pub fn read_body(request: &IncomingRequest, limit: usize) -> Result<Vec<u8>, BodyError> {
    read_body_with(request, &Headers::of(request), limit)
}

/// [`read_body`] for a handler that already holds the request's `headers`
/// (spares copying them again for the content-length).
pub fn read_body_with(
    request: &IncomingRequest,
    headers: &Headers,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT_BYTES.max(limit as u64)) {
        return Err(BodyError::TooLarge(limit));
    }
    let body = request
        .consume()
        .map_err(|()| BodyError::Read("body already consumed".to_string()))?;
    let result = {
        let stream = body
            .stream()
            .map_err(|()| BodyError::Read("body stream already taken".to_string()))?;
        // Room for the declared body, within reason: the declaration is the
        // client's word.
        let expected = declared.map_or(0, |n| n.min(READ_CHUNK).min(limit as u64 + 1));
        let mut out = Vec::with_capacity(expected as usize);
        loop {
            // Ask for one byte past the limit to detect an oversized body.
            let want = ((limit + 1 - out.len()) as u64).min(READ_CHUNK);
            match read_some(&stream, want) {
                Ok(Some(bytes)) => {
                    out.extend_from_slice(&bytes);
                    if out.len() > limit {
                        drain(&stream, DRAIN_LIMIT_BYTES.saturating_sub(out.len() as u64));
                        break Err(BodyError::TooLarge(limit));
                    }
                }
                Ok(None) => break Ok(out),
                Err(e) => break Err(e),
            }
        }
        // The stream (a child of the body) is dropped here.
    };
    drop(body);
    result
}

/// The next bytes of `stream` (blocking until some arrive); `None` at its end.
fn read_some(
    stream: &wasip2::io::streams::InputStream,
    max: u64,
) -> Result<Option<Vec<u8>>, BodyError> {
    crate::http::read_blocking(stream, max).map_err(|e| {
        BodyError::Read(match e {
            StreamError::LastOperationFailed(e) => e.to_debug_string(),
            StreamError::Closed => "the stream was closed".to_string(),
        })
    })
}

/// Reads and discards up to `budget` more bytes, stopping early at the end.
fn drain(stream: &wasip2::io::streams::InputStream, mut budget: u64) {
    while budget > 0 {
        match read_some(stream, budget.min(READ_CHUNK)) {
            Ok(Some(bytes)) => budget = budget.saturating_sub(bytes.len() as u64),
            Ok(None) | Err(_) => return,
        }
    }
}

/// The JSON error document: `{"error":{"code":code,"message":message}}`.
pub fn error_body(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

/// The head of a response: `status` and `headers` (added as given), plus a
/// content-length when known.
fn response_head<N: AsRef<str>, V: AsRef<str>>(
    status: u16,
    headers: &[(N, V)],
    content_length: Option<usize>,
) -> OutgoingResponse {
    let mut entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_ref().to_string(),
                value.as_ref().as_bytes().to_vec(),
            )
        })
        .collect();
    if let Some(length) = content_length {
        entries.retain(|(name, _)| !name.eq_ignore_ascii_case("content-length"));
        entries.push(("content-length".into(), length.to_string().into_bytes()));
    }
    // One host call for the lot; if the host refuses one, header by header.
    let fields = Fields::from_list(&entries).unwrap_or_else(|_| {
        let fields = Fields::new();
        for (name, value) in &entries {
            // Only forbidden or malformed names fail; skipping one beats
            // failing the whole response.
            if fields.append(name, value).is_err() {
                crate::log::warn(&format!("response header `{name}` rejected by the host"));
            }
        }
        fields
    });
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(status).is_err() {
        crate::log::error(&format!("invalid response status {status}; sending 500"));
        let _ = response.set_status_code(500);
    }
    response
}

/// Sends a response with `body`. `headers` are added as given; the
/// content-length is set here.
pub fn respond<N: AsRef<str>, V: AsRef<str>>(
    out: ResponseOutparam,
    status: u16,
    headers: &[(N, V)],
    body: &[u8],
) {
    let mut writer = respond_streaming_inner(out, status, headers, Some(body.len()));
    if !body.is_empty()
        && let Err(e) = writer.write(body)
    {
        // The client went away; nothing left to tell it.
        crate::log::debug(&format!("response body write failed: {e}"));
    }
    if let Err(e) = writer.finish() {
        crate::log::debug(&format!("finishing the response body failed: {e}"));
    }
}

/// Sends the head of a response at once (`status`, `headers`, no
/// content-length, so the body goes out chunked) and returns a
/// [`BodyWriter`] for its body.
///
/// Each [`BodyWriter::write`] is flushed to the client before it returns,
/// so a handler can stream what it produces as it produces it (server-sent
/// events, for instance: set `content-type: text/event-stream`). Call
/// [`BodyWriter::finish`] at the end; dropping the writer finishes the body
/// too.
///
/// ```no_run
/// use hanzo_node_sdk::api::{self, ResponseOutparam};
///
/// fn countdown(out: ResponseOutparam) {
///     let mut body = api::respond_streaming(out, 200, &[("content-type", "text/event-stream")]);
///     for n in (1..=3).rev() {
///         if body.write(format!("data: {n}\n\n").as_bytes()).is_err() {
///             return; // the client went away
///         }
///     }
///     let _ = body.finish();
/// }
/// ```
pub fn respond_streaming<N: AsRef<str>, V: AsRef<str>>(
    out: ResponseOutparam,
    status: u16,
    headers: &[(N, V)],
) -> BodyWriter {
    respond_streaming_inner(out, status, headers, None)
}

fn respond_streaming_inner<N: AsRef<str>, V: AsRef<str>>(
    out: ResponseOutparam,
    status: u16,
    headers: &[(N, V)],
    content_length: Option<usize>,
) -> BodyWriter {
    let response = response_head(status, headers, content_length);
    let body = response.body().ok();
    ResponseOutparam::set(out, Ok(response));
    let stream = match &body {
        Some(body) => match body.write() {
            Ok(stream) => Some(stream),
            Err(()) => {
                crate::log::error("response body stream unavailable");
                None
            }
        },
        None => None,
    };
    BodyWriter { stream, body }
}

/// The response body could not be written: the client went away, or the
/// host closed the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(pub String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write the response body: {}", self.0)
    }
}

impl std::error::Error for WriteError {}

/// The body of a response whose head was sent by [`respond_streaming`].
///
/// After a failed write every further write fails at once. Dropping the
/// writer finishes the body, like [`finish`](BodyWriter::finish); use
/// [`abort`](BodyWriter::abort) to end it as incomplete instead.
pub struct BodyWriter {
    // Declared before `body`: the stream is a child of the body and must go first.
    stream: Option<wasip2::io::streams::OutputStream>,
    body: Option<OutgoingBody>,
}

impl BodyWriter {
    /// Writes `bytes` and flushes them to the client, blocking while the
    /// client is slower than the handler.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let Some(stream) = &self.stream else {
            return Err(WriteError("the body is closed".to_string()));
        };
        // `blocking-write-and-flush` takes at most 4096 bytes a call.
        for chunk in bytes.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                self.stream = None;
                let why = match e {
                    StreamError::Closed => "the client closed the connection".to_string(),
                    StreamError::LastOperationFailed(e) => e.to_debug_string(),
                };
                return Err(WriteError(why));
            }
        }
        Ok(())
    }

    /// Ends the body; the client sees a complete response.
    pub fn finish(mut self) -> Result<(), WriteError> {
        self.close()
    }

    /// Ends the body as incomplete: the host aborts the response, so the
    /// client sees a broken transfer rather than a complete one.
    pub fn abort(mut self) {
        self.stream = None;
        self.body = None; // dropped without `finish`
    }

    fn close(&mut self) -> Result<(), WriteError> {
        self.stream = None;
        match self.body.take() {
            Some(body) => OutgoingBody::finish(body, None).map_err(|e| WriteError(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            crate::log::debug(&format!("finishing the response body failed: {e}"));
        }
    }
}

/// A complete JSON response: the status, `content-type: application/json`
/// followed by any other headers, and the body. Every JSON answer is built
/// here, whether it is sent with [`JsonResponse::send`] or handed to
/// something else (a handler's own response trait, a test double).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonResponse {
    pub status: u16,
    /// `content-type` first, then the others in the order added.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl JsonResponse {
    /// `value` serialized, with `status`.
    pub fn new(status: u16, value: &Value) -> Self {
        // Straight into bytes: `Value`'s `Display` goes through the
        // formatting machinery a write at a time, several times slower.
        // Serializing a `Value` cannot fail: its map keys are strings.
        Self::raw(status, serde_json::to_vec(value).unwrap_or_default())
    }

    /// A body that is JSON already (a stored document, one serialized
    /// elsewhere), with `status`.
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Self {
        JsonResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// Adds a header after those already there.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `headers` after those already there.
    pub fn headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sends the response ([`respond`]).
    pub fn send(self, out: ResponseOutparam) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        respond(out, self.status, &headers, &self.body);
    }
}

/// Sends `value` as `application/json` with `status`.
pub fn respond_json(out: ResponseOutparam, status: u16, value: &Value) {
    JsonResponse::new(status, value).send(out);
}

/// [`respond_json`] with extra headers.
pub fn respond_json_with(
    out: ResponseOutparam,
    status: u16,
    headers: &[(&str, &str)],
    value: &Value,
) {
    JsonResponse::new(status, value)
        .headers(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())))
        .send(out);
}

/// Sends `{"error":{"code":code,"message":message}}` with `status`.
pub fn respond_error(out: ResponseOutparam, status: u16, code: &str, message: &str) {
    respond_json(out, status, &error_body(code, message));
}

/// [`respond_error`] with extra headers (e.g. `allow` on a 405).
pub fn respond_error_with(
    out: ResponseOutparam,
    status: u16,
    headers: &[(&str, &str)],
    code: &str,
    message: &str,
) {
    respond_json_with(out, status, headers, &error_body(code, message));
}

/// Generated bindings of the `api` world; used by the export macro.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.3.4",
        world: "hanzo:node/api",
        with: {
            "hanzo:node/log@0.3.4": crate::wit::hanzo::node::log,
            "hanzo:node/config@0.3.4": crate::wit::hanzo::node::config,
            "hanzo:node/kv@0.3.4": crate::wit::hanzo::node::kv,
            "hanzo:node/fetch@0.3.4": crate::wit::hanzo::node::fetch,
            "hanzo:node/tools@0.3.4": crate::wit::hanzo::node::tools,
            "hanzo:node/llm@0.3.4": crate::wit::hanzo::node::llm,
            "hanzo:node/jobs@0.3.4": crate::wit::hanzo::node::jobs,
            "hanzo:node/agents@0.3.4": crate::wit::hanzo::node::agents,
            "hanzo:node/vectors@0.3.4": crate::wit::hanzo::node::vectors,
            "hanzo:node/tee@0.3.4": crate::wit::hanzo::node::tee,
            "hanzo:node/gpu@0.3.4": crate::wit::hanzo::node::gpu,
            "hanzo:node/llm-types@0.3.4": crate::wit::hanzo::node::llm_types,
            "hanzo:node/tool-types@0.3.4": crate::wit::hanzo::node::tool_types,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:random/random@0.2.12": wasip2::random::random,
            "wasi:cli/stdout@0.2.12": wasip2::cli::stdout,
            "wasi:cli/stderr@0.2.12": wasip2::cli::stderr,
            "wasi:cli/stdin@0.2.12": wasip2::cli::stdin,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "hanzo_node_sdk::api::bindings",
    });
}

impl<T: Handler> bindings::exports::wasi::http::incoming_handler::Guest for T {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        T::handle(request, response_out)
    }
}

/// Exports a [`Handler`] implementation as the component's
/// `wasi:http/incoming-handler`: `export_api!(MyApi);` at the crate root of
/// a `cdylib` built for `wasm32-wasip2`.
///
/// On other targets it expands to nothing, so the crate's logic can be
/// unit-tested natively.
#[macro_export]
macro_rules! export_api {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::api::bindings::export!($ty with_types_in $crate::api::bindings);
        // Natively nothing is exported; naming the impl keeps the plugin's
        // code from being reported as dead in native builds and tests.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::api::Handler>::handle;
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths() {
        assert_eq!(
            split_path_query("/v2/tools/list"),
            ("/v2/tools/list".into(), None)
        );
        assert_eq!(
            split_path_query("/a?x=1&y"),
            ("/a".into(), Some("x=1&y".into()))
        );
        assert_eq!(split_path_query(""), ("/".into(), None));
        assert_eq!(split_path_query("?q"), ("/".into(), Some("q".into())));
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            query_pairs(Some("a=1&b=x%20y+z&flag&&c=")),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("flag".into(), String::new()),
                ("c".into(), String::new()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%2"), "bad%2");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("%ff"), "%ff");
        // Only the query decoding turns `+` into a space.
        assert_eq!(percent_decode("openai%2Fgpt-4o+x"), "openai/gpt-4o+x");
    }

    #[test]
    fn json_responses() {
        let r = JsonResponse::new(404, &error_body("not_found", "x")).header("allow", "GET");
        assert_eq!(r.status, 404);
        assert_eq!(
            r.headers,
            [
                ("content-type".to_string(), "application/json".to_string()),
                ("allow".to_string(), "GET".to_string())
            ]
        );
        assert_eq!(
            r.body,
            br#"{"error":{"code":"not_found","message":"x"}}"#.to_vec()
        );
        let r = JsonResponse::raw(200, "[1]").headers([("x-a".to_string(), "1".to_string())]);
        assert_eq!((r.headers.len(), r.body.as_slice()), (2, &b"[1]"[..]));
    }

    #[test]
    fn error_document_shape() {
        assert_eq!(
            error_body("not_found", "nothing here"),
            json!({"error": {"code": "not_found", "message": "nothing here"}})
        );
    }
}
