//! A circuit breaker per deployment: closed while calls succeed; open after
//! `failure_threshold` failures in a row, refusing calls for `open_for`; then
//! half-open, letting one trial call through: success closes it, failure opens
//! it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
    /// A half-open trial call is in progress.
    trial: bool,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(Inner {
                failures: 0,
                opened_at: None,
                trial: false,
            }),
        }
    }

    pub fn state(&self) -> BreakerState {
        let s = crate::lock(&self.state);
        match s.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() < self.open_for => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// May a call go through now? In half-open state only one trial at a time.
    pub fn try_acquire(&self) -> bool {
        let mut s = crate::lock(&self.state);
        match s.opened_at {
            None => true,
            Some(at) if at.elapsed() < self.open_for => false,
            Some(_) if s.trial => false,
            Some(_) => {
                s.trial = true;
                true
            }
        }
    }

    pub fn success(&self) {
        let mut s = crate::lock(&self.state);
        s.failures = 0;
        s.opened_at = None;
        s.trial = false;
    }

    pub fn failure(&self) {
        let mut s = crate::lock(&self.state);
        s.failures += 1;
        if s.trial || s.failures >= self.threshold {
            s.opened_at = Some(Instant::now());
        }
        s.trial = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_for_one_trial() {
        let b = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            assert!(b.try_acquire());
            b.failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire());
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.try_acquire());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire());
        assert!(!b.try_acquire(), "one trial at a time");
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.try_acquire());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.failure();
        b.success();
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
