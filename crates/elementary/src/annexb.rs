//! Annex B byte streams in: start codes (ITU-T H.264 Annex B, H.265 Annex B) split the
//! stream into NAL units, and NAL units are grouped into access units (H.264 §7.4.1.2.3,
//! H.265 §7.4.2.4.4): a new access unit starts at an access unit delimiter, a parameter
//! set, a prefix SEI, or the first slice of a new picture.
//!
//! Sans-I/O: [`AnnexBReader::push`] takes bytes as they come (any chunking), and
//! [`AnnexBReader::pull`] gives complete access units; [`AnnexBReader::finish`] says the
//! stream ended. NAL units are slices of the pushed bytes when a chunk holds them whole
//! (copied only when one spans two chunks). Never panics on any input.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Which codec the byte stream carries (the NAL header differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoCodec {
    /// ITU-T H.264: one-byte NAL header, type in the low 5 bits.
    H264,
    /// ITU-T H.265: two-byte NAL header, type in bits 1..7 of the first byte.
    H265,
}

impl VideoCodec {
    /// The NAL unit type of `nal` (header included), `None` when it is too short.
    pub fn nal_type(self, nal: &[u8]) -> Option<u8> {
        match self {
            VideoCodec::H264 => nal.first().map(|b| b & 0x1F),
            VideoCodec::H265 => (nal.len() >= 2).then(|| (nal[0] >> 1) & 0x3F),
        }
    }

    /// Whether `nal` is a slice of a random access picture: H.264 IDR (type 5), H.265
    /// IRAP (types 16 to 23).
    pub fn is_key(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(5)) => true,
            (VideoCodec::H265, Some(t)) => (16..=23).contains(&t),
            _ => false,
        }
    }

    /// Whether `nal` is a slice (video coding layer) NAL unit.
    pub fn is_slice(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(t)) => (1..=5).contains(&t),
            (VideoCodec::H265, Some(t)) => t <= 31,
            _ => false,
        }
    }

    /// Whether `nal` is a parameter set: H.264 SPS/PPS (7, 8), H.265 VPS/SPS/PPS (32 to 34).
    pub fn is_parameter_set(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(t)) => t == 7 || t == 8,
            (VideoCodec::H265, Some(t)) => (32..=34).contains(&t),
            _ => false,
        }
    }

    /// Whether `nal` can only come first in an access unit (before its first slice):
    /// delimiters, parameter sets, SEI and the reserved types the standards list there.
    fn starts_unit_before_slice(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            // AUD 9, SEI 6, SPS 7, PPS 8, 14..=18 (prefix NAL, subset SPS, reserved).
            (VideoCodec::H264, Some(t)) => matches!(t, 6..=9 | 14..=18),
            // VPS 32, SPS 33, PPS 34, AUD 35, prefix SEI 39, 41..=44, 48..=55.
            (VideoCodec::H265, Some(t)) => matches!(t, 32..=35 | 39 | 41..=44 | 48..=55),
            _ => false,
        }
    }

    /// Whether a slice NAL unit is the first of its picture: H.264 `first_mb_in_slice`
    /// is 0 (its ue(v) code is the single bit 1), H.265 `first_slice_segment_in_pic_flag`.
    fn first_slice_of_picture(self, nal: &[u8]) -> bool {
        match self {
            VideoCodec::H264 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
            VideoCodec::H265 => nal.get(2).is_some_and(|b| b & 0x80 != 0),
        }
    }
}

/// One access unit: the NAL units of one picture (without start codes), in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AccessUnit {
    /// The NAL units, header included, without start codes.
    pub nals: Vec<Bytes>,
    /// Whether it holds a random access picture (IDR, IRAP).
    pub key: bool,
    /// Byte offset of its first start code in the stream.
    pub offset: u64,
}

impl AccessUnit {
    /// The access unit as a length-prefixed sample (4-byte big-endian lengths, ISO/IEC
    /// 14496-15 §5.3.2), as MP4 and the contract carry it; `None` if a NAL unit is
    /// 4 GiB or more.
    pub fn to_length_prefixed(&self) -> Option<Bytes> {
        let total: usize = self.nals.iter().map(|n| n.len() + 4).sum();
        let mut out = BytesMut::with_capacity(total);
        for nal in &self.nals {
            out.extend_from_slice(&u32::try_from(nal.len()).ok()?.to_be_bytes());
            out.extend_from_slice(nal);
        }
        Some(out.freeze())
    }
}

/// Splits an Annex B byte stream into NAL units and access units (see the module docs).
#[derive(Debug)]
pub struct AnnexBReader {
    codec: VideoCodec,
    /// Bytes not yet split: from the start of the NAL unit in progress.
    pending: BytesMut,
    /// Stream offset of `pending[0]`.
    pending_at: u64,
    /// Where the scan for the next start code resumes in `pending`.
    scanned: usize,
    /// Whether `pending` starts inside a NAL unit (a start code was seen).
    in_nal: bool,
    /// The access unit being gathered, with whether it has a slice yet.
    current: AccessUnit,
    has_slice: bool,
    ready: VecDeque<AccessUnit>,
    /// Bytes before the first start code (junk), reported once.
    skipped: u64,
}

impl AnnexBReader {
    /// A reader of `codec` NAL units.
    pub fn new(codec: VideoCodec) -> Self {
        AnnexBReader {
            codec,
            pending: BytesMut::new(),
            pending_at: 0,
            scanned: 0,
            in_nal: false,
            current: AccessUnit::default(),
            has_slice: false,
            ready: VecDeque::new(),
            skipped: 0,
        }
    }

    /// Bytes before the first start code, which are not NAL units and were skipped.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Takes the next bytes of the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        self.split(false);
    }

    /// The stream ended: the last NAL unit and access unit are complete.
    pub fn finish(&mut self) {
        self.split(true);
        if !self.current.nals.is_empty() {
            let unit = std::mem::take(&mut self.current);
            self.ready.push_back(unit);
        }
        self.has_slice = false;
    }

    /// The next complete access unit.
    pub fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    /// Cuts NAL units at every start code found in `pending`; with `end`, the rest too.
    fn split(&mut self, end: bool) {
        loop {
            match find_start_code(&self.pending, self.scanned) {
                Some((at, len)) => {
                    let head = self.pending.split_to(at).freeze();
                    let _ = self.pending.split_to(len);
                    let head_at = self.pending_at;
                    self.pending_at += (at + len) as u64;
                    self.scanned = 0;
                    if self.in_nal {
                        self.nal(trim_trailing_zeros(head), head_at);
                    } else {
                        self.skipped += head.len() as u64;
                    }
                    self.in_nal = true;
                }
                None => {
                    // A start code may straddle the next chunk: rescan the last 3 bytes.
                    self.scanned = self.pending.len().saturating_sub(3);
                    break;
                }
            }
        }
        if end {
            let rest = std::mem::take(&mut self.pending).freeze();
            let at = self.pending_at;
            self.pending_at += rest.len() as u64;
            self.scanned = 0;
            if self.in_nal {
                self.nal(trim_trailing_zeros(rest), at);
            } else {
                self.skipped += rest.len() as u64;
            }
            self.in_nal = false;
        }
    }

    fn nal(&mut self, nal: Bytes, at: u64) {
        if nal.is_empty() {
            return;
        }
        let codec = self.codec;
        let starts_new = if codec.is_slice(&nal) {
            self.has_slice && codec.first_slice_of_picture(&nal)
        } else {
            self.has_slice && codec.starts_unit_before_slice(&nal)
        };
        if starts_new {
            let unit = std::mem::take(&mut self.current);
            self.ready.push_back(unit);
            self.has_slice = false;
        }
        if self.current.nals.is_empty() {
            self.current.offset = at.saturating_sub(3);
        }
        if codec.is_slice(&nal) {
            self.has_slice = true;
            self.current.key |= codec.is_key(&nal);
        }
        self.current.nals.push(nal);
    }
}

/// The next start code `00 00 01` at or after `from`: its position and length (a
/// 4-byte start code's leading zero is trimmed with the previous NAL unit's trailing
/// zeros).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i + 2] > 1 {
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some((i, 3));
        } else {
            i += 1;
        }
    }
    None
}

/// Zero bytes before a start code belong to no NAL unit (`trailing_zero_8bits`).
fn trim_trailing_zeros(mut nal: Bytes) -> Bytes {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    nal.truncate(end);
    nal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(codec: VideoCodec, stream: &[u8], chunk: usize) -> Vec<AccessUnit> {
        let mut r = AnnexBReader::new(codec);
        for c in stream.chunks(chunk.max(1)) {
            r.push(c);
        }
        r.finish();
        std::iter::from_fn(|| r.pull()).collect()
    }

    /// SPS, PPS, IDR slice; then two non-IDR pictures of two slices each.
    fn h264_stream() -> Vec<u8> {
        let mut s = Vec::new();
        for nal in [
            &[0x67, 0x42, 0x00, 0x1E][..],
            &[0x68, 0xCE, 0x38, 0x80],
            &[0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01],
            &[0x41, 0x9A, 0x01],
            &[0x41, 0x1A, 0x02], // first_mb_in_slice != 0: same picture
            &[0x41, 0x9A, 0x03],
            &[0x41, 0x1A, 0x04],
        ] {
            s.extend_from_slice(&[0, 0, 0, 1]);
            s.extend_from_slice(nal);
        }
        s
    }

    #[test]
    fn groups_h264_pictures_at_any_chunking() {
        let stream = h264_stream();
        for chunk in [1, 2, 3, 5, 7, 1000] {
            let u = units(VideoCodec::H264, &stream, chunk);
            assert_eq!(u.len(), 3, "chunk {chunk}: {u:?}");
            assert!(u[0].key && !u[1].key && !u[2].key);
            assert_eq!(u[0].nals.len(), 3);
            assert_eq!(u[1].nals.len(), 2);
            assert_eq!(
                &u[0].nals[2][..],
                &[0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01]
            );
            assert_eq!(u[1].offset, 28);
        }
    }

    #[test]
    fn three_byte_start_codes_and_junk_before_the_first() {
        let mut stream = vec![0xAB, 0xCD];
        stream.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x65, 0x88, 0, 0]);
        let mut r = AnnexBReader::new(VideoCodec::H264);
        r.push(&stream);
        r.finish();
        assert_eq!(r.skipped(), 2);
        let a = r.pull().unwrap();
        let b = r.pull().unwrap();
        assert_eq!((a.nals.len(), b.nals.len()), (1, 1));
        assert_eq!(&b.nals[0][..], &[0x65, 0x88], "trailing zeros trimmed");
        assert!(r.pull().is_none());
    }

    #[test]
    fn h265_irap_and_parameter_sets() {
        let mut s = Vec::new();
        for nal in [
            &[0x40, 0x01, 0x0C][..],   // VPS
            &[0x42, 0x01, 0x01],       // SPS
            &[0x44, 0x01, 0xC0],       // PPS
            &[0x26, 0x01, 0xAF, 0x01], // IDR_W_RADL, first slice
            &[0x02, 0x01, 0xD0, 0x02], // TRAIL_R, first slice
        ] {
            s.extend_from_slice(&[0, 0, 0, 1]);
            s.extend_from_slice(nal);
        }
        let u = units(VideoCodec::H265, &s, 4);
        assert_eq!(u.len(), 2);
        assert!(u[0].key && !u[1].key);
        assert_eq!(u[0].nals.len(), 4);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_any_chunks(data in proptest::collection::vec(0u8..4, 0..300), chunk in 1usize..20) {
            for codec in [VideoCodec::H264, VideoCodec::H265] {
                let all = units(codec, &data, chunk);
                let whole = units(codec, &data, data.len().max(1));
                proptest::prop_assert_eq!(all, whole);
            }
        }
    }
}
