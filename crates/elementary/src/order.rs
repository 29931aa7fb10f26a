//! Presentation order of an H.264 Annex B stream, which carries no timestamps: picture
//! order counts from the slice headers (ITU-T H.264 §8.2.1.1, `pic_order_cnt_type` 0,
//! the type encoders use with B-frames), turned into a constant-rate time line.
//!
//! [`FrameTimes`] holds the access units of one coded video sequence (from an IDR picture
//! or a memory_management_control_operation 5 to the next), ranks them by picture order
//! count and gives each its decode index and presentation offset in frames. The decode
//! times lag presentation by the first sequence's reorder depth, so every offset is ≥ 0
//! (a later sequence that reorders deeper is clamped). H.265 order counts come from
//! [`crate::order_h265`]; there a sequence also ends at a CRA picture that follows every
//! held picture in output order (x265's open GOPs have an IDR only at the start). The
//! other H.264 order count types give offsets of 0 (decode order shown as is).

use h264_reader::Context;
use h264_reader::nal::NalHeader;
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::slice::{
    DecRefPicMarking, MemoryManagementControlOperation, PicOrderCountLsb, SliceHeader,
};
use h264_reader::nal::sps::{PicOrderCntType, SeqParameterSet};
use h264_reader::rbsp::{BitReader, decode_nal};

use crate::annexb::{AccessUnit, VideoCodec};
use crate::order_h265::H265Counts;

/// Access units held before their order is known: beyond this, a sequence is ranked as
/// it stands (an encoder without IDR pictures, say).
const MAX_HELD: usize = 600;

/// An access unit with its place on the time line, in frames.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimedUnit {
    /// The access unit.
    pub unit: AccessUnit,
    /// Decode index: 0, 1, 2, … in stream order.
    pub decode: u64,
    /// Presentation minus decode time, in frames (≥ 0).
    pub presentation_offset: u32,
}

/// Gives access units their presentation order (see the module docs).
pub struct FrameTimes {
    codec: VideoCodec,
    context: Context,
    h265: H265Counts,
    prev_msb: i64,
    prev_lsb: i64,
    held: Vec<(AccessUnit, Option<i64>)>,
    decoded: u64,
    /// The first sequence's reorder depth.
    delay: Option<u64>,
}

impl std::fmt::Debug for FrameTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameTimes")
            .field("codec", &self.codec)
            .field("held", &self.held.len())
            .field("decoded", &self.decoded)
            .field("delay", &self.delay)
            .finish()
    }
}

impl FrameTimes {
    /// Presentation order for a stream of `codec`.
    pub fn new(codec: VideoCodec) -> Self {
        FrameTimes {
            codec,
            context: Context::default(),
            h265: H265Counts::default(),
            prev_msb: 0,
            prev_lsb: 0,
            held: Vec::new(),
            decoded: 0,
            delay: None,
        }
    }

    /// Takes the next access unit (parameter sets still in it); returns the units whose
    /// order is now known.
    pub fn push(&mut self, unit: AccessUnit) -> Vec<TimedUnit> {
        let (count, starts_sequence) = match self.codec {
            VideoCodec::H264 => {
                for nal in &unit.nals {
                    self.parameter_set(nal);
                }
                self.order_count(&unit)
            }
            VideoCodec::H265 => self.h265_order_count(&unit),
        };
        let mut out = Vec::new();
        if starts_sequence || self.held.len() >= MAX_HELD {
            out = self.rank();
        }
        self.held.push((unit, count));
        out
    }

    /// The stream ended: the rest.
    pub fn finish(&mut self) -> Vec<TimedUnit> {
        self.rank()
    }

    fn timed(&mut self, unit: AccessUnit, presentation_offset: u32) -> TimedUnit {
        let decode = self.decoded;
        self.decoded += 1;
        TimedUnit {
            unit,
            decode,
            presentation_offset,
        }
    }

    /// Ranks the held sequence by order count and releases it.
    fn rank(&mut self) -> Vec<TimedUnit> {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return Vec::new();
        }
        if held.iter().any(|(_, c)| c.is_none()) {
            return held.into_iter().map(|(u, _)| self.timed(u, 0)).collect();
        }
        let mut by_count: Vec<(i64, usize)> = held
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (c.unwrap_or(0), i))
            .collect();
        by_count.sort();
        let mut rank = vec![0u64; held.len()];
        for (r, (_, i)) in by_count.iter().enumerate() {
            rank[*i] = r as u64;
        }
        let depth = rank
            .iter()
            .enumerate()
            .map(|(i, &r)| (i as u64).saturating_sub(r))
            .max()
            .unwrap_or(0);
        let delay = *self.delay.get_or_insert(depth);
        held.into_iter()
            .enumerate()
            .map(|(i, (u, _))| {
                let offset = (rank[i] + delay).saturating_sub(i as u64);
                self.timed(u, u32::try_from(offset).unwrap_or(u32::MAX))
            })
            .collect()
    }

    /// [`H265Counts::order_count`] of the unit's first slice, and whether a new ranked
    /// run starts (see the module docs).
    fn h265_order_count(&mut self, unit: &AccessUnit) -> (Option<i64>, bool) {
        for nal in &unit.nals {
            self.h265.parameter_set(nal);
        }
        let counted = match unit.nals.iter().find(|n| self.codec.is_slice(n)) {
            Some(slice) => {
                let (count, starts) = self.h265.order_count(slice);
                let follows_held = unit.key
                    && count
                        .is_some_and(|c| self.held.iter().all(|(_, h)| h.is_some_and(|h| h < c)));
                (count, starts || follows_held)
            }
            None => (None, false),
        };
        self.h265.end_of_unit(&unit.nals);
        counted
    }

    fn parameter_set(&mut self, nal: &[u8]) {
        let Ok(rbsp) = decode_nal(nal) else { return };
        match self.codec.nal_type(nal) {
            Some(7) => {
                if let Ok(sps) = SeqParameterSet::from_bits(BitReader::new(&rbsp[..])) {
                    self.context.put_seq_param_set(sps);
                }
            }
            Some(8) => {
                if let Ok(pps) =
                    PicParameterSet::from_bits(&self.context, BitReader::new(&rbsp[..]))
                {
                    self.context.put_pic_param_set(pps);
                }
            }
            _ => {}
        }
    }

    /// The picture order count of the unit's first slice (`None` when it cannot be
    /// read or the stream uses another count type), and whether it starts a sequence.
    fn order_count(&mut self, unit: &AccessUnit) -> (Option<i64>, bool) {
        let Some(slice) = unit.nals.iter().find(|n| self.codec.is_slice(n)) else {
            return (None, false);
        };
        let Ok(header) = NalHeader::new(slice[0]) else {
            return (None, false);
        };
        let Ok(rbsp) = decode_nal(slice) else {
            return (None, false);
        };
        let mut bits = BitReader::new(&rbsp[..]);
        let Ok((slice_header, sps, _)) = SliceHeader::from_bits(&self.context, &mut bits, header)
        else {
            return (None, false);
        };
        let PicOrderCntType::TypeZero {
            log2_max_pic_order_cnt_lsb_minus4,
        } = sps.pic_order_cnt
        else {
            return (None, false);
        };
        let lsb = match slice_header.pic_order_cnt_lsb {
            Some(PicOrderCountLsb::Frame(lsb)) => i64::from(lsb),
            Some(PicOrderCountLsb::FieldsAbsolute {
                pic_order_cnt_lsb, ..
            }) => i64::from(pic_order_cnt_lsb),
            _ => return (None, false),
        };
        let idr = unit.key && self.codec.nal_type(slice) == Some(5);
        if idr {
            self.prev_msb = 0;
            self.prev_lsb = 0;
        }
        // §8.2.1.1: the most significant part follows the wrap of the least.
        // At most 16 bits by §7.4.2.1.1; a larger value from a damaged SPS is clamped.
        let max_lsb = 1i64 << (u32::from(log2_max_pic_order_cnt_lsb_minus4).min(12) + 4);
        let msb = if lsb < self.prev_lsb && self.prev_lsb - lsb >= max_lsb / 2 {
            self.prev_msb + max_lsb
        } else if lsb > self.prev_lsb && lsb - self.prev_lsb > max_lsb / 2 {
            self.prev_msb - max_lsb
        } else {
            self.prev_msb
        };
        let count = msb + lsb;
        let mmco5 = matches!(&slice_header.dec_ref_pic_marking, Some(DecRefPicMarking::Adaptive(ops))
            if ops.iter().any(|op| matches!(op, MemoryManagementControlOperation::AllRefPicturesUnused)));
        if header.nal_ref_idc() != 0 {
            // After an MMCO 5 the picture counts as order count 0 for what follows.
            (self.prev_msb, self.prev_lsb) = if mmco5 { (0, 0) } else { (msb, lsb) };
        }
        (Some(count), idr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn unit(nals: &[&'static [u8]], key: bool) -> AccessUnit {
        AccessUnit {
            nals: nals.iter().map(|n| Bytes::from_static(n)).collect(),
            key,
            offset: 0,
        }
    }

    #[test]
    fn unreadable_slices_keep_decode_order() {
        let mut times = FrameTimes::new(VideoCodec::H264);
        let mut out = times.push(unit(&[&[0x65, 0x88]], true));
        out.extend(times.push(unit(&[&[0x41, 0x9A]], false)));
        out.extend(times.finish());
        let got: Vec<(u64, u32)> = out
            .iter()
            .map(|t| (t.decode, t.presentation_offset))
            .collect();
        assert_eq!(got, [(0, 0), (1, 0)]);
    }
}
