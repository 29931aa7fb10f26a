//! One viewer's bounded queue and its drop policy (sans-I/O), the policy of
//! `tcp-listen://` (media-remote's client queue): when a new frame passes a bound, the
//! oldest frames go first; a dropped video frame makes every later video frame up to the
//! next key frame undecodable, so those go too, and when no key frame is queued the
//! video is gated until the next key frame arrives. A viewer therefore never receives a
//! frame whose reference was dropped, and a slow viewer never slows the others.

use std::collections::VecDeque;

use crate::media::{Frame, TrackKind};

/// A viewer's queue; see the module docs.
#[derive(Debug)]
pub struct ViewerQueue {
    frames: VecDeque<Frame>,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
    /// Skip video until a key frame (a new viewer, or after a drop).
    video_gated: bool,
    dropped: u64,
}

impl ViewerQueue {
    /// A queue bounded in frames and bytes; a new viewer waits for a key frame.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        ViewerQueue {
            frames: VecDeque::new(),
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes: max_bytes.max(1),
            video_gated: true,
            dropped: 0,
        }
    }

    /// Frames dropped by the policy so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Queues a frame, applying the drop policy.
    pub fn push(&mut self, frame: Frame) {
        if frame.track == TrackKind::Video && self.video_gated {
            if !frame.keyframe {
                return;
            }
            self.video_gated = false;
        }
        self.bytes += frame.data.len();
        self.frames.push_back(frame);
        while self.frames.len() > self.max_frames || self.bytes > self.max_bytes {
            self.drop_oldest();
        }
    }

    /// The next frame to send.
    pub fn pop(&mut self) -> Option<Frame> {
        let frame = self.frames.pop_front()?;
        self.bytes -= frame.data.len();
        Some(frame)
    }

    fn remove(&mut self, index: usize) {
        if let Some(f) = self.frames.remove(index) {
            self.bytes -= f.data.len();
            self.dropped += 1;
        }
    }

    fn drop_oldest(&mut self) {
        let Some(first) = self.frames.front() else {
            return;
        };
        if first.track == TrackKind::Audio {
            self.remove(0);
            return;
        }
        // Video: the oldest video frame and its dependants up to the next key frame.
        self.remove(0);
        let next_key = self
            .frames
            .iter()
            .position(|f| f.track == TrackKind::Video && f.keyframe);
        let end = next_key.unwrap_or(self.frames.len());
        let mut i = 0;
        let mut end = end;
        while i < end {
            if self.frames[i].track == TrackKind::Video {
                self.remove(i);
                end -= 1;
            } else {
                i += 1;
            }
        }
        if next_key.is_none() {
            self.video_gated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(track: TrackKind, keyframe: bool, t: u64) -> Frame {
        Frame::new(track, t, keyframe, vec![0u8; 10].into())
    }

    #[test]
    fn a_new_viewer_starts_at_a_key_frame() {
        let mut q = ViewerQueue::new(100, 1 << 20);
        q.push(frame(TrackKind::Video, false, 0));
        q.push(frame(TrackKind::Audio, true, 1));
        q.push(frame(TrackKind::Video, true, 2));
        q.push(frame(TrackKind::Video, false, 3));
        let times: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|f| f.rtp_time).collect();
        assert_eq!(times, [1, 2, 3]);
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn overflow_drops_a_whole_gop_and_gates_until_the_next_key_frame() {
        let mut q = ViewerQueue::new(4, 1 << 20);
        q.push(frame(TrackKind::Video, true, 0));
        for t in 1..4 {
            q.push(frame(TrackKind::Video, false, t));
        }
        // The fifth frame passes the bound: the GOP goes, video is gated.
        q.push(frame(TrackKind::Video, false, 4));
        assert!(q.is_empty());
        q.push(frame(TrackKind::Video, false, 5));
        q.push(frame(TrackKind::Audio, true, 6));
        q.push(frame(TrackKind::Video, true, 7));
        let times: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|f| f.rtp_time).collect();
        assert_eq!(times, [6, 7]);
        assert_eq!(q.dropped(), 5);
    }

    #[test]
    fn audio_is_dropped_oldest_first_and_video_after_a_queued_key_frame_stays() {
        let mut q = ViewerQueue::new(3, 1 << 20);
        q.push(frame(TrackKind::Audio, true, 0));
        q.push(frame(TrackKind::Video, true, 1));
        q.push(frame(TrackKind::Audio, true, 2));
        q.push(frame(TrackKind::Video, false, 3));
        let times: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|f| f.rtp_time).collect();
        assert_eq!(times, [1, 2, 3]);
    }
}
