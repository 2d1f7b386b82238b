//! MCP's streamable HTTP transport (protocol revision 2025-06-18) at
//! `/mcp`, over a [`Node`] (the tool catalog and the session store) and a
//! [`Responder`] (the HTTP response), so that whole exchanges, streamed
//! ones included, can be tested without a host.
//!
//! - `POST /mcp` takes one JSON-RPC message. `initialize` makes a session
//!   (`Mcp-Session-Id` on its answer); every later message must name a live
//!   one (400 without, 404 for one unknown or expired) and, with
//!   `MCP-Protocol-Version`, the session's version (400 otherwise). A
//!   request is answered as `application/json`, or as `text/event-stream`
//!   when the client accepts only that or asked for progress
//!   (`params._meta.progressToken`): then `notifications/progress` come
//!   before the answer. Notifications and responses get 202.
//! - `DELETE /mcp` ends the session it names.
//! - `GET /mcp` is 405: the server sends no messages of its own.

use crate::jsonrpc::{self, BAD_TRANSPORT, Error, METHOD_NOT_FOUND, Message, Params};
use crate::session::{self, Session, Store};
use crate::tools::{self, Catalog};
use hanzo_node_sdk::api::BodyError;
use hanzo_node_sdk::kv::KvError;
use serde_json::{Value, json};

/// The protocol revision this server speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The path this plugin serves (the manifest's route).
pub const ENDPOINT: &str = "/mcp";
/// Largest accepted message (the host has its own cap too).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What the server needs of the node.
pub trait Node: Catalog + Store {}

impl<T: Catalog + Store> Node for T {}

/// Where the response goes.
pub trait Responder {
    type Body: BodySink;
    /// A complete response.
    fn respond(self, status: u16, headers: &[(String, String)], body: &[u8]);
    /// Sends the head now; the body follows through the sink.
    fn stream(self, status: u16, headers: &[(String, String)]) -> Self::Body;
}

/// The body of a streamed response. A write to a client that went away is
/// dropped: the call it reports on runs to its end either way.
pub trait BodySink {
    /// Writes and flushes.
    fn write(&mut self, bytes: &[u8]);
    fn finish(self);
}

/// A request, as far as the transport looks at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub accept: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// `Mcp-Session-Id`.
    pub session_id: Option<&'a str>,
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'a str>,
}

/// A refusal: the HTTP status and the JSON-RPC error answered under `id`.
struct Refusal {
    status: u16,
    id: Value,
    error: Error,
}

impl Refusal {
    fn new(status: u16, code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            id: Value::Null,
            error: Error::new(code, message),
        }
    }

    fn to(mut self, id: &Value) -> Refusal {
        self.id = id.clone();
        self
    }

    fn send(self, out: impl Responder, headers: &[(String, String)]) {
        send_json(out, self.status, headers, &self.error.to_response(&self.id));
    }
}

/// Answers one HTTP request.
pub fn handle<N: Node, R: Responder>(
    node: &N,
    out: R,
    request: &Request,
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) {
    let path = match request.path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => request.path,
    };
    if path != ENDPOINT {
        let message = format!(
            "no such endpoint: {}; MCP is served at {ENDPOINT}",
            request.path
        );
        return Refusal::new(404, BAD_TRANSPORT, message).send(out, &[]);
    }
    match request.method {
        "POST" => post(node, out, request, read_body),
        "DELETE" => delete(node, out, request),
        method => {
            // GET would open a stream for messages of the server's own; it sends none.
            let message =
                format!("{method} is not served: POST JSON-RPC messages, DELETE to end a session");
            let allow = [("allow".to_string(), "POST, DELETE".to_string())];
            Refusal::new(405, BAD_TRANSPORT, message).send(out, &allow);
        }
    }
}

fn post<N: Node, R: Responder>(
    node: &N,
    out: R,
    request: &Request,
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) {
    let accepts = Accepts::parse(request.accept);
    if !accepts.json && !accepts.sse {
        let message = "the Accept header must allow application/json or text/event-stream";
        return Refusal::new(406, BAD_TRANSPORT, message).send(out, &[]);
    }
    if let Some(content_type) = request.content_type
        && !media_type(content_type).eq_ignore_ascii_case("application/json")
    {
        let message = format!("the body must be application/json, not {content_type}");
        return Refusal::new(415, BAD_TRANSPORT, message).send(out, &[]);
    }
    let body = match read_body() {
        Ok(body) => body,
        Err(e @ BodyError::TooLarge(_)) => {
            return Refusal::new(413, jsonrpc::INVALID_REQUEST, e.to_string()).send(out, &[]);
        }
        Err(e @ BodyError::Read(_)) => {
            return Refusal::new(400, jsonrpc::INVALID_REQUEST, e.to_string()).send(out, &[]);
        }
    };
    let message = match jsonrpc::parse(&body) {
        Ok(message) => message,
        Err(rejected) => return send_json(out, 400, &[], &rejected.to_response()),
    };
    match message {
        Message::Request { id, method, params } if method == "initialize" => {
            initialize(node, out, accepts, &id, &params)
        }
        Message::Request { id, method, params } => match check_session(node, request) {
            Ok(_) => answer(node, out, accepts, &id, &method, &params),
            Err(refusal) => refusal.to(&id).send(out, &[]),
        },
        Message::Notification { .. } | Message::Response => match check_session(node, request) {
            Ok(_) => out.respond(202, &[], b""),
            Err(refusal) => refusal.send(out, &[]),
        },
    }
}

fn delete<N: Node, R: Responder>(node: &N, out: R, request: &Request) {
    let session = match check_session(node, request) {
        Ok(session) => session,
        Err(refusal) => return refusal.send(out, &[]),
    };
    match session::end(node, &session.id) {
        Ok(_) => out.respond(200, &[], b""),
        Err(e) => store_failed(&e).send(out, &[]),
    }
}

/// The request's session, live and spoken in its version.
fn check_session(node: &impl Store, request: &Request) -> Result<Session, Refusal> {
    let Some(id) = request.session_id else {
        return Err(Refusal::new(
            400,
            BAD_TRANSPORT,
            "no Mcp-Session-Id header: send initialize first, then its session id with every request",
        ));
    };
    let session = session::find(node, id)
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| {
            Refusal::new(
                404,
                jsonrpc::SESSION_NOT_FOUND,
                "no such session: it ended or expired; send initialize for a new one",
            )
        })?;
    match request.protocol_version {
        Some(version) if version != session.protocol_version => Err(Refusal::new(
            400,
            BAD_TRANSPORT,
            format!(
                "unsupported MCP-Protocol-Version `{version}`: this session speaks {}",
                session.protocol_version
            ),
        )),
        // Without the header, the version negotiated at initialize holds.
        _ => Ok(session),
    }
}

fn store_failed(e: &KvError) -> Refusal {
    let status = match e {
        KvError::Denied(_) => 403,
        _ => 500,
    };
    let message = format!("sessions cannot be kept: {}", e.message());
    Refusal::new(status, jsonrpc::INTERNAL_ERROR, message)
}

/// `initialize`: a new session, and what the server offers.
fn initialize<N: Node, R: Responder>(
    node: &N,
    out: R,
    accepts: Accepts,
    id: &Value,
    params: &Params,
) {
    // The client's version is not checked beyond its shape: a server
    // answers one it speaks, and the client decides whether it can too.
    if !params.get("protocolVersion").is_some_and(Value::is_string) {
        let error = Error::invalid_params("`protocolVersion` must be a string");
        return send_message(out, accepts, &[], &error.to_response(id));
    }
    let session = match session::create(node, PROTOCOL_VERSION) {
        Ok(session) => session,
        Err(e) => return store_failed(&e).to(id).send(out, &[]),
    };
    let result = json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": {
            "name": "hanzo-node",
            "title": "Hanzo Node",
            "version": env!("CARGO_PKG_VERSION"),
        },
    });
    let headers = [("mcp-session-id".to_string(), session.id)];
    send_message(out, accepts, &headers, &jsonrpc::result(id, result));
}

/// Answers a request of a live session.
fn answer<N: Node, R: Responder>(
    node: &N,
    out: R,
    accepts: Accepts,
    id: &Value,
    method: &str,
    params: &Params,
) {
    let progress = match progress_token(params) {
        Ok(progress) => progress,
        Err(e) => return send_message(out, accepts, &[], &e.to_response(id)),
    };
    // Progress can only travel on a stream; a client that takes only JSON
    // gets none.
    if accepts.sse && (progress.is_some() || !accepts.json) {
        let mut body = out.stream(200, &sse_headers());
        let response = {
            let mut notify = |message: &Value| body.write(&sse_event(message));
            dispatch(node, id, method, params, progress.as_ref(), &mut notify)
        };
        body.write(&sse_event(&response));
        body.finish();
    } else {
        let response = dispatch(node, id, method, params, None, &mut |_| {});
        send_json(out, 200, &[], &response);
    }
}

/// The response to a request; `notify` sends messages ahead of it.
fn dispatch(
    node: &impl Node,
    id: &Value,
    method: &str,
    params: &Params,
    progress: Option<&Value>,
    notify: &mut dyn FnMut(&Value),
) -> Value {
    let result = match method {
        "ping" => Ok(json!({})),
        "tools/list" => list_tools(node, params),
        "tools/call" => call_tool(node, params, progress, notify),
        _ => Err(Error::new(
            METHOD_NOT_FOUND,
            format!("method `{method}` is not served (this server offers tools)"),
        )),
    };
    match result {
        Ok(result) => jsonrpc::result(id, result),
        Err(e) => e.to_response(id),
    }
}

fn list_tools(node: &impl Node, params: &Params) -> Result<Value, Error> {
    if params.contains_key("cursor") {
        // Every tool is listed at once, so no cursor was ever handed out.
        return Err(Error::invalid_params("unknown cursor"));
    }
    tools::list(node)
}

/// `tools/call`, with progress at the start and at the end of the call
/// when asked for (the tool runs as one host call, which reports nothing
/// in between).
fn call_tool(
    node: &impl Node,
    params: &Params,
    progress: Option<&Value>,
    notify: &mut dyn FnMut(&Value),
) -> Result<Value, Error> {
    let call = tools::Call::parse(params)?;
    let mut report = |done: u8, message: String| {
        if let Some(token) = progress {
            notify(&progress_notification(token, done, &message));
        }
    };
    report(0, format!("calling `{}`", call.name));
    let result = tools::call(node, &call);
    report(1, format!("`{}` returned", call.name));
    result
}

/// `params._meta.progressToken`: a string or an integer.
fn progress_token(params: &Params) -> Result<Option<Value>, Error> {
    let Some(meta) = params.get("_meta") else {
        return Ok(None);
    };
    let Value::Object(meta) = meta else {
        return Err(Error::invalid_params("`_meta` must be an object"));
    };
    match meta.get("progressToken") {
        None => Ok(None),
        Some(token @ Value::String(_)) => Ok(Some(token.clone())),
        Some(token @ Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(token.clone())),
        Some(_) => Err(Error::invalid_params(
            "`_meta.progressToken` must be a string or an integer",
        )),
    }
}

/// Progress `done` of 1 for the request of `token`.
fn progress_notification(token: &Value, done: u8, message: &str) -> Value {
    jsonrpc::notification(
        "notifications/progress",
        json!({ "progressToken": token, "progress": done, "total": 1, "message": message }),
    )
}

/// Which of the two answers the client takes (its `Accept` header; none
/// means either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Accepts {
    json: bool,
    sse: bool,
}

impl Accepts {
    fn parse(header: Option<&str>) -> Accepts {
        let Some(header) = header else {
            return Accepts {
                json: true,
                sse: true,
            };
        };
        let mut accepts = Accepts {
            json: false,
            sse: false,
        };
        for range in header.split(',') {
            let media = media_type(range).to_ascii_lowercase();
            accepts.json |= matches!(media.as_str(), "application/json" | "application/*" | "*/*");
            accepts.sse |= matches!(media.as_str(), "text/event-stream" | "text/*" | "*/*");
        }
        accepts
    }
}

/// The media type of a header value, without its parameters.
fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

fn sse_headers() -> [(String, String); 2] {
    [
        ("content-type".into(), "text/event-stream".into()),
        ("cache-control".into(), "no-cache".into()),
    ]
}

fn sse_event(message: &Value) -> Vec<u8> {
    // Serialized JSON holds no line breaks, so one `data` line carries it.
    format!("event: message\ndata: {message}\n\n").into_bytes()
}

/// One message as the client takes it: JSON, or a stream of one event.
fn send_message(
    out: impl Responder,
    accepts: Accepts,
    headers: &[(String, String)],
    message: &Value,
) {
    if accepts.json {
        send_json(out, 200, headers, message);
    } else {
        let mut all = sse_headers().to_vec();
        all.extend_from_slice(headers);
        let mut body = out.stream(200, &all);
        body.write(&sse_event(message));
        body.finish();
    }
}

fn send_json(out: impl Responder, status: u16, headers: &[(String, String)], value: &Value) {
    let mut all = vec![("content-type".to_string(), "application/json".to_string())];
    all.extend_from_slice(headers);
    out.respond(status, &all, &serde_json::to_vec(value).unwrap_or_default());
}

#[cfg(test)]
pub mod tests;
