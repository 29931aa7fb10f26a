//! H.264/H.265 NAL units between the two framings (ISO/IEC 14496-10 Annex B start codes
//! in TS; ISO/IEC 14496-15 4-byte length prefixes and avcC/hvcC records in MP4), and the
//! parameter sets a transport stream carries in-band.
//!
//! The workspace's `elementary` crate (Annex B, in progress elsewhere) will own this;
//! until it lands, this module keeps the few conversions TS needs.

use bytes::{Bytes, BytesMut};

use crate::{Error, Result};

/// The 4-byte Annex B start code.
pub const START_CODE: Bytes = Bytes::from_static(&[0, 0, 0, 1]);

/// Video codec family, for NAL unit types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoCodec {
    /// H.264: 1-byte NAL header, type in the low 5 bits.
    H264,
    /// H.265: 2-byte NAL header, type in bits 1..7 of the first byte.
    H265,
}

impl VideoCodec {
    /// The NAL unit type of a NAL unit.
    pub fn nal_type(self, nal: &[u8]) -> Option<u8> {
        let first = *nal.first()?;
        Some(match self {
            VideoCodec::H264 => first & 0x1F,
            VideoCodec::H265 => (first >> 1) & 0x3F,
        })
    }

    /// The access unit delimiter, start code included (sent first in each TS access unit).
    pub fn access_unit_delimiter(self) -> Bytes {
        match self {
            VideoCodec::H264 => Bytes::from_static(&[0, 0, 0, 1, 0x09, 0xF0]),
            VideoCodec::H265 => Bytes::from_static(&[0, 0, 0, 1, 0x46, 0x01, 0x50]),
        }
    }

    /// Whether this NAL unit type is a parameter set (H.264 SPS/PPS, H.265 VPS/SPS/PPS).
    pub fn is_parameter_set(self, nal_type: u8) -> bool {
        match self {
            VideoCodec::H264 => matches!(nal_type, 7 | 8),
            VideoCodec::H265 => matches!(nal_type, 32..=34),
        }
    }

    fn is_delimiter(self, nal_type: u8) -> bool {
        match self {
            VideoCodec::H264 => nal_type == 9,
            VideoCodec::H265 => nal_type == 35,
        }
    }
}

/// The NAL units of a 4-byte length-prefixed sample, as slices of it.
pub fn length_prefixed_units(sample: &Bytes) -> Result<Vec<Bytes>> {
    let mut units = Vec::new();
    let mut at = 0;
    while at < sample.len() {
        let Some(prefix) = sample.get(at..at + 4) else {
            return Err(invalid("sample", "a length prefix is cut off"));
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let end = at + 4 + len;
        if end > sample.len() {
            return Err(invalid("sample", "a NAL unit is longer than the sample"));
        }
        units.push(sample.slice(at + 4..end));
        at = end;
    }
    Ok(units)
}

/// The NAL units of an Annex B byte stream (3- or 4-byte start codes), as slices of it.
pub fn annex_b_units(data: &Bytes) -> Vec<Bytes> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1; // trailing zeros belong to the next start code
                }
                units.push(data.slice(s..end));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start.filter(|&s| s < data.len()) {
        units.push(data.slice(s..));
    }
    units.retain(|u| !u.is_empty());
    units
}

/// The pieces of one TS access unit: delimiter, parameter sets (before key frames), and
/// the sample's NAL units, each after a start code. Delimiters and parameter sets the
/// sample holds already are not repeated.
pub fn annex_b_pieces(
    codec: VideoCodec,
    sample: &Bytes,
    parameter_sets: Option<&[Bytes]>,
) -> Result<Vec<Bytes>> {
    let units = length_prefixed_units(sample)?;
    let mut pieces = Vec::with_capacity(2 * units.len() + 8);
    pieces.push(codec.access_unit_delimiter());
    let has_sets = units
        .iter()
        .any(|u| codec.nal_type(u).is_some_and(|t| codec.is_parameter_set(t)));
    if let Some(sets) = parameter_sets.filter(|_| !has_sets) {
        for set in sets {
            pieces.push(START_CODE);
            pieces.push(set.clone());
        }
    }
    for unit in units {
        if codec.nal_type(&unit).is_some_and(|t| codec.is_delimiter(t)) {
            continue;
        }
        pieces.push(START_CODE);
        pieces.push(unit);
    }
    Ok(pieces)
}

/// An Annex B access unit as a 4-byte length-prefixed sample, without delimiters and
/// parameter sets (those go to the configuration record), and the parameter sets found.
pub fn to_length_prefixed(codec: VideoCodec, access_unit: &Bytes) -> (Bytes, Vec<Bytes>) {
    let units = annex_b_units(access_unit);
    let mut sample = BytesMut::with_capacity(access_unit.len() + 4 * units.len());
    let mut sets = Vec::new();
    for unit in units {
        let Some(nal_type) = codec.nal_type(&unit) else {
            continue;
        };
        if codec.is_delimiter(nal_type) {
            continue;
        }
        if codec.is_parameter_set(nal_type) {
            sets.push(unit);
            continue;
        }
        sample.extend_from_slice(&(unit.len() as u32).to_be_bytes());
        sample.extend_from_slice(&unit);
    }
    (sample.freeze(), sets)
}

/// The parameter sets (SPS then PPS) of an avcC record (ISO/IEC 14496-15 §5.3.3.1).
pub fn avc_parameter_sets(record: &Bytes) -> Result<Vec<Bytes>> {
    let bad = |r: &str| invalid("avcC", r);
    if record.len() < 7 || record[0] != 1 {
        return Err(bad("shorter than 7 bytes or not version 1"));
    }
    let mut sets = Vec::new();
    let mut at = 5;
    for mask in [0x1F, 0xFF] {
        let count = record.get(at).ok_or_else(|| bad("cut off"))? & mask;
        at += 1;
        for _ in 0..count {
            let len = record.get(at..at + 2).ok_or_else(|| bad("cut off"))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let set = record
                .get(at + 2..at + 2 + len)
                .ok_or_else(|| bad("cut off"))?;
            sets.push(record.slice_ref(set));
            at += 2 + len;
        }
    }
    Ok(sets)
}

/// The parameter sets (VPS, SPS, PPS, in the record's order) of an hvcC record
/// (ISO/IEC 14496-15 §8.3.3.1).
pub fn hevc_parameter_sets(record: &Bytes) -> Result<Vec<Bytes>> {
    let bad = |r: &str| invalid("hvcC", r);
    let mut at = 22;
    let arrays = *record.get(at).ok_or_else(|| bad("shorter than 23 bytes"))?;
    at += 1;
    let mut sets = Vec::new();
    for _ in 0..arrays {
        let count = record.get(at + 1..at + 3).ok_or_else(|| bad("cut off"))?;
        let count = u16::from_be_bytes([count[0], count[1]]);
        at += 3;
        for _ in 0..count {
            let len = record.get(at..at + 2).ok_or_else(|| bad("cut off"))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let set = record
                .get(at + 2..at + 2 + len)
                .ok_or_else(|| bad("cut off"))?;
            sets.push(record.slice_ref(set));
            at += 2 + len;
        }
    }
    Ok(sets)
}

/// An avcC record from in-band SPS and PPS NAL units.
pub fn avc_record(sets: &[Bytes]) -> Result<Bytes> {
    let of = |t: u8| -> Vec<&Bytes> {
        sets.iter()
            .filter(|s| VideoCodec::H264.nal_type(s) == Some(t))
            .collect()
    };
    let (sps, pps) = (of(7), of(8));
    let first = sps
        .first()
        .filter(|s| s.len() >= 4)
        .ok_or_else(|| invalid("H.264 stream", "no SPS before the first key frame"))?;
    if pps.is_empty() {
        return Err(invalid("H.264 stream", "no PPS before the first key frame"));
    }
    let mut r = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xFF,
        0xE0 | sps.len().min(31) as u8,
    ];
    for s in sps.iter().take(31) {
        r.extend_from_slice(&(s.len() as u16).to_be_bytes());
        r.extend_from_slice(s);
    }
    r.push(pps.len().min(255) as u8);
    for p in pps.iter().take(255) {
        r.extend_from_slice(&(p.len() as u16).to_be_bytes());
        r.extend_from_slice(p);
    }
    // High and up: chroma format and bit depths (ISO/IEC 14496-15 §5.3.3.1.2), read from
    // the SPS (4:2:0 8-bit, by far the most common, when it is cut before them); strict
    // readers (shiguredo_mp4) refuse a record without them.
    if crate::sps::avc_has_chroma_fields(first[1]) {
        let (chroma, luma, chroma_depth) = crate::sps::avc_chroma(first).unwrap_or((1, 0, 0));
        r.extend_from_slice(&[0xFC | chroma, 0xF8 | luma, 0xF8 | chroma_depth, 0]);
    }
    Ok(Bytes::from(r))
}

/// An hvcC record from in-band VPS, SPS and PPS NAL units; the profile, tier and level
/// are copied from the SPS's general profile_tier_level, chroma 4:2:0 8-bit assumed for
/// the informative fields (decoders read the SPS).
pub fn hevc_record(sets: &[Bytes]) -> Result<Bytes> {
    let of = |t: u8| -> Vec<&Bytes> {
        sets.iter()
            .filter(|s| VideoCodec::H265.nal_type(s) == Some(t))
            .collect()
    };
    let (vps, sps, pps) = (of(32), of(33), of(34));
    let first = sps
        .first()
        .ok_or_else(|| invalid("H.265 stream", "no SPS before the first key frame"))?;
    if vps.is_empty() || pps.is_empty() {
        return Err(invalid(
            "H.265 stream",
            "no VPS or PPS before the first key frame",
        ));
    }
    // NAL header (2), sps_video_parameter_set_id etc. (1), then 12 bytes of general PTL;
    // emulation prevention bytes removed first.
    let rbsp = crate::sps::unescape(first.get(2..).unwrap_or(&[]));
    let ptl = rbsp
        .get(1..13)
        .ok_or_else(|| invalid("H.265 SPS", "too short for profile_tier_level"))?;
    let mut r = vec![1];
    r.extend_from_slice(ptl);
    r.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F]);
    r.push(3);
    for (nal_type, list) in [(32u8, vps), (33, sps), (34, pps)] {
        r.push(0x80 | nal_type); // array_completeness
        r.extend_from_slice(&(list.len() as u16).to_be_bytes());
        for s in list {
            r.extend_from_slice(&(s.len() as u16).to_be_bytes());
            r.extend_from_slice(s);
        }
    }
    Ok(Bytes::from(r))
}

fn invalid(what: &'static str, reason: &str) -> Error {
    Error::InvalidConfig {
        what,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_and_back() {
        let sample = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x41]);
        let sps = Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1E]);
        let pieces = annex_b_pieces(VideoCodec::H264, &sample, Some(std::slice::from_ref(&sps)))
            .expect("valid sample");
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let (back, sets) = to_length_prefixed(VideoCodec::H264, &Bytes::from(joined));
        assert_eq!(back, sample);
        assert_eq!(sets, vec![sps]);
    }

    #[test]
    fn avc_record_round_trip() {
        let sets = vec![
            Bytes::from_static(&[0x67, 0x64, 0x00, 0x1F, 0xAC]),
            Bytes::from_static(&[0x68, 0xEE, 0x3C, 0x80]),
        ];
        let record = avc_record(&sets).expect("SPS and PPS");
        assert_eq!(avc_parameter_sets(&record).expect("valid record"), sets);
    }

    /// High and High 4:2:2 10-bit (x264's SPSs): the record ends with the chroma format
    /// and bit depths the SPS gives; Baseline's has none.
    #[test]
    fn avc_record_carries_chroma_and_bit_depths_from_high_up() {
        let pps = Bytes::from_static(&[0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0]);
        let high = Bytes::from_static(&[
            0x67, 0x64, 0x00, 0x0D, 0xAC, 0xD9, 0x41, 0x41, 0xFB, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xF1, 0x42, 0x99, 0x60,
        ]);
        let high_422_10 = Bytes::from_static(&[
            0x67, 0x7A, 0x00, 0x0A, 0xB6, 0xCD, 0x94, 0x42, 0x6C, 0x04, 0x40, 0x00, 0x00, 0x03,
            0x00, 0x40, 0x00, 0x00, 0x0C, 0x83, 0xC4, 0x89, 0x65, 0x80,
        ]);
        let baseline = Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x01, 0x40]);
        for (sps, tail) in [
            (&high, Some([0xFD, 0xF8, 0xF8, 0])),
            (&high_422_10, Some([0xFE, 0xFA, 0xFA, 0])),
            (&baseline, None),
        ] {
            let sets = vec![sps.clone(), pps.clone()];
            let record = avc_record(&sets).expect("SPS and PPS");
            let plain = 6 + 2 + sps.len() + 1 + 2 + pps.len();
            match tail {
                Some(tail) => assert_eq!(record[plain..], tail, "profile {}", sps[1]),
                None => assert_eq!(record.len(), plain),
            }
            assert_eq!(avc_parameter_sets(&record).expect("valid record"), sets);
        }
        assert_eq!(crate::sps::avc_dimensions(&high), Some((320, 240)));
    }
}
