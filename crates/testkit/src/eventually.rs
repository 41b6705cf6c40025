//! Waiting for a condition instead of sleeping a fixed time: a test polls what it expects
//! until it holds, and when it never does, it fails with what it saw last.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause between two checks; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// A condition that did not hold within its time.
#[derive(Debug, thiserror::Error)]
#[error("not true after {waited:?} ({checks} checks); last seen: {last:?}")]
pub struct TimedOut<O: Debug> {
    pub waited: Duration,
    pub checks: u32,
    /// What the last check saw.
    pub last: O,
}

/// Runs `check` until it answers `Ok` (the condition holds; its value is returned) or
/// `timeout` has passed, pausing briefly between checks. `Err(observation)` means "not yet";
/// the last observation is in the error. The check runs at least once, even with a zero
/// timeout.
///
/// ```
/// # async fn demo() {
/// use std::time::Duration;
/// let mut polls = 0;
/// let seen = sluice_testkit::eventually(Duration::from_secs(1), || {
///     polls += 1;
///     let now = polls;
///     async move { if now >= 3 { Ok(now) } else { Err(now) } }
/// })
/// .await
/// .unwrap();
/// assert_eq!(seen, 3);
/// # }
/// ```
pub async fn eventually<T, O, F, Fut>(timeout: Duration, mut check: F) -> Result<T, TimedOut<O>>
where
    O: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let mut pause = FIRST_PAUSE;
    let mut checks = 0;
    loop {
        checks += 1;
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(observation) => observation,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(TimedOut {
                waited: now - started,
                checks,
                last,
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_condition_holds() {
        let mut n = 0;
        let value = eventually(Duration::from_secs(5), || {
            n += 1;
            let seen = n;
            async move { if seen == 4 { Ok("four") } else { Err(seen) } }
        })
        .await
        .unwrap();
        assert_eq!(value, "four");
        assert_eq!(n, 4);
    }

    #[tokio::test]
    async fn times_out_with_the_last_observation() {
        let mut n = 0;
        let error = eventually(Duration::from_millis(100), || {
            n += 1;
            let seen = n;
            async move { Err::<(), _>(format!("attempt {seen}")) }
        })
        .await
        .unwrap_err();
        assert_eq!(error.last, format!("attempt {}", error.checks));
        assert!(error.checks >= 2, "{error}");
        assert!(error.waited >= Duration::from_millis(100), "{error}");
        assert!(error.to_string().contains("last seen"), "{error}");
    }

    #[tokio::test]
    async fn checks_once_with_no_time_at_all() {
        let result = eventually(Duration::ZERO, || async { Err::<(), _>("no") }).await;
        assert_eq!(result.unwrap_err().checks, 1);
    }
}
