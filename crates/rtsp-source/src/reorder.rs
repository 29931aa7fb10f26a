//! How many frames a video stream may reorder, as its sequence parameter set declares.
//!
//! With B-frames, frames arrive in decode order while RTP timestamps are presentation
//! times (RFC 6184 section 5.1, RFC 7798 section 4.1), so a decoder holds some frames back.
//! The SPS says how many at most: H.264 `max_num_reorder_frames` in the VUI bitstream
//! restrictions (ISO/IEC 14496-10 section E.2.1, optional), H.265
//! `sps_max_num_reorder_pics` (ISO/IEC 23008-2 section 7.4.3.2.1, always present).
//! [`crate::timeline`] turns that depth into decode times. Sans-I/O: bytes in, a number
//! out; any parse failure is `None` (the timeline then learns the depth).

use crate::track::ParameterSets;

/// H.264 `profile_idc` of the Baseline profile, which has no B slices (ISO/IEC 14496-10
/// section A.2.1), so nothing is reordered even without VUI bitstream restrictions.
const H264_BASELINE: u8 = 66;

/// The declared reorder depth in frames, when the parameter sets state it.
pub(crate) fn reorder_depth(sets: &ParameterSets) -> Option<u32> {
    match sets {
        ParameterSets::H264 { sps, .. } => h264(sps),
        ParameterSets::H265 { sps, .. } => h265(sps),
        ParameterSets::None => Some(0), // Motion JPEG: every frame stands alone
    }
}

/// H.264: parsed with `h264-reader` (the SPS up to the VUI is long: scaling lists, POC
/// types, HRD parameters).
fn h264(sps: &[u8]) -> Option<u32> {
    use h264_reader::nal::sps::SeqParameterSet;
    use h264_reader::rbsp::{BitReader, decode_nal};
    if sps.len() < 4 {
        return None; // decode_nal panics on fewer than 2 bytes; an SPS has at least 4
    }
    let rbsp = decode_nal(sps).ok()?;
    let profile = *rbsp.first()?;
    match SeqParameterSet::from_bits(BitReader::new(&*rbsp)) {
        Ok(parsed) => {
            let declared = parsed
                .vui_parameters
                .as_ref()
                .and_then(|v| v.bitstream_restrictions.as_ref())
                .map(|b| b.max_num_reorder_frames);
            declared.or((profile == H264_BASELINE).then_some(0))
        }
        // Trailing bytes after the VUI (Reolink) fail the strict parse; the profile alone
        // still tells Baseline apart.
        Err(_) => (profile == H264_BASELINE).then_some(0),
    }
}

/// H.265: the few fields before `sps_max_num_reorder_pics`, read by hand (no maintained
/// crate parses H.265 SPS on its own; retina parses it privately).
fn h265(sps: &[u8]) -> Option<u32> {
    let rbsp = unescape(sps.get(2..)?); // 2-byte NAL unit header
    let mut r = Bits::new(&rbsp);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read(3)? as usize;
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, max_sub_layers_minus1), section 7.3.3: general profile (88
    // bits) and level (8), then per sub-layer presence flags, padding and fields.
    r.skip(88 + 8)?;
    let mut present = Vec::with_capacity(max_sub_layers_minus1);
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.read(1)? == 1, r.read(1)? == 1));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for (profile, level) in present {
        r.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 })?;
    }
    r.ue()?; // sps_seq_parameter_set_id
    if r.ue()? == 3 {
        r.skip(1)?; // separate_colour_plane_flag
    }
    r.ue()?; // pic_width_in_luma_samples
    r.ue()?; // pic_height_in_luma_samples
    if r.read(1)? == 1 {
        for _ in 0..4 {
            r.ue()?; // conformance window offsets
        }
    }
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
    let all_layers = r.read(1)? == 1;
    let first = if all_layers { 0 } else { max_sub_layers_minus1 };
    let mut reorder = None;
    for _ in first..=max_sub_layers_minus1 {
        r.ue()?; // sps_max_dec_pic_buffering_minus1
        reorder = Some(r.ue()?);
        r.ue()?; // sps_max_latency_increase_plus1
    }
    // The highest sub-layer's value bounds all (section 7.4.3.2.1).
    reorder.filter(|n| *n <= 16)
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`, section 7.4.2).
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

/// An MSB-first bit reader over an RBSP; every read is `None` past the end.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.data.len() * 8).then(|| self.pos = end)
    }

    /// Unsigned Exp-Golomb (section 9.2), at most 32 bits of value.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.read(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.read(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn hex(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    fn h264(sps: &str) -> ParameterSets {
        ParameterSets::H264 {
            sps: hex(sps),
            pps: Bytes::new(),
        }
    }

    fn h265(sps: &str) -> ParameterSets {
        ParameterSets::H265 {
            vps: Bytes::new(),
            sps: hex(sps),
            pps: Bytes::new(),
        }
    }

    /// SPSs of the test camera's mounts (x264 / x265 through gst-rtsp-server); the
    /// expected depths are what `ffmpeg -bsf:v trace_headers` reads from them.
    #[test]
    fn depths_of_the_test_camera_streams() {
        // /h264b: High profile, bframes=2, max_num_reorder_frames = 2; the same at Main
        // profile (x264 ultrafast).
        let high = "67640016acd940a02ff97016a0c0c0d4a0000003002000000303d1e2c5b2c0";
        assert_eq!(reorder_depth(&h264(high)), Some(2));
        let main = "674d4016eca05017fcb80b5060606a50000003001000000301e8f162d960";
        assert_eq!(reorder_depth(&h264(main)), Some(2));
        // /h264: Constrained Baseline with VUI, max_num_reorder_frames = 0.
        let baseline = "6742c016da0280bfe5c05a8303035280000003008000000f478b1750";
        assert_eq!(reorder_depth(&h264(baseline)), Some(0));
        // /h265b: sps_max_num_reorder_pics = 2; /h265: 0.
        let h265b = "42010101600000030090000003000003003fa005020171f2e595912930bffc00040005a830303020000003002000000301e1";
        assert_eq!(reorder_depth(&h265(h265b)), Some(2));
        let no_b = "42010101600000030090000003000003003fa005020171f2e5ba4a4c2fff000100016a0c0c0c080000030008000003007840";
        assert_eq!(reorder_depth(&h265(no_b)), Some(0));
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for junk in ["", "42", "4201ffffff", "000003000003"] {
            assert_eq!(reorder_depth(&h265(junk)), None, "{junk}");
        }
        for junk in ["", "4d", "4d40ffffffff", "000003"] {
            assert_eq!(reorder_depth(&h264(junk)), None, "{junk}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_handled(sps in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let sps = Bytes::from(sps);
            let _ = reorder_depth(&ParameterSets::H264 { sps: sps.clone(), pps: Bytes::new() });
            let _ = reorder_depth(&ParameterSets::H265 { vps: Bytes::new(), sps, pps: Bytes::new() });
        }
    }

    #[test]
    fn exp_golomb() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = Bits::new(&data);
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
    }
}
