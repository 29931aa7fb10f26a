//! The one box-writing primitive: ISO/IEC 14496-12 §4.2 (`Box` and `FullBox`).
//!
//! A box is opened with [`BoxWriter::begin`] (or [`BoxWriter::begin_full`] for a
//! `FullBox`), its body is appended, and [`BoxWriter::end`] back-patches the 32-bit size.
//! Boxes whose body can exceed 4 GiB (`mdat`) are not written here: their 64-bit
//! `largesize` header is built by [`mdat_header`].

use crate::{Error, Result};

/// A four-character code naming a box type.
pub type FourCc = [u8; 4];

/// The start of an open box, returned by [`BoxWriter::begin`] and consumed by
/// [`BoxWriter::end`].
#[derive(Debug)]
#[must_use = "an open box must be closed with BoxWriter::end"]
pub struct Mark {
    start: usize,
    fourcc: FourCc,
}

/// Appends boxes to a growing byte buffer, nesting with [`Mark`]s.
#[derive(Debug, Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Opens a plain box: writes a size placeholder and the type.
    pub fn begin(&mut self, fourcc: &FourCc) -> Mark {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(fourcc);
        Mark {
            start,
            fourcc: *fourcc,
        }
    }

    /// Opens a `FullBox`: like [`begin`](Self::begin), then version (8 bits) and flags
    /// (24 bits).
    pub fn begin_full(&mut self, fourcc: &FourCc, version: u8, flags: u32) -> Mark {
        let mark = self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        mark
    }

    /// Closes the box opened at `mark`, writing its size. Fails if it exceeds 32 bits.
    pub fn end(&mut self, mark: Mark) -> Result<()> {
        let size = self.buf.len() - mark.start;
        let size = u32::try_from(size).map_err(|_| Error::NotRepresentable {
            what: box_name(mark.fourcc),
            value: size as u128,
        })?;
        self.buf[mark.start..mark.start + 4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian 24-bit value (the low 24 bits of `v`).
    pub fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian i32.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    /// Appends a time or duration field: 64 bits when `version` is 1, else 32 bits.
    /// Callers pick the version with [`version_for`] so the value always fits.
    pub fn u32_or_u64(&mut self, version: u8, v: u64) {
        if version == 1 {
            self.u64(v);
        } else {
            self.u32(v as u32);
        }
    }
    /// Appends the unity transformation matrix (§8.3.2, `tkhd`/`mvhd`).
    pub fn unity_matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Overwrites 4 bytes at `at` (a field reserved earlier, e.g. a `trun` data offset).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    /// The written bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// The full-box version needed for 64-bit time fields: 1 only when a value does not fit
/// in 32 bits.
pub fn version_for(values: &[u64]) -> u8 {
    u8::from(values.iter().any(|&v| v > u64::from(u32::MAX)))
}

/// The header of an `mdat` box holding `payload` bytes: 8 bytes, or 16 with `largesize`
/// when the box exceeds 4 GiB.
pub fn mdat_header(payload: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    match u32::try_from(payload + 8) {
        Ok(size) => {
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        Err(_) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&(payload + 16).to_be_bytes());
        }
    }
    out
}

fn box_name(fourcc: FourCc) -> &'static str {
    match &fourcc {
        b"moov" => "moov box size",
        b"moof" => "moof box size",
        b"stsz" => "stsz box size",
        b"trak" => "trak box size",
        _ => "box size",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut w = BoxWriter::new();
        let outer = w.begin(b"moov");
        let inner = w.begin_full(b"mvhd", 1, 0x020001);
        w.u16(0xabcd);
        w.end(inner).unwrap();
        w.end(outer).unwrap();
        assert_eq!(
            w.into_vec(),
            [
                0, 0, 0, 22, b'm', b'o', b'o', b'v', 0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 2, 0,
                1, 0xab, 0xcd
            ]
        );
    }

    #[test]
    fn version_is_one_only_past_32_bits() {
        assert_eq!(version_for(&[0, u64::from(u32::MAX)]), 0);
        assert_eq!(version_for(&[u64::from(u32::MAX) + 1]), 1);
    }

    #[test]
    fn mdat_header_switches_to_largesize() {
        assert_eq!(mdat_header(10), [0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let big = mdat_header(u64::from(u32::MAX));
        assert_eq!(&big[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(big[8..].try_into().unwrap()),
            u64::from(u32::MAX) + 16
        );
    }
}
