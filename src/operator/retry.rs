//! The retry after a failed reconcile, by the error's class; shared by both
//! controllers' error policies.

use std::time::Duration;

use kube::runtime::controller::Action;

use super::error::ErrorClass;

/// First and longest backoff after a transient error.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The action after a failed reconcile of object `name`, by the error's
/// class: wait for the object to change, check a missing dependency again
/// after `recheck`, or back off by the count of transient failures in a row
/// (`failures` records this one and returns the count).
pub fn retry_action(
    name: &str,
    class: ErrorClass,
    error: &dyn std::fmt::Display,
    recheck: Duration,
    failures: impl FnOnce() -> u32,
) -> Action {
    match class {
        ErrorClass::InvalidSpec => {
            tracing::warn!(object = %name, %error, "waiting for the object to change");
            Action::await_change()
        }
        ErrorClass::MissingDependency => {
            tracing::warn!(object = %name, %error, "missing dependency");
            Action::requeue(recheck)
        }
        ErrorClass::Transient => {
            let delay = backoff(failures());
            tracing::warn!(object = %name, %error, ?delay, "retrying");
            Action::requeue(delay)
        }
    }
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... up to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_MIN
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), BACKOFF_MAX);
    }
}
