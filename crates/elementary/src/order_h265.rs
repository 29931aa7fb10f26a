//! Picture order counts of an H.265 Annex B stream (ITU-T H.265 §8.3.1), for
//! [`crate::order::FrameTimes`]: just enough of the SPS, the PPS and the slice segment
//! header to reach `slice_pic_order_cnt_lsb`. h264-reader's RBSP bit reader does the
//! bit work (Exp-Golomb codes are the same in both standards); no maintained crate reads
//! H.265 slice headers.

use std::collections::HashMap;
use std::io::Read;
use std::num::NonZeroUsize;

use h264_reader::rbsp::{BitRead, BitReader, ByteReader};

/// What the order count needs of a sequence parameter set.
#[derive(Debug, Clone, Copy)]
struct Sps {
    separate_colour_plane: bool,
    log2_max_lsb: u32,
}

/// What the order count needs of a picture parameter set.
#[derive(Debug, Clone, Copy)]
struct Pps {
    sps_id: u32,
    output_flag_present: bool,
    num_extra_slice_header_bits: u32,
}

/// The running state of §8.3.1 over one stream.
#[derive(Debug, Default)]
pub(crate) struct H265Counts {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
    /// `PicOrderCntVal` of the previous TemporalId 0 picture that is not a RASL, RADL or
    /// sub-layer non-reference picture.
    prev_tid0: Option<i64>,
    /// An end of sequence NAL unit was seen: the next IRAP picture starts afresh.
    after_end_of_sequence: bool,
}

/// The NAL unit type of an H.265 NAL unit.
fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3F)
}

/// The RBSP after the two-byte NAL header, emulation prevention bytes removed.
fn rbsp(nal: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(nal.len());
    ByteReader::skipping_bytes(nal, NonZeroUsize::new(2)?)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

impl H265Counts {
    /// Reads a parameter set; other NAL units are ignored.
    pub(crate) fn parameter_set(&mut self, nal: &[u8]) {
        match nal_type(nal) {
            33 => {
                if let Some((id, sps)) = rbsp(nal).and_then(|r| parse_sps(&r)) {
                    self.sps.insert(id, sps);
                }
            }
            34 => {
                if let Some((id, pps)) = rbsp(nal).and_then(|r| parse_pps(&r)) {
                    self.pps.insert(id, pps);
                }
            }
            _ => {}
        }
    }

    /// After a picture's NAL units: an end of sequence among them makes the next IRAP
    /// picture start afresh.
    pub(crate) fn end_of_unit(&mut self, nals: &[bytes::Bytes]) {
        if nals.iter().any(|n| nal_type(n) == 36) {
            self.after_end_of_sequence = true;
        }
    }

    /// The order count of the picture whose first slice segment is `slice`, and whether
    /// it starts a coded video sequence (IDR or BLA, or an IRAP picture first in the
    /// stream or after an end of sequence); `None` when the header cannot be read.
    pub(crate) fn order_count(&mut self, slice: &[u8]) -> (Option<i64>, bool) {
        let kind = nal_type(slice);
        let irap = (16..=23).contains(&kind);
        let idr = kind == 19 || kind == 20;
        let starts = irap && (kind <= 20 || self.prev_tid0.is_none() || self.after_end_of_sequence);
        let lsb = match rbsp(slice).and_then(|r| self.lsb(&r, kind)) {
            Some(lsb) => lsb,
            None => return (None, starts),
        };
        if irap {
            self.after_end_of_sequence = false;
        }
        let (count, max_lsb) = lsb;
        let count = if idr || starts {
            count
        } else {
            let prev = self.prev_tid0.unwrap_or(0);
            let (prev_msb, prev_lsb) = (prev - prev.rem_euclid(max_lsb), prev.rem_euclid(max_lsb));
            let msb = if count < prev_lsb && prev_lsb - count >= max_lsb / 2 {
                prev_msb + max_lsb
            } else if count > prev_lsb && count - prev_lsb > max_lsb / 2 {
                prev_msb - max_lsb
            } else {
                prev_msb
            };
            msb + count
        };
        let temporal_id = slice.get(1).map_or(0, |b| (b & 7).saturating_sub(1));
        let leading = (6..=9).contains(&kind);
        let sub_layer_non_reference = kind <= 14 && kind.is_multiple_of(2);
        if temporal_id == 0 && !leading && !sub_layer_non_reference {
            self.prev_tid0 = Some(count);
        }
        (Some(count), starts)
    }

    /// `slice_pic_order_cnt_lsb` (0 for IDR pictures) and `MaxPicOrderCntLsb`.
    fn lsb(&self, rbsp: &[u8], kind: u8) -> Option<(i64, i64)> {
        let mut bits = BitReader::new(rbsp);
        let first_slice_segment_in_pic = bits.read_bool("first_slice_segment_in_pic_flag").ok()?;
        if !first_slice_segment_in_pic {
            return None;
        }
        if (16..=23).contains(&kind) {
            bits.skip(1, "no_output_of_prior_pics_flag").ok()?;
        }
        let pps = self
            .pps
            .get(&bits.read_ue("slice_pic_parameter_set_id").ok()?)?;
        let sps = self.sps.get(&pps.sps_id)?;
        let max_lsb = 1i64 << sps.log2_max_lsb;
        if kind == 19 || kind == 20 {
            return Some((0, max_lsb));
        }
        bits.skip(pps.num_extra_slice_header_bits, "slice_reserved_flag")
            .ok()?;
        bits.read_ue("slice_type").ok()?;
        if pps.output_flag_present {
            bits.skip(1, "pic_output_flag").ok()?;
        }
        if sps.separate_colour_plane {
            bits.skip(2, "colour_plane_id").ok()?;
        }
        let lsb: u32 = bits
            .read(sps.log2_max_lsb, "slice_pic_order_cnt_lsb")
            .ok()?;
        Some((i64::from(lsb), max_lsb))
    }
}

/// §7.3.2.2: the SPS up to `log2_max_pic_order_cnt_lsb_minus4`.
fn parse_sps(rbsp: &[u8]) -> Option<(u32, Sps)> {
    let mut bits = BitReader::new(rbsp);
    bits.skip(4, "sps_video_parameter_set_id").ok()?;
    let max_sub_layers_minus1: u32 = bits.read(3, "sps_max_sub_layers_minus1").ok()?;
    bits.skip(1, "sps_temporal_id_nesting_flag").ok()?;
    skip_profile_tier_level(&mut bits, max_sub_layers_minus1)?;
    let id = bits.read_ue("sps_seq_parameter_set_id").ok()?;
    let chroma_format_idc = bits.read_ue("chroma_format_idc").ok()?;
    let separate_colour_plane =
        chroma_format_idc == 3 && bits.read_bool("separate_colour_plane_flag").ok()?;
    bits.read_ue("pic_width_in_luma_samples").ok()?;
    bits.read_ue("pic_height_in_luma_samples").ok()?;
    if bits.read_bool("conformance_window_flag").ok()? {
        for _ in 0..4 {
            bits.read_ue("conf_win_offset").ok()?;
        }
    }
    bits.read_ue("bit_depth_luma_minus8").ok()?;
    bits.read_ue("bit_depth_chroma_minus8").ok()?;
    let log2_max_lsb = bits.read_ue("log2_max_pic_order_cnt_lsb_minus4").ok()? + 4;
    // §7.4.3.2.1: 0..=12, so at most 16 bits.
    (log2_max_lsb <= 16).then_some((
        id,
        Sps {
            separate_colour_plane,
            log2_max_lsb,
        },
    ))
}

/// §7.3.3 with `profilePresentFlag` = 1.
fn skip_profile_tier_level(bits: &mut BitReader<&[u8]>, max_sub_layers_minus1: u32) -> Option<()> {
    // general_profile_space .. general_level_idc: 96 bits.
    bits.skip(96, "general_profile_tier_level").ok()?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        let profile = bits.read_bool("sub_layer_profile_present_flag").ok()?;
        let level = bits.read_bool("sub_layer_level_present_flag").ok()?;
        present.push((profile, level));
    }
    if max_sub_layers_minus1 > 0 {
        bits.skip(2 * (8 - max_sub_layers_minus1), "reserved_zero_2bits")
            .ok()?;
    }
    for (profile, level) in present {
        if profile {
            bits.skip(88, "sub_layer_profile").ok()?;
        }
        if level {
            bits.skip(8, "sub_layer_level_idc").ok()?;
        }
    }
    Some(())
}

/// §7.3.2.3: the PPS up to `num_extra_slice_header_bits`.
fn parse_pps(rbsp: &[u8]) -> Option<(u32, Pps)> {
    let mut bits = BitReader::new(rbsp);
    let id = bits.read_ue("pps_pic_parameter_set_id").ok()?;
    let sps_id = bits.read_ue("pps_seq_parameter_set_id").ok()?;
    bits.skip(1, "dependent_slice_segments_enabled_flag").ok()?;
    let output_flag_present = bits.read_bool("output_flag_present_flag").ok()?;
    let num_extra_slice_header_bits: u32 = bits.read(3, "num_extra_slice_header_bits").ok()?;
    Some((
        id,
        Pps {
            sps_id,
            output_flag_present,
            num_extra_slice_header_bits,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics_and_reads_as_unknown() {
        let mut counts = H265Counts::default();
        for junk in [
            &[][..],
            &[0x42],
            &[0x42, 0x01, 0xFF],
            &[0x44, 0x01, 0x00, 0x00, 0x03],
        ] {
            counts.parameter_set(junk);
        }
        assert_eq!(counts.order_count(&[0x02, 0x01, 0xD0]), (None, false));
        assert_eq!(counts.order_count(&[]), (None, false));
    }
}
