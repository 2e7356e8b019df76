//! Ferry's own request rate limit for AWS calls. Calls are not paced at all until AWS throttles
//! one (after the SDK's own retries gave up): then a token bucket starts at half the ceiling,
//! halves on every further throttle down to the floor, and climbs back by a tenth of the
//! ceiling per successful call; at the ceiling it steps aside again. One burst of throttling
//! slows Ferry for a moment, not for minutes (the SDK's adaptive mode dropped to 0.5
//! requests/s and stayed there), and an unthrottled reconcile never waits.
//!
//! AWS throttles per account and region, shared by every caller: a [`PaceBook`] gives one pace
//! per account and region, so the environments of one account slow down together and those of
//! another account do not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
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

/// One [`Pace`] per AWS account and region, made on first use.
#[derive(Debug, Default)]
pub struct PaceBook {
    limits: PaceLimits,
    paces: Mutex<BTreeMap<(String, String), Arc<Pace>>>,
}

impl PaceBook {
    /// Paces within `limits` each.
    pub fn new(limits: PaceLimits) -> Self {
        Self {
            limits,
            paces: Mutex::new(BTreeMap::new()),
        }
    }

    /// The pace of `account` (empty: the account of Ferry's own credentials) in `region`.
    pub fn pace(&self, account: &str, region: &str) -> Arc<Pace> {
        let Ok(mut paces) = self.paces.lock() else {
            return Arc::new(Pace::new(self.limits));
        };
        paces
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| Arc::new(Pace::new(self.limits)))
            .clone()
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
    fn the_pace_is_shared_by_one_account_and_region_and_separate_across_accounts() {
        let book = PaceBook::new(PaceLimits {
            ceiling: 40.0,
            floor: 2.0,
        });
        let dev_a = book.pace("111111111111", "us-east-1");
        let dev_b = book.pace("111111111111", "us-east-1");
        let prod = book.pace("222222222222", "us-east-1");
        let dev_west = book.pace("111111111111", "eu-west-1");
        assert!(Arc::ptr_eq(&dev_a, &dev_b));
        // A throttle seen by one environment of the account slows its sibling too...
        dev_a.record(true);
        assert!((dev_b.rate() - 20.0).abs() < 1e-9, "{}", dev_b.rate());
        for _ in 0..20 {
            assert_eq!(dev_b.try_take(), None);
        }
        assert!(dev_a.try_take().is_some(), "the shared bucket is empty");
        // ...and neither another account nor another region of the same account.
        assert!((prod.rate() - 40.0).abs() < 1e-9, "{}", prod.rate());
        assert!((dev_west.rate() - 40.0).abs() < 1e-9, "{}", dev_west.rate());
        for _ in 0..100 {
            assert_eq!(prod.try_take(), None);
        }
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
