//! Reconnection delays: exponential backoff with jitter, bounded.
//!
//! The delays come from [`media_core::Backoff`], the workspace's one backoff (sans-I/O,
//! exponential with jitter); these options add what only the RTSP supervisor needs.

use std::time::Duration;

use media_core::Backoff;

/// How the supervisor reconnects. `ReconnectOptions::default()` and the setters below
/// (`ReconnectOptions::default().initial_delay(d).max_attempts(Some(3))`), so that a new
/// option is not a breaking change.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReconnectOptions {
    /// Delay before the first retry (default 1 s).
    pub initial_delay: Duration,
    /// Upper bound of any delay, jitter included (default 30 s; at most
    /// [`crate::MAX_WAIT`]).
    pub max_delay: Duration,
    /// Growth per consecutive failure (default 2).
    pub multiplier: f64,
    /// Relative spread of each delay, 0 to 1: a delay `d` becomes uniform in
    /// `[d·(1−jitter), d·(1+jitter)]` (default 0.2).
    pub jitter: f64,
    /// Give up after this many consecutive attempts without a frame (`None`: never).
    pub max_attempts: Option<u32>,
    /// Stop at errors that retrying cannot fix, see [`crate::Error::is_permanent`]
    /// (default `true`).
    pub stop_on_permanent_error: bool,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
            stop_on_permanent_error: true,
        }
    }
}

impl ReconnectOptions {
    /// Sets [`ReconnectOptions::initial_delay`](#structfield.initial_delay).
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets [`ReconnectOptions::max_delay`](#structfield.max_delay).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`ReconnectOptions::multiplier`](#structfield.multiplier).
    #[must_use]
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets [`ReconnectOptions::jitter`](#structfield.jitter).
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`ReconnectOptions::max_attempts`](#structfield.max_attempts).
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets [`ReconnectOptions::stop_on_permanent_error`](#structfield.stop_on_permanent_error).
    #[must_use]
    pub fn stop_on_permanent_error(mut self, stop: bool) -> Self {
        self.stop_on_permanent_error = stop;
        self
    }

    /// The shared backoff these options describe (`max_delay` at most
    /// [`crate::MAX_WAIT`]).
    pub fn backoff(&self) -> Backoff {
        Backoff::new(
            self.initial_delay,
            self.max_delay.min(crate::options::MAX_WAIT),
        )
        .with_multiplier(self.multiplier)
        .with_jitter(self.jitter)
    }

    /// The delay before retry number `attempt` (1-based), with `unit` a uniform random
    /// number in `[0, 1)`. Never more than `max_delay`; any input is accepted.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.backoff().delay(attempt, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let o = ReconnectOptions {
            jitter: 0.0,
            ..Default::default()
        };
        let d: Vec<u64> = (1..=7).map(|a| o.delay(a, 0.3).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(o.delay(u32::MAX, 0.0), Duration::from_secs(30));
        assert_eq!(o.delay(0, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let o = ReconnectOptions::default();
        assert_eq!(o.delay(2, 0.0), Duration::from_secs_f64(1.6));
        assert_eq!(o.delay(2, 0.5), Duration::from_secs(2));
        assert!(o.delay(2, 0.999) < Duration::from_secs_f64(2.4));
        // Jitter never pushes past the cap.
        assert!(o.delay(10, 0.999) <= o.max_delay);
    }

    #[test]
    fn silly_settings_stay_bounded() {
        for (m, j, u) in [
            (f64::NAN, f64::INFINITY, f64::NAN),
            (-3.0, -1.0, -5.0),
            (1e300, 5.0, 7.0),
        ] {
            let o = ReconnectOptions {
                multiplier: m,
                jitter: j,
                ..Default::default()
            };
            for a in [0, 1, 2, 100, u32::MAX] {
                assert!(o.delay(a, u) <= o.max_delay);
            }
        }
        let o = ReconnectOptions {
            initial_delay: Duration::from_secs(100),
            max_delay: Duration::from_secs(5),
            ..Default::default()
        };
        assert!(o.delay(1, 0.9) <= Duration::from_secs(5));
        let o = ReconnectOptions {
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            ..Default::default()
        };
        assert_eq!(o.delay(3, 0.5), crate::MAX_WAIT);
    }

    proptest::proptest! {
        /// Any settings and inputs: never above the cap, and (without jitter) never
        /// shorter for a later attempt.
        #[test]
        fn bounded_and_monotonic(
            initial_ms in 0u64..100_000,
            max_ms in 0u64..100_000,
            multiplier in proptest::num::f64::ANY,
            jitter in proptest::num::f64::ANY,
            unit in proptest::num::f64::ANY,
            attempt in proptest::num::u32::ANY,
        ) {
            let o = ReconnectOptions {
                initial_delay: Duration::from_millis(initial_ms),
                max_delay: Duration::from_millis(max_ms),
                multiplier,
                jitter,
                ..Default::default()
            };
            proptest::prop_assert!(o.delay(attempt, unit) <= o.max_delay);
            proptest::prop_assert!(o.delay(attempt, unit) <= crate::MAX_WAIT);
            let steady = ReconnectOptions { jitter: 0.0, ..o };
            proptest::prop_assert!(
                steady.delay(attempt, unit) <= steady.delay(attempt.saturating_add(1), unit)
            );
        }
    }
}
