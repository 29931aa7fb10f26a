//! Parameter sets as given for a video track ([`ParameterSets`], [`HevcTag`]) and the
//! decoder configuration records built from them: ISO/IEC 14496-15 §5.3.3.1
//! (`AVCDecoderConfigurationRecord`, body of `avcC`) and §8.3.3.1
//! (`HEVCDecoderConfigurationRecord`, body of `hvcC`), and the RFC 6381 / 14496-15 Annex E
//! codec strings derived from them. `codec` builds sample entries from these; this module
//! does not look back at `codec`.

use bytes::Bytes;

use crate::boxes::BoxWriter;
use crate::nal::{self, AvcSps, HevcSps};
use crate::{Error, Result};

/// How a video codec's parameter sets are given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterSets {
    /// Raw NAL units without start codes or length prefixes. For H.264 `vps` is ignored.
    Nal {
        /// Video parameter sets (H.265 only).
        vps: Vec<Bytes>,
        /// Sequence parameter sets.
        sps: Vec<Bytes>,
        /// Picture parameter sets.
        pps: Vec<Bytes>,
    },
    /// A ready `AVCDecoderConfigurationRecord` / `HEVCDecoderConfigurationRecord` (the
    /// body of an `avcC` / `hvcC` box, e.g. from another MP4 file or an SDP).
    Record(Bytes),
}

/// Which sample entry type an H.265 track uses (ISO/IEC 14496-15 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HevcTag {
    /// `hvc1`: parameter sets only in `hvcC` (what Apple players require).
    #[default]
    Hvc1,
    /// `hev1`: parameter sets may also be in band.
    Hev1,
}

pub(crate) fn avc_sps(p: &ParameterSets) -> Result<AvcSps> {
    match p {
        ParameterSets::Nal { sps, .. } => {
            let first = sps.first().ok_or(Error::MissingParameterSets {
                codec: "H.264",
                what: "an SPS",
            })?;
            nal::parse_avc_sps(first)
        }
        ParameterSets::Record(r) => {
            if r.len() < 4 || r[0] != 1 {
                return Err(Error::InvalidParameterSet {
                    codec: "H.264",
                    reason: "avcC record shorter than 4 bytes or not version 1",
                });
            }
            Ok(AvcSps {
                profile_idc: r[1],
                constraint_flags: r[2],
                level_idc: r[3],
                chroma_format_idc: 1,
                bit_depth_luma_minus8: 0,
                bit_depth_chroma_minus8: 0,
            })
        }
    }
}

/// An `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1.2) with 4-byte lengths.
pub(crate) fn avc_record(p: &ParameterSets) -> Result<Vec<u8>> {
    let (sps_list, pps_list) = match p {
        ParameterSets::Record(r) => {
            avc_sps(p)?;
            return Ok(r.to_vec());
        }
        ParameterSets::Nal { sps, pps, .. } => (sps, pps),
    };
    let sps = avc_sps(p)?;
    if pps_list.is_empty() {
        return Err(Error::MissingParameterSets {
            codec: "H.264",
            what: "a PPS",
        });
    }
    if sps_list.len() > 31 || pps_list.len() > 255 {
        return Err(Error::NotRepresentable {
            what: "H.264 parameter set count",
            value: sps_list.len().max(pps_list.len()) as u128,
        });
    }
    let mut w = BoxWriter::new();
    w.u8(1);
    w.u8(sps.profile_idc);
    w.u8(sps.constraint_flags);
    w.u8(sps.level_idc);
    w.u8(0xff); // lengthSizeMinusOne = 3
    w.u8(0xe0 | sps_list.len() as u8);
    for s in sps_list {
        nal_with_len(&mut w, s, "H.264 SPS length")?;
    }
    w.u8(pps_list.len() as u8);
    for s in pps_list {
        nal_with_len(&mut w, s, "H.264 PPS length")?;
    }
    if matches!(sps.profile_idc, 100 | 110 | 122 | 144) {
        w.u8(0xfc | sps.chroma_format_idc as u8);
        w.u8(0xf8 | sps.bit_depth_luma_minus8 as u8);
        w.u8(0xf8 | sps.bit_depth_chroma_minus8 as u8);
        w.u8(0); // numOfSequenceParameterSetExt
    }
    Ok(w.into_vec())
}

fn nal_with_len(w: &mut BoxWriter, nal: &[u8], what: &'static str) -> Result<()> {
    let len = u16::try_from(nal.len()).map_err(|_| Error::NotRepresentable {
        what,
        value: nal.len() as u128,
    })?;
    if len == 0 {
        return Err(Error::InvalidParameterSet {
            codec: "video",
            reason: "empty parameter set NAL unit",
        });
    }
    w.u16(len);
    w.bytes(nal);
    Ok(())
}

pub(crate) fn hevc_sps(p: &ParameterSets) -> Result<HevcSps> {
    match p {
        ParameterSets::Nal { sps, .. } => {
            let first = sps.first().ok_or(Error::MissingParameterSets {
                codec: "H.265",
                what: "an SPS",
            })?;
            nal::parse_hevc_sps(first)
        }
        ParameterSets::Record(r) => {
            if r.len() < 23 || r[0] != 1 {
                return Err(Error::InvalidParameterSet {
                    codec: "H.265",
                    reason: "hvcC record shorter than 23 bytes or not version 1",
                });
            }
            Ok(HevcSps {
                profile_byte: r[1],
                compatibility_flags: u32::from_be_bytes([r[2], r[3], r[4], r[5]]),
                constraint_flags: [r[6], r[7], r[8], r[9], r[10], r[11]],
                level_idc: r[12],
                max_sub_layers: (r[21] >> 3) & 7,
                temporal_id_nested: r[21] & 4 != 0,
                chroma_format_idc: u32::from(r[16] & 3),
                bit_depth_luma_minus8: u32::from(r[17] & 7),
                bit_depth_chroma_minus8: u32::from(r[18] & 7),
            })
        }
    }
}

/// An `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1.2) with 4-byte lengths;
/// `array_completeness` is 1 for `hvc1` (all parameter sets are in the record).
pub(crate) fn hevc_record(p: &ParameterSets, tag: HevcTag) -> Result<Vec<u8>> {
    let (vps, sps_list, pps) = match p {
        ParameterSets::Record(r) => {
            hevc_sps(p)?;
            return Ok(r.to_vec());
        }
        ParameterSets::Nal { vps, sps, pps } => (vps, sps, pps),
    };
    let sps = hevc_sps(p)?;
    if vps.is_empty() {
        return Err(Error::MissingParameterSets {
            codec: "H.265",
            what: "a VPS",
        });
    }
    if pps.is_empty() {
        return Err(Error::MissingParameterSets {
            codec: "H.265",
            what: "a PPS",
        });
    }
    let mut w = BoxWriter::new();
    w.u8(1);
    w.u8(sps.profile_byte);
    w.u32(sps.compatibility_flags);
    w.bytes(&sps.constraint_flags);
    w.u8(sps.level_idc);
    w.u16(0xf000); // min_spatial_segmentation_idc = 0
    w.u8(0xfc); // parallelismType = 0 (unknown)
    w.u8(0xfc | sps.chroma_format_idc as u8);
    w.u8(0xf8 | sps.bit_depth_luma_minus8 as u8);
    w.u8(0xf8 | sps.bit_depth_chroma_minus8 as u8);
    w.u16(0); // avgFrameRate unknown
    w.u8(((sps.max_sub_layers & 7) << 3) | (u8::from(sps.temporal_id_nested) << 2) | 3);
    w.u8(3);
    let complete = u8::from(tag == HevcTag::Hvc1) << 7;
    for (nal_type, list) in [(32u8, vps), (33, sps_list), (34, pps)] {
        w.u8(complete | nal_type);
        let n = u16::try_from(list.len()).map_err(|_| Error::NotRepresentable {
            what: "H.265 parameter set count",
            value: list.len() as u128,
        })?;
        w.u16(n);
        for nal in list {
            nal_with_len(&mut w, nal, "H.265 parameter set length")?;
        }
    }
    Ok(w.into_vec())
}

/// RFC 6381 / ISO/IEC 14496-15 Annex E codec string for H.265.
pub(crate) fn hevc_codec_string(tag: HevcTag, sps: &HevcSps) -> String {
    let space = ["", "A", "B", "C"][usize::from(sps.profile_byte >> 6)];
    let tier = if sps.profile_byte & 0x20 != 0 {
        'H'
    } else {
        'L'
    };
    let prefix = match tag {
        HevcTag::Hvc1 => "hvc1",
        HevcTag::Hev1 => "hev1",
    };
    let mut s = format!(
        "{prefix}.{space}{}.{:X}.{tier}{}",
        sps.profile_byte & 0x1f,
        sps.compatibility_flags.reverse_bits(),
        sps.level_idc
    );
    let used = sps
        .constraint_flags
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for b in &sps.constraint_flags[..used] {
        s.push_str(&format!(".{b:X}"));
    }
    s
}
