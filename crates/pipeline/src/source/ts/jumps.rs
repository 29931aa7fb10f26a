//! Timestamp jumps in a transport stream: files concatenated (`cat a.ts b.ts`, HLS
//! segments joined), an encoder restarted, a broadcast spliced. TS times carry no promise
//! of continuity (ffmpeg's demuxer flags the format `AVFMT_TS_DISCONT` for this reason),
//! so a decode time that goes back, or forward by more than [`FORWARD`], is a jump: the
//! track is re-based to continue one frame after its newest time, as ffmpeg's command
//! line does for such formats. Without it a concatenation failed ("decode time 0 is not
//! after the previous one") or a jump forward left a gap of hours in the recording.
//!
//! Every stream of a program jumps at once, but not at the same place in the file (the
//! multiplexer interleaves audio and video with some skew). So the first track to jump
//! sets a correction, and a track that jumps soon after takes the same one when that
//! keeps its times increasing: audio and video stay in step across the jump. Otherwise
//! (say the audio ran on longer before the cut) the track continues after its own newest
//! time.
//!
//! A splice whose second part continues in time (an encoder restarted with its clock, an
//! ad cut in) is subtler: its video steps back a frame or two (B-frames) and is re-based,
//! while its audio starts after the start of the first part's last PES but before that
//! PES's content ends, which is no step back. Such audio takes the correction the video
//! just made (once), and the reader leaves out the frames that still overlap, so the
//! second part's audio stays in step with its video.

/// 90 kHz ticks of a second.
const SECOND: i64 = 90_000;

/// A decode time this far ahead of the newest one is a jump (ffmpeg's default
/// `-dts_delta_threshold` for formats with discontinuities): gaps shorter than this
/// (lost packets, a paused source) are kept as they are.
pub(crate) const FORWARD: i64 = 10 * SECOND;

/// A decode time this far behind the newest one is a jump in video whose PES carry
/// presentation times only (the demuxer then gives them as decode times, reordered by up
/// to 16 frames). Real decode times never go back: any step back is a jump.
pub(crate) const BACKWARD: i64 = SECOND;

/// Audio frames may start this much before the end of the previous PES's content
/// without overlapping it (times rounded to 90 kHz ticks; less than half of any frame).
const END_SLACK: i64 = 900;

/// At most this much of a track's content may overlap after it takes another track's
/// correction (about one audio PES).
const OVERLAP: i64 = SECOND / 2;

/// A correction another track made this close to where a track's content ends belongs
/// to the same splice.
const SPLICE_SKEW: i64 = 2 * SECOND;

/// One track's correction and where it is.
#[derive(Debug, Default)]
pub(crate) struct TrackClock {
    /// Added to the track's times (changes at each jump).
    offset: i64,
    /// The newest corrected decode time.
    newest: Option<i64>,
    /// The last step forward between decode times (a frame), once seen.
    step: Option<i64>,
    /// Its times may go back by [`BACKWARD`] without a jump (video without decode times).
    reordered: bool,
    /// Where the track's content ends, when the caller knows it (an audio PES holds
    /// several frames): the track continues there at the earliest after a jump.
    end: Option<i64>,
    /// The last correction this track made or took ([`Jumps::last`]'s value then).
    taken: Option<(i64, i64)>,
}

/// The jumps of one program's tracks.
#[derive(Debug, Default)]
pub(crate) struct Jumps {
    /// The last correction made and the corrected time it was made at.
    last: Option<(i64, i64)>,
}

/// A frame's decode time after correction, and the jump just before it, in 90 kHz ticks
/// (the raw time minus where the track was expected to continue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rebased {
    pub(crate) dts: i64,
    pub(crate) jump: Option<i64>,
}

impl Jumps {
    /// Corrects the decode time `dts` (90 kHz) of a frame of the track whose clock is
    /// `clock`; the same [`TrackClock::offset`] applies to its presentation time.
    pub(crate) fn rebase(&mut self, clock: &mut TrackClock, dts: i64) -> Rebased {
        let corrected = dts.saturating_add(clock.offset);
        let Some(newest) = clock.newest else {
            clock.newest = Some(corrected);
            return Rebased {
                dts: corrected,
                jump: None,
            };
        };
        let ahead = corrected.saturating_sub(newest);
        let back = if clock.reordered { BACKWARD } else { 0 };
        if (-back..=FORWARD).contains(&ahead) {
            if let Some(correction) = self.overlap_correction(clock, corrected, newest) {
                clock.offset = clock.offset.saturating_add(correction);
                clock.taken = self.last;
                clock.newest = Some(corrected.saturating_add(correction));
                clock.end = None;
                return Rebased {
                    dts: corrected.saturating_add(correction),
                    jump: None,
                };
            }
            if ahead > 0 {
                clock.newest = Some(corrected);
                clock.step = Some(ahead.min(SECOND));
            }
            return Rebased {
                dts: corrected,
                jump: None,
            };
        }
        // Where the track's content ends when known, else one frame after the newest
        // time (a 25 fps frame when no step was seen yet).
        let expected = match clock.end {
            Some(end) => end.max(newest),
            None => newest.saturating_add(clock.step.unwrap_or(SECOND / 25)),
        };
        let own = expected.saturating_sub(corrected);
        let shared = self.last.and_then(|(correction, at)| {
            let after = corrected.saturating_add(correction);
            let near = at.abs_diff(expected) <= FORWARD.unsigned_abs();
            (near && after >= expected && after <= expected.saturating_add(FORWARD))
                .then_some(correction)
        });
        let correction = shared.unwrap_or(own);
        clock.offset = clock.offset.saturating_add(correction);
        let dts = corrected.saturating_add(correction);
        clock.newest = Some(dts);
        clock.end = None;
        self.last = Some((correction, dts));
        clock.taken = self.last;
        Rebased {
            dts,
            jump: Some(own.saturating_neg()),
        }
    }
}

impl Jumps {
    /// The correction another track just made, for a track whose frames start before its
    /// content ended (`corrected` within [`OVERLAP`] of it, not a step back from its
    /// newest time): both parts of a splice were cut with their audio running on, and
    /// the other track (video, whose decode times stepped back) was re-based. Taking the
    /// same correction keeps this track in step with it; the frames that still overlap
    /// are left out by the caller. None when there is no such correction.
    fn overlap_correction(&self, clock: &TrackClock, corrected: i64, newest: i64) -> Option<i64> {
        let end = clock.end?;
        if corrected >= end.saturating_sub(END_SLACK) || clock.taken == self.last {
            return None;
        }
        let (correction, at) = self.last?;
        let after = corrected.saturating_add(correction);
        // Made at the same splice: within the skew a multiplexer leaves between audio and
        // video (not a correction from long before, which audio PES times a little
        // uneven must not pick up).
        let near = at.abs_diff(end) <= SPLICE_SKEW.unsigned_abs();
        let floor = newest.max(end.saturating_sub(OVERLAP));
        (near && after >= floor && after <= end.saturating_add(FORWARD)).then_some(correction)
    }
}

impl TrackClock {
    /// A clock for video whose PES may carry presentation times only: its times go back
    /// by up to [`BACKWARD`] without a jump until [`TrackClock::has_decode_times`].
    pub(crate) fn reordered() -> TrackClock {
        TrackClock {
            reordered: true,
            ..TrackClock::default()
        }
    }

    /// The track's PES carry decode times (a frame's differs from its presentation
    /// time): from now on any step back is a jump.
    pub(crate) fn has_decode_times(&mut self) {
        self.reordered = false;
    }

    /// What is added to the track's raw times now.
    pub(crate) fn offset(&self) -> i64 {
        self.offset
    }

    /// The track's content (corrected, 90 kHz) reaches `end`.
    pub(crate) fn ends_at(&mut self, end: i64) {
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }
}

/// Time zero of a program: the smallest decode time of the frames before the first jump
/// (the frames read while the streams' configurations were learned, all tracks).
pub(crate) fn origin(dts: impl IntoIterator<Item = i64>) -> i64 {
    let mut newest: Option<i64> = None;
    let mut smallest: Option<i64> = None;
    for t in dts {
        if let Some(n) = newest
            && !(-BACKWARD..=FORWARD).contains(&t.saturating_sub(n))
        {
            break;
        }
        newest = Some(newest.map_or(t, |n| n.max(t)));
        smallest = Some(smallest.map_or(t, |s| s.min(t)));
    }
    smallest.unwrap_or(0)
}

/// Puts the frames read before the tracks were sent in decode-time order, each stream's
/// own order kept (a stable sort), unless a jump lies among them. A multiplexer sends a
/// key frame's PES ahead of audio presented a few milliseconds earlier; in arrival order
/// the file would open at the key frame and that audio, come later, would fall before
/// the file's start (a camera's TS lost its first AAC frame on the way to MP4).
pub(crate) fn in_time_order<T>(frames: &mut [T], dts: impl Fn(&T) -> Option<i64>) {
    let mut newest: Option<i64> = None;
    for t in frames.iter().filter_map(&dts) {
        if newest.is_some_and(|n| !(-BACKWARD..=FORWARD).contains(&t.saturating_sub(n))) {
            return;
        }
        newest = Some(newest.map_or(t, |n| n.max(t)));
    }
    frames.sort_by_key(|f| dts(f).unwrap_or(i64::MIN));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_frames_go_in_time_order_unless_a_jump_lies_among_them() {
        // A key frame's PES (4.4 ms) ahead of audio at 0, then each stream in its order.
        let mut frames = vec![
            (Some(396), 'v'),
            (Some(0), 'a'),
            (Some(1920), 'a'),
            (None, 'x'),
        ];
        in_time_order(&mut frames, |f| f.0);
        assert_eq!(frames.iter().map(|f| f.1).collect::<String>(), "xava");
        let mut jumped = vec![(Some(396), 'v'), (Some(90_000 * 60), 'a'), (Some(0), 'a')];
        in_time_order(&mut jumped, |f| f.0);
        assert_eq!(jumped.iter().map(|f| f.1).collect::<String>(), "vaa");
    }

    const FRAME: i64 = 3600; // 25 fps

    fn run(jumps: &mut Jumps, clock: &mut TrackClock, times: &[i64]) -> Vec<Rebased> {
        times.iter().map(|&t| jumps.rebase(clock, t)).collect()
    }

    #[test]
    fn steady_times_and_short_gaps_are_left_alone() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::default());
        let times = [
            0,
            FRAME,
            2 * FRAME,
            2 * FRAME + 9 * SECOND,
            2 * FRAME + 9 * SECOND + FRAME,
        ];
        let out = run(&mut jumps, &mut clock, &times);
        assert_eq!(out.iter().map(|r| r.dts).collect::<Vec<_>>(), times);
        assert!(out.iter().all(|r| r.jump.is_none()));
    }

    #[test]
    fn reordered_presentation_times_within_a_second_are_not_a_jump() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::reordered());
        // I P B B as presentation times (a PES without decode times).
        let times = [
            0,
            3 * FRAME,
            FRAME,
            2 * FRAME,
            6 * FRAME,
            4 * FRAME,
            5 * FRAME,
        ];
        let out = run(&mut jumps, &mut clock, &times);
        assert_eq!(out.iter().map(|r| r.dts).collect::<Vec<_>>(), times);
        // Once decode times are seen, a step back is a jump.
        clock.has_decode_times();
        assert!(jumps.rebase(&mut clock, 5 * FRAME).jump.is_some());
    }

    #[test]
    fn a_jump_forward_continues_one_frame_later() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::default());
        let far = 4_900 * SECOND;
        let out = run(
            &mut jumps,
            &mut clock,
            &[0, FRAME, 2 * FRAME, far, far + FRAME],
        );
        let dts: Vec<_> = out.iter().map(|r| r.dts).collect();
        assert_eq!(dts, [0, FRAME, 2 * FRAME, 3 * FRAME, 4 * FRAME]);
        assert_eq!(out[3].jump, Some(far - 3 * FRAME));
        assert_eq!(out[4].jump, None);
        assert_eq!(clock.offset(), 3 * FRAME - far);
    }

    #[test]
    fn a_file_concatenated_with_itself_continues_after_the_first_copy() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::default());
        let copy: Vec<i64> = (0..75).map(|i| i * FRAME).collect();
        let both: Vec<i64> = copy.iter().chain(&copy).copied().collect();
        let out = run(&mut jumps, &mut clock, &both);
        let dts: Vec<_> = out.iter().map(|r| r.dts).collect();
        assert_eq!(dts, (0..150).map(|i| i * FRAME).collect::<Vec<_>>());
        assert_eq!(out[75].jump, Some(-75 * FRAME));
    }

    #[test]
    fn audio_and_video_jumping_together_stay_in_step() {
        let mut jumps = Jumps::default();
        let (mut video, mut audio) = (TrackClock::default(), TrackClock::default());
        let aframe = 1920; // 1024 samples at 48 kHz, in 90 kHz ticks
        let far = 5_000 * SECOND;
        // Before the cut both run to 2 s (video frames to 180 000, audio frames to
        // 180 480); after it both restart at `far`, the audio 11 ms after the video.
        for i in 0..50 {
            jumps.rebase(&mut video, i * FRAME);
        }
        for i in 0..94 {
            jumps.rebase(&mut audio, i * aframe);
        }
        let v = jumps.rebase(&mut video, far);
        let a = jumps.rebase(&mut audio, far + 1000);
        assert!(v.jump.is_some() && a.jump.is_some());
        assert_eq!(v.dts, 50 * FRAME);
        assert_eq!(
            a.dts - v.dts,
            1000,
            "the audio keeps its place against the video"
        );
    }

    #[test]
    fn a_track_that_ran_on_longer_continues_after_its_own_newest_time() {
        let mut jumps = Jumps::default();
        let (mut video, mut audio) = (TrackClock::default(), TrackClock::default());
        let far = 5_000 * SECOND;
        jumps.rebase(&mut video, 0);
        jumps.rebase(&mut video, FRAME);
        jumps.rebase(&mut audio, 0);
        jumps.rebase(&mut audio, SECOND / 2); // half a second more audio before the cut
        let v = jumps.rebase(&mut video, far);
        let a = jumps.rebase(&mut audio, far);
        assert_eq!(v.dts, 2 * FRAME);
        assert_eq!(
            a.dts,
            SECOND / 2 + SECOND / 2,
            "one step after its newest time"
        );
    }

    #[test]
    fn a_track_continues_after_the_end_of_its_content() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::default());
        jumps.rebase(&mut clock, 0);
        jumps.rebase(&mut clock, 9000);
        clock.ends_at(30_000); // the last PES holds more frames than the one before
        let r = jumps.rebase(&mut clock, 0);
        assert_eq!(r.dts, 30_000);
        assert_eq!(r.jump, Some(-30_000));
    }

    #[test]
    fn audio_overlapping_its_content_takes_the_video_correction_once() {
        let mut jumps = Jumps::default();
        let (mut video, mut audio) = (TrackClock::default(), TrackClock::default());
        let aframe = 1920;
        for i in 0..50 {
            jumps.rebase(&mut video, i * FRAME);
        }
        // The last audio PES starts at 170 880 and holds frames to 181 440.
        jumps.rebase(&mut audio, 170_880);
        audio.ends_at(181_440);
        // An overlap with no correction to take: left alone (the caller drops frames).
        let alone = jumps.rebase(&mut audio, 181_440 - 3 * aframe);
        assert_eq!(
            alone,
            Rebased {
                dts: 181_440 - 3 * aframe,
                jump: None
            }
        );
        audio.ends_at(181_440 + 2 * aframe);
        // The video steps back one frame (B-frames after a splice): re-based by +2 frames.
        let v = jumps.rebase(&mut video, 48 * FRAME);
        assert_eq!(v.dts, 50 * FRAME);
        // The audio of the second part starts 8 000 ticks before its content ended: it
        // takes the same correction, once.
        let start = 181_440 + 2 * aframe - 8_000;
        let a = jumps.rebase(&mut audio, start);
        assert_eq!(a.dts, start + 2 * FRAME);
        audio.ends_at(a.dts + 16 * aframe);
        let next = jumps.rebase(&mut audio, start + 16 * aframe - 2_000);
        assert_eq!(
            next.dts,
            start + 2 * FRAME + 16 * aframe - 2_000,
            "not taken twice"
        );
    }

    #[test]
    fn a_correction_made_at_another_place_is_not_taken() {
        let mut jumps = Jumps::default();
        let (mut video, mut audio) = (TrackClock::default(), TrackClock::default());
        for i in 0..50 {
            jumps.rebase(&mut video, i * FRAME);
        }
        assert!(jumps.rebase(&mut video, 48 * FRAME).jump.is_some());
        // 6 s later, an audio PES 20 ms before the end of the one before (uneven times):
        // nothing to do with the video's correction at 2 s.
        jumps.rebase(&mut audio, 8 * SECOND);
        audio.ends_at(8 * SECOND + 30_000);
        let a = jumps.rebase(&mut audio, 8 * SECOND + 28_200);
        assert_eq!(
            a,
            Rebased {
                dts: 8 * SECOND + 28_200,
                jump: None
            }
        );
    }

    #[test]
    fn the_origin_is_the_smallest_time_before_the_first_jump() {
        assert_eq!(origin([500, 400, 600, 700]), 400);
        assert_eq!(
            origin([500, 600, 100, 200]),
            100,
            "reordering is not a jump"
        );
        assert_eq!(origin([9 * SECOND, 10 * SECOND, 0, SECOND]), 9 * SECOND);
        assert_eq!(origin([SECOND, 2 * SECOND, 900 * SECOND]), SECOND);
        assert_eq!(origin([]), 0);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let (mut jumps, mut clock) = (Jumps::default(), TrackClock::default());
        for t in [0, i64::MAX, i64::MIN, 5, i64::MAX - 1] {
            jumps.rebase(&mut clock, t);
        }
    }

    proptest::proptest! {
        /// Whatever the times (jumps, garbage; within ±2^40 ticks, four months, as the
        /// demuxer's unwrapped 33-bit times are; `extreme_times_do_not_overflow` covers
        /// the rest), a track whose PES carry decode times never goes back, and never moves forward by more than a jump allows:
        /// what the MP4 muxer needs ("decode time … is not after the previous one").
        #[test]
        fn decode_times_never_go_back_or_leap(
            steps in proptest::collection::vec(
                proptest::prop_oneof![
                    0i64..=7200,
                    -(1i64 << 40)..(1i64 << 40),
                ],
                1..200,
            ),
            ends in proptest::collection::vec(proptest::option::of(0i64..20_000), 200),
        ) {
            let mut jumps = Jumps::default();
            let (mut clock, mut other) = (TrackClock::default(), TrackClock::default());
            let mut raw = 0i64;
            let mut last: Option<i64> = None;
            for (i, step) in steps.iter().enumerate() {
                raw = (raw + step).clamp(-(1 << 40), 1 << 40);
                // Another track jumping in between shares corrections with this one.
                jumps.rebase(&mut other, raw.wrapping_mul(3));
                let out = jumps.rebase(&mut clock, raw).dts;
                if let Some(previous) = last {
                    proptest::prop_assert!(out >= previous, "{out} after {previous}");
                    proptest::prop_assert!(
                        out - previous <= FORWARD + SECOND + 20_000,
                        "{out} after {previous}"
                    );
                }
                if let Some(extra) = ends[i] {
                    clock.ends_at(out.saturating_add(extra));
                }
                last = Some(out);
            }
        }
    }
}
