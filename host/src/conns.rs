//! Client connections: how many may be open at once, how long one may take
//! to send a request head or sit idle between requests, and giving memory
//! back to the system after a burst of them closed.
//!
//! Each accepted socket takes a [`Slot`] under the node-wide cap
//! (`server.max_connections`) for as long as the socket is open, whether it
//! carries HTTP requests or, once upgraded, a `/v2/ws` WebSocket: the slot
//! lives in the socket's I/O wrapper ([`Watched`]), which an upgrade hands on
//! to the WebSocket. Past the cap a new connection is answered
//! `503 too_many_connections` and closed.
//!
//! A connection's [`Activity`] counts its requests in flight (until their
//! response body is done) and notes when the first byte of the next request
//! arrives; [`Activity::expired`] resolves once the connection has had no
//! request in flight for `idle_timeout_ms`, or has spent
//! `header_read_timeout_ms` on a request head that never completed (a new
//! connection starts out waiting for its first head). Nothing here arms a
//! timer per request: a request only moves two atomics, and the one timer of
//! a connection wakes at its deadline (or, while busy, once per timeout) to
//! look at them.

use serde::Deserialize;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// `[server]` in node.toml: bounds on client connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Connections open at once, HTTP and WebSocket alike; past it a new one
    /// is answered `503 too_many_connections` and closed.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, from its first byte
    /// (on a new connection: from the connection).
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
        }
    }
}

impl ServerConfig {
    /// What is wrong with the settings, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.max_connections == 0 {
            Some("server.max_connections must be positive")
        } else if self.header_read_timeout_ms == 0 {
            Some("server.header_read_timeout_ms must be positive")
        } else if self.idle_timeout_ms == 0 {
            Some("server.idle_timeout_ms must be positive")
        } else {
            None
        }
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
}

/// The node's open connections, against the cap.
#[derive(Debug)]
pub struct Gauge {
    max: usize,
    open: AtomicUsize,
    /// The most open at once since the last trim.
    peak: AtomicUsize,
    /// Connections closed since the node started.
    closed: AtomicU64,
    /// `closed` at the last housekeeping tick and at the last trim.
    closed_seen: AtomicU64,
    closed_trimmed: AtomicU64,
    /// Over-cap connections being answered 503 right now.
    refusing: AtomicUsize,
}

/// Over-cap connections answered at once; past this they are closed unanswered.
const MAX_REFUSING: usize = 256;

/// Connections that must have closed, with a quiet second after them, before
/// freed memory is handed back to the system.
const TRIM_AFTER_CLOSES: u64 = 256;

impl Gauge {
    pub fn new(max: usize) -> Arc<Gauge> {
        Arc::new(Gauge {
            max: max.max(1),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            closed: AtomicU64::new(0),
            closed_seen: AtomicU64::new(0),
            closed_trimmed: AtomicU64::new(0),
            refusing: AtomicUsize::new(0),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A place for one more connection, unless the node is at its cap.
    /// `thread` counts the connections of the serving thread that runs it;
    /// the caller has already counted this one there, and the slot (or its
    /// refusal) takes that count over.
    pub fn admit(self: &Arc<Self>, thread: Arc<AtomicUsize>) -> Result<Slot, Refused> {
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        if before >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            thread.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused {
                gauge: self.clone(),
            });
        }
        self.peak.fetch_max(before + 1, Ordering::Relaxed);
        Ok(Slot {
            gauge: self.clone(),
            thread,
        })
    }

    /// Called once a second: once a burst of connections has closed, returns
    /// the freed heap to the system (glibc keeps freed memory in its arenas,
    /// and RSS would stay at the burst's peak). A burst has closed when many
    /// connections closed since the last trim and either none closed in the
    /// last second or at most half of the peak since then are still open
    /// (so steady churn after a burst does not put it off forever).
    pub fn housekeeping(&self) {
        let closed = self.closed.load(Ordering::Relaxed);
        let before = self.closed_seen.swap(closed, Ordering::Relaxed);
        let trimmed = self.closed_trimmed.load(Ordering::Relaxed);
        let open = self.open();
        let burst_over = closed == before || open <= self.peak.load(Ordering::Relaxed) / 2;
        if closed - trimmed >= TRIM_AFTER_CLOSES && burst_over {
            self.closed_trimmed.store(closed, Ordering::Relaxed);
            self.peak.store(open, Ordering::Relaxed);
            tokio::task::spawn_blocking(release_free_memory);
        }
    }
}

/// Hands the allocator's free pages back to the system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One connection's place under the cap, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    gauge: Arc<Gauge>,
    thread: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge.open.fetch_sub(1, Ordering::Relaxed);
        self.gauge.closed.fetch_add(1, Ordering::Relaxed);
        self.thread.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection past the cap.
#[derive(Debug)]
pub struct Refused {
    gauge: Arc<Gauge>,
}

const REFUSAL: &str = concat!(
    "HTTP/1.1 503 Service Unavailable\r\n",
    "content-type: application/json\r\n",
    "retry-after: 1\r\n",
    "connection: close\r\n",
    "content-length: 111\r\n",
    "\r\n",
    r#"{"error":{"code":"too_many_connections","message":"the node is at its limit of open connections; retry later"}}"#,
);

impl Refused {
    /// Answers `503 too_many_connections` and closes. What the client sent
    /// is read (a little, briefly) first, so the close does not reset the
    /// connection before the client has read the answer.
    pub async fn answer(self, mut stream: TcpStream) {
        if self.gauge.refusing.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
            self.gauge.refusing.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(REFUSAL.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            let mut left: usize = 64 * 1024;
            while left > 0 {
                match stream.read(&mut sink).await? {
                    0 => break,
                    n => left = left.saturating_sub(n),
                }
            }
            std::io::Result::Ok(())
        })
        .await;
        self.gauge.refusing.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Milliseconds since the first call (never 0, which means "not set").
fn now_ms() -> u64 {
    static BASE: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
    BASE.elapsed().as_millis() as u64 + 1
}

/// What one connection is doing, for its timeouts.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicU32,
    /// When the last request in flight ended (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of a request head arrived while none was in
    /// flight; 0 when none did.
    head_since: AtomicU64,
}

impl Activity {
    /// A new connection, waiting for its first request head.
    pub fn new() -> Arc<Activity> {
        let now = now_ms();
        Arc::new(Activity {
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now),
        })
    }

    /// A request has started; it counts until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection is to be closed if nothing changes; none while a
    /// request is in flight.
    fn deadline(&self, cfg: &ServerConfig) -> Option<u64> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        Some(match self.head_since.load(Ordering::Relaxed) {
            0 => self.idle_since.load(Ordering::Relaxed) + cfg.idle_timeout_ms,
            head => head + cfg.header_read_timeout_ms,
        })
    }

    /// Resolves when the connection has been idle, or on one request head,
    /// for too long.
    pub async fn expired(&self, cfg: &ServerConfig) {
        loop {
            let now = now_ms();
            let wait = match self.deadline(cfg) {
                Some(at) if at <= now => return,
                Some(at) => at - now,
                // Busy: look again later (a request's end moves the deadline).
                None => cfg.idle_timeout_ms.min(cfg.header_read_timeout_ms),
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A request in flight.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.idle_since.store(now_ms(), Ordering::Relaxed);
        }
    }
}

impl Busy {
    /// `body`, holding the request in flight until it is done.
    pub fn hold<B>(self, body: B) -> Tracked<B> {
        Tracked { body, _busy: self }
    }
}

/// A response body that keeps its request counted as in flight.
pub struct Tracked<B> {
    body: B,
    _busy: Busy,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A client socket: notes the arrival of request bytes in its
/// [`Activity`], and holds the connection's [`Slot`] until it closes.
pub struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
    _slot: Slot,
}

impl Watched {
    pub fn new(io: TcpStream, activity: Arc<Activity>, slot: Slot) -> Watched {
        Watched {
            io,
            activity,
            _slot: slot,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Raises the soft limit on open files to the hard one, so the process can
/// hold `want` sockets (the soft limit is often 1024); warns when even the
/// hard limit is lower (the connections past it are not accepted).
pub fn raise_open_files_limit(want: usize) {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit with a valid, owned struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        if (lim.rlim_cur as u64) < want as u64 {
            tracing::warn!(
                limit = lim.rlim_cur as u64,
                want,
                "the open files limit is below server.max_connections: raise it (ulimit -n) or lower the cap"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_valid_json_of_its_declared_length() {
        let (head, body) = REFUSAL.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), declared);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "too_many_connections");
    }

    #[test]
    fn the_cap_admits_up_to_max_and_frees_on_close() {
        let gauge = Gauge::new(2);
        let thread = Arc::new(AtomicUsize::new(3));
        let a = gauge.admit(thread.clone()).unwrap();
        let _b = gauge.admit(thread.clone()).unwrap();
        assert!(gauge.admit(thread.clone()).is_err());
        assert_eq!(thread.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!((gauge.open(), thread.load(Ordering::Relaxed)), (1, 1));
        assert!(gauge.admit(thread.clone()).is_ok());
    }

    #[test]
    fn deadlines_follow_requests() {
        let cfg = ServerConfig {
            max_connections: 1,
            header_read_timeout_ms: 100,
            idle_timeout_ms: 1000,
        };
        let a = Activity::new();
        // A new connection waits for a head.
        let opened = a.head_since.load(Ordering::Relaxed);
        assert_eq!(a.deadline(&cfg), Some(opened + 100));
        let busy = a.begin();
        assert_eq!(a.deadline(&cfg), None);
        a.on_read();
        assert_eq!(a.deadline(&cfg), None);
        drop(busy);
        // Idle after a request: the idle timeout, until a head starts.
        let idle = a.idle_since.load(Ordering::Relaxed);
        assert_eq!(a.deadline(&cfg), Some(idle + 1000));
        a.on_read();
        let head = a.head_since.load(Ordering::Relaxed);
        assert!(head >= idle);
        assert_eq!(a.deadline(&cfg), Some(head + 100));
    }
}
