//! Open-loop load generator. Requests are *scheduled* at fixed intervals by a
//! dedicated dispatcher thread, independent of responses, and handed to a pool
//! of keep-alive HTTP/1.1 connections. Every latency is measured from the
//! scheduled send time, so a slow response delays the requests queued behind
//! it and that delay is charged to the target (no coordinated omission).
//!
//! Besides latency (and, streamed, time to the first body chunk) it records
//! how late the dispatcher handed each request over (dispatch lag: the load
//! generator's own lateness) and how late a connection started sending it
//! (send lag: dispatch lag + waiting for a free connection + task wake-up).

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a target serves OpenAI chat completions.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// Path of the chat-completions endpoint, e.g. `/v1/chat/completions`.
    pub chat_path: String,
    /// The model name the target expects.
    pub model: String,
    /// The `Authorization` header sent (a tenant's key for `hanzo-auth`).
    pub authorization: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    NonStreaming,
    Streaming,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::NonStreaming => "non-streaming",
            Mode::Streaming => "streaming",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StepConfig {
    /// Requests per second.
    pub rate: f64,
    /// How long requests are scheduled for.
    pub duration: Duration,
    /// At most this many requests are scheduled.
    pub max_requests: u64,
    /// Keep-alive connections in the pool.
    pub connections: usize,
    /// After the last scheduled send, how long answers are waited for; then
    /// whatever is unfinished counts as a timeout.
    pub drain: Duration,
    /// Write one line per valid answer here (tab-separated: scheduled send
    /// after the step's start, latency and send lag, all in µs), to see
    /// when slow answers happened and whether they came together.
    pub trace: Option<std::path::PathBuf>,
}

/// Latencies are recorded in microseconds.
pub type Hist = Histogram<u64>;

fn new_hist() -> Hist {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

fn record(h: &mut Hist, d: Duration) {
    let us = (d.as_nanos() / 1000).clamp(1, 600_000_000) as u64;
    h.saturating_record(us);
}

/// What one step measured.
pub struct StepStats {
    /// Requests the schedule held.
    pub scheduled: u64,
    /// Requests the dispatcher handed over before the step's time ran out.
    pub dispatched: u64,
    pub ok: u64,
    /// Failed requests by cause.
    pub errors: BTreeMap<String, u64>,
    /// The first failure, with a bit of the answer, to tell what went wrong.
    pub first_error: Option<String>,
    /// Scheduled send → last byte of a valid answer.
    pub latency: Hist,
    /// Streaming: scheduled send → first body chunk.
    pub ttft: Hist,
    /// Scheduled send → dispatcher handed the request over.
    pub dispatch_lag: Hist,
    /// Scheduled send → a connection started sending it.
    pub send_lag: Hist,
    /// Most requests in flight at once.
    pub max_inflight: usize,
    /// From the first scheduled send to the last answer.
    pub wall: Duration,
}

impl StepStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

struct Job {
    scheduled: Instant,
}

#[derive(Default)]
struct Recorder {
    ok: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    latency: Option<Hist>,
    ttft: Option<Hist>,
    send_lag: Option<Hist>,
    last_done: Option<Instant>,
    /// (scheduled after t0, latency, send lag) in µs, when tracing.
    trace: Option<Vec<[u64; 3]>>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            latency: Some(new_hist()),
            ttft: Some(new_hist()),
            send_lag: Some(new_hist()),
            ..Default::default()
        }
    }

    fn error(&mut self, kind: &str, detail: impl FnOnce() -> String) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{kind}: {}", detail()));
        }
    }
}

/// The request body every target gets (model name aside).
pub fn request_body(model: &str, mode: Mode) -> Bytes {
    let mut v = serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a latency benchmark."},
            {"role": "user", "content": "Say hello"}
        ],
        "max_tokens": 16,
        "temperature": 0
    });
    if mode == Mode::Streaming {
        v["stream"] = true.into();
        v["stream_options"] = serde_json::json!({"include_usage": true});
    }
    Bytes::from(v.to_string())
}

struct Conn {
    send: SendRequest<Full<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { send, task })
}

/// One exchange's outcome.
struct Answer {
    status: u16,
    body: Vec<u8>,
    first_chunk: Option<Instant>,
    done: Instant,
}

/// Largest part of an answer kept for validation.
const KEEP_BYTES: usize = 64 << 10;

enum ExchangeError {
    /// The request never left: the connection had been closed (e.g. by the
    /// server's keep-alive timeout). Safe to retry on a new connection.
    NotSent(String),
    Failed(String),
}

async fn exchange(
    conn: &mut Conn,
    ep: &Endpoint,
    host: &str,
    body: &Bytes,
) -> Result<Answer, ExchangeError> {
    use ExchangeError::{Failed, NotSent};
    conn.send
        .ready()
        .await
        .map_err(|e| NotSent(e.to_string()))?;
    let req = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(ep.chat_path.as_str())
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::AUTHORIZATION,
            hyper::header::HeaderValue::from_static(ep.authorization),
        )
        .body(Full::new(body.clone()))
        .map_err(|e| Failed(e.to_string()))?;
    let resp = conn.send.send_request(req).await.map_err(|e| {
        if e.is_canceled() {
            NotSent(e.to_string())
        } else {
            Failed(e.to_string())
        }
    })?;
    let status = resp.status().as_u16();
    let mut incoming = resp.into_body();
    let mut first_chunk = None;
    let mut kept = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| Failed(e.to_string()))?;
        if let Ok(data) = frame.into_data()
            && !data.is_empty()
        {
            first_chunk.get_or_insert_with(Instant::now);
            if kept.len() < KEEP_BYTES {
                kept.extend_from_slice(&data);
            }
        }
    }
    Ok(Answer {
        status,
        body: kept,
        first_chunk,
        done: Instant::now(),
    })
}

/// Sends on `conn` (connecting first when there is none or it was closed);
/// a request that never left a closed connection is retried once on a new one.
async fn send_one(
    conn: &mut Option<Conn>,
    ep: &Endpoint,
    host: &str,
    body: &Bytes,
) -> Result<Answer, (&'static str, String)> {
    for attempt in 0..2 {
        if conn.as_ref().is_none_or(|c| c.send.is_closed()) {
            *conn = Some(connect(ep.addr).await.map_err(|e| ("connect", e))?);
        }
        let c = conn.as_mut().expect("connected");
        match exchange(c, ep, host, body).await {
            Ok(a) => return Ok(a),
            Err(ExchangeError::NotSent(e)) => {
                *conn = None;
                if attempt == 1 {
                    return Err(("io", e));
                }
            }
            Err(ExchangeError::Failed(e)) => {
                *conn = None;
                return Err(("io", e));
            }
        }
    }
    unreachable!("the loop returns")
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Whether an answer is what the mock's answer looks like through a gateway:
/// the mock's echo for JSON, its content deltas and `[DONE]` for SSE.
fn valid(mode: Mode, a: &Answer) -> bool {
    a.status == 200
        && match mode {
            Mode::NonStreaming => contains(&a.body, "echo: "),
            Mode::Streaming => contains(&a.body, "Hel") && contains(&a.body, "[DONE]"),
        }
}

fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]).replace('\n', "\\n");
    if b.len() > 300 { format!("{s}…") } else { s }
}

/// One request on a fresh connection; Ok(answer body) when it is valid.
pub async fn probe(ep: &Endpoint, mode: Mode, timeout: Duration) -> Result<String, String> {
    let host = ep.addr.to_string();
    let body = request_body(&ep.model, mode);
    let fut = async {
        let mut conn = None;
        send_one(&mut conn, ep, &host, &body).await
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("no answer within {timeout:?}")),
        Ok(Err((kind, e))) => Err(format!("{kind}: {e}")),
        Ok(Ok(a)) if valid(mode, &a) => Ok(String::from_utf8_lossy(&a.body).into_owned()),
        Ok(Ok(a)) => Err(format!("HTTP {}: {}", a.status, snippet(&a.body))),
    }
}

/// The dispatcher: hands request `i` over at `t0 + i / rate`, sleeping (not
/// spinning: there are only two cores) with 1 ns timer slack in between.
fn dispatch(
    tx: async_channel::Sender<Job>,
    t0: Instant,
    n: u64,
    rate: f64,
    until: Instant,
) -> (Hist, u64) {
    // SAFETY: prctl(PR_SET_TIMERSLACK) and setpriority on our own thread id
    // only affect this thread. A higher priority (when permitted) lets it
    // wake on time when the machine is busy; it does almost no work, and its
    // lateness is measured either way.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, -10);
    }
    let mut lag = new_hist();
    let mut sent = 0;
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate);
        if at > until {
            break;
        }
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        let now = Instant::now();
        record(&mut lag, now.saturating_duration_since(at));
        if tx.try_send(Job { scheduled: at }).is_err() {
            break;
        }
        sent += 1;
    }
    (lag, sent)
}

/// Waits for the workers until `by`, then aborts those still running.
async fn join_or_abort(workers: Vec<tokio::task::JoinHandle<()>>, by: Instant) {
    let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
    let all = futures_util::future::join_all(workers);
    if tokio::time::timeout_at(by.into(), all).await.is_err() {
        for a in aborts {
            a.abort();
        }
    }
}

/// Runs one open-loop step against `ep`. Bounded: requests are scheduled for
/// at most `cfg.duration` (and `cfg.max_requests`), answers are waited for at
/// most `cfg.drain` after that.
pub async fn run_step(ep: &Endpoint, mode: Mode, cfg: &StepConfig) -> StepStats {
    let body = request_body(&ep.model, mode);
    let host = ep.addr.to_string();
    let n = ((cfg.rate * cfg.duration.as_secs_f64()).floor() as u64).min(cfg.max_requests);

    // Open the pool before the clock starts; a connection that fails here is
    // retried when its worker first needs it.
    let conns: Vec<Option<Conn>> =
        futures_util::future::join_all((0..cfg.connections.max(1)).map(|_| connect(ep.addr)))
            .await
            .into_iter()
            .map(Result::ok)
            .collect();

    let t0 = Instant::now() + Duration::from_millis(20);
    let until = t0 + cfg.duration;
    let deadline = until + cfg.drain;
    let rec = Arc::new(Mutex::new(Recorder {
        trace: cfg.trace.is_some().then(|| Vec::with_capacity(n as usize)),
        ..Recorder::new()
    }));
    let inflight = Arc::new(AtomicUsize::new(0));
    let max_inflight = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = async_channel::unbounded::<Job>();

    let mut workers = Vec::new();
    for conn in conns {
        let rx = rx.clone();
        let rec = rec.clone();
        let ep = ep.clone();
        let host = host.clone();
        let body = body.clone();
        let inflight = inflight.clone();
        let max_inflight = max_inflight.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = conn;
            while let Ok(job) = rx.recv().await {
                let start = Instant::now();
                if start >= deadline {
                    rec.lock().unwrap().error("not sent (step deadline)", || {
                        "the pool was still busy when the step ended".into()
                    });
                    continue;
                }
                let now_in = inflight.fetch_add(1, Ordering::Relaxed) + 1;
                max_inflight.fetch_max(now_in, Ordering::Relaxed);
                let result = tokio::time::timeout_at(
                    deadline.into(),
                    send_one(&mut conn, &ep, &host, &body),
                )
                .await;
                inflight.fetch_sub(1, Ordering::Relaxed);
                let mut r = rec.lock().unwrap();
                record(r.send_lag.as_mut().unwrap(), start - job.scheduled);
                match result {
                    Err(_) => {
                        conn = None;
                        r.error("timeout (step deadline)", || {
                            format!(
                                "no answer {:?} after the last scheduled send",
                                deadline - until
                            )
                        });
                    }
                    Ok(Err((kind, e))) => {
                        r.error(kind, || e);
                    }
                    Ok(Ok(a)) => {
                        if valid(mode, &a) {
                            r.ok += 1;
                            record(r.latency.as_mut().unwrap(), a.done - job.scheduled);
                            if let Some(trace) = r.trace.as_mut() {
                                let us = |d: Duration| d.as_micros() as u64;
                                trace.push([
                                    us(job.scheduled.saturating_duration_since(t0)),
                                    us(a.done - job.scheduled),
                                    us(start - job.scheduled),
                                ]);
                            }
                            if let Some(f) = a.first_chunk.filter(|_| mode == Mode::Streaming) {
                                record(r.ttft.as_mut().unwrap(), f - job.scheduled);
                            }
                            r.last_done = Some(r.last_done.map_or(a.done, |d| d.max(a.done)));
                        } else if a.status != 200 {
                            r.error(&format!("HTTP {}", a.status), || snippet(&a.body));
                        } else {
                            r.error("unexpected body", || snippet(&a.body));
                        }
                    }
                }
            }
        }));
    }
    drop(rx);

    let rate = cfg.rate;
    let dispatcher = std::thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || dispatch(tx, t0, n, rate, until))
        .expect("spawn dispatcher");
    let (dispatch_lag, dispatched) = tokio::task::spawn_blocking(move || dispatcher.join())
        .await
        .expect("join dispatcher")
        .expect("dispatcher panicked");

    // The channel is closed now; workers finish the queue and stop by the
    // deadline on their own (every exchange is bounded by it). Past that,
    // with a margin, they are aborted.
    join_or_abort(workers, deadline + Duration::from_secs(2)).await;

    let mut r = std::mem::replace(&mut *rec.lock().unwrap(), Recorder::new());
    if let (Some(path), Some(mut rows)) = (&cfg.trace, r.trace.take()) {
        rows.sort_unstable();
        let mut text = String::from("scheduled_us\tlatency_us\tsend_lag_us\n");
        for [at, latency, lag] in rows {
            text.push_str(&format!("{at}\t{latency}\t{lag}\n"));
        }
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("  cannot write the trace {}: {e}", path.display());
        }
    }
    let finished = r.ok + r.errors.values().sum::<u64>();
    if finished < dispatched {
        *r.errors
            .entry("timeout (step deadline)".into())
            .or_default() += dispatched - finished;
    }
    if dispatched < n {
        *r.errors
            .entry("not dispatched (load generator behind)".into())
            .or_default() += n - dispatched;
    }
    StepStats {
        scheduled: n,
        dispatched,
        ok: r.ok,
        errors: r.errors,
        first_error: r.first_error,
        latency: r.latency.take().unwrap(),
        ttft: r.ttft.take().unwrap(),
        dispatch_lag,
        send_lag: r.send_lag.take().unwrap(),
        max_inflight: max_inflight.load(Ordering::Relaxed),
        wall: r
            .last_done
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(t0)),
    }
}

/// What one closed-loop step measured: every connection sends its next
/// request as soon as the answer to the last one is in, so the rate is what
/// the target can take (its capacity at that concurrency).
pub struct ClosedStats {
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// Send → last byte of a valid answer.
    pub latency: Hist,
    /// From the start to the last answer.
    pub wall: Duration,
}

impl ClosedStats {
    /// Valid answers per second.
    pub fn rps(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 {
            self.ok as f64 / wall
        } else {
            0.0
        }
    }
}

/// Runs one closed-loop step against `ep`: `connections` keep-alive
/// connections each sending back to back for `duration`, at most
/// `max_requests` in all. Bounded: a request still unanswered `drain` after
/// the end is a timeout.
pub async fn run_closed(
    ep: &Endpoint,
    mode: Mode,
    connections: usize,
    duration: Duration,
    max_requests: u64,
    drain: Duration,
) -> ClosedStats {
    let body = request_body(&ep.model, mode);
    let host = ep.addr.to_string();
    let conns: Vec<Option<Conn>> =
        futures_util::future::join_all((0..connections.max(1)).map(|_| connect(ep.addr)))
            .await
            .into_iter()
            .map(Result::ok)
            .collect();
    let t0 = Instant::now();
    let until = t0 + duration;
    let deadline = until + drain;
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(max_requests));
    let rec = Arc::new(Mutex::new(Recorder::new()));
    let workers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (ep, host, body) = (ep.clone(), host.clone(), body.clone());
            let (budget, rec) = (budget.clone(), rec.clone());
            tokio::spawn(async move {
                while Instant::now() < until
                    && budget
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let start = Instant::now();
                    let result = tokio::time::timeout_at(
                        deadline.into(),
                        send_one(&mut conn, &ep, &host, &body),
                    )
                    .await;
                    let mut r = rec.lock().unwrap();
                    match result {
                        Err(_) => {
                            r.error("timeout (step deadline)", || {
                                format!("no answer {drain:?} after the step's end")
                            });
                            break;
                        }
                        Ok(Err((kind, e))) => r.error(kind, || e),
                        Ok(Ok(a)) if valid(mode, &a) => {
                            r.ok += 1;
                            record(r.latency.as_mut().unwrap(), a.done - start);
                            r.last_done = Some(r.last_done.map_or(a.done, |d| d.max(a.done)));
                        }
                        Ok(Ok(a)) if a.status != 200 => {
                            r.error(&format!("HTTP {}", a.status), || snippet(&a.body))
                        }
                        Ok(Ok(a)) => r.error("unexpected body", || snippet(&a.body)),
                    }
                }
            })
        })
        .collect();
    join_or_abort(workers, deadline + Duration::from_secs(2)).await;
    let mut r = std::mem::replace(&mut *rec.lock().unwrap(), Recorder::new());
    ClosedStats {
        ok: r.ok,
        errors: r.errors,
        first_error: r.first_error,
        latency: r.latency.take().unwrap(),
        wall: r
            .last_done
            .map_or(Duration::ZERO, |d| d.saturating_duration_since(t0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_upstream::openai::LoadMock;

    /// The mock upstream, a one-worker runtime and the mock's chat endpoint.
    fn mock_and_runtime() -> (LoadMock, tokio::runtime::Runtime, Endpoint) {
        let mock = LoadMock::start(1).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ep = Endpoint {
            addr: mock.addr,
            chat_path: "/v1/chat/completions".into(),
            model: "gpt-4o-mini".into(),
            authorization: "Bearer sk-bench",
        };
        (mock, rt, ep)
    }

    #[test]
    fn open_loop_step_against_the_mock_is_complete_and_valid() {
        let (mock, rt, ep) = mock_and_runtime();
        let dir = tempfile::tempdir().unwrap();
        for mode in [Mode::NonStreaming, Mode::Streaming] {
            let trace = dir.path().join(format!("{}.tsv", mode.label()));
            let cfg = StepConfig {
                rate: 400.0,
                duration: Duration::from_millis(500),
                max_requests: 150,
                connections: 8,
                drain: Duration::from_secs(2),
                trace: Some(trace.clone()),
            };
            let before = mock.counters.completions();
            let s = rt.block_on(run_step(&ep, mode, &cfg));
            // 400 rps for 0.5 s is 200, capped at 150.
            assert_eq!(s.scheduled, 150, "{mode:?}");
            assert_eq!(s.dispatched, 150);
            assert_eq!(s.ok, 150, "{mode:?}: {:?} {:?}", s.errors, s.first_error);
            assert_eq!(mock.counters.completions() - before, 150);
            assert_eq!(s.latency.len(), 150);
            assert_eq!(s.ttft.is_empty(), mode == Mode::NonStreaming);
            assert!(s.max_inflight >= 1 && s.max_inflight <= 8);
            // The trace: a header, then one row per answer in schedule order.
            let text = std::fs::read_to_string(&trace).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("scheduled_us\tlatency_us\tsend_lag_us"));
            let rows: Vec<Vec<u64>> = lines
                .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
                .collect();
            assert_eq!(rows.len(), 150);
            assert!(rows.windows(2).all(|w| w[0][0] <= w[1][0]));
            // 150 sends at 400 rps span 372.5 ms; every answer took some time.
            assert!(rows.last().unwrap()[0] >= 370_000);
            assert!(rows.iter().all(|r| r.len() == 3 && r[1] > 0));
        }
        let body = rt
            .block_on(probe(&ep, Mode::Streaming, Duration::from_secs(2)))
            .unwrap();
        assert!(body.contains("\"usage\""), "{body}");
        assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    }

    #[test]
    fn closed_loop_step_against_the_mock_is_bounded_and_valid() {
        let (mock, rt, ep) = mock_and_runtime();
        for mode in [Mode::NonStreaming, Mode::Streaming] {
            let before = mock.counters.completions();
            let s = rt.block_on(run_closed(
                &ep,
                mode,
                4,
                Duration::from_secs(10),
                300,
                Duration::from_secs(2),
            ));
            // The request budget ends the step long before its time.
            assert_eq!(s.ok, 300, "{mode:?}: {:?} {:?}", s.errors, s.first_error);
            assert!(s.errors.is_empty(), "{:?}", s.errors);
            assert_eq!(mock.counters.completions() - before, 300);
            assert_eq!(s.latency.len(), 300);
            assert!(s.wall > Duration::ZERO && s.wall < Duration::from_secs(10));
            assert!(s.rps() > 0.0);
        }
    }

    #[test]
    fn an_unreachable_target_counts_errors_not_answers() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ep = Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            chat_path: "/v1/chat/completions".into(),
            model: "m".into(),
            authorization: "Bearer sk-bench",
        };
        let cfg = StepConfig {
            rate: 100.0,
            duration: Duration::from_millis(200),
            max_requests: 100,
            connections: 4,
            drain: Duration::from_secs(1),
            trace: None,
        };
        let s = rt.block_on(run_step(&ep, Mode::NonStreaming, &cfg));
        assert_eq!(s.ok, 0);
        assert_eq!(s.error_count(), s.scheduled);
        assert!(s.errors.contains_key("connect"), "{:?}", s.errors);
    }

    #[test]
    fn validation_wants_the_mock_echo_or_the_stream_end() {
        let a = |status, body: &str| Answer {
            status,
            body: body.as_bytes().to_vec(),
            first_chunk: None,
            done: Instant::now(),
        };
        assert!(valid(
            Mode::NonStreaming,
            &a(200, r#"{"content":"echo: Say hello"}"#)
        ));
        assert!(!valid(
            Mode::NonStreaming,
            &a(200, r#"{"content":"cached"}"#)
        ));
        assert!(!valid(Mode::NonStreaming, &a(500, r#"echo: "#)));
        assert!(valid(
            Mode::Streaming,
            &a(200, "data: {\"content\":\"Hel\"}\n\ndata: [DONE]\n\n")
        ));
        assert!(!valid(
            Mode::Streaming,
            &a(200, "data: {\"content\":\"Hel\"}\n\n")
        ));
    }
}
