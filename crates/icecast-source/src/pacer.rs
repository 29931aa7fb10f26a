//! Real-time pacing: frames go out by their own durations against a monotonic clock.
//!
//! The media time is kept as a sample count (exact integer arithmetic), so there is no
//! drift however long the stream runs; a frame may go out at most `lead` before its media
//! time. Sans-I/O: the caller passes `now` and sleeps for [`Pacer::wait`].

use std::time::{Duration, Instant};

/// Decides when the next frame may be sent.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Real time at which `origin_samples` were due.
    origin: Instant,
    origin_samples: u64,
    samples_sent: u64,
    sample_rate: u32,
    lead: Duration,
}

impl Pacer {
    /// Default lead: how far ahead of real time the stream may run (keeps listeners'
    /// buffers fed without running far ahead of title updates).
    pub const DEFAULT_LEAD: Duration = Duration::from_millis(250);

    /// Starts the timeline at `now` for a stream at `sample_rate` Hz.
    pub fn new(now: Instant, sample_rate: u32, lead: Duration) -> Self {
        Pacer {
            origin: now,
            origin_samples: 0,
            samples_sent: 0,
            sample_rate: sample_rate.max(1),
            lead,
        }
    }

    fn samples_to_duration(&self, samples: u64) -> Duration {
        let nanos = u128::from(samples) * 1_000_000_000 / u128::from(self.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The sample rate the media time is counted in.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Media time sent so far.
    pub fn media_time(&self) -> Duration {
        self.samples_to_duration(self.samples_sent)
    }

    /// The earliest instant the next frame may be sent: when real time reaches the media
    /// time already sent, minus the lead.
    pub fn send_at(&self) -> Instant {
        let due = self.origin + self.samples_to_duration(self.samples_sent - self.origin_samples);
        due.checked_sub(self.lead).unwrap_or(self.origin)
    }

    /// How long to wait at `now` before sending the next frame (zero when it is due).
    pub fn wait(&self, now: Instant) -> Duration {
        self.send_at().saturating_duration_since(now)
    }

    /// Records a sent frame of `samples` samples.
    pub fn sent(&mut self, samples: u32) {
        self.samples_sent += u64::from(samples);
    }

    /// Makes the next frame due at `now`, keeping the media time (after a reconnect: the
    /// server has a fresh queue, and real time went on meanwhile).
    pub fn resume_at(&mut self, now: Instant) {
        self.origin = now;
        self.origin_samples = self.samples_sent;
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
        // the lead, to the microsecond: no drift after an hour.
        let before_last = media - Duration::from_nanos(1152 * 1_000_000_000 / 44_100);
        let wall = now - t0;
        assert!(
            wall.abs_diff(before_last - lead) < Duration::from_micros(1),
            "wall {wall:?} media {media:?}"
        );
    }

    #[test]
    fn first_frames_go_out_at_once_up_to_the_lead_and_resume_keeps_media_time() {
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
        let media = pacer.media_time();
        let later = t0 + Duration::from_secs(3600);
        pacer.resume_at(later);
        assert_eq!(pacer.media_time(), media, "media time is kept");
        assert!(pacer.wait(later).is_zero(), "due at once after resuming");
        pacer.sent(48_000);
        assert_eq!(
            pacer.wait(later),
            Duration::from_millis(900),
            "then paced from the resume point"
        );
    }
}
