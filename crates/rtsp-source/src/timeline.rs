//! Decode times and timestamp jumps, per track. Sans-I/O: the session pushes each frame's
//! RTP timestamp and arrival time, and gets the frame's times back.
//!
//! **Decode times.** RTP timestamps are presentation times and frames arrive in decode
//! order (RFC 6184 section 5.1, RFC 7798 section 4.1). With B-frames, presentation times go
//! back and forth, so they cannot serve as decode times. As ffmpeg's demuxer does, the
//! decode time of a frame is the (R+1)-th largest presentation time seen so far, where R is
//! the reorder depth the SPS declares (H.264 VUI `max_num_reorder_frames`, H.265
//! `sps_max_num_reorder_pics`): never decreasing, and never after the frame's presentation
//! time in a stream that keeps its declaration. Without a declaration R starts at 2 (two
//! B-frames, the usual camera setting; a depth larger than needed only delays decode times)
//! and grows when a frame arrives later than that allows; such a frame gets a negative composition offset rather than a wrong
//! order. The first frame's decode time is R frame durations before its presentation.
//!
//! **Jumps.** A camera restarting its encoder, or gst-rtsp-server restarting a shared
//! stream when another client joins, starts timestamps over. A timestamp that goes back
//! further than reordering explains (for video: before the last decode time by more than
//! R+1 frames; for audio: not after the previous frame), or forward by more than
//! [`FORWARD_JUMP`] beyond the time that passed between arrivals, is a jump: the track's
//! time is re-based to continue one frame after where it was, and the jump is reported
//! once, with its size.

use std::time::{Duration, Instant};

/// How far a timestamp may run ahead of the arrival clock before it is a jump. Media time
/// normally advances with the wall clock: a gap of lost packets advances both alike, a
/// stall then a burst over TCP makes the wall clock run ahead. A camera restarting at
/// another timestamp jumps by whatever its new origin is.
pub const FORWARD_JUMP: Duration = Duration::from_secs(2);

/// The reorder depth assumed when the stream does not declare one.
const ASSUMED_REORDER: usize = 2;

/// The largest reorder depth H.264 and H.265 allow (the DPB holds at most 16 frames).
const MAX_REORDER: usize = 16;

/// A frame's times, in ticks of the track's clock, re-based across jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timing {
    /// Presentation time.
    pub presentation: i64,
    /// Decode time: strictly increasing along the track.
    pub decode: i64,
    /// The timestamp jumped just before this frame, by this many ticks (the raw timestamp
    /// minus where the track was expected to continue); the time was re-based.
    pub jump: Option<i64>,
}

/// One track's clock.
#[derive(Clone, Debug)]
pub struct TrackTimeline {
    clock_rate: u32,
    video: bool,
    /// Frames that may arrive before a frame they are shown after.
    reorder: usize,
    /// Whether `reorder` was declared by the stream (else assumed and learned).
    declared: bool,
    /// One frame in ticks (frame rate or audio frame length), or an estimate.
    step: i64,
    /// Added to raw timestamps (changes at each jump).
    offset: i64,
    /// The `reorder + 1` largest presentation times so far, ascending.
    largest: Vec<i64>,
    last_decode: Option<i64>,
    /// The largest presentation time so far and when its frame arrived.
    newest: Option<(i64, Instant)>,
}

impl TrackTimeline {
    /// A video track; `reorder` as declared by the SPS, `frame_duration` in ticks when the
    /// frame rate is known.
    pub fn video(clock_rate: u32, reorder: Option<u32>, frame_duration: Option<u32>) -> Self {
        let declared = reorder.is_some();
        let reorder = reorder.map_or(ASSUMED_REORDER, |r| (r as usize).min(MAX_REORDER));
        // Unknown frame rate: assume 25 fps; this only places the first decode times.
        let step = frame_duration.map_or(i64::from(clock_rate / 25), i64::from);
        TrackTimeline {
            clock_rate,
            video: true,
            reorder,
            declared,
            step: step.max(1),
            offset: 0,
            largest: Vec::with_capacity(reorder + 1),
            last_decode: None,
            newest: None,
        }
    }

    /// An audio track (no reordering); `frame_duration` in ticks when the codec fixes it.
    pub fn audio(clock_rate: u32, frame_duration: Option<u32>) -> Self {
        let step = frame_duration.map_or(i64::from(clock_rate / 50), i64::from);
        TrackTimeline {
            clock_rate,
            video: false,
            reorder: 0,
            declared: true,
            step: step.max(1),
            offset: 0,
            largest: Vec::with_capacity(1),
            last_decode: None,
            newest: None,
        }
    }

    /// The reorder depth in force (frames).
    pub fn reorder(&self) -> usize {
        self.reorder
    }

    /// New parameters declare a reorder depth: a deeper one is taken from the next frame
    /// on (decode times then wait until presentation times overtake them); a shallower
    /// one is ignored, since frames decoded under the old one may still be shown later.
    pub fn declare_reorder(&mut self, reorder: u32) {
        let reorder = (reorder as usize).min(MAX_REORDER);
        self.declared = true;
        while self.reorder < reorder {
            self.reorder += 1;
            if let Some(&lowest) = self.largest.first() {
                self.largest.insert(0, lowest.saturating_sub(self.step));
            }
        }
    }

    /// The times of the next frame of the track, whose RTP timestamp (extended to 64 bits)
    /// is `timestamp` and which arrived at `received`.
    pub fn push(&mut self, timestamp: i64, received: Instant) -> Timing {
        let mut pts = timestamp.saturating_add(self.offset);
        let mut jump = None;
        if let (Some(last), Some((newest, at))) = (self.last_decode, self.newest) {
            let back = if self.video {
                let tolerance = (self.reorder as i64 + 1).saturating_mul(self.step);
                pts < last.saturating_sub(tolerance)
            } else {
                pts <= last
            };
            let waited = received.saturating_duration_since(at) + FORWARD_JUMP;
            let allowed = i128::from(self.clock_rate) * waited.as_micros() as i128 / 1_000_000;
            let ahead = i128::from(pts) - i128::from(newest) > allowed;
            if back || ahead {
                // Continue one frame after the newest frame, and leave room for the reorder
                // depth's worth of decode times after the last one.
                let resume = newest
                    .saturating_add(self.step)
                    .max(last.saturating_add(self.step * (self.reorder as i64 + 1)));
                jump = Some(pts.saturating_sub(resume));
                self.offset = self.offset.saturating_add(resume.saturating_sub(pts));
                pts = resume;
                self.largest.clear();
                self.newest = None;
            }
        }
        let decode = self.decode_time(pts);
        if self.newest.is_none_or(|(n, _)| pts >= n) {
            self.newest = Some((pts, received));
        }
        Timing {
            presentation: pts,
            decode,
            jump,
        }
    }

    fn decode_time(&mut self, pts: i64) -> i64 {
        if self.largest.is_empty() {
            // The first frame (or the first after a jump): its decode time lies R frames
            // before it, as if the frames decoded before it had been there.
            for k in (1..=self.reorder as i64).rev() {
                self.largest
                    .push(pts.saturating_sub(k.saturating_mul(self.step)));
            }
            self.largest.push(pts);
        } else if self.largest.len() <= self.reorder {
            self.largest.push(pts);
            self.largest.sort_unstable();
        } else if pts > self.largest[0] {
            self.largest[0] = pts;
            self.largest.sort_unstable();
        } else if !self.declared && self.reorder < MAX_REORDER {
            // Reordered deeper than assumed: remember a deeper window from now on.
            self.reorder += 1;
            self.largest.insert(0, pts);
            tracing::debug!(reorder = self.reorder, "frames reorder deeper than assumed");
        }
        let candidate = self.largest.first().copied().unwrap_or(pts);
        let decode = match self.last_decode {
            Some(last) if candidate <= last => last.saturating_add(1),
            _ => candidate,
        };
        self.last_decode = Some(decode);
        decode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes presentation times (in frames of 6000 ticks, 15 fps at 90 kHz) that arrive
    /// one frame apart; returns (pts, dts, jump) in frames / ticks.
    fn run(t: &mut TrackTimeline, frames: &[i64]) -> Vec<Timing> {
        let start = Instant::now();
        frames
            .iter()
            .enumerate()
            .map(|(i, f)| {
                t.push(
                    f * 6000,
                    start + Duration::from_millis(i as u64 * 1000 / 15),
                )
            })
            .collect()
    }

    fn check_order(timings: &[Timing]) {
        for w in timings.windows(2) {
            assert!(w[1].decode > w[0].decode, "{timings:?}");
        }
        for t in timings {
            assert!(t.presentation >= t.decode, "{t:?}");
        }
    }

    #[test]
    fn b_frames_get_monotone_decode_times_before_their_presentation() {
        // I0 P3 B1 B2 P6 B4 B5 ... as x264 bframes=2 sends them.
        let order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        let mut t = TrackTimeline::video(90_000, Some(2), Some(6000));
        let timings = run(&mut t, &order);
        check_order(&timings);
        let dts: Vec<i64> = timings.iter().map(|t| t.decode / 6000).collect();
        assert_eq!(dts, [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(timings.iter().all(|t| t.jump.is_none()));
    }

    #[test]
    fn an_undeclared_deeper_reorder_is_learned_without_breaking_order() {
        // Three B-frames each referencing the next (decode order I0 P4 B3 B2 B1): a depth
        // of 3, but no declaration and an assumed depth of 2: one frame comes too late
        // (negative offset), the depth grows, later frames fit.
        let order = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9];
        let mut t = TrackTimeline::video(90_000, None, Some(6000));
        let timings = run(&mut t, &order);
        for w in timings.windows(2) {
            assert!(w[1].decode > w[0].decode, "{timings:?}");
        }
        assert_eq!(t.reorder(), 3);
        assert!(timings[5..].iter().all(|t| t.presentation >= t.decode));
        assert!(timings.iter().all(|t| t.jump.is_none()));
    }

    #[test]
    fn a_deeper_declared_depth_after_new_parameters_keeps_the_order() {
        let mut t = TrackTimeline::video(90_000, Some(0), Some(6000));
        let mut timings = run(&mut t, &[0, 1, 2, 3]);
        t.declare_reorder(2);
        t.declare_reorder(1); // shallower: ignored
        assert_eq!(t.reorder(), 2);
        let start = Instant::now();
        for (i, f) in [4, 7, 5, 6, 10, 8, 9].iter().enumerate() {
            timings.push(t.push(f * 6000, start + Duration::from_millis(300 + i as u64 * 66)));
        }
        check_order(&timings);
    }

    #[test]
    fn no_reordering_means_decode_equals_presentation() {
        let mut t = TrackTimeline::video(90_000, Some(0), Some(6000));
        let timings = run(&mut t, &[0, 1, 2, 3, 4]);
        assert!(timings.iter().all(|t| t.decode == t.presentation));
    }

    #[test]
    fn a_restart_continues_one_frame_later_and_reports_the_jump_once() {
        let mut t = TrackTimeline::video(90_000, Some(0), Some(6000));
        // 40 frames, then the server restarts the stream at its first timestamp.
        let mut frames: Vec<i64> = (0..40).collect();
        frames.extend(0..10);
        let timings = run(&mut t, &frames);
        check_order(&timings);
        let jumps: Vec<(usize, i64)> = timings
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.jump.map(|j| (i, j)))
            .collect();
        assert_eq!(jumps, [(40, -40 * 6000)]);
        assert_eq!(timings[40].presentation, 40 * 6000);
        assert_eq!(timings[49].presentation, 49 * 6000);
    }

    #[test]
    fn with_b_frames_a_restart_is_a_jump_but_reordering_is_not() {
        let mut t = TrackTimeline::video(90_000, Some(2), Some(6000));
        let mut order = vec![0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        order.extend([0, 3, 1, 2, 6, 4, 5]);
        let timings = run(&mut t, &order);
        check_order(&timings);
        let jumps: Vec<usize> = (0..timings.len())
            .filter(|i| timings[*i].jump.is_some())
            .collect();
        assert_eq!(jumps, [13]);
    }

    #[test]
    fn forward_jumps_beyond_the_arrival_clock_are_jumps_gaps_are_not() {
        let mut t = TrackTimeline::audio(48_000, Some(1024));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(t.push(0, at(0)).jump, None);
        assert_eq!(t.push(1024, at(21)).jump, None);
        // 5 s of lost packets that took 5 s: a gap, not a jump.
        assert_eq!(t.push(1024 + 240_000, at(5021)).jump, None);
        // An hour ahead within a second: a jump; re-based one frame later.
        let j = t.push(1024 + 240_000 + 3600 * 48_000, at(5042));
        assert_eq!(j.jump, Some(3600 * 48_000 - 1024));
        assert_eq!(j.presentation, 1024 + 240_000 + 1024);
        // Backwards, even by one frame: a jump for audio.
        let k = t.push(1024 + 240_000 + 3600 * 48_000, at(5063));
        assert!(k.jump.is_some() && k.decode > j.decode, "{k:?}");
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let mut t = TrackTimeline::video(90_000, None, None);
        let now = Instant::now();
        for ts in [i64::MAX, i64::MIN, 0, i64::MAX, i64::MIN + 1, -1] {
            t.push(ts, now);
        }
        let mut a = TrackTimeline::audio(0, Some(0));
        for ts in [i64::MIN, i64::MAX, 0] {
            a.push(ts, now);
        }
    }
}
