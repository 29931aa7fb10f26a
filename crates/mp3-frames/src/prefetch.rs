//! Reading ahead of the frame walk over a slice.
//!
//! Walking from header to header is a chain of dependent loads (each header says where the
//! next one is), so on input that is not in cache every frame waits for memory (about
//! 90 ns on the bench machine). Safe Rust has no prefetch instruction, so plain byte reads
//! ahead of the walk stand in for one.
//!
//! Every `BATCH` frames, the walk reads one byte at each of the predicted header positions
//! `DIST..DIST + BATCH` frames ahead, predicted from the mean frame length of the last
//! `BATCH` frames (exact to a fraction of a byte per frame for CBR). With `DIST == BATCH`
//! each batch covers the next frames the previous one did not. The hardware prefetcher
//! already streams a forward walk (57.6 MB in about 2.0–2.9 ms here with no read-ahead);
//! the reads keep the few header lines just ahead in flight, which halves that (0.70–0.85
//! ms, about 5 ns per frame: as fast as the walk over input already in cache). Measured
//! on the bench file, interleaved in one process, over several minutes: 4/4 was best in
//! every round; batches of 32 frames 64 ahead (the previous setting) were 25–40% slower,
//! because each batch's demand reads block retirement for about one memory latency, and
//! one read per frame (1/4) was slower still. A wrong prediction (VBR, junk, tags) only
//! costs the read.

/// Frames per batch of reads (and the span the mean frame length is taken over).
const BATCH: usize = 4;
/// How many frames ahead the first read of a batch is.
const DIST: usize = 4;

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

    #[inline]
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
