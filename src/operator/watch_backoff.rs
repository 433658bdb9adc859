//! The backoff of the controllers' watches after an error.
//!
//! kube's default (client-go's: 0.8 s doubling to 30 s, reset only after
//! 120 s without an error) is shared by *all* the watches of a controller:
//! their streams are merged, and every error of any of them pauses the
//! merged stream. After an API server restart each of a controller's ~6
//! watches fails once with 410 Gone (the new server's watch cache starts at
//! a newer resourceVersion), so with the default, errors from the outage
//! have already raised the delay to 30 s, and the watches come back one by
//! one at 30-45 s each: minutes without events (measured in
//! tests/reliability/faults.rs). This one doubles from 250 ms to 2 s and
//! resets after 10 s without an error: still at most one retry round of the
//! watches per 2 s while the server is down, and all of them back within
//! seconds after. Each watch stream of both controllers (the main watch and
//! the child caches in `stores`) gets its own instance.

use std::time::Duration;

use kube::runtime::utils::Backoff;
use tokio::time::Instant;

/// First delay after an error.
pub const MIN: Duration = Duration::from_millis(250);
/// Largest delay.
pub const MAX: Duration = Duration::from_secs(2);
/// Time without an error after which the delay starts again from [`MIN`].
pub const RESET: Duration = Duration::from_secs(10);

/// Exponential backoff from [`MIN`] to [`MAX`], reset after [`RESET`] without errors.
#[derive(Debug)]
pub struct WatchBackoff {
    next: Duration,
    last: Option<Instant>,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self {
            next: MIN,
            last: None,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) > RESET)
        {
            self.next = MIN;
        }
        self.last = Some(now);
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        Some(delay)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_to_the_cap_and_resets_after_quiet() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<u128> = (0..6)
            .filter_map(|_| backoff.next())
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 2000, 2000]);
        tokio::time::advance(RESET + Duration::from_secs(1)).await;
        assert_eq!(backoff.next(), Some(MIN));
        assert_eq!(backoff.next(), Some(MIN * 2));
        backoff.reset();
        assert_eq!(backoff.next(), Some(MIN));
    }
}
