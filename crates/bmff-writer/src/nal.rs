//! The few fields of H.264 / H.265 sequence parameter sets that the `avcC` and `hvcC`
//! records repeat: ITU-T H.264 §7.3.2.1.1 and ITU-T H.265 §7.3.2.2 / §7.3.3
//! (`profile_tier_level`). Only read up to the bit depths; nothing past them is needed.

use crate::{Error, Result};

/// Fields of an H.264 SPS repeated in `avcC` (ISO/IEC 14496-15 §5.3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AvcSps {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
}

/// Fields of an H.265 SPS repeated in `hvcC` (ISO/IEC 14496-15 §8.3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HevcSps {
    /// general_profile_space (2), general_tier_flag (1), general_profile_idc (5).
    pub profile_byte: u8,
    pub compatibility_flags: u32,
    pub constraint_flags: [u8; 6],
    pub level_idc: u8,
    pub max_sub_layers: u8,
    pub temporal_id_nested: bool,
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
}

fn invalid(codec: &'static str, reason: &'static str) -> Error {
    Error::InvalidParameterSet { codec, reason }
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`), H.264 §7.4.1.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An MSB-first bit reader with Exp-Golomb codes (H.264 §9.1).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    codec: &'static str,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| invalid(self.codec, "SPS ends early"))?;
        let v = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(v))
    }
    fn bits(&mut self, n: u32) -> Result<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }
    fn skip(&mut self, n: usize) {
        self.pos += n;
    }
    fn ue(&mut self) -> Result<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(invalid(self.codec, "Exp-Golomb code longer than 32 bits"));
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
}

pub(crate) fn parse_avc_sps(nal: &[u8]) -> Result<AvcSps> {
    const CODEC: &str = "H.264";
    let data = unescape(nal);
    if data.len() < 4 || data[0] & 0x1f != 7 {
        return Err(invalid(CODEC, "not an SPS NAL unit (type 7)"));
    }
    let mut sps = AvcSps {
        profile_idc: data[1],
        constraint_flags: data[2],
        level_idc: data[3],
        chroma_format_idc: 1,
        bit_depth_luma_minus8: 0,
        bit_depth_chroma_minus8: 0,
    };
    let mut r = Bits {
        data: &data[4..],
        pos: 0,
        codec: CODEC,
    };
    r.ue()?; // seq_parameter_set_id
    if matches!(
        sps.profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        sps.chroma_format_idc = r.ue()?;
        if sps.chroma_format_idc > 3 {
            return Err(invalid(CODEC, "chroma_format_idc above 3"));
        }
        if sps.chroma_format_idc == 3 {
            r.skip(1); // separate_colour_plane_flag
        }
        sps.bit_depth_luma_minus8 = r.ue()?;
        sps.bit_depth_chroma_minus8 = r.ue()?;
        if sps.bit_depth_luma_minus8 > 6 || sps.bit_depth_chroma_minus8 > 6 {
            return Err(invalid(CODEC, "bit depth above 14"));
        }
    }
    Ok(sps)
}

pub(crate) fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSps> {
    const CODEC: &str = "H.265";
    let data = unescape(nal);
    if data.len() < 15 || (data[0] >> 1) & 0x3f != 33 {
        return Err(invalid(CODEC, "not an SPS NAL unit (type 33)"));
    }
    let max_sub_layers_minus1 = (data[2] >> 1) & 0x07;
    let ptl = &data[3..15];
    let mut sps = HevcSps {
        profile_byte: ptl[0],
        compatibility_flags: u32::from_be_bytes([ptl[1], ptl[2], ptl[3], ptl[4]]),
        constraint_flags: [ptl[5], ptl[6], ptl[7], ptl[8], ptl[9], ptl[10]],
        level_idc: ptl[11],
        max_sub_layers: max_sub_layers_minus1 + 1,
        temporal_id_nested: data[2] & 1 == 1,
        chroma_format_idc: 1,
        bit_depth_luma_minus8: 0,
        bit_depth_chroma_minus8: 0,
    };
    let mut r = Bits {
        data: &data[15..],
        pos: 0,
        codec: CODEC,
    };
    // Sub-layer profile/level presence flags, then padding to 8 entries (§7.3.3).
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..usize::from(max_sub_layers_minus1) {
        profile_present[i] = r.bit()? == 1;
        level_present[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - usize::from(max_sub_layers_minus1)));
    }
    for i in 0..usize::from(max_sub_layers_minus1) {
        if profile_present[i] {
            r.skip(88);
        }
        if level_present[i] {
            r.skip(8);
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    sps.chroma_format_idc = r.ue()?;
    if sps.chroma_format_idc > 3 {
        return Err(invalid(CODEC, "chroma_format_idc above 3"));
    }
    if sps.chroma_format_idc == 3 {
        r.skip(1);
    }
    r.ue()?; // pic_width_in_luma_samples
    r.ue()?; // pic_height_in_luma_samples
    if r.bit()? == 1 {
        for _ in 0..4 {
            r.ue()?; // conformance window offsets
        }
    }
    sps.bit_depth_luma_minus8 = r.ue()?;
    sps.bit_depth_chroma_minus8 = r.ue()?;
    if sps.bit_depth_luma_minus8 > 8 || sps.bit_depth_chroma_minus8 > 8 {
        return Err(invalid(CODEC, "bit depth above 16"));
    }
    Ok(sps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_drops_emulation_prevention() {
        assert_eq!(unescape(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
    }

    #[test]
    fn avc_sps_high_profile() {
        // libx264 High profile 4:2:0 8-bit, 320x240.
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
        ];
        let p = parse_avc_sps(&sps).unwrap();
        assert_eq!(
            (p.profile_idc, p.level_idc, p.chroma_format_idc),
            (100, 13, 1)
        );
        assert_eq!((p.bit_depth_luma_minus8, p.bit_depth_chroma_minus8), (0, 0));
    }

    #[test]
    fn truncated_sps_is_an_error() {
        assert!(parse_avc_sps(&[0x67, 0x64, 0, 0x0d]).is_err());
        assert!(parse_hevc_sps(&[0x42, 0x01, 0x01]).is_err());
        assert!(parse_avc_sps(&[]).is_err());
    }
}
