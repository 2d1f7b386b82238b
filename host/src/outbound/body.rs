//! The body of an upstream's response, as a plugin reads it through
//! `wasi:http`: bounded in the time between bytes, returned to the keep-alive
//! pool when the plugin is done with it, and — for a streamed response — read
//! ahead of the plugin.
//!
//! Why read ahead: hyper passes a response body on one chunk at a time, each
//! only after the reader asked for it (its body channel holds one item). A
//! plugin relaying an SSE stream would suspend and resume — through two
//! nested fibers, the API plugin's and the provider's — once per event, even
//! when the upstream sent the whole answer in one packet. A small task that
//! keeps asking on the plugin's behalf moves the events into a buffer as fast
//! as the connection decodes them and wakes the plugin once the burst is over
//! (see [`Burst`]), so the plugin takes everything in one read and the API
//! plugin writes the whole burst at once.

use crate::coalesce::{Burst, join};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use wasmtime_wasi_http::Error as HttpError;

/// A response dropped before its end (a stream read up to `[DONE]`, not to
/// its terminating chunk) is read on by the host, within these bounds, so
/// its connection can serve the next request.
const DRAIN_MAX_BYTES: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_secs(1);
/// Most bytes read ahead of the plugin.
const READ_AHEAD_MAX: usize = 256 << 10;

/// A response body that fails when the upstream goes quiet for too long.
pub struct TimedBody {
    source: Source,
    timeout: tokio::time::Interval,
    /// Set once the plugin is done with the body: the connection is reusable
    /// as soon as hyper has seen the body's end.
    released: Arc<AtomicBool>,
}

enum Source {
    /// A body of known length, read straight from hyper; `None` once dropped
    /// (its tail then drains in a task).
    Direct(Option<hyper::body::Incoming>),
    /// A streamed body, read ahead by its own task.
    ReadAhead(Arc<ReadAhead>),
}

impl TimedBody {
    pub fn new(
        incoming: hyper::body::Incoming,
        between_bytes: Duration,
        released: Arc<AtomicBool>,
    ) -> TimedBody {
        let mut timeout = tokio::time::interval(between_bytes);
        timeout.reset();
        let source = if incoming.size_hint().exact().is_some() {
            Source::Direct(Some(incoming))
        } else {
            Source::ReadAhead(ReadAhead::start(incoming))
        };
        TimedBody {
            source,
            timeout,
            released,
        }
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        self.released.store(true, Ordering::Release);
        match &mut self.source {
            Source::ReadAhead(shared) => shared.abandon(),
            Source::Direct(incoming) => {
                if let Some(incoming) = incoming.take()
                    && !incoming.is_end_stream()
                    && let Ok(runtime) = tokio::runtime::Handle::try_current()
                {
                    // Hyper closes a connection whose response body is
                    // dropped unread; read the (usually tiny) rest so the
                    // connection stays pooled.
                    runtime.spawn(drain(incoming));
                }
            }
        }
    }
}

/// Reads and discards the rest of a body, within bounds.
async fn drain(mut incoming: hyper::body::Incoming) {
    let mut left = DRAIN_MAX_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = incoming.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if n > left {
                break;
            }
            left -= n;
        }
    })
    .await;
}

fn upstream_error(e: hyper::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::HttpResponseTimeout
    } else {
        e.into()
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let polled = match &mut self.source {
            Source::Direct(None) => return Poll::Ready(None),
            Source::Direct(Some(incoming)) => Pin::new(incoming)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(upstream_error))),
            Source::ReadAhead(shared) => shared.poll_take(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                self.released.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Direct(incoming) => incoming.as_ref().is_none_or(Body::is_end_stream),
            Source::ReadAhead(shared) => shared.lock().is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Direct(incoming) => incoming.as_ref().map(Body::size_hint).unwrap_or_default(),
            Source::ReadAhead(_) => SizeHint::default(),
        }
    }
}

/// The buffer between a streamed body's read-ahead task and the plugin.
#[derive(Default)]
struct ReadAhead {
    state: Mutex<Buffered>,
}

#[derive(Default)]
struct Buffered {
    data: VecDeque<Bytes>,
    bytes: usize,
    trailers: Option<HeaderMap>,
    error: Option<hyper::Error>,
    ended: bool,
    /// The plugin waiting for data.
    reader: Option<Waker>,
    /// The read-ahead task waiting for room.
    pump: Option<Waker>,
    /// The plugin dropped the body: the rest is only drained.
    abandoned: bool,
}

impl Buffered {
    fn is_end(&self) -> bool {
        self.ended && self.data.is_empty() && self.trailers.is_none() && self.error.is_none()
    }
}

impl ReadAhead {
    fn start(incoming: hyper::body::Incoming) -> Arc<ReadAhead> {
        let shared = Arc::new(ReadAhead::default());
        tokio::spawn(shared.clone().run(incoming));
        shared
    }

    fn lock(&self) -> MutexGuard<'_, Buffered> {
        crate::lock(&self.state)
    }

    /// The read-ahead task: moves frames from hyper into the buffer until the
    /// body ends, pausing while the buffer is full, then drains the rest if
    /// the plugin let go of the body.
    async fn run(self: Arc<Self>, mut incoming: hyper::body::Incoming) {
        let mut burst = Burst::default();
        let abandoned =
            std::future::poll_fn(|cx| self.poll_pump(cx, &mut incoming, &mut burst)).await;
        if abandoned {
            drain(incoming).await;
        }
    }

    /// One turn of the read-ahead: `Ready(true)` once the plugin abandoned
    /// the body, `Ready(false)` once it ended. Hyper decodes one chunk per
    /// turn; a waiting plugin is woken when the burst is over (a few turns
    /// without a new chunk), so it takes the whole burst in one read.
    fn poll_pump(
        &self,
        cx: &mut Context<'_>,
        incoming: &mut hyper::body::Incoming,
        burst: &mut Burst,
    ) -> Poll<bool> {
        let mut fresh = false;
        loop {
            {
                let mut b = self.lock();
                if b.abandoned {
                    return Poll::Ready(true);
                }
                if b.bytes >= READ_AHEAD_MAX {
                    b.pump = Some(cx.waker().clone());
                    break;
                }
            }
            let frame = match Pin::new(&mut *incoming).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => break,
            };
            let mut b = self.lock();
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        b.bytes += data.len();
                        b.data.push_back(data);
                        fresh = true;
                    }
                    Err(frame) => b.trailers = frame.into_trailers().ok(),
                },
                Some(Err(e)) => {
                    b.error = Some(e);
                    b.ended = true;
                }
                None => b.ended = true,
            }
            if b.ended {
                let reader = b.reader.take();
                drop(b);
                if let Some(w) = reader {
                    w.wake();
                }
                return Poll::Ready(false);
            }
        }
        let mut b = self.lock();
        if b.bytes > 0 && b.reader.is_some() {
            if burst.wait(fresh, b.bytes < READ_AHEAD_MAX) {
                drop(b);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let reader = b.reader.take();
            drop(b);
            if let Some(w) = reader {
                w.wake();
            }
        }
        Poll::Pending
    }

    /// Everything buffered, as one frame; then trailers, an error or the end.
    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let mut b = self.lock();
        if !b.data.is_empty() {
            let total = std::mem::take(&mut b.bytes);
            let data = join(b.data.drain(..), total);
            let pump = b.pump.take();
            drop(b);
            if let Some(w) = pump {
                w.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(e) = b.error.take() {
            return Poll::Ready(Some(Err(upstream_error(e))));
        }
        if let Some(t) = b.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        if b.ended {
            return Poll::Ready(None);
        }
        b.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The plugin is done with the body: drain the rest, don't buffer it.
    fn abandon(&self) {
        let mut b = self.lock();
        b.abandoned = true;
        b.data.clear();
        b.bytes = 0;
        let pump = b.pump.take();
        drop(b);
        if let Some(w) = pump {
            w.wake();
        }
    }
}
