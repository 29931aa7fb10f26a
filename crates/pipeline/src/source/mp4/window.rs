//! Reading a plain MP4's samples in runs: a [`Window`] per track, and a [`Pool`] of the
//! buffers of earlier windows.

use std::collections::VecDeque;
use std::io::{Read, Seek};

use bytes::{Bytes, BytesMut};

use super::FileReader;
use crate::Error;

/// Bytes read ahead for one track's samples: one read serves the run of samples a chunk
/// holds (interleaved files keep each track's samples in runs), and the payloads are
/// slices of it. Before, each sample cost a seek, a zeroed buffer and a read: 9.5k system
/// calls for a 66 s 720p file.
#[derive(Default)]
pub(super) struct Window {
    start: u64,
    data: Bytes,
    /// Samples served from `data`.
    served: u32,
}

impl Window {
    /// Read at most this much ahead: a slice keeps its window alive until the sink wrote
    /// it, so windows in flight are bounded by the packet queue.
    const READ_AHEAD: u64 = 128 * 1024;

    pub(super) fn sample<R: Read + Seek>(
        &mut self,
        reader: &mut FileReader<R>,
        pool: &mut Pool,
        position: u64,
        size: usize,
    ) -> Result<Bytes, Error> {
        let end = self.start + self.data.len() as u64;
        if position >= self.start && position.saturating_add(size as u64) <= end {
            self.served += 1;
            let from = (position - self.start) as usize;
            return Ok(self.data.slice(from..from + size));
        }
        // A window that served one sample found no run: read just the sample, until the
        // track's samples follow each other again (a track spread thinly among others
        // must not pin a window per sample).
        let ahead = self.served != 1 || position == end;
        let available = reader.len.saturating_sub(position);
        let want = if ahead {
            (size as u64).max(Self::READ_AHEAD).min(available)
        } else {
            size as u64
        };
        let mut buf = pool.take(reader.fits(position, want)?);
        reader.read_exact_at(position, &mut buf)?;
        pool.give(std::mem::replace(&mut self.data, buf.freeze()));
        self.start = position;
        self.served = 1;
        Ok(self.data.slice(..size))
    }
}

/// The buffers of earlier windows, used again once the sink has written every packet
/// sliced from them: a fresh buffer is zeroed before the read fills it, a memset of
/// every byte read (9 % of a remux's CPU time).
#[derive(Default)]
pub(super) struct Pool {
    old: VecDeque<Bytes>,
}

impl Pool {
    /// Buffers kept (4 MiB of 128 KiB windows): besides the packets queued, a sink
    /// holds what it has not written yet (an HLS segment, 2 s of 720p video, and an
    /// audio window spans several segments); a pool smaller than that finds every
    /// buffer still in use.
    const KEPT: usize = 32;

    fn give(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.old.len() == Self::KEPT {
            // Forget one still in use rather than the oldest, which is the likeliest to
            // be free: paced in real time, the packets queued ahead hold most of the
            // windows (3 to 4 s of video), and dropping the free ones first made every
            // read land in fresh memory (a page fault per 4 KiB read).
            let in_use = self.old.iter().position(|b| !b.is_unique());
            self.old.remove(in_use.unwrap_or(0));
        }
        self.old.push_back(bytes);
    }

    /// A buffer of `size` bytes, whose contents the caller overwrites.
    fn take(&mut self, size: usize) -> BytesMut {
        for _ in 0..self.old.len() {
            let Some(bytes) = self.old.pop_front() else {
                break;
            };
            match bytes.try_into_mut() {
                Ok(mut buf) if buf.capacity() >= size => {
                    // Only bytes beyond what the buffer held before are zeroed.
                    buf.resize(size, 0);
                    return buf;
                }
                // Too small for this one (a key frame larger than a window), kept for
                // the next: freeing it emptied the pool at every such frame, and the
                // windows after it were read into fresh memory (page faults, 15 % of
                // a paced file's CPU).
                Ok(buf) => self.old.push_back(buf.freeze()),
                Err(shared) => self.old.push_back(shared),
            }
        }
        BytesMut::zeroed(size)
    }
}

#[cfg(test)]
mod tests {
    use super::Pool;
    use bytes::Bytes;

    #[test]
    fn a_buffer_comes_back_once_no_slice_of_it_is_left() {
        let mut pool = Pool::default();
        let first = pool.take(1000);
        let address = first.as_ptr();
        let bytes = first.freeze();
        let packet = bytes.slice(10..20);
        pool.give(bytes);
        // A packet still holds a slice: a new buffer.
        let second = pool.take(1000);
        assert_ne!(second.as_ptr(), address);
        assert_eq!(packet.len(), 10);
        drop(packet);
        // Written and dropped: the first buffer again, at the size asked.
        let third = pool.take(600);
        assert_eq!(third.as_ptr(), address);
        assert_eq!(third.len(), 600);
        pool.give(Bytes::from(third));
        assert_eq!(pool.take(1000).len(), 1000);
    }

    #[test]
    fn a_buffer_too_small_for_one_window_serves_the_next() {
        let mut pool = Pool::default();
        let small = pool.take(100);
        let address = small.as_ptr();
        pool.give(small.freeze());
        assert_ne!(pool.take(1000).as_ptr(), address);
        assert_eq!(pool.take(100).as_ptr(), address);
    }

    #[test]
    fn a_full_pool_forgets_a_buffer_in_use_before_a_free_one() {
        let mut pool = Pool::default();
        let free = pool.take(10).freeze();
        let address = free.as_ptr();
        pool.give(free);
        // Full of buffers in use, then one more: the free one stays.
        let mut held = Vec::new();
        for _ in 0..Pool::KEPT {
            let bytes = bytes::BytesMut::zeroed(10).freeze();
            held.push(bytes.slice(..1));
            pool.give(bytes);
        }
        assert_eq!(pool.old.len(), Pool::KEPT);
        assert_eq!(pool.take(10).as_ptr(), address);
    }
}
