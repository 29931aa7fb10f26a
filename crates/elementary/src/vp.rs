//! The headers of VP8 frames (RFC 6386 §9.1, "Uncompressed Data Chunk") and VP9 frames
//! ("VP9 Bitstream & Decoding Process Specification" v0.6 §6.2, the uncompressed
//! header): whether a frame is a key frame, and what a key frame says of the stream
//! (picture size; for VP9 also profile, bit depth, chroma and colour), from which the
//! `vpcC` record ("VP Codec ISO Media File Format Binding" §2.2) is made.

use bytes::Bytes;

/// A VP8 frame's picture size, when it is a key frame: `(width, height)` in pixels.
///
/// The frame tag's bit 0 is clear on key frames; after the 3-byte tag come the start
/// code `9d 01 2a` and two little-endian 16-bit words, each a 14-bit size under a 2-bit
/// upscaling factor (which only the display applies, so it is left out here).
pub fn vp8_key_frame_size(frame: &[u8]) -> Option<(u32, u32)> {
    let [tag, _, _, 0x9d, 0x01, 0x2a, w0, w1, h0, h1, ..] = *frame else {
        return None;
    };
    if !vp8_key_frame(&[tag]) {
        return None;
    }
    let size = |lo: u8, hi: u8| u32::from(u16::from_le_bytes([lo, hi]) & 0x3fff);
    Some((size(w0, w1), size(h0, h1))).filter(|&(w, h)| w > 0 && h > 0)
}

/// Whether a VP8 frame is a key frame: its frame tag's bit 0 is clear (RFC 6386 §9.1).
pub fn vp8_key_frame(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 1 == 0)
}

/// What a VP9 key frame's uncompressed header says of the stream.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9KeyFrame {
    /// Profile 0-3.
    pub profile: u8,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    /// `color_space` (§7.2.2: 0 unknown, 1 BT.601, 2 BT.709, 3 SMPTE 170, 4 SMPTE 240,
    /// 5 BT.2020, 7 sRGB).
    pub color_space: u8,
    /// Full-range sample values.
    pub full_range: bool,
    /// `(subsampling_x, subsampling_y)`: 4:2:0 is both.
    pub subsampling: (bool, bool),
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

/// A big-endian bit reader over a header; `None` past its end.
pub(crate) struct Bits<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) at: usize,
}

impl Bits<'_> {
    pub(crate) fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |v, _| {
            let byte = self.data.get(self.at / 8)?;
            let bit = byte >> (7 - self.at % 8) & 1;
            self.at += 1;
            Some(v << 1 | u32::from(bit))
        })
    }

    pub(crate) fn flag(&mut self) -> Option<bool> {
        self.bits(1).map(|b| b == 1)
    }
}

/// A VP9 frame's key frame header, when it is a key frame (of a superframe, the first
/// frame's, which the superframe starts with).
pub fn vp9_key_frame(frame: &[u8]) -> Option<Vp9KeyFrame> {
    let mut r = Bits { data: frame, at: 0 };
    if r.bits(2)? != 2 {
        return None; // frame_marker
    }
    let low = r.bits(1)?;
    let profile = (r.bits(1)? << 1 | low) as u8;
    if profile == 3 {
        r.bits(1)?; // reserved_zero
    }
    if r.flag()? {
        return None; // show_existing_frame: no header of its own
    }
    if r.flag()? {
        return None; // frame_type 1: not a key frame
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None; // frame_sync_code
    }
    let bit_depth = match (profile >= 2, profile >= 2 && r.flag()?) {
        (false, _) => 8,
        (true, false) => 10,
        (true, true) => 12,
    };
    let color_space = r.bits(3)? as u8;
    let odd_profile = profile == 1 || profile == 3;
    let (full_range, subsampling) = if color_space != 7 {
        let full_range = r.flag()?;
        let subsampling = if odd_profile {
            let s = (r.flag()?, r.flag()?);
            r.bits(1)?;
            s
        } else {
            (true, true)
        };
        (full_range, subsampling)
    } else {
        // sRGB: full range 4:4:4, only in profiles 1 and 3.
        if !odd_profile {
            return None;
        }
        r.bits(1)?;
        (true, (false, false))
    };
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Some(Vp9KeyFrame {
        profile,
        bit_depth,
        color_space,
        full_range,
        subsampling,
        width,
        height,
    })
}

/// Whether a VP9 frame is a key frame (of a superframe: its first frame).
pub fn vp9_is_key_frame(frame: &[u8]) -> bool {
    vp9_key_frame(frame).is_some()
}

impl Vp9KeyFrame {
    /// The `VPCodecConfigurationRecord` (the `vpcC` body after its version and flags):
    /// profile, the level the picture size needs at most (the binding's level table by
    /// luma picture size; a decoder takes the rest from the bitstream), bit depth and
    /// chroma, colour as ISO/IEC 23091-4 codes, and no initialization data.
    pub fn record(&self) -> Bytes {
        let samples = u64::from(self.width) * u64::from(self.height);
        let level = [
            (36_864, 10),
            (73_728, 11),
            (122_880, 20),
            (245_760, 21),
            (552_960, 30),
            (983_040, 31),
            (2_228_224, 40),
            (8_912_896, 50),
            (35_651_584, 60),
        ]
        .iter()
        .find(|&&(max, _)| samples <= max)
        .map_or(62, |&(_, level)| level);
        let chroma = match self.subsampling {
            (true, true) => 0,  // 4:2:0 (vertical siting, as VP9 has it)
            (true, false) => 2, // 4:2:2
            _ => 3,             // 4:4:4 (and 4:4:0, which the binding cannot say)
        };
        // (primaries, transfer, matrix) per color_space; 2 is "unspecified".
        let (primaries, transfer, matrix) = match self.color_space {
            1 | 3 => (6, 6, 6),
            2 => (1, 1, 1),
            4 => (7, 7, 7),
            5 => (9, 14, 9),
            7 => (1, 13, 0),
            _ => (2, 2, 2),
        };
        Bytes::from(vec![
            self.profile,
            level,
            self.bit_depth << 4 | chroma << 1 | u8::from(self.full_range),
            primaries,
            transfer,
            matrix,
            0,
            0,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frame_size_from_the_header() {
        // Tag of a key frame (version 0, shown, first partition 0x1234 bytes), start
        // code, 640 (0x280) with scale 0 and 360 (0x168) with scale 1 (ignored).
        let frame = [
            0x50, 0x42, 0x02, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x41, 0xff,
        ];
        assert!(vp8_key_frame(&frame));
        assert_eq!(vp8_key_frame_size(&frame), Some((640, 360)));
        // An inter frame (bit 0 set) has no size; nor do truncated or wrong headers.
        let mut inter = frame;
        inter[0] |= 1;
        assert!(!vp8_key_frame(&inter));
        assert_eq!(vp8_key_frame_size(&inter), None);
        assert_eq!(vp8_key_frame_size(&frame[..9]), None);
        let mut bad = frame;
        bad[3] = 0;
        assert_eq!(vp8_key_frame_size(&bad), None);
        assert!(!vp8_key_frame(&[]));
    }

    #[test]
    fn vp9_key_frame_header() {
        // frame_marker 10, profile 0 (0, 0), show_existing 0, key frame 0, shown 1,
        // error resilient 0 = 0b1000_0010; sync code; color_space 2 (BT.709), limited
        // range, then width-1 = 639, height-1 = 359.
        let mut bits = String::from("10000010");
        bits += "010010011000001101000010"; // 0x49 0x83 0x42
        bits += "010"; // BT.709
        bits += "0"; // limited range
        bits += &format!("{:016b}{:016b}", 639, 359);
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let frame: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let key = vp9_key_frame(&frame).unwrap();
        assert_eq!((key.profile, key.bit_depth, key.color_space), (0, 8, 2));
        assert_eq!((key.width, key.height), (640, 360));
        assert_eq!(key.subsampling, (true, true));
        assert_eq!(&key.record()[..], &[0, 21, 0x80, 1, 1, 1, 0, 0]);
        // An inter frame (frame_type 1), a cut header and a bad sync code: no key frame.
        let mut inter = frame.clone();
        inter[0] |= 0b0000_0100;
        assert!(!vp9_is_key_frame(&inter));
        assert!(vp9_key_frame(&frame[..5]).is_none());
        let mut bad = frame.clone();
        bad[1] = 0;
        assert!(vp9_key_frame(&bad).is_none());
        assert!(vp9_key_frame(&[]).is_none());
    }
}
