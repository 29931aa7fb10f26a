//! The readers between the file and matroska-demuxer: one that turns live recorders'
//! unknown cluster sizes into sizes it reads, and one that stops it looping.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The demuxer may read each byte of the file this many times (its index, then its
/// clusters; a seek counts as a byte) before reading is refused as a loop:
/// matroska-demuxer 0.8.1 seeks back to the same place forever when a Segment begins
/// with a CRC-32 element (found by our fuzzer).
pub(super) const BUDGET_TIMES: u64 = 8;

/// A reader that refuses to read more than [`BUDGET_TIMES`] the file (plus 1 MiB), and
/// says so in `spent`.
pub(super) struct Budget<R> {
    inner: R,
    left: u64,
    pub(super) spent: Arc<AtomicBool>,
}

impl<R> Budget<R> {
    pub(super) fn new(inner: R, len: u64) -> Budget<R> {
        Budget {
            inner,
            left: len.saturating_mul(BUDGET_TIMES).saturating_add(1 << 20),
            spent: Arc::new(AtomicBool::new(false)),
        }
    }

    fn charge(&mut self, n: u64) -> std::io::Result<()> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.spent.store(true, Ordering::Relaxed);
                Err(std::io::Error::other("read budget spent"))
            }
        }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.charge(n as u64)?;
        Ok(n)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.charge(1)?;
        self.inner.seek(pos)
    }
}

/// A Cluster's ID and an 8-byte "unknown" size (EBML: all value bits set), as Chromium's
/// MediaRecorder and ffmpeg's live WebM write it.
const UNKNOWN_CLUSTER: [u8; 12] = [
    0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// matroska-demuxer 0.8.1 knows only the 1-byte unknown size (`0xFF`): it reads the
/// 8-byte one as 2^56 − 1 bytes and finds no cluster ("can't find the first cluster
/// element"), so no browser recording opened. This buffered reader gives such a Cluster
/// the size that reaches the end of the file (same length, so no offset moves); the
/// demuxer walks clusters one after the other and enters the next one where it begins.
/// It buffers itself (the demuxer reads a byte at a time) and holds back the last 11
/// bytes of what it has until more comes, so a header cut by a read is still seen.
pub(super) struct LiveSizes<R> {
    inner: R,
    len: u64,
    buf: Vec<u8>,
    /// The file offset of `buf[0]`.
    base: u64,
    start: usize,
    end: usize,
    eof: bool,
}

/// The buffer's size.
const BUFFER: usize = 64 * 1024;

impl<R: Read + Seek> LiveSizes<R> {
    pub(super) fn new(inner: R, len: u64) -> LiveSizes<R> {
        LiveSizes {
            inner,
            len,
            // Room for a whole header at least; no more than the file needs.
            buf: vec![0; usize::try_from(len).unwrap_or(BUFFER).clamp(64, BUFFER)],
            base: 0,
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Bytes ready to hand out: all at the end of the file, else all but what may be the
    /// beginning of a cluster header.
    fn ready(&self) -> usize {
        if self.eof {
            self.end - self.start
        } else {
            (self.end - self.start).saturating_sub(UNKNOWN_CLUSTER.len() - 1)
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        while self.ready() == 0 && !self.eof {
            let n = self.inner.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
        // A patched header no longer matches, so the whole buffer can be scanned again.
        // memchr's SIMD search: a byte-by-byte window compare took 60 % of a remux.
        let found: Vec<usize> =
            memchr::memmem::find_iter(&self.buf[..self.end], &UNKNOWN_CLUSTER).collect();
        for at in found {
            let body = self.base + (at + UNKNOWN_CLUSTER.len()) as u64;
            let size = self.len.saturating_sub(body).min((1 << 56) - 2);
            self.buf[at + 4] = 0x01;
            self.buf[at + 5..at + 12].copy_from_slice(&size.to_be_bytes()[1..]);
        }
        Ok(())
    }
}

impl<R: Read + Seek> Read for LiveSizes<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.ready() == 0 {
            self.fill()?;
        }
        let n = self.ready().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for LiveSizes<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let here = self.base + self.start as u64;
        let target = match pos {
            SeekFrom::Start(t) => Some(t),
            SeekFrom::Current(d) => here.checked_add_signed(d),
            SeekFrom::End(_) => None,
        };
        // Within the buffer (the demuxer asks its position all the time): no I/O.
        if let Some(t) = target
            && t >= self.base
            && t <= self.base + self.end as u64
        {
            self.start = (t - self.base) as usize;
            return Ok(t);
        }
        let at = match target {
            Some(t) => self.inner.seek(SeekFrom::Start(t))?,
            None => self.inner.seek(pos)?,
        };
        (self.base, self.start, self.end, self.eof) = (at, 0, 0, false);
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_reader_over_budget_fails_and_says_so() {
        let mut r = Budget::new(Cursor::new(vec![0u8; 10]), 10);
        let mut buf = [0u8; 10];
        let mut reads = 0;
        while r.read(&mut buf).is_ok() {
            r.seek(SeekFrom::Start(0)).ok();
            reads += 1;
            assert!(reads < 1_000_000);
        }
        assert!(r.spent.load(Ordering::Relaxed));
    }

    /// Reads `data` through `LiveSizes` in reads of `chunk` bytes.
    fn through(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut r = LiveSizes::new(Cursor::new(data.to_vec()), data.len() as u64);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn unknown_cluster_sizes_become_the_rest_of_the_file() {
        let mut data = vec![0xAA; 5];
        data.extend(UNKNOWN_CLUSTER);
        data.extend([0xE7, 0x81, 0x00]);
        data.extend(UNKNOWN_CLUSTER);
        data.extend([0xE7, 0x81, 0x28, 0x00]);
        for chunk in [1, 3, 7, 11, 12, 13, 64] {
            let out = through(&data, chunk);
            assert_eq!(out.len(), data.len(), "chunk {chunk}");
            // The first: 3 + 12 + 4 bytes follow its header; the second: 4.
            assert_eq!(out[9..17], [0x01, 0, 0, 0, 0, 0, 0, 19], "chunk {chunk}");
            assert_eq!(out[24..32], [0x01, 0, 0, 0, 0, 0, 0, 4], "chunk {chunk}");
            assert_eq!(out[..9], data[..9]);
        }
    }

    #[test]
    fn other_bytes_pass_unchanged() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        assert_eq!(through(&data, 100), data);
    }
}
