//! Program specific information: the PAT and PMT sections (ISO/IEC 13818-1 §2.4.4.3,
//! §2.4.4.8) and the stream types of Table 2-34.

use crate::crc::crc32;

/// The PID of the program association table.
pub const PAT_PID: u16 = 0x0000;

/// What an elementary stream carries (ISO/IEC 13818-1 Table 2-34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamType {
    /// H.264 in Annex B byte-stream format (0x1B).
    H264,
    /// H.265 in Annex B byte-stream format (0x24).
    H265,
    /// AAC in ADTS frames (0x0F).
    AacAdts,
    /// MPEG-1 audio (layer I/II/III) (0x03).
    Mpeg1Audio,
    /// MPEG-2 audio (lower sampling rates) (0x04).
    Mpeg2Audio,
    /// Opus, in the Opus project's mapping (as ffmpeg writes and reads it): PES private
    /// data (0x06) marked by a registration descriptor `Opus` and an extension descriptor
    /// with the channel configuration; each packet behind a control header (see
    /// [`crate::opus`]).
    Opus {
        /// Channels (1 or 2: mapping family 0).
        channels: u8,
    },
    /// AC-3 (0x81, as ATSC A/52 Annex A and ffmpeg write it; read also as DVB's private
    /// data, 0x06, with an AC-3 descriptor, tag 0x6A, or registration `AC-3`). PES
    /// private stream 1 (0xBD), whole sync frames.
    Ac3,
    /// Enhanced AC-3 (0x87, ATSC A/52 Annex G, as ffmpeg writes it with the registration
    /// `EAC3`; read also as DVB's private data with an enhanced AC-3 descriptor, tag 0x7A,
    /// or that registration). PES private stream 1 (0xBD).
    Eac3,
    /// Any other stream type, kept as its number.
    Other(u8),
}

impl StreamType {
    /// The stream_type byte of the PMT.
    pub fn id(self) -> u8 {
        match self {
            StreamType::H264 => 0x1B,
            StreamType::H265 => 0x24,
            StreamType::AacAdts => 0x0F,
            StreamType::Mpeg1Audio => 0x03,
            StreamType::Mpeg2Audio => 0x04,
            StreamType::Opus { .. } => 0x06,
            StreamType::Ac3 => 0x81,
            StreamType::Eac3 => 0x87,
            StreamType::Other(id) => id,
        }
    }

    /// The PES stream_id: video 0xE0, Opus and AC-3 private stream 1 (0xBD), other audio
    /// 0xC0.
    pub fn pes_stream_id(self) -> u8 {
        match self {
            StreamType::H264 | StreamType::H265 => 0xE0,
            StreamType::Opus { .. } | StreamType::Ac3 | StreamType::Eac3 => 0xBD,
            _ => 0xC0,
        }
    }

    /// The ES descriptors of the PMT: Opus's registration (`Opus`) and extension (tag
    /// 0x80, the channel configuration code) descriptors, AC-3's registration (`AC-3`);
    /// none for the others.
    fn descriptors(self) -> Vec<u8> {
        match self {
            StreamType::Opus { channels } => {
                vec![0x05, 4, b'O', b'p', b'u', b's', 0x7F, 2, 0x80, channels]
            }
            StreamType::Ac3 => vec![0x05, 4, b'A', b'C', b'-', b'3'],
            StreamType::Eac3 => vec![0x05, 4, b'E', b'A', b'C', b'3'],
            _ => Vec::new(),
        }
    }

    /// The stream type of a stream_type byte.
    pub fn from_id(id: u8) -> StreamType {
        match id {
            0x1B => StreamType::H264,
            0x24 => StreamType::H265,
            0x0F => StreamType::AacAdts,
            0x03 => StreamType::Mpeg1Audio,
            0x04 => StreamType::Mpeg2Audio,
            0x81 => StreamType::Ac3,
            0x87 => StreamType::Eac3,
            other => StreamType::Other(other),
        }
    }

    /// Whether it is video (its PES stream_id is 0xE0, others 0xC0).
    pub fn is_video(self) -> bool {
        matches!(self, StreamType::H264 | StreamType::H265)
    }
}

/// A PAT section naming one program's PMT PID.
pub(crate) fn pat_section(program: u16, pmt_pid: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&program.to_be_bytes());
    body.extend_from_slice(&(0xE000 | pmt_pid).to_be_bytes());
    section(0x00, 1, &body)
}

/// A PMT section: PCR PID and the (PID, stream type) of each elementary stream.
pub(crate) fn pmt_section(program: u16, pcr_pid: u16, streams: &[(u16, StreamType)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + streams.len() * 5);
    body.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
    body.extend_from_slice(&0xF000u16.to_be_bytes()); // no program descriptors
    for &(pid, stream_type) in streams {
        let descriptors = stream_type.descriptors();
        body.push(stream_type.id());
        body.extend_from_slice(&(0xE000 | pid).to_be_bytes());
        body.extend_from_slice(&(0xF000 | descriptors.len() as u16).to_be_bytes());
        body.extend_from_slice(&descriptors);
    }
    section(0x02, program, &body)
}

/// A long-form section: table id, length, id, version 0, current, section 0 of 0, body,
/// CRC.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    // After the length field: id (2), version/current (1), numbers (2), body, CRC (4).
    let length = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + length);
    s.push(table_id);
    s.extend_from_slice(&(0xB000 | length as u16).to_be_bytes());
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0x00, 0x00]);
    s.extend_from_slice(body);
    s.extend_from_slice(&crc32(&s).to_be_bytes());
    s
}

/// One section's table id and its body between the section header and the CRC, if the
/// section is whole and its CRC checks. `data` starts at the table id.
pub(crate) fn parse_section(data: &[u8]) -> Option<(u8, &[u8])> {
    let length = usize::from(u16::from_be_bytes([*data.get(1)?, *data.get(2)?]) & 0x0FFF);
    let whole = data.get(..3 + length)?;
    if length < 9 || crc32(whole) != 0 {
        return None;
    }
    Some((whole[0], &whole[8..whole.len() - 4]))
}

/// The PMT PIDs of a PAT body (program 0, the network PID, left out).
pub(crate) fn parse_pat(body: &[u8]) -> Vec<u16> {
    body.chunks_exact(4)
        .filter(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
        .map(|e| u16::from_be_bytes([e[2], e[3]]) & 0x1FFF)
        .collect()
}

/// The elementary streams (PID, type) of a PMT body.
pub(crate) fn parse_pmt(body: &[u8]) -> Vec<(u16, StreamType)> {
    let mut streams = Vec::new();
    let Some(info) = body.get(2..4) else {
        return streams;
    };
    let skip = 4 + usize::from(u16::from_be_bytes([info[0], info[1]]) & 0x0FFF);
    let mut rest = body.get(skip..).unwrap_or(&[]);
    while rest.len() >= 5 {
        let pid = u16::from_be_bytes([rest[1], rest[2]]) & 0x1FFF;
        let es_info = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
        let descriptors = rest.get(5..5 + es_info).unwrap_or(&[]);
        let stream_type = match rest[0] {
            0x06 => opus(descriptors)
                .or_else(|| ac3(descriptors))
                .unwrap_or(StreamType::Other(0x06)),
            id => StreamType::from_id(id),
        };
        streams.push((pid, stream_type));
        rest = rest.get(5 + es_info..).unwrap_or(&[]);
    }
    streams
}

/// Opus, when the descriptors of a private-data stream register it: the channels from
/// the extension descriptor's channel configuration (0x80), stereo when it is missing.
fn opus(mut descriptors: &[u8]) -> Option<StreamType> {
    let mut registered = false;
    let mut channels = 2;
    while let [tag, length, rest @ ..] = descriptors {
        let body = rest.get(..usize::from(*length))?;
        match (tag, body) {
            (0x05, [b'O', b'p', b'u', b's', ..]) => registered = true,
            (0x7F, [0x80, code, ..]) if (1..=2).contains(code) => channels = *code,
            _ => {}
        }
        descriptors = &rest[usize::from(*length)..];
    }
    registered.then_some(StreamType::Opus { channels })
}

/// AC-3 or Enhanced AC-3, when the descriptors of a private-data stream say so: DVB's
/// AC-3 and enhanced AC-3 descriptors (EN 300 468 §6.2.1, tags 0x6A and 0x7A) or the
/// registrations `AC-3` and `EAC3`.
fn ac3(mut descriptors: &[u8]) -> Option<StreamType> {
    while let [tag, length, rest @ ..] = descriptors {
        let body = rest.get(..usize::from(*length))?;
        if *tag == 0x6A || (*tag == 0x05 && body.starts_with(b"AC-3")) {
            return Some(StreamType::Ac3);
        }
        if *tag == 0x7A || (*tag == 0x05 && body.starts_with(b"EAC3")) {
            return Some(StreamType::Eac3);
        }
        descriptors = &rest[usize::from(*length)..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmt_round_trip() {
        let streams = [(0x100, StreamType::H264), (0x101, StreamType::AacAdts)];
        let s = pmt_section(1, 0x100, &streams);
        let (table, body) = parse_section(&s).expect("valid section");
        assert_eq!(table, 2);
        assert_eq!(parse_pmt(body), streams);
        let pat = pat_section(1, 0x1000);
        let (table, body) = parse_section(&pat).expect("valid section");
        assert_eq!((table, parse_pat(body)), (0, vec![0x1000]));
    }

    #[test]
    fn opus_is_told_by_its_descriptors() {
        let streams = [
            (0x100, StreamType::Opus { channels: 1 }),
            (0x101, StreamType::Other(6)),
        ];
        let s = pmt_section(1, 0x100, &streams);
        let (_, body) = parse_section(&s).expect("valid section");
        assert_eq!(parse_pmt(body), streams);
    }

    #[test]
    fn ac3_is_told_by_its_type_or_its_descriptors() {
        let streams = [(0x100, StreamType::H264), (0x101, StreamType::Ac3)];
        let s = pmt_section(1, 0x100, &streams);
        let (_, body) = parse_section(&s).expect("valid section");
        assert_eq!(parse_pmt(body), streams);
        // DVB: private data with an AC-3 descriptor (flags byte only).
        let mut body = vec![0xE1, 0x00, 0xF0, 0x00];
        body.extend_from_slice(&[0x06, 0xE1, 0x01, 0xF0, 0x03, 0x6A, 1, 0x00]);
        assert_eq!(parse_pmt(&body), vec![(0x101, StreamType::Ac3)]);
        let streams = [(0x100, StreamType::H264), (0x101, StreamType::Eac3)];
        let s = pmt_section(1, 0x100, &streams);
        let (_, body) = parse_section(&s).expect("valid section");
        assert_eq!(parse_pmt(body), streams);
        let mut body = vec![0xE1, 0x00, 0xF0, 0x00];
        body.extend_from_slice(&[0x06, 0xE1, 0x01, 0xF0, 0x03, 0x7A, 1, 0x00]);
        assert_eq!(parse_pmt(&body), vec![(0x101, StreamType::Eac3)]);
    }

    #[test]
    fn bad_crc_is_refused() {
        let mut s = pat_section(1, 0x1000);
        s[5] ^= 1;
        assert!(parse_section(&s).is_none());
    }
}
