//! Reading ahead of the frame walk over a slice.
//!
//! Walking from header to header is a chain of dependent loads (each header says where the
//! next one is), so on input that is not in cache every frame waits for memory (about
//! 90 ns on the bench machine). Safe Rust has no prefetch instruction, so plain byte reads
//! ahead of the walk stand in for one.
//!
//! Every `BATCH` frames, the walk reads one byte at each of the predicted header positions
//! `DIST..DIST + BATCH` frames ahead, predicted from the mean frame length of the last
//! `BATCH` frames (exact to a fraction of a byte per frame for CBR). The reads are
//! independent of each other and issued together, so their cache misses overlap (a demand
//! read blocks retirement until its line arrives: one read per frame kept only two or three
//! misses in flight and was slower). Only the lines holding headers are fetched, about one
//! in six for 128 kbit/s, where the previous read-ahead (one read per cache line so that
//! the hardware prefetcher streamed the whole input) was bound by memory bandwidth. For the
//! 57.6 MB bench file: 1.1–1.3 ms instead of 3.3 ms on a quiet machine, 1.5–3.5 ms while
//! other work loads the memory system (each batch still waits about one memory latency).
//! A wrong prediction (VBR, junk, tags) only costs the read: the walk then waits for memory
//! as it would without read-ahead.

/// Frames per batch of reads (and the span the mean frame length is taken over).
const BATCH: usize = 32;
/// How many frames ahead the first read of a batch is.
const DIST: usize = 64;

#[derive(Debug, Clone, Default)]
pub(crate) struct Prefetch {
    /// Frames taken since the last batch.
    count: usize,
    /// Where the walk was at the last batch.
    last: usize,
}

impl Prefetch {
    /// After taking a frame that ends at `next`.
    #[inline]
    pub(crate) fn after_frame(&mut self, data: &[u8], next: usize) {
        self.count += 1;
        if self.count >= BATCH {
            self.count = 0;
            self.batch(data, next);
        }
    }

    #[inline(never)]
    fn batch(&mut self, data: &[u8], next: usize) {
        // Bytes taken by the last BATCH frames (and whatever lay between them). The walk
        // only goes forward; wrapping arithmetic because a far-off guess is harmless.
        let span = next.wrapping_sub(self.last);
        self.last = next;
        let mut sum = 0u8;
        for k in DIST..DIST + BATCH {
            let at = next.wrapping_add(k.wrapping_mul(span) / BATCH);
            sum ^= data.get(at).copied().unwrap_or(0);
        }
        std::hint::black_box(sum);
    }
}
