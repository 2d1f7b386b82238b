//! Coalescing of bursts: pieces of a stream that arrive microseconds apart
//! are passed on together.
//!
//! An API plugin relaying a stream writes one piece per event. Handed to the
//! connection one by one, each piece is its own `writev` — on loopback or a
//! LAN about as costly as everything else the node does for that event, and
//! a wake-up of the client for each. But while the plugin is still producing
//! (the upstream sent several events at once), the pieces are only
//! microseconds apart. [`Coalesced`] lets the plugin run on while it keeps
//! producing and hands what accumulated to the connection as one frame as
//! soon as it stops — a few polls in a row that find nothing new (the next
//! piece may be a few task hops away) — so a stream that trickles (an LLM
//! emitting tokens) is written a few scheduler rounds after each piece comes,
//! and a burst is written once. The wait is bounded in rounds, time and
//! bytes. (Netty's `FlushConsolidationHandler` and Envoy's write buffering
//! per event-loop iteration do the same.) [`Burst`] is that decision, also
//! used where the upstream's events are read ahead of a plugin.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Most bytes gathered into one write.
const MAX_BYTES: usize = 64 << 10;

/// When to stop waiting for more of a burst.
#[derive(Debug, Default)]
pub struct Burst {
    /// When the oldest piece held back arrived.
    since: Option<Instant>,
    /// Rounds waited so far.
    rounds: u32,
    /// Polls in a row that found nothing new.
    idle: u32,
}

impl Burst {
    /// Most scheduler rounds to wait.
    const MAX_ROUNDS: u32 = 16;
    /// Polls in a row without a new piece after which the producer counts as stalled.
    const STALLED_AFTER: u32 = 3;
    /// Longest a piece is held back.
    const MAX_DELAY: Duration = Duration::from_micros(500);

    /// Called on each poll that holds pieces back, `fresh` when it found a
    /// new one and `more` when more may come. True: wait another round (the
    /// caller wakes its task and returns `Pending`); false: pass them on now
    /// (and the window starts over).
    pub fn wait(&mut self, fresh: bool, more: bool) -> bool {
        if fresh {
            self.since.get_or_insert_with(Instant::now);
            self.idle = 0;
        } else {
            self.idle += 1;
        }
        let wait = more
            && self.idle < Self::STALLED_AFTER
            && self.rounds < Self::MAX_ROUNDS
            && self.since.is_some_and(|t| t.elapsed() < Self::MAX_DELAY);
        if wait {
            self.rounds += 1;
        } else {
            *self = Burst::default();
        }
        wait
    }
}

pub struct Coalesced<B: Body> {
    inner: B,
    pending: Vec<Bytes>,
    pending_bytes: usize,
    burst: Burst,
    /// What followed the pending data: the end, trailers or an error.
    trailers: Option<HeaderMap>,
    error: Option<B::Error>,
    ended: bool,
}

impl<B: Body<Data = Bytes>> Coalesced<B> {
    pub fn new(inner: B) -> Self {
        Coalesced {
            inner,
            pending: Vec::new(),
            pending_bytes: 0,
            burst: Burst::default(),
            trailers: None,
            error: None,
            ended: false,
        }
    }

    /// Whether the inner body may still yield data.
    fn open(&self) -> bool {
        !self.ended && self.trailers.is_none() && self.error.is_none()
    }

    fn take_pending(&mut self) -> Bytes {
        let total = std::mem::take(&mut self.pending_bytes);
        join(self.pending.drain(..), total)
    }
}

/// `pieces` (of `total` bytes) as one buffer; a single piece is not copied.
pub fn join(mut pieces: impl ExactSizeIterator<Item = Bytes>, total: usize) -> Bytes {
    if pieces.len() == 1 {
        return pieces.next().unwrap_or_default();
    }
    let mut joined = BytesMut::with_capacity(total);
    for piece in pieces {
        joined.extend_from_slice(&piece);
    }
    joined.freeze()
}

impl<B> Body for Coalesced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let mut fresh = false;
        while this.open() && this.pending_bytes < MAX_BYTES {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        this.pending_bytes += data.len();
                        this.pending.push(data);
                        fresh = true;
                    }
                    Err(frame) => this.trailers = Some(frame.into_trailers().unwrap_or_default()),
                },
                Poll::Ready(Some(Err(e))) => this.error = Some(e),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => break,
            }
        }
        if !this.pending.is_empty() {
            let more = this.open() && this.pending_bytes < MAX_BYTES;
            if this.burst.wait(fresh, more) {
                // Let the producer (and whatever else is queued) run once
                // more before writing; polled again right after.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Some(Ok(Frame::data(this.take_pending()))));
        }
        if let Some(e) = this.error.take() {
            this.ended = true;
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(t) = this.trailers.take() {
            this.ended = true;
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        if this.ended {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty()
            && self.trailers.is_none()
            && self.error.is_none()
            && (self.ended || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let pending = self.pending_bytes as u64;
        hint.set_lower(hint.lower() + pending);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use std::convert::Infallible;

    type Piece = Result<Frame<Bytes>, Infallible>;

    /// Polls once with a waker that records whether it was woken.
    fn poll_once<B: Body<Data = Bytes> + Unpin>(
        body: &mut Coalesced<B>,
    ) -> (Poll<Option<Result<Frame<Bytes>, B::Error>>>, bool)
    where
        B::Error: Unpin,
    {
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let waker = std::task::Waker::from(std::sync::Arc::new(Flag(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let r = Pin::new(body).poll_frame(&mut cx);
        (r, woken.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn data(r: Poll<Option<Result<Frame<Bytes>, Infallible>>>) -> Bytes {
        match r {
            Poll::Ready(Some(Ok(f))) => f.into_data().expect("a data frame"),
            other => panic!(
                "expected data, got {:?}",
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        }
    }

    #[tokio::test]
    async fn a_burst_is_one_frame_and_the_end_follows() {
        let pieces: Vec<Piece> = ["a", "bb", "ccc"]
            .into_iter()
            .map(|s| Ok(Frame::data(Bytes::from(s))))
            .collect();
        let mut body = Coalesced::new(StreamBody::new(futures::stream::iter(pieces)));
        // Everything was there at once, and then the end: written together.
        let (r, _) = poll_once(&mut body);
        assert_eq!(data(r), "abbccc");
        assert!(matches!(poll_once(&mut body).0, Poll::Ready(None)));
    }

    #[tokio::test]
    async fn a_piece_waits_while_the_producer_runs_and_goes_when_it_stalls() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Piece>();
        let mut body = Coalesced::new(StreamBody::new(rx));
        tx.unbounded_send(Ok(Frame::data(Bytes::from("one "))))
            .unwrap();
        // New data, stream still open: yield a round (and ask to be polled again).
        let (r, woken) = poll_once(&mut body);
        assert!(r.is_pending() && woken);
        tx.unbounded_send(Ok(Frame::data(Bytes::from("two "))))
            .unwrap();
        let (r, woken) = poll_once(&mut body);
        assert!(r.is_pending() && woken);
        // Nothing new: the next piece may be a few hops away; wait a little.
        for _ in 1..Burst::STALLED_AFTER {
            let (r, woken) = poll_once(&mut body);
            assert!(r.is_pending() && woken);
        }
        // Nothing new for STALLED_AFTER polls: the producer stalled, write now.
        assert_eq!(data(poll_once(&mut body).0), "one two ");
        tx.unbounded_send(Ok(Frame::data(Bytes::from("three"))))
            .unwrap();
        drop(tx);
        assert_eq!(data(poll_once(&mut body).0), "three");
        assert!(matches!(poll_once(&mut body).0, Poll::Ready(None)));
    }

    #[tokio::test]
    async fn a_producer_that_never_stalls_is_written_after_the_round_limit() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Piece>();
        let mut body = Coalesced::new(StreamBody::new(rx));
        let mut polls = 0;
        let written = loop {
            tx.unbounded_send(Ok(Frame::data(Bytes::from("x"))))
                .unwrap();
            polls += 1;
            match poll_once(&mut body).0 {
                Poll::Pending => continue,
                r => break data(r),
            }
        };
        assert!(polls <= Burst::MAX_ROUNDS as usize + 1, "{polls} polls");
        assert_eq!(written.len(), polls);
    }

    #[tokio::test]
    async fn trailers_and_whole_bodies_pass_through() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-done", "1".parse().unwrap());
        let pieces: Vec<Piece> = vec![
            Ok(Frame::data(Bytes::from("body"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = Coalesced::new(StreamBody::new(futures::stream::iter(pieces)));
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-done"], "1");
        assert_eq!(collected.to_bytes(), "body");
    }
}
