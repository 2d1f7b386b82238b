//! Per-minute quotas (rpm, tpm) as a sliding one-minute window: the count of
//! the current minute plus the previous minute's count weighted by how much of
//! it still overlaps the window. This is how providers meter, it needs no timer
//! task, and — unlike a token bucket — it can charge tokens after the fact,
//! when the response reports how many were used.

use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct MinuteWindow {
    limit: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    started: Instant,
    current: u64,
    previous: u64,
}

impl MinuteWindow {
    /// A window allowing `limit` per minute; 0 means unlimited.
    pub fn new(limit: u64) -> MinuteWindow {
        MinuteWindow {
            limit,
            state: Mutex::new(State {
                started: Instant::now(),
                current: 0,
                previous: 0,
            }),
        }
    }

    fn roll(s: &mut State, now: Instant) {
        let elapsed = now.duration_since(s.started);
        if elapsed >= WINDOW * 2 {
            s.previous = 0;
            s.current = 0;
            s.started = now;
        } else if elapsed >= WINDOW {
            s.previous = s.current;
            s.current = 0;
            s.started += WINDOW;
        }
    }

    fn used_at(s: &State, now: Instant) -> f64 {
        let into = now.duration_since(s.started).as_secs_f64() / WINDOW.as_secs_f64();
        s.current as f64 + s.previous as f64 * (1.0 - into).max(0.0)
    }

    /// Whether `n` more fit now; when not, how long until they would.
    pub fn check(&self, n: u64) -> Result<(), Duration> {
        self.admit(n, false)
    }

    /// Checks and charges `n` at once.
    pub fn take(&self, n: u64) -> Result<(), Duration> {
        self.admit(n, true)
    }

    /// Charges `n` (after the fact, so it may overdraw).
    pub fn add(&self, n: u64) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut s = crate::lock(&self.state);
        Self::roll(&mut s, now);
        s.current += n;
    }

    fn admit(&self, n: u64, charge: bool) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut s = crate::lock(&self.state);
        Self::roll(&mut s, now);
        if Self::used_at(&s, now) + n as f64 <= self.limit as f64 {
            if charge {
                s.current += n;
            }
            Ok(())
        } else {
            Err(Self::wait_for(&s, now, n, self.limit))
        }
    }

    /// How long until `n` more fit: the previous minute's share fades
    /// linearly, and the current minute's count becomes the previous one's
    /// when the minute ends.
    fn wait_for(s: &State, now: Instant, n: u64, limit: u64) -> Duration {
        let w = WINDOW.as_secs_f64();
        let into = now.duration_since(s.started).as_secs_f64();
        // What may be in use beside the `n` asked for.
        let room = limit as f64 - n as f64;
        let (current, previous) = (s.current as f64, s.previous as f64);
        let secs = if room < 0.0 {
            // Never fits: the longest a window holds anything.
            2.0 * w
        } else if current > room {
            // After this minute ends, once its count faded enough.
            (w - into) + w * (1.0 - room / current)
        } else {
            // Once the previous minute's share fell to what is left.
            w * (1.0 - (room - current) / previous) - into
        };
        Duration::from_secs_f64(secs.max(0.0)).max(Duration::from_millis(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_refuses() {
        let w = MinuteWindow::new(0);
        for _ in 0..1000 {
            w.take(1_000_000).unwrap();
        }
    }

    #[test]
    fn refuses_past_the_limit_and_charges_after_the_fact() {
        let w = MinuteWindow::new(3);
        w.take(1).unwrap();
        w.take(2).unwrap();
        assert!(w.take(1).is_err());
        let w = MinuteWindow::new(100);
        w.check(50).unwrap();
        w.add(150);
        assert!(w.check(1).is_err());
    }

    #[test]
    fn a_refusal_says_when_the_request_would_fit() {
        for (limit, used) in [(1, 1), (2, 2), (60, 60), (10, 7)] {
            let w = MinuteWindow::new(limit);
            w.take(used).unwrap();
            let n = limit - used + 1;
            let wait = w.take(n).unwrap_err();
            // Moved forward by the wait it named (plus rounding), it fits.
            {
                let mut s = w.state.lock().unwrap();
                s.started -= wait + Duration::from_millis(5);
            }
            assert!(
                w.take(n).is_ok(),
                "limit {limit}, used {used}, wait {wait:?}"
            );
        }
    }

    #[test]
    fn the_previous_minute_fades() {
        let w = MinuteWindow::new(10);
        {
            let mut s = w.state.lock().unwrap();
            // Pretend the window started 90 s ago with 10 used: half of the
            // previous minute still overlaps.
            s.started = Instant::now() - Duration::from_secs(90);
            s.current = 10;
        }
        // After rolling: previous = 10 at ~50% overlap → ~5 used.
        assert!(w.take(4).is_ok());
        assert!(w.take(3).is_err());
    }
}
