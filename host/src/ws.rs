//! The WebSocket endpoint `/v2/ws`: the seed's message protocol over JSON
//! text frames.
//!
//! Client → server: `JobCreate {job, subscribe?}`, `JobStatus {job_id}`,
//! `ToolExecute {tool, arguments}`, `Subscribe {job_id?, last_event_id?}`,
//! `Unsubscribe {job_id?}`; each may carry a `request_id` that its reply echoes.
//! Server → client: `JobUpdate {event_id, job}`, `StreamChunk {event_id,
//! job_id, message}`, `ToolResult {tool, result | error}`, `Error {code, message}`.
//!
//! Every update a subscriber gets is an event from the job store's log, with
//! its id. A client that reconnects sends `Subscribe` with the last id it saw
//! and is sent everything after it, so a dropped connection loses nothing.
//! Each connection has a bounded send buffer: a slow reader makes its
//! subscriptions wait (and catch up from the log), never the node's memory grow.
//! The server pings every `ping_interval_ms`; a client silent for
//! `idle_timeout_ms` is disconnected.

use crate::auth::http::{origin_listed, same_origin};
use crate::call_state::Tenant;
pub use crate::config::WsConfig;
use crate::jobs::model::{Event, EventBody, JobSpec};
use crate::jobs::{Jobs, JobsError};
use crate::runtime::Runtime;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key};

/// Events read from the log per replay step.
const REPLAY_PAGE: usize = 512;

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum ClientMessage {
    JobCreate {
        #[serde(default)]
        request_id: Option<Value>,
        job: Value,
        /// Also subscribe to the new job's events.
        #[serde(default)]
        subscribe: bool,
    },
    JobStatus {
        #[serde(default)]
        request_id: Option<Value>,
        job_id: String,
    },
    ToolExecute {
        #[serde(default)]
        request_id: Option<Value>,
        tool: String,
        #[serde(default)]
        arguments: Option<Value>,
    },
    Subscribe {
        #[serde(default)]
        request_id: Option<Value>,
        /// One job; none: every job of the tenant.
        #[serde(default)]
        job_id: Option<String>,
        /// Resume after this event; none: only new events (0: from the start).
        #[serde(default)]
        last_event_id: Option<u64>,
    },
    Unsubscribe {
        #[serde(default)]
        request_id: Option<Value>,
        #[serde(default)]
        job_id: Option<String>,
    },
}

/// Whether `req` asks for a WebSocket from an allowed origin, and the
/// handshake reply if so.
pub fn accept<B>(
    req: &Request<B>,
    cfg: &WsConfig,
) -> Result<Response<()>, (StatusCode, &'static str, String)> {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if req.method() != http::Method::GET
        || !has(header::CONNECTION, "upgrade")
        || !has(header::UPGRADE, "websocket")
    {
        return Err((
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            "/v2/ws is a WebSocket endpoint: send GET with `Connection: Upgrade` and `Upgrade: websocket`".into(),
        ));
    }
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "websocket_version",
            "only WebSocket version 13 is supported".into(),
        ));
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "websocket_key",
            "Sec-WebSocket-Key is missing".into(),
        ));
    };
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(origin.as_bytes(), req, cfg)
    {
        return Err((
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "WebSocket requests from origin `{}` are not allowed (see ws.allowed_origins)",
                String::from_utf8_lossy(origin.as_bytes())
            ),
        ));
    }
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        derive_accept_key(key.as_bytes())
            .parse()
            .expect("an accept key is a valid header value"),
    );
    Ok(r)
}

/// Whether a page of `origin` may open a WebSocket: it is the node's own
/// (the scheme's host and port are those the request was sent to), or one the
/// operator allowed.
fn origin_allowed<B>(origin: &[u8], req: &Request<B>, cfg: &WsConfig) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    origin_listed(origin, &cfg.allowed_origins) || same_origin(origin, host)
}

/// The WebSocket settings of a connection: tungstenite's defaults keep a
/// 128 KiB read buffer per connection, zeroed and so resident, and let its
/// write buffer grow to 128 KiB; an idle connection needs neither. Messages
/// larger than the read buffer grow it while they are read.
fn socket_config(cfg: &WsConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
}

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 4096;

/// Serves one upgraded connection until it closes.
pub async fn serve(rt: Arc<Runtime>, tenant: Tenant, upgraded: hyper::upgrade::Upgraded) {
    let cfg = rt.config.ws.clone();
    let ws = WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Server,
        Some(socket_config(&cfg)),
    )
    .await;
    let (mut sink, mut stream) = ws.split();
    let (out, mut queue) = mpsc::channel::<Message>(cfg.send_buffer.max(1));
    let writer = tokio::spawn(async move {
        while let Some(m) = queue.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut conn = Connection {
        rt: rt.clone(),
        tenant,
        out: out.clone(),
        subscriptions: HashMap::new(),
        in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
        cfg: cfg.clone(),
    };
    let idle = Duration::from_millis(cfg.idle_timeout_ms.max(1));
    let mut ping = tokio::time::interval(Duration::from_millis(cfg.ping_interval_ms.max(1)));
    ping.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { break };
                last_heard = Instant::now();
                match frame {
                    // Boxed: its future (a job submission, a subscription)
                    // is large, and an idle connection's task need not hold
                    // room for it.
                    Message::Text(text) => Box::pin(conn.on_text(text.as_str())).await,
                    Message::Binary(_) => conn.error(None, "binary_not_supported", "send JSON text frames").await,
                    Message::Ping(p) => {
                        let _ = out.send(Message::Pong(p)).await;
                    }
                    Message::Close(_) => break,
                    Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle {
                    tracing::debug!(tenant = %conn.tenant, "websocket idle; closing");
                    let _ = out.try_send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Away,
                        reason: "idle timeout".into(),
                    })));
                    break;
                }
                // A full buffer means the client is not reading: skip this ping.
                let _ = out.try_send(Message::Ping(Default::default()));
            }
        }
    }
    for (_, task) in conn.subscriptions.drain() {
        task.abort();
    }
    drop(conn);
    drop(out);
    // Let queued messages (the close frame) go out, but not forever: a client
    // that stopped reading keeps the writer blocked on a full socket, and
    // aborting it is what closes the connection and frees its buffer.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

struct Connection {
    rt: Arc<Runtime>,
    tenant: Tenant,
    out: mpsc::Sender<Message>,
    /// By job id ("" for the tenant-wide subscription).
    subscriptions: HashMap<String, JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
    cfg: WsConfig,
}

fn with_request_id(mut v: Value, request_id: &Option<Value>) -> Value {
    if let Some(id) = request_id {
        v["request_id"] = id.clone();
    }
    v
}

fn error_json(request_id: &Option<Value>, code: &str, message: &str) -> Value {
    with_request_id(
        json!({"type": "Error", "code": code, "message": message}),
        request_id,
    )
}

fn jobs_error(request_id: &Option<Value>, e: &JobsError) -> Value {
    let code = match e {
        JobsError::NotFound(_) => "job_not_found",
        JobsError::Invalid(_) => "invalid_request",
        JobsError::Conflict(_) => "conflict",
        JobsError::Store(_) => "store_error",
        JobsError::Limit { code, .. } => *code,
    };
    error_json(request_id, code, &e.to_string())
}

/// An event as a server message.
pub fn event_json(e: &Event) -> Value {
    match &e.body {
        EventBody::JobUpdate(job) => json!({"type": "JobUpdate", "event_id": e.id, "job": job}),
        EventBody::StreamChunk(m) => {
            json!({"type": "StreamChunk", "event_id": e.id, "job_id": e.job, "message": m})
        }
    }
}

async fn send(out: &mpsc::Sender<Message>, v: Value) -> bool {
    out.send(Message::text(v.to_string())).await.is_ok()
}

impl Connection {
    async fn error(&self, request_id: Option<Value>, code: &str, message: &str) {
        send(&self.out, error_json(&request_id, code, message)).await;
    }

    async fn on_text(&mut self, text: &str) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.error(None, "invalid_json", &e.to_string()).await,
        };
        let request_id = value.get("request_id").cloned();
        let msg: ClientMessage = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .error(request_id, "invalid_message", &e.to_string())
                    .await;
            }
        };
        match msg {
            ClientMessage::Subscribe {
                request_id,
                job_id,
                last_event_id,
            } => self.subscribe(request_id, job_id, last_event_id).await,
            ClientMessage::Unsubscribe { request_id, job_id } => {
                let key = job_id.unwrap_or_default();
                match self.subscriptions.remove(&key) {
                    Some(task) => task.abort(),
                    None => {
                        self.error(request_id, "not_subscribed", "no such subscription")
                            .await
                    }
                }
            }
            ClientMessage::JobStatus { request_id, job_id } => {
                let reply = match self.rt.jobs.get(&self.tenant, &job_id) {
                    Ok(job) => with_request_id(
                        json!({"type": "JobUpdate", "event_id": null, "job": job}),
                        &request_id,
                    ),
                    Err(e) => jobs_error(&request_id, &e),
                };
                send(&self.out, reply).await;
            }
            ClientMessage::JobCreate {
                request_id,
                job,
                subscribe,
            } => {
                let spec: JobSpec = match serde_json::from_value(job) {
                    Ok(s) => s,
                    Err(e) => {
                        return self
                            .error(request_id, "invalid_request", &format!("invalid job: {e}"))
                            .await;
                    }
                };
                // Subscribe before the job can produce events: from event 0 of
                // a job that does not exist yet would fail, so subscribe after
                // creation with last_event_id 0 (its whole history).
                let Some(permit) = self.permit(&request_id).await else {
                    return;
                };
                let jobs = self.rt.jobs.clone();
                let tenant = self.tenant.clone();
                let result = jobs.submit(&tenant, spec).await;
                drop(permit);
                match result {
                    Ok((job, existing)) => {
                        let id = job.id.clone();
                        send(
                            &self.out,
                            with_request_id(
                                json!({"type": "JobUpdate", "event_id": null, "existing": existing, "job": job}),
                                &request_id,
                            ),
                        )
                        .await;
                        if subscribe {
                            self.subscribe(None, Some(id), Some(0)).await;
                        }
                    }
                    Err(e) => {
                        send(&self.out, jobs_error(&request_id, &e)).await;
                    }
                }
            }
            ClientMessage::ToolExecute {
                request_id,
                tool,
                arguments,
            } => {
                let Some(permit) = self.permit(&request_id).await else {
                    return;
                };
                let (rt, tenant, out) = (self.rt.clone(), self.tenant.clone(), self.out.clone());
                let arguments = arguments.unwrap_or_else(|| json!({}));
                // Tools may take long: run beside the reader, reply when done.
                tokio::spawn(crate::sched::offloadable(async move {
                    let reply = match rt.invoke_tool(tenant, &tool, &arguments.to_string()).await {
                        Ok(text) => json!({
                            "type": "ToolResult", "tool": tool,
                            "result": serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                        }),
                        Err(e) => {
                            let (code, message) = crate::error::tool_error_parts(&e);
                            json!({"type": "ToolResult", "tool": tool, "error": crate::error::error_fields(code, &message)})
                        }
                    };
                    send(&out, with_request_id(reply, &request_id)).await;
                    drop(permit);
                }));
            }
        }
    }

    async fn permit(
        &self,
        request_id: &Option<Value>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match self.in_flight.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                self.error(
                    request_id.clone(),
                    "too_many_requests",
                    &format!(
                        "at most {} requests in flight per connection",
                        self.cfg.max_in_flight
                    ),
                )
                .await;
                None
            }
        }
    }

    async fn subscribe(
        &mut self,
        request_id: Option<Value>,
        job_id: Option<String>,
        last_event_id: Option<u64>,
    ) {
        let key = job_id.clone().unwrap_or_default();
        if let Some(job) = &job_id
            && let Err(e) = self.rt.jobs.get(&self.tenant, job)
        {
            send(&self.out, jobs_error(&request_id, &e)).await;
            return;
        }
        if !self.subscriptions.contains_key(&key)
            && self.subscriptions.len() >= self.cfg.max_subscriptions
        {
            return self
                .error(
                    request_id,
                    "too_many_subscriptions",
                    &format!(
                        "at most {} subscriptions per connection",
                        self.cfg.max_subscriptions
                    ),
                )
                .await;
        }
        if let Some(old) = self.subscriptions.remove(&key) {
            old.abort();
        }
        let jobs = self.rt.jobs.clone();
        // Subscribe to live events first, so nothing falls between the replay and them.
        let live = jobs.store.events.subscribe();
        let from = last_event_id.unwrap_or_else(|| jobs.store.last_event_id());
        let task = tokio::spawn(forward(
            jobs,
            self.tenant.clone(),
            job_id,
            from,
            live,
            self.out.clone(),
        ));
        self.subscriptions.insert(key, task);
    }
}

/// Sends a subscription's events: the stored ones after `last`, then live
/// ones. Falling behind the live channel (a slow client) sends it back to the
/// stored log, so no event is skipped.
async fn forward(
    jobs: Arc<Jobs>,
    tenant: Tenant,
    job: Option<String>,
    mut last: u64,
    mut live: broadcast::Receiver<Arc<Event>>,
    out: mpsc::Sender<Message>,
) {
    let wanted = |e: &Event| e.tenant == *tenant && job.as_ref().is_none_or(|j| *j == e.job);
    if let Ok(Some(first)) = jobs.store.first_event()
        && last + 1 < first
        && last > 0
    {
        let note = json!({"type": "Error", "code": "events_pruned",
            "message": format!("events {}..{} were pruned; resuming at {first}", last + 1, first - 1)});
        if !send(&out, note).await {
            return;
        }
    }
    loop {
        // Catch up from the log.
        loop {
            let page = match jobs
                .store
                .events_after(&tenant, job.as_deref(), last, REPLAY_PAGE)
            {
                Ok(p) => p,
                Err(e) => {
                    send(
                        &out,
                        json!({"type": "Error", "code": "store_error", "message": e.to_string()}),
                    )
                    .await;
                    return;
                }
            };
            let full = page.len() == REPLAY_PAGE;
            for e in page {
                last = e.id;
                if !send(&out, event_json(&e)).await {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        // Then follow live events until the channel leaves us behind.
        loop {
            match live.recv().await {
                Ok(e) => {
                    if e.id <= last {
                        continue;
                    }
                    if wanted(&e) && !send(&out, event_json(&e)).await {
                        return;
                    }
                    last = e.id;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
