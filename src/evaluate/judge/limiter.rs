//! Pacing of judge requests: a request-rate limiter that halves its rate on
//! 429 and creeps back up on success (a `Retry-After` is waited out by the
//! request that got it, not by everyone); exponential backoff with jitter;
//! `Retry-After` parsing.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The rate never falls below this many requests per second.
const MIN_RATE: f64 = 0.2;
/// A `Retry-After` longer than this is capped: a run should not sleep for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Spaces request starts at most `1 / rate` apart; see the module documentation.
#[derive(Debug)]
pub struct RateLimiter {
    max_rate: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rate: f64,
    next: Instant,
}

impl RateLimiter {
    /// A limiter starting at (and never exceeding) `max_rate` requests per second.
    pub fn new(max_rate: f64) -> Self {
        let max_rate = max_rate.max(MIN_RATE);
        let now = Instant::now();
        Self {
            max_rate,
            state: Mutex::new(State {
                rate: max_rate,
                next: now,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent numbers behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let start = {
            let mut state = self.state();
            let start = Instant::now().max(state.next);
            state.next = start + Duration::from_secs_f64(1.0 / state.rate);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// A 429: halve the rate. Its `Retry-After` is for the request that
    /// got it to wait: pausing everyone would stop a run whose judge
    /// throttles a share of requests all the time.
    pub fn throttled(&self) {
        let mut state = self.state();
        state.rate = (state.rate / 2.0).max(MIN_RATE);
    }

    /// A success: raise the rate by a twentieth of the ceiling.
    pub fn succeeded(&self) {
        let mut state = self.state();
        state.rate = (state.rate + self.max_rate / 20.0).min(self.max_rate);
    }

    /// The current rate, requests per second.
    pub fn rate(&self) -> f64 {
        self.state().rate
    }
}

/// Delay before retry number `attempt` (0-based): `base * 2^attempt`, capped,
/// then scaled by a random factor in [0.5, 1] so that requests that failed
/// together do not retry together.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    exponential.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Reads `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for attempt in 0..8 {
            let d = backoff(attempt, base, cap);
            let full = (base * 2u32.pow(attempt)).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn rate_halves_on_429_and_recovers() {
        let limiter = RateLimiter::new(8.0);
        limiter.throttled();
        assert_eq!(limiter.rate(), 4.0);
        limiter.throttled();
        assert_eq!(limiter.rate(), 2.0);
        for _ in 0..100 {
            limiter.succeeded();
        }
        assert_eq!(limiter.rate(), 8.0);
        for _ in 0..100 {
            limiter.throttled();
        }
        assert_eq!(limiter.rate(), MIN_RATE);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_and_a_429_slows_but_does_not_pause_everyone() {
        let limiter = RateLimiter::new(4.0);
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire().await;
        }
        // Four starts at 0, 250, 500, 750 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(750));
        limiter.throttled();
        let before = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        // The next start was due at 1000 ms; the one after at half the rate.
        assert_eq!(before.elapsed(), Duration::from_millis(250 + 500));
    }
}
