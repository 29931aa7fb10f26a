//! Decoder configuration records, both ways: built from the parameter sets of an Annex B
//! stream (ISO/IEC 14496-15 §5.3.3.1 `AVCDecoderConfigurationRecord`, §8.3.3.1
//! `HEVCDecoderConfigurationRecord`), and read back into parameter sets to put in front
//! of key frames when writing Annex B. Also the picture size and frame rate an SPS says
//! (H.264 through `h264-reader`; H.265 in `h265_sps`).

use bytes::{BufMut, Bytes, BytesMut};
use h264_reader::nal::sps::{ChromaFormat, SeqParameterSet};
use h264_reader::rbsp::{BitReader, decode_nal};

use crate::annexb::VideoCodec;
use crate::h265_sps::HevcSps;
use crate::{Error, Result};

/// What a sequence parameter set says about the pictures.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SpsInfo {
    /// Width in pixels, after cropping.
    pub width: u32,
    /// Height in pixels, after cropping.
    pub height: u32,
    /// Frames per second from the VUI timing, when present.
    pub frame_rate: Option<f64>,
}

/// The parameter sets of a stream, as NAL units (header included, no start codes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParameterSets {
    /// Video parameter sets (H.265 only).
    pub vps: Vec<Bytes>,
    /// Sequence parameter sets.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
}

impl ParameterSets {
    /// Takes a parameter set NAL unit (others are ignored); returns whether it is new.
    /// A set with the same type and first payload byte (its id, in simple streams)
    /// replaces the old one.
    pub fn take(&mut self, codec: VideoCodec, nal: &Bytes) -> bool {
        let list = match (codec, codec.nal_type(nal)) {
            (VideoCodec::H264, Some(7)) | (VideoCodec::H265, Some(33)) => &mut self.sps,
            (VideoCodec::H264, Some(8)) | (VideoCodec::H265, Some(34)) => &mut self.pps,
            (VideoCodec::H265, Some(32)) => &mut self.vps,
            _ => return false,
        };
        if list.contains(nal) {
            return false;
        }
        list.retain(|old| old.len() < 2 || nal.len() < 2 || old[..2] != nal[..2]);
        list.push(nal.clone());
        true
    }

    /// Whether the sets a decoder needs are there.
    pub fn complete(&self, codec: VideoCodec) -> bool {
        !self.sps.is_empty()
            && !self.pps.is_empty()
            && (codec == VideoCodec::H264 || !self.vps.is_empty())
    }

    /// All sets in decoding order (VPS, SPS, PPS).
    pub fn all(&self) -> impl Iterator<Item = &Bytes> {
        self.vps.iter().chain(&self.sps).chain(&self.pps)
    }
}

/// The decoder configuration record of `sets` (with 4-byte NAL lengths).
pub fn record(codec: VideoCodec, sets: &ParameterSets) -> Result<Bytes> {
    match codec {
        VideoCodec::H264 => avc_record(sets),
        VideoCodec::H265 => hevc_record(sets),
    }
}

fn avc_record(sets: &ParameterSets) -> Result<Bytes> {
    let sps = sets
        .sps
        .first()
        .ok_or(Error::MissingParameterSet("an SPS"))?;
    if sets.pps.is_empty() {
        return Err(Error::MissingParameterSet("a PPS"));
    }
    if sps.len() < 4 {
        return Err(Error::InvalidParameterSet(
            "SPS shorter than 4 bytes".into(),
        ));
    }
    let mut r = BytesMut::new();
    r.put_slice(&[
        1,
        sps[1],
        sps[2],
        sps[3],
        0xFF,
        0xE0 | count(&sets.sps, 31)?,
    ]);
    put_sets(&mut r, &sets.sps)?;
    r.put_u8(count(&sets.pps, 255)?);
    put_sets(&mut r, &sets.pps)?;
    // The profiles whose SPS has chroma_format_idc (H.264 §7.3.2.1.1) carry chroma format
    // and bit depths in the record too (§5.3.3.1.2); read them from the SPS.
    if matches!(
        sps[1],
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135 | 144
    ) {
        let chroma = parse_avc_sps(sps)?.chroma_info;
        let chroma_format_idc = match chroma.chroma_format {
            ChromaFormat::Monochrome => 0,
            ChromaFormat::YUV420 | ChromaFormat::Invalid(_) => 1,
            ChromaFormat::YUV422 => 2,
            ChromaFormat::YUV444 => 3,
        };
        r.put_u8(0xFC | chroma_format_idc);
        r.put_u8(0xF8 | (chroma.bit_depth_luma_minus8 & 7));
        r.put_u8(0xF8 | (chroma.bit_depth_chroma_minus8 & 7));
        r.put_u8(0);
    }
    Ok(r.freeze())
}

fn hevc_record(sets: &ParameterSets) -> Result<Bytes> {
    let sps = sets
        .sps
        .first()
        .ok_or(Error::MissingParameterSet("an SPS"))?;
    if sets.vps.is_empty() {
        return Err(Error::MissingParameterSet("a VPS"));
    }
    if sets.pps.is_empty() {
        return Err(Error::MissingParameterSet("a PPS"));
    }
    let hevc = HevcSps::parse(sps)?;
    let mut r = BytesMut::new();
    r.put_u8(1);
    // general_profile_space .. general_level_idc: the 12 bytes of profile_tier_level.
    r.put_slice(&hevc.general_ptl);
    r.put_u16(0xF000); // min_spatial_segmentation_idc unknown
    r.put_u8(0xFC); // parallelismType unknown
    r.put_u8(0xFC | hevc.chroma_format_idc as u8);
    r.put_u8(0xF8 | hevc.bit_depth_luma_minus8 as u8);
    r.put_u8(0xF8 | hevc.bit_depth_chroma_minus8 as u8);
    r.put_u16(0); // avgFrameRate
    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3.
    r.put_u8(((hevc.max_sub_layers_minus1 + 1) << 3) | (hevc.temporal_id_nesting << 2) | 3);
    r.put_u8(3);
    for (nal_type, list) in [(32u8, &sets.vps), (33, &sets.sps), (34, &sets.pps)] {
        r.put_u8(0x80 | nal_type); // array_completeness 1
        r.put_u16(u16::try_from(list.len()).map_err(|_| too_many())?);
        for nal in list {
            r.put_u16(u16::try_from(nal.len()).map_err(|_| too_long())?);
            r.put_slice(nal);
        }
    }
    Ok(r.freeze())
}

fn count(list: &[Bytes], max: usize) -> Result<u8> {
    if list.len() > max {
        return Err(too_many());
    }
    Ok(list.len() as u8)
}

fn put_sets(r: &mut BytesMut, list: &[Bytes]) -> Result<()> {
    for nal in list {
        r.put_u16(u16::try_from(nal.len()).map_err(|_| too_long())?);
        r.put_slice(nal);
    }
    Ok(())
}

fn too_many() -> Error {
    Error::InvalidParameterSet("too many parameter sets for the record".into())
}

fn too_long() -> Error {
    Error::InvalidParameterSet("a parameter set of 64 KiB or more".into())
}

/// The parameter sets in a decoder configuration record, and its NAL length size.
pub fn parameter_sets(codec: VideoCodec, record: &Bytes) -> Result<(ParameterSets, usize)> {
    let bad = |what: &str| Error::InvalidRecord(what.into());
    let mut sets = ParameterSets::default();
    let mut at;
    let take = |at: &mut usize| -> Result<Bytes> {
        let len = record
            .get(*at..*at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("cut inside a parameter set length"))?;
        let nal = record
            .get(*at + 2..*at + 2 + len)
            .ok_or_else(|| bad("cut inside a parameter set"))?;
        let nal = record.slice_ref(nal);
        *at += 2 + len;
        Ok(nal)
    };
    let byte = |at: usize| record.get(at).copied().ok_or_else(|| bad("cut short"));
    let length_size = match codec {
        VideoCodec::H264 => {
            let length_size = usize::from(byte(4)? & 3) + 1;
            at = 6;
            for _ in 0..(byte(5)? & 0x1F) {
                sets.sps.push(take(&mut at)?);
            }
            let pps_count = byte(at)?;
            at += 1;
            for _ in 0..pps_count {
                sets.pps.push(take(&mut at)?);
            }
            length_size
        }
        VideoCodec::H265 => {
            let length_size = usize::from(byte(21)? & 3) + 1;
            let arrays = byte(22)?;
            at = 23;
            for _ in 0..arrays {
                let nal_type = byte(at)? & 0x3F;
                let n = u16::from_be_bytes([byte(at + 1)?, byte(at + 2)?]);
                at += 3;
                for _ in 0..n {
                    let nal = take(&mut at)?;
                    match nal_type {
                        32 => sets.vps.push(nal),
                        33 => sets.sps.push(nal),
                        34 => sets.pps.push(nal),
                        _ => {} // SEI arrays: not needed to decode
                    }
                }
            }
            length_size
        }
    };
    Ok((sets, length_size))
}

/// The picture size and frame rate an SPS says.
pub fn sps_info(codec: VideoCodec, sps: &[u8]) -> Result<SpsInfo> {
    match codec {
        VideoCodec::H264 => {
            let parsed = parse_avc_sps(sps)?;
            let (width, height) = parsed
                .pixel_dimensions()
                .map_err(|e| Error::InvalidParameterSet(format!("H.264 SPS: {e:?}")))?;
            let frame_rate = parsed
                .vui_parameters
                .as_ref()
                .and_then(|v| v.timing_info.as_ref())
                .filter(|t| t.num_units_in_tick > 0 && t.time_scale > 0)
                .map(|t| f64::from(t.time_scale) / (2.0 * f64::from(t.num_units_in_tick)));
            Ok(SpsInfo {
                width,
                height,
                frame_rate,
            })
        }
        VideoCodec::H265 => {
            let hevc = HevcSps::parse(sps)?;
            Ok(SpsInfo {
                width: hevc.width,
                height: hevc.height,
                frame_rate: hevc.frame_rate,
            })
        }
    }
}

fn parse_avc_sps(sps: &[u8]) -> Result<SeqParameterSet> {
    let rbsp =
        decode_nal(sps).map_err(|e| Error::InvalidParameterSet(format!("H.264 SPS: {e}")))?;
    SeqParameterSet::from_bits(BitReader::new(&rbsp[..]))
        .map_err(|e| Error::InvalidParameterSet(format!("H.264 SPS: {e:?}")))
}
