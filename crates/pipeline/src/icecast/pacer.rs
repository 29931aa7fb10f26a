//! Real-time pacing: frames go out by their own durations against a monotonic clock.
//!
//! The media time sent is kept as a sample count (exact integer arithmetic), so there is no
//! drift however long the stream runs; a frame may go out at most `lead` before its media
//! time. Sans-I/O: the caller passes `now` and sleeps until [`Pacer::send_at`].

use std::time::{Duration, Instant};

/// Decides when the next frame may be sent.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    sample_rate: u32,
    samples_sent: u64,
    lead: Duration,
}

impl Pacer {
    /// Default lead: how far ahead of real time the stream may run (keeps listeners'
    /// buffers fed without running ahead of the title updates).
    pub const DEFAULT_LEAD: Duration = Duration::from_millis(250);

    /// Starts the timeline at `now` for a stream at `sample_rate` Hz.
    pub fn new(now: Instant, sample_rate: u32, lead: Duration) -> Self {
        Pacer {
            start: now,
            sample_rate: sample_rate.max(1),
            samples_sent: 0,
            lead,
        }
    }

    /// Media time sent so far.
    pub fn media_time(&self) -> Duration {
        let nanos = u128::from(self.samples_sent) * 1_000_000_000 / u128::from(self.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The earliest instant the next frame may be sent: when real time reaches the media
    /// time already sent, minus the lead.
    pub fn send_at(&self) -> Instant {
        (self.start + self.media_time())
            .checked_sub(self.lead)
            .unwrap_or(self.start)
    }

    /// How long to wait at `now` before sending the next frame (zero when it is due).
    pub fn wait(&self, now: Instant) -> Duration {
        self.send_at().saturating_duration_since(now)
    }

    /// Records a sent frame of `samples` samples.
    pub fn sent(&mut self, samples: u32) {
        self.samples_sent += u64::from(samples);
    }

    /// Restarts the timeline at `now`, keeping nothing of the past (after a reconnect the
    /// server has a fresh queue; the media position is the caller's).
    pub fn restart(&mut self, now: Instant) {
        self.start = now;
        self.samples_sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_leads_real_time_by_more_than_the_lead_and_does_not_drift() {
        let t0 = Instant::now();
        let lead = Duration::from_millis(250);
        let mut pacer = Pacer::new(t0, 44_100, lead);
        let mut now = t0;
        // One hour of 1152-sample frames at 44.1 kHz, sending each frame as soon as allowed.
        let frames = 3600 * 44_100 / 1152;
        for _ in 0..frames {
            now += pacer.wait(now);
            assert!(
                pacer.media_time() <= now - t0 + lead,
                "leads by more than {lead:?}"
            );
            pacer.sent(1152);
        }
        let media = pacer.media_time();
        let exact = Duration::from_secs_f64(frames as f64 * 1152.0 / 44_100.0);
        assert!(
            media.abs_diff(exact) < Duration::from_micros(1),
            "{media:?} vs {exact:?}"
        );
        // The last frame went out when real time reached the media time before it, minus
        // the lead, to the nanosecond: no drift after an hour.
        let before_last = media - Duration::from_nanos(1152 * 1_000_000_000 / 44_100);
        let wall = now - t0;
        assert!(
            wall.abs_diff(before_last - lead) < Duration::from_micros(1),
            "wall {wall:?} media {media:?}"
        );
    }

    #[test]
    fn first_frames_go_out_at_once_up_to_the_lead() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 48_000, Duration::from_millis(100));
        let mut burst = 0;
        while pacer.wait(t0).is_zero() {
            pacer.sent(1152);
            burst += 1;
        }
        assert_eq!(
            burst, 5,
            "100 ms of 24 ms frames, plus the one at time zero"
        );
        pacer.restart(t0 + Duration::from_secs(10));
        assert_eq!(pacer.media_time(), Duration::ZERO);
    }
}
