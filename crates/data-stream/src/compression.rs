//! Raw DEFLATE (RFC 1951, no zlib or gzip wrapper) of data streams v2, on `flate2`.
//!
//! LiveKit's v2 (`DataStream.Header.compression = DEFLATE_RAW`, field 12 of
//! `livekit_models.proto`; client-sdk-js `src/room/data-stream/compression.ts` and
//! `constants.ts`): one deflate context spans the whole stream. The receiver concatenates
//! the chunk contents in `chunk_index` order (or takes the header's `inline_content`) and
//! inflates them through one decompressor; the sender ends the deflate stream with a final
//! block before the trailer. `total_length` is the size *before* compression.
//!
//! [`Inflater`] gives output in pieces of a bounded size, so a small compressed input that
//! inflates to gigabytes (a deflate bomb) never sits in memory at once: the demultiplexer
//! asks for one piece at a time and checks the running length against the stream's limits.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// A streaming raw-deflate decompressor giving bounded pieces.
pub struct Inflater {
    inner: Decompress,
    finished: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            inner: Decompress::new(false),
            finished: false,
        }
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("total_in", &self.inner.total_in())
            .field("total_out", &self.inner.total_out())
            .field("finished", &self.finished)
            .finish()
    }
}

impl Inflater {
    /// Inflates from `input` into at most `max_out` (at least 1) new bytes. Returns how many
    /// input bytes were consumed and the output; both are 0/empty when more input is needed
    /// or the deflate stream is finished. `Err` describes corrupt input, or input after the
    /// final block.
    pub fn inflate(&mut self, input: &[u8], max_out: usize) -> Result<(usize, Bytes), String> {
        if self.finished {
            return match input.is_empty() {
                true => Ok((0, Bytes::new())),
                false => Err(format!(
                    "{} bytes after the end of the deflate stream",
                    input.len()
                )),
            };
        }
        let mut out = Vec::with_capacity(max_out.max(1));
        let before_in = self.inner.total_in();
        let status = self
            .inner
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| format!("corrupt deflate data: {e}"))?;
        let consumed = (self.inner.total_in() - before_in) as usize;
        if status == Status::StreamEnd {
            self.finished = true;
        }
        Ok((consumed, Bytes::from(out)))
    }

    /// Whether the final deflate block was read.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Compressed bytes read so far.
    pub fn total_in(&self) -> u64 {
        self.inner.total_in()
    }
}

/// A streaming raw-deflate compressor: feed pieces, then finish.
pub struct Deflater {
    inner: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater {
            inner: Compress::new(Compression::default(), false),
        }
    }
}

impl Deflater {
    /// Compresses `input`, appending what deflate emits so far to `out`; with `finish`,
    /// ends the deflate stream with its final block.
    pub fn compress(&mut self, mut input: &[u8], finish: bool, out: &mut Vec<u8>) {
        let flush = match finish {
            true => FlushCompress::Finish,
            false => FlushCompress::None,
        };
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(input.len() / 2 + 8192);
            }
            let before_in = self.inner.total_in();
            // Writing into a Vec's spare capacity cannot fail for raw deflate: errors only
            // come from invalid flush sequences, which this loop never makes.
            let status = self.inner.compress_vec(input, out, flush);
            input = &input[(self.inner.total_in() - before_in) as usize..];
            // A full buffer may hide more output: go round again to drain it.
            let full = out.len() == out.capacity();
            match status {
                Ok(Status::StreamEnd) | Err(_) => return,
                Ok(_) if !finish && input.is_empty() && !full => return,
                Ok(_) => {}
            }
        }
    }
}

/// Compresses `data` in one go (raw deflate, final block included).
pub fn deflate_raw(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    Deflater::default().compress(data, true, &mut out);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(data: &[u8], piece: usize) -> Result<Vec<u8>, String> {
        let mut inflater = Inflater::default();
        let mut rest = data;
        let mut out = Vec::new();
        loop {
            let (consumed, bytes) = inflater.inflate(rest, piece)?;
            rest = &rest[consumed..];
            out.extend_from_slice(&bytes);
            if consumed == 0 && bytes.is_empty() {
                break;
            }
        }
        assert!(inflater.is_finished(), "deflate stream not finished");
        Ok(out)
    }

    #[test]
    fn round_trip_through_small_pieces() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let compressed = deflate_raw(&data);
        assert!(compressed.len() < data.len() / 10);
        assert_eq!(inflate_all(&compressed, 1000).unwrap(), data);
        // The streaming compressor in uneven pieces gives a stream flate2's reader inflates.
        let mut deflater = Deflater::default();
        let mut out = Vec::new();
        for piece in data.chunks(7_777) {
            deflater.compress(piece, false, &mut out);
        }
        deflater.compress(&[], true, &mut out);
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::DeflateDecoder::new(&out[..]),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, data);
    }

    #[test]
    fn bytes_after_the_final_block_and_garbage_are_errors() {
        let mut compressed = deflate_raw(b"hello").to_vec();
        compressed.extend_from_slice(b"junk");
        assert!(inflate_all(&compressed, 100).is_err());
        assert!(inflate_all(&[0xff; 16], 100).is_err());
    }

    #[test]
    fn a_bomb_comes_out_in_bounded_pieces() {
        let compressed = deflate_raw(&vec![0u8; 10_000_000]);
        assert!(compressed.len() < 20_000);
        let mut inflater = Inflater::default();
        let (_, piece) = inflater.inflate(&compressed, 65_536).unwrap();
        assert!(piece.len() <= 65_536 && !piece.is_empty());
    }
}
