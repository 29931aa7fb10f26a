//! Reconnection delays: exponential backoff with jitter, bounded.
//!
//! Sans-I/O: the caller passes the attempt number and a uniform random number, so the
//! delays are tested exactly. Jitter spreads the reconnections of many clients that lost
//! the same network at once. One backoff serves the RTSP supervisor, the packet client and
//! the Icecast source client.

use std::time::Duration;

/// Exponential backoff with relative jitter.
///
/// `#[non_exhaustive]`: start from [`Backoff::new`] or [`Backoff::default`], then use the
/// `with_*` methods or set fields.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of any delay, jitter included.
    pub max_delay: Duration,
    /// Growth per consecutive failure (values below 1 count as 1).
    pub multiplier: f64,
    /// Relative spread of each delay, 0 to 1: a delay `d` becomes uniform in
    /// `[d·(1−jitter), d·(1+jitter)]`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s, doubling, up to 30 s, ±20 %.
    fn default() -> Self {
        Backoff {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delays from `initial_delay` up to `max_delay`, doubling, ±20 % (the default's
    /// growth and jitter).
    pub fn new(initial_delay: Duration, max_delay: Duration) -> Self {
        Backoff {
            initial_delay,
            max_delay,
            ..Backoff::default()
        }
    }

    /// With this growth per consecutive failure.
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// With this relative spread of each delay (0 to 1).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry number `attempt` (1-based), with `unit` a uniform random
    /// number in `[0, 1)`. Never more than `max_delay`; any input is accepted.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let max = self.max_delay.as_secs_f64();
        let initial = self.initial_delay.as_secs_f64().min(max);
        let multiplier = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = (initial * multiplier.powi(exponent)).min(max);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let secs = (base * (1.0 + jitter * (2.0 * unit - 1.0))).clamp(0.0, max);
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let d: Vec<u64> = (1..=7).map(|a| b.delay(a, 0.3).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn jitter_stays_in_its_band_and_under_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(800));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(1200));
        assert!(b.delay(20, 1.0) <= b.max_delay);
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_a_bounded_delay(attempt: u32, unit: f64, multiplier: f64, jitter: f64,
                                           initial_ms in 0u64..100_000, max_ms in 0u64..100_000) {
            let b = Backoff {
                initial_delay: Duration::from_millis(initial_ms),
                max_delay: Duration::from_millis(max_ms),
                multiplier,
                jitter,
            };
            proptest::prop_assert!(b.delay(attempt, unit) <= b.max_delay);
        }
    }
}
