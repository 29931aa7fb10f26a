//! Decode times for a video track whose container gives presentation times only
//! (Matroska blocks: ISO/IEC 14496-15 decode order, presentation timestamps). The n-th
//! decode time is the n-th smallest presentation time, less a constant delay: the
//! largest amount by which that rank runs ahead of a frame's own time in the first
//! window. I(0) P(3) B(1) B(2) gives decode times −1, 0, 1, 2 (in frames), as ffmpeg's
//! remux of such a file does. Frames without reordering come out with decode time equal
//! to presentation time.
//!
//! At most [`WINDOW`] + 1 frames are held (H.264 and H.265 reorder at most 16 pictures).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Frames looked ahead for the smallest presentation time still to come.
pub(super) const WINDOW: usize = 16;

/// Frames of one track in decode order, with their presentation times; out with decode
/// times.
#[derive(Debug)]
pub(super) struct Reorder<T> {
    queue: VecDeque<(i64, T)>,
    /// Presentation times not yet used as a decode time.
    times: BinaryHeap<Reverse<i64>>,
    /// Learnt from the first window; `None` before.
    delay: Option<i64>,
    last: Option<i64>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            queue: VecDeque::new(),
            times: BinaryHeap::new(),
            delay: None,
            last: None,
        }
    }
}

impl<T> Reorder<T> {
    /// Takes a frame presented at `pts`; gives the frames whose decode time is known, as
    /// (decode time, presentation time, frame).
    pub(super) fn push(&mut self, pts: i64, frame: T) -> Vec<(i64, i64, T)> {
        self.queue.push_back((pts, frame));
        self.times.push(Reverse(pts));
        let mut out = Vec::new();
        while self.queue.len() > WINDOW {
            self.pop(&mut out);
        }
        out
    }

    /// The frames still held.
    pub(super) fn finish(&mut self) -> Vec<(i64, i64, T)> {
        let mut out = Vec::new();
        while !self.queue.is_empty() {
            self.pop(&mut out);
        }
        out
    }

    fn pop(&mut self, out: &mut Vec<(i64, i64, T)>) {
        let delay = *self.delay.get_or_insert_with(|| {
            let mut sorted: Vec<i64> = self.queue.iter().map(|(p, _)| *p).collect();
            sorted.sort_unstable();
            self.queue
                .iter()
                .zip(&sorted)
                .map(|((pts, _), rank)| rank.saturating_sub(*pts))
                .max()
                .unwrap_or(0)
                .max(0)
        });
        let Some((pts, frame)) = self.queue.pop_front() else {
            return;
        };
        let Some(Reverse(rank)) = self.times.pop() else {
            return;
        };
        let mut dts = rank.saturating_sub(delay);
        // Deeper reordering than the first window showed (or a time going back): decode
        // times still only go forward.
        if let Some(last) = self.last
            && dts <= last
        {
            dts = last.saturating_add(1);
        }
        self.last = Some(dts);
        out.push((dts, pts, frame));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pts: &[i64]) -> Vec<(i64, i64)> {
        let mut r = Reorder::default();
        let mut out: Vec<(i64, i64)> = Vec::new();
        for (i, p) in pts.iter().enumerate() {
            out.extend(r.push(*p, i).into_iter().map(|(d, p, _)| (d, p)));
        }
        out.extend(r.finish().into_iter().map(|(d, p, _)| (d, p)));
        out
    }

    #[test]
    fn b_frames_decode_a_frame_early() {
        // I P B B P B B (one B-frame pyramid level), 40 ms frames.
        let pts = [0, 120, 40, 80, 240, 160, 200];
        let out = run(&pts);
        let dts: Vec<i64> = out.iter().map(|(d, _)| *d).collect();
        assert_eq!(dts, [-40, 0, 40, 80, 120, 160, 200]);
        assert!(out.iter().all(|(d, p)| d <= p));
    }

    #[test]
    fn frames_in_order_keep_their_times() {
        let pts: Vec<i64> = (0..40).map(|i| i * 33).collect();
        let out = run(&pts);
        assert!(out.iter().all(|(d, p)| d == p));
        assert_eq!(out.len(), 40);
    }

    #[test]
    fn a_long_stream_is_held_to_the_window() {
        let mut r = Reorder::default();
        for i in 0..1000 {
            r.push(i * 40, ());
            assert!(r.queue.len() <= WINDOW);
        }
        assert_eq!(r.finish().len(), WINDOW);
    }

    #[test]
    fn times_going_back_still_give_rising_decode_times() {
        let pts = [0, 40, 80, 0, 40, 80, -1000, 5];
        let out = run(&pts);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "{out:?}");
    }
}
