//! Ferry's own request rate limit for AWS calls. Calls are not paced at all until AWS throttles
//! one (after the SDK's own retries gave up): then a token bucket starts at half the ceiling,
//! halves on every further throttle down to the floor, and climbs back by a tenth of the
//! ceiling per successful call; at the ceiling it steps aside again. One burst of throttling
//! slows Ferry for a moment, not for minutes (the SDK's adaptive mode dropped to 0.5
//! requests/s and stayed there), and an unthrottled reconcile never waits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of the pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceLimits {
    /// Requests per second at which pacing stops (unpaced above it; also the burst size).
    pub ceiling: f64,
    /// Never slower than this.
    pub floor: f64,
}

impl Default for PaceLimits {
    fn default() -> Self {
        Self {
            ceiling: 50.0,
            floor: 2.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

/// The shared limiter.
#[derive(Debug)]
pub struct Pace {
    limits: PaceLimits,
    bucket: Mutex<Bucket>,
}

impl Pace {
    /// A pace that does not hold calls back until a throttle.
    pub fn new(limits: PaceLimits) -> Self {
        Self {
            limits,
            bucket: Mutex::new(Bucket {
                rate: limits.ceiling,
                tokens: limits.ceiling,
                at: Instant::now(),
            }),
        }
    }

    /// The current rate (requests per second); the ceiling means unpaced.
    pub fn rate(&self) -> f64 {
        self.bucket.lock().map_or(self.limits.floor, |b| b.rate)
    }

    /// Take a token, or say how long to wait for one.
    fn try_take(&self) -> Option<Duration> {
        let Ok(mut b) = self.bucket.lock() else {
            return None;
        };
        let now = Instant::now();
        if b.rate >= self.limits.ceiling {
            b.at = now;
            b.tokens = self.limits.ceiling;
            return None;
        }
        let burst = b.rate.max(1.0);
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * b.rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - b.tokens) / b.rate))
        }
    }

    /// Wait for a token.
    pub async fn acquire(&self) {
        while let Some(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Feed back how a call ended: a throttle halves the rate (the first one starts pacing at
    /// half the ceiling), anything else raises it back towards unpaced.
    pub fn record(&self, throttled: bool) {
        let Ok(mut b) = self.bucket.lock() else {
            return;
        };
        b.rate = if throttled {
            (b.rate / 2.0).max(self.limits.floor)
        } else {
            (b.rate + self.limits.ceiling / 10.0).min(self.limits.ceiling)
        };
    }
}

/// Whether an AWS error code means "slow down".
pub fn is_throttling(code: Option<&str>) -> bool {
    code.is_some_and(|c| {
        c.contains("Throttl") || c.contains("TooManyRequests") || c == "RequestLimitExceeded"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_halves_the_rate_down_to_the_floor_and_success_recovers_it_quickly() {
        let pace = Pace::new(PaceLimits {
            ceiling: 40.0,
            floor: 2.0,
        });
        for _ in 0..10 {
            pace.record(true);
        }
        assert!((pace.rate() - 2.0).abs() < 1e-9, "{}", pace.rate());
        for _ in 0..10 {
            pace.record(false);
        }
        assert!((pace.rate() - 40.0).abs() < 1e-9, "{}", pace.rate());
    }

    #[test]
    fn unthrottled_calls_never_wait_and_a_throttle_starts_pacing_after_a_burst() {
        let pace = Pace::new(PaceLimits {
            ceiling: 10.0,
            floor: 1.0,
        });
        for _ in 0..100 {
            assert_eq!(pace.try_take(), None, "unpaced before any throttle");
        }
        pace.record(true);
        assert!((pace.rate() - 5.0).abs() < 1e-9, "{}", pace.rate());
        for _ in 0..5 {
            assert_eq!(pace.try_take(), None);
        }
        let wait = pace.try_take().expect("the sixth call waits");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
    }
}
