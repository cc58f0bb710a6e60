//! [`RateBucket`]: one scope's allowance as a store keeps it, and the
//! arithmetic every limiter shares.

use super::RateLimit;
use std::time::Duration;

/// Milliseconds in the minute a limit is counted over.
const MINUTE_MS: f64 = 60_000.0;

/// One scope's state: what is left of its minute's requests and tokens
/// when it was last counted, and until when a server paused it. Times are
/// milliseconds on the clock the limiter's processes share (a database
/// server's, or the machine's).
///
/// ```
/// use klieo_store::{RateBucket, RateLimit};
/// use std::time::Duration;
///
/// let limit = RateLimit::new().with_requests_per_minute(2);
/// let mut bucket = RateBucket::full(&limit, 0);
/// assert_eq!(bucket.take(&limit, 0, 10), None);
/// assert_eq!(bucket.take(&limit, 0, 10), None);
/// // The third call waits for a request to come back: half a minute.
/// assert_eq!(bucket.take(&limit, 0, 10), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBucket {
    /// Requests left.
    pub requests: f64,
    /// Tokens left.
    pub tokens: f64,
    /// When they were counted.
    pub at_ms: i64,
    /// Until when calls are held back (0 when never paused).
    pub paused_until_ms: i64,
}

impl RateBucket {
    /// A scope's first state: a whole minute's allowance.
    pub fn full(limit: &RateLimit, now_ms: i64) -> Self {
        Self {
            requests: limit.requests_per_minute.map_or(0.0, f64::from),
            tokens: limit.tokens_per_minute.map_or(0.0, |t| t as f64),
            at_ms: now_ms,
            paused_until_ms: 0,
        }
    }

    /// Refills what the time since it was counted gives back, up to a
    /// minute's allowance.
    fn refill(&mut self, limit: &RateLimit, now_ms: i64) {
        // A stored time that cannot be (a row edited by hand) refills
        // nothing or everything, never overflows.
        let elapsed = now_ms.saturating_sub(self.at_ms).max(0) as f64;
        if let Some(rpm) = limit.requests_per_minute {
            let rpm = f64::from(rpm);
            self.requests = (self.requests + elapsed * rpm / MINUTE_MS).min(rpm);
        }
        if let Some(tpm) = limit.tokens_per_minute {
            let tpm = tpm as f64;
            self.tokens = (self.tokens + elapsed * tpm / MINUTE_MS).min(tpm);
        }
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Takes one request and `tokens` at `now_ms`: `None` when taken,
    /// else how long until both are there (nothing taken). A call of more
    /// tokens than a minute allows waits for a full minute's allowance
    /// and takes it all, rather than never going.
    pub fn take(&mut self, limit: &RateLimit, now_ms: i64, tokens: u64) -> Option<Duration> {
        self.after_clock_step(now_ms);
        if now_ms < self.paused_until_ms {
            return Some(millis(self.paused_until_ms.saturating_sub(now_ms)));
        }
        self.refill(limit, now_ms);
        let mut wait_ms: f64 = 0.0;
        if let Some(rpm) = limit.requests_per_minute {
            if self.requests < 1.0 {
                wait_ms = wait_ms.max((1.0 - self.requests) * MINUTE_MS / f64::from(rpm));
            }
        }
        let wanted = limit
            .tokens_per_minute
            .map(|tpm| (tokens.min(tpm) as f64, tpm as f64));
        if let Some((wanted, tpm)) = wanted {
            if self.tokens < wanted {
                wait_ms = wait_ms.max((wanted - self.tokens) * MINUTE_MS / tpm);
            }
        }
        if wait_ms > 0.0 {
            return Some(Duration::from_millis(wait_ms.ceil() as u64));
        }
        if limit.requests_per_minute.is_some() {
            self.requests -= 1.0;
        }
        if let Some((wanted, _)) = wanted {
            self.tokens -= wanted;
        }
        None
    }

    /// Counts from `now_ms` on when the clock went back past
    /// [`CLOCK_STEP_MS`] since the last count (a server's clock set back
    /// an hour): else nothing would refill, and a pause would last, until
    /// the clock caught up. Smaller differences are the order counts
    /// arrive in, and count no time twice.
    fn after_clock_step(&mut self, now_ms: i64) {
        let back = self.at_ms.saturating_sub(now_ms);
        if back > CLOCK_STEP_MS {
            self.at_ms = now_ms;
            if self.paused_until_ms > 0 {
                self.paused_until_ms = self.paused_until_ms.saturating_sub(back);
            }
        }
    }

    /// Holds calls back until `pause` after `now_ms`, unless a longer
    /// pause is set.
    pub fn pause(&mut self, now_ms: i64, pause: Duration) {
        self.after_clock_step(now_ms);
        let until = now_ms.saturating_add(i64::try_from(pause.as_millis()).unwrap_or(i64::MAX));
        self.paused_until_ms = self.paused_until_ms.max(until);
    }
}

/// How far back a clock may seem to go between two counts before the
/// bucket counts from the new time (see `RateBucket::after_clock_step`).
const CLOCK_STEP_MS: i64 = 1_000;

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bucket of 60 requests a minute, all taken at the hour.
    fn emptied_at_the_hour() -> (RateLimit, RateBucket) {
        let limit = RateLimit::new().with_requests_per_minute(60);
        let mut bucket = RateBucket::full(&limit, HOUR);
        for _ in 0..60 {
            assert_eq!(bucket.take(&limit, HOUR, 0), None);
        }
        (limit, bucket)
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_clock_set_back_an_hour_refills_from_its_new_time() {
        let (limit, mut bucket) = emptied_at_the_hour();
        // The clock is set back an hour, less a minute.
        assert!(bucket.take(&limit, 60_000, 0).is_some(), "all taken");
        assert_eq!(
            bucket.take(&limit, 120_000, 0),
            None,
            "a minute on the new clock refills"
        );
    }

    #[test]
    fn a_pause_ends_by_a_clock_set_back() {
        let (limit, mut bucket) = emptied_at_the_hour();
        bucket.pause(HOUR, Duration::from_secs(30));
        let wait = bucket.take(&limit, 60_000, 0);
        assert_eq!(
            wait,
            Some(Duration::from_secs(30)),
            "the pause, from the new time"
        );
    }

    #[test]
    fn tokens_come_back_evenly_over_the_minute() {
        let limit = RateLimit::new().with_tokens_per_minute(6_000);
        let mut bucket = RateBucket::full(&limit, 0);
        assert_eq!(bucket.take(&limit, 0, 6_000), None);
        // 100 tokens a second come back: 1,000 take ten seconds.
        assert_eq!(bucket.take(&limit, 0, 1_000), Some(Duration::from_secs(10)));
        assert_eq!(bucket.take(&limit, 10_000, 1_000), None);
    }

    #[test]
    fn a_pause_holds_every_call_back_until_it_ends() {
        let limit = RateLimit::new();
        let mut bucket = RateBucket::full(&limit, 0);
        bucket.pause(1_000, Duration::from_secs(2));
        bucket.pause(1_000, Duration::from_secs(1));
        assert_eq!(bucket.take(&limit, 2_000, 1), Some(Duration::from_secs(1)));
        assert_eq!(bucket.take(&limit, 3_000, 1), None);
    }

    #[test]
    fn a_call_larger_than_a_minute_waits_for_a_full_bucket_and_goes() {
        let limit = RateLimit::new().with_tokens_per_minute(60);
        let mut bucket = RateBucket::full(&limit, 0);
        assert_eq!(bucket.take(&limit, 0, 30), None);
        assert_eq!(bucket.take(&limit, 0, 1_000), Some(Duration::from_secs(30)));
        assert_eq!(bucket.take(&limit, 30_000, 1_000), None);
    }

    #[test]
    fn an_unlimited_scope_always_lets_a_call_through() {
        let limit = RateLimit::new();
        let mut bucket = RateBucket::full(&limit, 0);
        for _ in 0..1_000 {
            assert_eq!(bucket.take(&limit, 0, u64::MAX), None);
        }
    }

    #[test]
    fn a_stored_time_that_cannot_be_refills_without_overflow() {
        let limit = RateLimit::new().with_tokens_per_minute(60);
        let mut bucket = RateBucket::full(&limit, i64::MIN);
        assert_eq!(bucket.take(&limit, i64::MAX, 60), None, "a full minute");
        let mut later = RateBucket::full(&limit, 0);
        later.pause(0, Duration::from_secs(1));
        let wait = later.take(&limit, i64::MIN, 60);
        // A time long before the pause is a clock set back: the pause's
        // second is kept from it (it waited for ever before).
        assert!(
            wait.is_some_and(|w| w >= Duration::from_secs(1) && w <= Duration::from_millis(1_001)),
            "{wait:?}"
        );
    }
}
