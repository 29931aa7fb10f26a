//! The receive buffer's memory, reused.
//!
//! Frames are cut from the receive buffer without a copy, so a read's block stays shared
//! while any of its chunks waits in a reader's queue. Growing a shared `BytesMut` (what
//! `reserve` does) takes fresh memory every time: on a 1 GiB stream that was one new
//! 128 KiB block per read, each page of it faulted in (680 000 page faults in 3.7 s on a
//! current-thread runtime) and cold in the cache for the copy the socket makes. Here a
//! block whose frames were all dropped is taken again (`BytesMut::try_reclaim`), so the
//! same few blocks stay warm.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Room made in the receive buffer before each read (half of it at least).
pub(super) const READ_SIZE: usize = 128 * 1024;

/// Blocks kept for reuse: enough for the chunks a reader may hold (16 of 15 000 bytes
/// by default, about two blocks) with margin; more would only hold memory.
const SPARE: usize = 8;

/// Blocks given up by the receive buffer, waiting for their frames to be dropped.
#[derive(Default)]
pub(super) struct Blocks {
    spare: VecDeque<BytesMut>,
}

impl Blocks {
    /// Makes room in `buf` for the rest of the frame at its head and for a read of at least
    /// half [`READ_SIZE`], moving the partial frame (the only bytes `buf` holds when it
    /// has no whole frame) to a reused block when `buf` itself cannot grow in place. Does
    /// nothing while a whole frame waits (it is decoded first) or when the frame's
    /// announced length is over `max_frame_size` (the decoder refuses it).
    pub(super) fn make_room(&mut self, buf: &mut BytesMut, max_frame_size: usize) {
        let frame = buf
            .get(..4)
            .map(|p| 4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize);
        if let Some(len) = frame
            && (buf.len() >= len || len > max_frame_size + 4)
        {
            return;
        }
        let need = frame.unwrap_or(0).max(buf.len() + READ_SIZE / 2);
        if buf.capacity() >= need || buf.try_reclaim(need - buf.len()) {
            return;
        }
        let reusable = self.spare.iter_mut().position(|b| b.try_reclaim(need));
        let mut block = match reusable.and_then(|i| self.spare.remove(i)) {
            Some(block) => block,
            None => BytesMut::with_capacity(need.max(READ_SIZE)),
        };
        block.extend_from_slice(buf);
        let mut old = std::mem::replace(buf, block);
        old.clear();
        if self.spare.len() == SPARE {
            self.spare.pop_front();
        }
        self.spare.push_back(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Vec<u8> {
        let mut f = (len as u32).to_be_bytes().to_vec();
        f.resize(4 + len, 7);
        f
    }

    #[test]
    fn a_block_is_reused_once_its_frames_are_dropped() {
        let mut blocks = Blocks::default();
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        buf.extend_from_slice(&vec![1; READ_SIZE - 100]);
        let held = buf.split().freeze(); // a frame a reader still holds
        buf.extend_from_slice(&frame(1000)[..50]); // a partial frame
        let first = buf.as_ptr();
        blocks.make_room(&mut buf, 1 << 20);
        assert_eq!(
            &buf[..],
            &frame(1000)[..50],
            "the partial frame moved whole"
        );
        assert!(buf.capacity() >= READ_SIZE / 2);
        let second = buf.as_ptr();
        assert_ne!(first, second);
        // The new block fills up and is shared too; the first block's frames are gone.
        drop(held);
        buf.clear();
        buf.extend_from_slice(&vec![2; buf.capacity() - 10]);
        let _held_again = buf.split().freeze();
        blocks.make_room(&mut buf, 1 << 20);
        assert_eq!(
            buf.as_ptr(),
            first.wrapping_sub(READ_SIZE - 100),
            "the first block's memory was taken again from its start"
        );
    }

    #[test]
    fn whole_frames_and_oversized_frames_are_left_alone() {
        let mut blocks = Blocks::default();
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&frame(20));
        let before = (buf.as_ptr(), buf.capacity());
        blocks.make_room(&mut buf, 1 << 20);
        assert_eq!(
            (buf.as_ptr(), buf.capacity()),
            before,
            "a whole frame waits"
        );
        let mut huge = BytesMut::new();
        huge.extend_from_slice(&(u32::MAX).to_be_bytes());
        blocks.make_room(&mut huge, 1 << 20);
        assert!(
            huge.capacity() < READ_SIZE,
            "no room made for a refused frame"
        );
    }

    #[test]
    fn spare_blocks_are_bounded() {
        let mut blocks = Blocks::default();
        let mut held = Vec::new();
        let mut buf = BytesMut::new();
        for _ in 0..3 * SPARE {
            buf.extend_from_slice(&vec![0; buf.capacity().max(1)]);
            held.push(buf.split().freeze());
            blocks.make_room(&mut buf, 1 << 20);
            assert!(buf.capacity() >= READ_SIZE / 2);
        }
        assert_eq!(blocks.spare.len(), SPARE);
    }
}
