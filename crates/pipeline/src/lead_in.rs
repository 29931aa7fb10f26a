//! The audio a file starts with before its first video key frame (the recorder's lead-in).
//!
//! A file starts at a key frame; audio of just before it is held until it comes, then the
//! part that belongs in the file goes in first. What belongs depends on the input:
//!
//! - A live input (camera, stream), whose zero is only where its clock started and whose
//!   MP4 output hides nothing: the audio that covers the key frame's instant or comes
//!   after it. So the file's audio starts at most one audio frame before its picture
//!   (lip sync as ffprobe's start times show it) and none is missing there: a G.711
//!   camera's 128 ms frame that begins 100 ms before the picture goes in, its end heard
//!   with the picture; one that ends at the picture does not. The same rule applies to
//!   such audio when it comes after the key frame (the transcoding stage holds encoded
//!   audio until the picture has passed; a camera's audio may simply arrive later).
//! - An input with a time zero (a file), or audio without a duration: audio less than
//!   [`LEAD_IN`] before the key frame, which is a file's AAC priming (−1024 samples, about
//!   21 ms, hidden by the MP4 sink's edit list as ffmpeg does), as `-c copy` keeps it.
//!   Such audio arriving after the key frame is kept as it comes.

use std::collections::VecDeque;

use crate::Packet;

/// For an input with a time zero: audio less than this long before the key frame leads in.
const LEAD_IN: f64 = 0.1;

/// At most this many audio packets are held (bounded whatever the input): for a live input,
/// audio that arrives ahead of the video (a camera's video encoder is slower) waits here.
const LEAD_IN_PACKETS: usize = 64;

/// Audio held until the file's first key frame, with its time and end in seconds.
#[derive(Debug)]
pub(crate) struct LeadIn {
    time_zero: bool,
    held: VecDeque<(Packet, f64, Option<f64>)>,
}

impl LeadIn {
    /// `time_zero`: the input's times have a real zero (a file).
    pub(crate) fn new(time_zero: bool) -> LeadIn {
        LeadIn {
            time_zero,
            held: VecDeque::new(),
        }
    }

    /// Holds an audio packet at `t` seconds, ending at `end`, that came before a key frame.
    pub(crate) fn hold(&mut self, packet: Packet, t: f64, end: Option<f64>) {
        if self.time_zero {
            self.held.retain(|(_, held, _)| *held > t - LEAD_IN);
        }
        if self.held.len() == LEAD_IN_PACKETS {
            self.held.pop_front();
        }
        self.held.push_back((packet, t, end));
    }

    /// The held packets that go into a file starting at `start` seconds, in arrival order;
    /// the others are dropped.
    pub(crate) fn take(&mut self, start: f64) -> Vec<Packet> {
        let held = std::mem::take(&mut self.held);
        held.into_iter()
            .filter(|(_, t, end)| self.admits(*t, *end, start))
            .map(|(packet, _, _)| packet)
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.held.clear();
    }

    /// Whether audio at `t` (before the file's `start`) that comes after the key frame
    /// goes into the file.
    pub(crate) fn keeps_late(&self, t: f64, end: Option<f64>, start: f64) -> bool {
        self.time_zero || self.admits(t, end, start)
    }

    fn admits(&self, t: f64, end: Option<f64>, start: f64) -> bool {
        match end {
            Some(end) if !self.time_zero => end > start,
            _ => t > start - LEAD_IN && t <= start,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn audio(dts: i64) -> Packet {
        Packet::new(1, dts, true, Bytes::from_static(b"a"))
    }

    fn times(packets: &[Packet]) -> Vec<i64> {
        packets.iter().map(|p| p.dts).collect()
    }

    #[test]
    fn a_live_input_leads_in_only_the_audio_that_covers_the_key_frame() {
        // A G.711 camera's 128 ms frames, its first picture at 0.3 s: the frame at
        // 0.256 s covers it; the frame after it arrived first and goes in too.
        let mut live = LeadIn::new(false);
        for start in [0.0, 0.128, 0.256, 0.384] {
            live.hold(audio((start * 1000.0) as i64), start, Some(start + 0.128));
        }
        assert_eq!(times(&live.take(0.3)), [256, 384]);
        assert!(live.take(0.3).is_empty(), "taken once");
        // Late: one that ends at the picture stays out, one that covers it goes in.
        assert!(!live.keeps_late(0.172, Some(0.3), 0.3));
        assert!(live.keeps_late(0.29, Some(0.31), 0.3));
        // Without a duration: the file rule.
        assert!(live.keeps_late(0.25, None, 0.3) && !live.keeps_late(0.1, None, 0.3));
    }

    #[test]
    fn a_file_input_leads_in_its_priming() {
        // AAC priming at −21 ms, video from 0; audio 0.5 s earlier stays out.
        let mut file = LeadIn::new(true);
        for start in [-0.5, -0.021] {
            file.hold(audio((start * 1000.0) as i64), start, Some(start + 0.021));
        }
        assert_eq!(times(&file.take(0.0)), [-21]);
        assert!(file.keeps_late(-2.0, Some(-1.9), 0.0), "kept as it comes");
    }

    #[test]
    fn at_most_lead_in_packets_are_held() {
        let mut live = LeadIn::new(false);
        for i in 0..LEAD_IN_PACKETS as i64 + 10 {
            live.hold(audio(i), i as f64, Some(i as f64 + 1.0));
        }
        assert_eq!(live.take(0.0).len(), LEAD_IN_PACKETS);
    }
}
