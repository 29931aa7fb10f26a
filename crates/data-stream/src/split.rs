//! Splitting content into chunks, and checking UTF-8 across chunk boundaries.
//!
//! Text is split on code-point boundaries, as LiveKit's SDKs do (a cut is moved back over
//! continuation bytes `10xxxxxx`), so each chunk is valid UTF-8 on its own. A chunk size
//! under 4 cannot hold every code point and is refused (LiveKit's Python helper loops
//! forever there). The receiver does not rely on senders doing this: [`Utf8Validator`]
//! decodes across chunk boundaries.

use bytes::Bytes;

use crate::{Error, Result};

/// LiveKit's chunk size, in every SDK.
pub const DEFAULT_CHUNK_SIZE: usize = 15_000;

/// Splits `data` into slices of at most `size` bytes (no copy). Empty data gives none.
pub fn split_bytes(data: Bytes, size: usize) -> impl Iterator<Item = Bytes> {
    let size = size.max(1);
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = size.min(rest.len());
        Some(rest.split_to(n))
    })
}

/// Splits UTF-8 `text` into slices of at most `size` bytes, each ending on a code-point
/// boundary (no copy). `size` must be at least 4. Empty text gives no chunk.
pub fn split_text(text: Bytes, size: usize) -> Result<impl Iterator<Item = Bytes>> {
    if size < 4 {
        return Err(Error::ChunkSizeTooSmall(size));
    }
    let mut rest = text;
    Ok(std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = size.min(rest.len());
        // Step back over continuation bytes; a lead byte is at most 3 back.
        while n < rest.len() && n > 0 && (rest[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        if n == 0 {
            // Not UTF-8 (more than 3 continuation bytes in a row): cut at `size`.
            n = size.min(rest.len());
        }
        Some(rest.split_to(n))
    }))
}

/// Checks that a sequence of chunks is UTF-8 as a whole; a code point may straddle chunks.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
    /// Content offset of the next byte pushed.
    offset: u64,
}

impl Utf8Validator {
    /// Checks the next chunk; on error, returns the content offset of the invalid sequence.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), u64> {
        let mut rest = chunk;
        if self.pending_len > 0 {
            let start = self.offset - self.pending_len as u64;
            let width = utf8_width(self.pending[0]).ok_or(start)?;
            let take = (width - self.pending_len).min(rest.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&rest[..take]);
            self.pending_len += take;
            self.offset += take as u64;
            rest = &rest[take..];
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                // A valid prefix of a code point: wait for its next bytes.
                Err(e) if e.error_len().is_none() && rest.is_empty() => return Ok(()),
                Err(_) => return Err(start),
            }
        }
        match std::str::from_utf8(rest) {
            Ok(_) => self.offset += rest.len() as u64,
            Err(e) if e.error_len().is_none() => {
                // Incomplete code point at the end: keep it for the next chunk.
                let tail = &rest[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                self.offset += rest.len() as u64;
            }
            Err(e) => return Err(self.offset + e.valid_up_to() as u64),
        }
        Ok(())
    }

    /// At the end of the stream: an error if a code point was left unfinished.
    pub fn finish(&self) -> Result<(), u64> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(self.offset - self.pending_len as u64)
        }
    }
}

fn utf8_width(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_chunks(s: &str, size: usize) -> Vec<String> {
        split_text(Bytes::copy_from_slice(s.as_bytes()), size)
            .unwrap()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn livekit_split_vectors() {
        // client-sdk-js src/room/utils.test.ts and DATA_STREAMS_SPEC.md.
        assert_eq!(text_chunks("a😊b", 4), ["a", "😊", "b"]);
        assert_eq!(text_chunks("héllo wörld", 5), ["héll", "o wö", "rld"]);
        assert_eq!(
            text_chunks("こんにちは世界", 5),
            ["こ", "ん", "に", "ち", "は", "世", "界"]
        );
        assert_eq!(text_chunks("Hello 👋", 4), ["Hell", "o ", "👋"]);
        assert!(text_chunks("", 4).is_empty());
        assert!(matches!(
            split_text(Bytes::new(), 3),
            Err(Error::ChunkSizeTooSmall(3))
        ));
    }

    #[test]
    fn forty_thousand_bytes_make_three_chunks() {
        let sizes: Vec<usize> = split_bytes(Bytes::from(vec![b'A'; 40_000]), DEFAULT_CHUNK_SIZE)
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, [15_000, 15_000, 10_000]);
    }

    #[test]
    fn validator_accepts_code_points_split_anywhere() {
        let text = "a😊é€z".as_bytes();
        for cut1 in 0..=text.len() {
            for cut2 in cut1..=text.len() {
                let mut v = Utf8Validator::default();
                v.push(&text[..cut1]).unwrap();
                v.push(&text[cut1..cut2]).unwrap();
                v.push(&text[cut2..]).unwrap();
                v.finish().unwrap();
            }
        }
    }

    #[test]
    fn validator_reports_offsets() {
        let mut v = Utf8Validator::default();
        v.push(b"ab").unwrap();
        assert_eq!(v.push(b"c\xffd"), Err(3));
        let mut v = Utf8Validator::default();
        v.push(b"ab\xf0\x9f").unwrap();
        assert_eq!(v.finish(), Err(2));
        let mut v = Utf8Validator::default();
        v.push(b"ab\xe2").unwrap();
        assert_eq!(v.push(b"\x28"), Err(2));
    }
}
