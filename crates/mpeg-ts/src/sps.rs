//! Picture size from a sequence parameter set, which a transport stream gives only
//! in-band: H.264 (ISO/IEC 14496-10 §7.3.2.1.1) and H.265 (ISO/IEC 23008-2 §7.3.2.2).
//! Only the fields before the size and cropping are read.

/// Bits of an RBSP (emulation prevention removed), most significant first.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |v, _| Some((v << 1) | self.bit()?))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.at += n;
        (self.at <= self.data.len() * 8).then_some(())
    }

    /// ue(v).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// se(v).
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// Removes emulation prevention bytes (0x000003 → 0x0000).
pub(crate) fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Whether an H.264 SPS of `profile_idc` has chroma_format_idc and the bit depths
/// (H.264 §7.3.2.1.1: High and the profiles above it); the `avcC` record repeats them
/// for these profiles (ISO/IEC 14496-15 §5.3.3.1.2).
pub fn avc_has_chroma_fields(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135 | 144
    )
}

/// (chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8) of an H.264 SPS
/// NAL unit (header byte included); `None` for a profile without them or a cut SPS.
pub fn avc_chroma(nal: &[u8]) -> Option<(u8, u8, u8)> {
    let rbsp = unescape(nal.get(1..)?);
    let mut b = Bits { data: &rbsp, at: 0 };
    let profile = b.bits(8)? as u8;
    b.skip(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    if !avc_has_chroma_fields(profile) {
        return None;
    }
    let chroma = b.ue()?;
    if chroma == 3 {
        b.skip(1)?; // separate_colour_plane_flag
    }
    let (luma, chroma_depth) = (b.ue()?, b.ue()?);
    let small = |v: u32, max: u32| u8::try_from(v).ok().filter(|&v| u32::from(v) <= max);
    Some((small(chroma, 3)?, small(luma, 6)?, small(chroma_depth, 6)?))
}

/// (width, height) in pixels of an H.264 SPS NAL unit (header byte included).
pub fn avc_dimensions(nal: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape(nal.get(1..)?);
    let mut b = Bits { data: &rbsp, at: 0 };
    let profile = b.bits(8)?;
    b.skip(16)?; // constraint flags, level
    b.ue()?; // seq_parameter_set_id
    let mut chroma = 1;
    if avc_has_chroma_fields(profile as u8) {
        chroma = b.ue()?;
        if chroma == 3 {
            b.skip(1)?;
        }
        b.ue()?;
        b.ue()?; // bit depths
        b.skip(1)?;
        if b.bit()? == 1 {
            for i in 0..(if chroma == 3 { 12 } else { 8 }) {
                if b.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + b.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.skip(1)?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()?.min(255) {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.skip(1)?;
    // u64: the fields are 32-bit exp-Golomb values, whatever a damaged SPS says.
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = u64::from(b.bit()?);
    if frame_mbs_only == 0 {
        b.skip(1)?;
    }
    b.skip(1)?;
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if b.bit()? == 1 {
        let mut edge = || b.ue().map(u64::from);
        let (l, r, t, bottom) = (edge()?, edge()?, edge()?, edge()?);
        let (sub_w, sub_h) = match chroma {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let unit_x = if chroma == 0 { 1 } else { sub_w };
        let unit_y = (if chroma == 0 { 1 } else { sub_h }) * (2 - frame_mbs_only);
        crop_x = unit_x * (l + r);
        crop_y = unit_y * (t + bottom);
    }
    let width = u32::try_from((width_mbs * 16).checked_sub(crop_x)?).ok()?;
    let height =
        u32::try_from(((2 - frame_mbs_only) * height_units * 16).checked_sub(crop_y)?).ok()?;
    Some((width, height))
}

/// (width, height) in pixels of an H.265 SPS NAL unit (2-byte header included).
pub fn hevc_dimensions(nal: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape(nal.get(2..)?);
    let mut b = Bits { data: &rbsp, at: 0 };
    b.skip(4)?;
    let sub_layers = b.bits(3)? as usize;
    b.skip(1)?;
    b.skip(96)?; // general profile_tier_level
    let mut present = Vec::with_capacity(sub_layers);
    for _ in 0..sub_layers {
        present.push((b.bit()?, b.bit()?));
    }
    if sub_layers > 0 {
        b.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        b.skip(88 * profile as usize + 8 * level as usize)?;
    }
    b.ue()?; // sps_seq_parameter_set_id
    let chroma = b.ue()?;
    if chroma == 3 {
        b.skip(1)?;
    }
    let width = u64::from(b.ue()?);
    let height = u64::from(b.ue()?);
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if b.bit()? == 1 {
        let mut edge = || b.ue().map(u64::from);
        let (l, r, t, bottom) = (edge()?, edge()?, edge()?, edge()?);
        let sub_w = if matches!(chroma, 1 | 2) { 2 } else { 1 };
        let sub_h = if chroma == 1 { 2 } else { 1 };
        crop_x = sub_w * (l + r);
        crop_y = sub_h * (t + bottom);
    }
    let width = u32::try_from(width.checked_sub(crop_x)?).ok()?;
    let height = u32::try_from(height.checked_sub(crop_y)?).ok()?;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_640x360() {
        // x264's SPS for 640x360 constrained baseline (crop of 8 lines from 368).
        let sps = [
            0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03,
            0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3C, 0x0F, 0x16, 0x2E, 0x48,
        ];
        assert_eq!(avc_dimensions(&sps), Some((640, 360)));
    }
}
