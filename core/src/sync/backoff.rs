//! The retry schedules, in one place, with the exact waits they produce.
//!
//! **Sync** ([`SyncBackoff`], from [`SyncConfig`]). A request that failed (no answer, or an
//! answer 408, 429 or 5xx) for the `n`-th time in a row:
//! - when `n` reaches [`SyncConfig::max_attempts`], the sync stops with
//!   [`SyncError::Unreachable`](super::SyncError::Unreachable) (the next sync resumes);
//! - when the registry asked (`Retry-After`) for longer than [`SyncConfig::max_backoff`], the
//!   sync stops at once the same way, rather than knock early;
//! - otherwise it waits `max(asked, b/2 + b·k/2000)` (nanoseconds, rounded down), where
//!   `b = min(initial_backoff · 2^min(n-1, 16), max_backoff)`, `asked` is the `Retry-After`
//!   (zero without one) and `k`, the jitter, is the next `u64` of the sync's random number
//!   generator modulo 1000: full jitter over the upper half of `b`, so many phones coming back
//!   online together spread out. Any answer that is not a failure resets `n`.
//!
//! **Enrolment** ([`enrol_wait`]). Each enrolment request is tried at most [`ENROL_ATTEMPTS`]
//! times; after the `n`-th failure it waits `max(asked, 0.5 s · 2^(n-1))` (0.5 s, 1 s, 2 s), and
//! gives up at once when the registry asks for more than [`ENROL_MAX_RETRY_AFTER`]. No jitter:
//! enrolment is one person at one phone, not a fleet.

use std::time::Duration;

use super::SyncConfig;

/// Largest exponent of the doubling (the delay stops growing long before, at `max_backoff`).
const MAX_DOUBLINGS: u32 = 16;

/// Number of jitter steps: `k` is drawn from `0..JITTER_STEPS`.
pub const JITTER_STEPS: u64 = 1000;

/// Attempts of each enrolment request before giving up for now.
pub const ENROL_ATTEMPTS: u32 = 4;

/// First enrolment back-off.
pub const ENROL_INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Longest `Retry-After` an enrolment waits for.
pub const ENROL_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// What to do after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Wait this long, then send the request again.
    Wait(Duration),
    /// Stop the sync: too many failures in a row.
    GiveUp,
    /// Stop the sync: the registry asked to be left alone for longer than this sync waits.
    TooLongAsked(Duration),
}

/// The sync's back-off schedule (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncBackoff {
    /// `initial_backoff`.
    pub initial: Duration,
    /// `max_backoff`.
    pub max: Duration,
    /// `max_attempts`.
    pub max_attempts: u32,
}

impl SyncBackoff {
    /// The schedule of `config`.
    pub fn of(config: &SyncConfig) -> SyncBackoff {
        SyncBackoff {
            initial: config.initial_backoff,
            max: config.max_backoff,
            max_attempts: config.max_attempts,
        }
    }

    /// `b` for the `failures`-th failure in a row (at least 1).
    pub fn base(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(MAX_DOUBLINGS);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// `b/2 + b·k/2000` for jitter `k` (taken modulo [`JITTER_STEPS`]).
    pub fn jittered(&self, failures: u32, k: u64) -> Duration {
        let b = self.base(failures).as_nanos();
        let k = u128::from(k % JITTER_STEPS);
        let nanos = b / 2 + b * k / (2 * u128::from(JITTER_STEPS));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// What to do after the `failures`-th failure in a row, with the registry's `Retry-After`
    /// and the jitter draw `k`.
    pub fn after_failure(&self, failures: u32, retry_after: Option<Duration>, k: u64) -> Retry {
        if failures >= self.max_attempts {
            return Retry::GiveUp;
        }
        match retry_after {
            Some(asked) if asked > self.max => Retry::TooLongAsked(asked),
            Some(asked) => Retry::Wait(asked.max(self.jittered(failures, k))),
            None => Retry::Wait(self.jittered(failures, k)),
        }
    }
}

/// The enrolment wait after its `failures`-th failure in a row, or `None` to give up.
pub fn enrol_wait(failures: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if failures >= ENROL_ATTEMPTS || retry_after.is_some_and(|a| a > ENROL_MAX_RETRY_AFTER) {
        return None;
    }
    let backoff = ENROL_INITIAL_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    Some(retry_after.unwrap_or(backoff).max(backoff))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> SyncBackoff {
        SyncBackoff::of(&SyncConfig::default())
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_base_doubles_from_the_initial_delay_up_to_the_cap() {
        let s = schedule();
        let bases: Vec<_> = (1..=9).map(|n| s.base(n)).collect();
        assert_eq!(
            bases,
            [
                MS(500),
                MS(1000),
                MS(2000),
                MS(4000),
                MS(8000),
                MS(16000),
                MS(32000),
                MS(60000),
                MS(60000)
            ]
        );
        // Far past the doubling limit, still the cap, no overflow.
        assert_eq!(s.base(u32::MAX), MS(60000));
        assert_eq!(s.base(0), MS(500), "0 is treated as the first failure");
    }

    #[test]
    fn the_jitter_spans_the_upper_half_of_the_base() {
        let s = schedule();
        assert_eq!(s.jittered(1, 0), MS(250));
        assert_eq!(s.jittered(1, 500), MS(375));
        assert_eq!(s.jittered(1, 999), Duration::from_micros(499_750));
        assert_eq!(s.jittered(1, 1000), MS(250), "k is taken modulo 1000");
        assert_eq!(s.jittered(3, 1), Duration::from_millis(1001));
        for k in [0, 1, 499, 998, 999, u64::MAX] {
            for n in 1..10 {
                let w = s.jittered(n, k);
                assert!(w >= s.base(n) / 2 && w < s.base(n), "{n} {k} {w:?}");
            }
        }
    }

    #[test]
    fn the_sync_gives_up_on_the_last_attempt_and_on_a_long_retry_after() {
        let s = schedule();
        assert_eq!(s.max_attempts, 6);
        assert_eq!(s.after_failure(5, None, 0), Retry::Wait(MS(4000)));
        assert_eq!(s.after_failure(6, None, 0), Retry::GiveUp);
        assert_eq!(s.after_failure(6, Some(MS(1)), 0), Retry::GiveUp);
        assert_eq!(
            s.after_failure(1, Some(Duration::from_secs(61)), 0),
            Retry::TooLongAsked(Duration::from_secs(61))
        );
        // Exactly the cap is still waited for.
        assert_eq!(
            s.after_failure(1, Some(Duration::from_secs(60)), 0),
            Retry::Wait(Duration::from_secs(60))
        );
    }

    #[test]
    fn a_retry_after_is_a_floor_under_the_jittered_delay() {
        let s = schedule();
        assert_eq!(
            s.after_failure(1, Some(Duration::from_secs(7)), 999),
            Retry::Wait(Duration::from_secs(7))
        );
        // A short ask does not shorten the back-off.
        assert_eq!(s.after_failure(4, Some(MS(1)), 0), Retry::Wait(MS(2000)));
    }

    #[test]
    fn a_config_sets_the_schedule() {
        let config = SyncConfig {
            initial_backoff: MS(10),
            max_backoff: MS(35),
            max_attempts: 3,
            ..SyncConfig::default()
        };
        let s = SyncBackoff::of(&config);
        assert_eq!(s.after_failure(1, None, 0), Retry::Wait(MS(5)));
        assert_eq!(s.after_failure(2, None, 0), Retry::Wait(MS(10)));
        assert_eq!(s.base(3), MS(35));
        assert_eq!(s.after_failure(3, None, 0), Retry::GiveUp);
    }

    #[test]
    fn enrolment_waits_half_a_second_then_doubles_and_gives_up_after_four() {
        let waits: Vec<_> = (1..=4).map(|n| enrol_wait(n, None)).collect();
        assert_eq!(waits, [Some(MS(500)), Some(MS(1000)), Some(MS(2000)), None]);
        assert_eq!(
            enrol_wait(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(enrol_wait(3, Some(MS(1))), Some(MS(2000)));
        assert_eq!(enrol_wait(1, Some(Duration::from_secs(31))), None);
        assert_eq!(
            enrol_wait(1, Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
    }
}
