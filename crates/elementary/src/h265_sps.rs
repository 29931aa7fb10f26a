//! The H.265 sequence parameter set (ITU-T H.265 §7.3.2.2): the fields `hvcC` repeats,
//! the cropped picture size and, through the rest of the SPS to its VUI (§E.2.1), the
//! frame rate. `h264-reader` reads H.264's; no maintained crate we found reads H.265's
//! this far without a larger dependency tree, and the walk is short.

use crate::{Error, Result};

/// The fields of an H.265 SPS that `hvcC` repeats, and the cropped picture size.
pub(crate) struct HevcSps {
    pub(crate) general_ptl: [u8; 12],
    pub(crate) max_sub_layers_minus1: u8,
    pub(crate) temporal_id_nesting: u8,
    pub(crate) chroma_format_idc: u32,
    pub(crate) bit_depth_luma_minus8: u32,
    pub(crate) bit_depth_chroma_minus8: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Pictures per second from the VUI timing, when present and read.
    pub(crate) frame_rate: Option<f64>,
}

impl HevcSps {
    pub(crate) fn parse(nal: &[u8]) -> Result<HevcSps> {
        let rbsp = unescape(nal.get(2..).unwrap_or(&[]));
        let mut r = Bits::new(&rbsp);
        let _vps_id = r.bits(4)?;
        let max_sub_layers_minus1 = r.bits(3)? as u8;
        let temporal_id_nesting = r.bits(1)? as u8;
        let mut general_ptl = [0u8; 12];
        for b in &mut general_ptl {
            *b = r.bits(8)? as u8;
        }
        // profile_tier_level's sub-layer part (§7.3.3): flags, alignment, then the
        // present sub-layers' profiles (88 bits) and levels (8 bits).
        let mut present = Vec::new();
        for _ in 0..max_sub_layers_minus1 {
            present.push((r.bits(1)?, r.bits(1)?));
        }
        if max_sub_layers_minus1 > 0 {
            for _ in max_sub_layers_minus1..8 {
                r.bits(2)?;
            }
        }
        for (profile, level) in present {
            if profile == 1 {
                r.skip(88)?;
            }
            if level == 1 {
                r.skip(8)?;
            }
        }
        let _sps_id = r.ue()?;
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bits(1)?;
        }
        let mut width = r.ue()?;
        let mut height = r.ue()?;
        if r.bits(1)? == 1 {
            let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
            let (sub_w, sub_h) = match chroma_format_idc {
                1 => (2, 2),
                2 => (2, 1),
                _ => (1, 1),
            };
            width = width.saturating_sub(sub_w * left.saturating_add(right));
            height = height.saturating_sub(sub_h * top.saturating_add(bottom));
        }
        let bit_depth_luma_minus8 = r.ue()?;
        let bit_depth_chroma_minus8 = r.ue()?;
        // What follows only leads to the frame rate: an SPS this reader cannot walk
        // (or one cut short) still gives its size.
        let frame_rate = vui_frame_rate(&mut r, max_sub_layers_minus1).ok().flatten();
        Ok(HevcSps {
            general_ptl,
            max_sub_layers_minus1,
            temporal_id_nesting,
            chroma_format_idc: chroma_format_idc.min(3),
            bit_depth_luma_minus8: bit_depth_luma_minus8.min(7),
            bit_depth_chroma_minus8: bit_depth_chroma_minus8.min(7),
            width,
            height,
            frame_rate,
        })
    }
}

/// After `bit_depth_chroma_minus8`: the SPS's remaining fields up to its VUI, and the
/// VUI's timing (`time_scale / num_units_in_tick` pictures a second). `None` when there is
/// no VUI or no timing in it.
fn vui_frame_rate(r: &mut Bits, max_sub_layers_minus1: u8) -> Result<Option<f64>> {
    let log2_max_poc_lsb = r.ue()? + 4;
    let ordering_for_each = r.bits(1)? == 1;
    let layers = if ordering_for_each {
        u32::from(max_sub_layers_minus1) + 1
    } else {
        1
    };
    for _ in 0..layers {
        r.ue()?; // max_dec_pic_buffering_minus1
        r.ue()?; // max_num_reorder_pics
        r.ue()?; // max_latency_increase_plus1
    }
    for _ in 0..6 {
        r.ue()?; // coding and transform block sizes, transform hierarchy depths
    }
    if r.bits(1)? == 1 && r.bits(1)? == 1 {
        scaling_list_data(r)?;
    }
    r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.bits(1)? == 1 {
        r.skip(8)?; // PCM sample bit depths
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
    }
    let sets = r.ue()?;
    if sets > 64 {
        return Err(bad("more than 64 short-term reference picture sets"));
    }
    let mut delta_pocs: Vec<u32> = Vec::with_capacity(sets as usize);
    for i in 0..sets {
        let count = st_ref_pic_set(r, i, delta_pocs.last().copied())?;
        delta_pocs.push(count);
    }
    if r.bits(1)? == 1 {
        let long_term = r.ue()?;
        if long_term > 32 {
            return Err(bad("more than 32 long-term reference pictures"));
        }
        for _ in 0..long_term {
            r.skip(log2_max_poc_lsb as usize + 1)?;
        }
    }
    r.skip(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    if r.bits(1)? == 0 {
        return Ok(None);
    }
    if r.bits(1)? == 1 && r.bits(8)? == 255 {
        r.skip(32)?; // sar_width, sar_height
    }
    if r.bits(1)? == 1 {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.bits(1)? == 1 {
        r.skip(4)?; // video_format, video_full_range_flag
        if r.bits(1)? == 1 {
            r.skip(24)?; // colour description
        }
    }
    if r.bits(1)? == 1 {
        r.ue()?;
        r.ue()?;
    }
    r.skip(3)?; // neutral_chroma_indication, field_seq, frame_field_info_present
    if r.bits(1)? == 1 {
        for _ in 0..4 {
            r.ue()?; // default display window
        }
    }
    if r.bits(1)? == 0 {
        return Ok(None);
    }
    let units = r.bits(32)?;
    let scale = r.bits(32)?;
    let rate = f64::from(scale) / f64::from(units);
    // A rate no camera sends means the walk went astray: better none than a wrong one.
    Ok((units > 0 && (1.0..=1000.0).contains(&rate)).then_some(rate))
}

/// `scaling_list_data()` (§7.3.4), read past.
fn scaling_list_data(r: &mut Bits) -> Result<()> {
    for size in 0..4u32 {
        let step = if size == 3 { 3 } else { 1 };
        for _ in (0..6).step_by(step) {
            if r.bits(1)? == 0 {
                r.ue()?; // scaling_list_pred_matrix_id_delta
                continue;
            }
            if size > 1 {
                r.se()?; // scaling_list_dc_coef_minus8
            }
            for _ in 0..64.min(1u32 << (4 + (size << 1))) {
                r.se()?;
            }
        }
    }
    Ok(())
}

/// `st_ref_pic_set(index)` in an SPS (§7.3.7), read past; its number of delta POCs
/// (`NumDeltaPocs`), which the next set may predict from (`previous`).
fn st_ref_pic_set(r: &mut Bits, index: u32, previous: Option<u32>) -> Result<u32> {
    if index > 0 && r.bits(1)? == 1 {
        r.skip(1)?; // delta_rps_sign
        r.ue()?; // abs_delta_rps_minus1
        let mut count = 0;
        for _ in 0..=previous.unwrap_or(0) {
            let used = r.bits(1)? == 1;
            if used || r.bits(1)? == 1 {
                count += 1;
            }
        }
        return Ok(count);
    }
    let negative = r.ue()?;
    let positive = r.ue()?;
    if negative > 16 || positive > 16 {
        return Err(bad("a reference picture set of more than 16 pictures"));
    }
    for _ in 0..negative + positive {
        r.ue()?; // delta_poc_minus1
        r.skip(1)?; // used_by_curr_pic_flag
    }
    Ok(negative + positive)
}

fn bad(what: &str) -> Error {
    Error::InvalidParameterSet(format!("H.265 SPS: {what}"))
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`, H.265 §7.4.2).
fn unescape(data: &[u8]) -> Vec<u8> {
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

/// A big-endian bit reader with Exp-Golomb codes (§9.2).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    fn bit(&mut self) -> Result<u32> {
        let byte = self
            .data
            .get(self.at / 8)
            .ok_or_else(|| Error::InvalidParameterSet("H.265 SPS cut short".into()))?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Ok(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Result<u32> {
        (0..n).try_fold(0, |v, _| Ok((v << 1) | self.bit()?))
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            self.bit()?;
        }
        Ok(())
    }

    fn se(&mut self) -> Result<i64> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    fn ue(&mut self) -> Result<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(Error::InvalidParameterSet(
                    "H.265 SPS: bad Exp-Golomb code".into(),
                ));
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// SPSs of x265 (through ffmpeg's libx265, 320x180).
    #[test]
    fn x265_frame_rates_are_read_from_the_vui() {
        let cases = [
            // 30 fps, scaling-list=default (the list flag on, no list data).
            (
                "42010101600000030090000003000003003ca00a080b9f796566924e5780b4040000030004000003007820",
                Some(30.0),
            ),
            // 30000/1001 with B-pyramid.
            (
                "42010101600000030090000003000003003ca00a080b9f796565924caf01680800001f480003a98040",
                Some(30_000.0 / 1001.0),
            ),
            // no-vui-timing-info: no rate.
            (
                "42010101600000030090000003000003003ca00a080b9f796566924caf01680080",
                None,
            ),
        ];
        for (sps, rate) in cases {
            let parsed = HevcSps::parse(&hex(sps)).unwrap();
            assert_eq!((parsed.width, parsed.height), (320, 180));
            assert_eq!(parsed.frame_rate, rate, "{sps}");
        }
    }

    /// Bits written most significant first, with Exp-Golomb codes.
    #[derive(Default)]
    struct Writer(Vec<bool>);

    impl Writer {
        fn bits(&mut self, n: u32, v: u64) -> &mut Self {
            for i in (0..n).rev() {
                self.0.push(v.checked_shr(i).unwrap_or(0) & 1 == 1);
            }
            self
        }
        fn ue(&mut self, v: u32) -> &mut Self {
            let code = u64::from(v) + 1;
            let len = 64 - code.leading_zeros();
            self.bits(len - 1, 0).bits(len, code)
        }
        fn se(&mut self, v: i32) -> &mut Self {
            let k = if v > 0 { 2 * v - 1 } else { -2 * v };
            self.ue(k as u32)
        }
        fn nal(&self) -> Vec<u8> {
            let mut out = vec![0x42, 0x01];
            for byte in self.0.chunks(8) {
                let mut b = 0u8;
                for (i, &bit) in byte.iter().enumerate() {
                    b |= u8::from(bit) << (7 - i);
                }
                out.push(b);
            }
            out
        }
    }

    /// Every optional part before the VUI's timing present: sub-layer ordering for two
    /// layers, scaling list data, PCM, an inter-predicted reference picture set, long-term
    /// pictures, and in the VUI an extended aspect ratio, colour description, chroma
    /// location and a display window. (Emulation prevention: the test's bits have no
    /// `00 00 0x` run to escape.)
    #[test]
    fn every_branch_up_to_the_timing_is_walked() {
        let mut w = Writer::default();
        w.bits(4, 0).bits(3, 1).bits(1, 1); // vps id, 2 sub-layers, nesting
        w.bits(8, 0x01)
            .bits(32, 0x6000_0000)
            .bits(48, 0x9000_0000_0000)
            .bits(8, 93);
        w.bits(1, 1).bits(1, 1).bits(2 * 7, 0); // sub-layer 0: profile and level present
        w.bits(88, 0).bits(8, 90);
        w.ue(0).ue(1).ue(640).ue(360).bits(1, 0).ue(0).ue(0); // id, 4:2:0, size, depths
        w.ue(4); // log2_max_pic_order_cnt_lsb_minus4: 8 bits
        w.bits(1, 1).ue(4).ue(2).ue(0).ue(5).ue(3).ue(0); // ordering for both layers
        w.ue(0).ue(3).ue(0).ue(3).ue(1).ue(1); // block sizes, depths
        w.bits(1, 1).bits(1, 1); // scaling lists, with data
        for size in 0..4u32 {
            for matrix in (0..6).step_by(if size == 3 { 3 } else { 1 }) {
                if matrix % 2 == 0 {
                    w.bits(1, 1);
                    if size > 1 {
                        w.se(-3);
                    }
                    for i in 0..64.min(1 << (4 + (size << 1))) {
                        w.se(if i % 3 == 0 { 2 } else { -1 });
                    }
                } else {
                    w.bits(1, 0).ue(1);
                }
            }
        }
        w.bits(1, 1).bits(1, 1); // amp, sao
        w.bits(1, 1).bits(4, 7).bits(4, 7).ue(0).ue(1).bits(1, 0); // pcm
        w.ue(2); // two short-term sets
        w.ue(2).ue(1); // set 0: two negative, one positive
        for _ in 0..3 {
            w.ue(0).bits(1, 1);
        }
        w.bits(1, 1).bits(1, 0).ue(0); // set 1 predicted from set 0 (3 + 1 entries)
        w.bits(1, 1)
            .bits(1, 0)
            .bits(1, 1)
            .bits(1, 0)
            .bits(1, 0)
            .bits(1, 1); // 3 counted
        w.bits(1, 1)
            .ue(2)
            .bits(8, 5)
            .bits(1, 1)
            .bits(8, 9)
            .bits(1, 0); // long-term
        w.bits(1, 1).bits(1, 1); // temporal mvp, strong intra smoothing
        w.bits(1, 1); // VUI
        w.bits(1, 1).bits(8, 255).bits(16, 4).bits(16, 3); // aspect ratio 4:3
        w.bits(1, 1).bits(1, 0); // overscan
        w.bits(1, 1)
            .bits(3, 5)
            .bits(1, 0)
            .bits(1, 1)
            .bits(24, 0x01_01_01);
        w.bits(1, 1).ue(1).ue(1); // chroma location
        w.bits(3, 0).bits(1, 1).ue(0).ue(8).ue(0).ue(2); // flags, display window
        w.bits(1, 1).bits(32, 1001).bits(32, 60_000); // timing
        w.bits(1, 1); // the rest of the SPS, unread
        let sps = HevcSps::parse(&w.nal()).unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(sps.frame_rate, Some(60_000.0 / 1001.0));
        // Cut anywhere after the picture size: the size still, no rate.
        let nal = w.nal();
        for len in 40..nal.len() - 9 {
            let cut = HevcSps::parse(&nal[..len]).unwrap();
            assert_eq!(
                (cut.width, cut.height, cut.frame_rate),
                (640, 360, None),
                "{len}"
            );
        }
    }
}
