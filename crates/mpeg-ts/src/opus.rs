//! Opus packets in PES payloads: each behind a control header (the Opus project's
//! mapping of Opus into MPEG-TS, which ffmpeg writes and reads): the 11-bit prefix
//! `0x3FF`, flags for start trim, end trim and a control extension, the packet's size as
//! a run of 0xFF bytes and a last byte below 0xFF, then the optional trims and extension.

use bytes::Bytes;

use crate::{Error, Result};

/// The control header of one Opus packet of `size` bytes, with a start trim when given
/// (the stream's first packet: the encoder's pre-skip); no end trim, no extension.
pub fn control_header(size: usize, start_trim: Option<u16>) -> Vec<u8> {
    let mut header = Vec::with_capacity(5 + size / 255);
    header.extend_from_slice(&[0x7F, if start_trim.is_some() { 0xF0 } else { 0xE0 }]);
    header.extend(std::iter::repeat_n(0xFF, size / 255));
    header.push((size % 255) as u8);
    if let Some(trim) = start_trim {
        header.extend_from_slice(&trim.to_be_bytes());
    }
    header
}

/// The start trim of the payload's first packet (samples to drop at the start of the
/// stream: the encoder's pre-skip, as ffmpeg writes it), if its control header has one.
pub fn start_trim(payload: &[u8]) -> Option<u16> {
    let [0x7F, flags, rest @ ..] = payload else {
        return None;
    };
    if flags & 0xF0 != 0xF0 {
        return None; // no prefix, or no start trim
    }
    let size_bytes = rest.iter().position(|b| *b != 0xFF)? + 1;
    let trim = rest.get(size_bytes..size_bytes + 2)?;
    Some(u16::from_be_bytes([trim[0], trim[1]]))
}

/// The Opus packets of a PES payload, slices of it; trims and extensions are skipped.
/// A payload that does not start with a control header, or one that claims more bytes
/// than it has, is an error (no packet of it is given).
pub fn packets(payload: &Bytes) -> Result<Vec<Bytes>> {
    let bad = |what: &str| Error::InvalidConfig {
        what: "Opus control header",
        reason: what.to_owned(),
    };
    let mut packets = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let (Some(&first), Some(&flags)) = (payload.get(at), payload.get(at + 1)) else {
            return Err(bad("a control header cut short"));
        };
        if first != 0x7F || flags & 0xE0 != 0xE0 {
            return Err(bad("no control header where a packet starts"));
        }
        at += 2;
        let mut size = 0usize;
        loop {
            let byte = *payload.get(at).ok_or_else(|| bad("a size cut short"))?;
            at += 1;
            size += usize::from(byte);
            if byte != 0xFF {
                break;
            }
        }
        // Start and end trim (2 bytes each), then an extension of its own length.
        at += 2 * usize::from(flags & 0x10 != 0) + 2 * usize::from(flags & 0x08 != 0);
        if flags & 0x04 != 0 {
            let length = *payload
                .get(at)
                .ok_or_else(|| bad("an extension cut short"))?;
            at += 1 + usize::from(length);
        }
        let end = at
            .checked_add(size)
            .filter(|end| *end <= payload.len())
            .ok_or_else(|| bad("a packet longer than the payload"))?;
        packets.push(payload.slice(at..end));
        at = end;
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_through_their_control_headers() {
        let small = Bytes::from(vec![1u8; 100]);
        let big = Bytes::from(vec![2u8; 600]); // 0xFF 0xFF 90
        let mut payload = control_header(small.len(), None);
        payload.extend_from_slice(&small);
        let header = control_header(big.len(), Some(312));
        assert_eq!(&header[2..], &[0xFF, 0xFF, 90, 0x01, 0x38]);
        payload.extend_from_slice(&header);
        payload.extend_from_slice(&big);
        let payload = Bytes::from(payload);
        assert_eq!(packets(&payload).unwrap(), vec![small, big]);
    }

    #[test]
    fn trims_are_skipped_and_lies_refused() {
        // Start trim (2 bytes) and an extension of 1 byte before a 3-byte packet.
        let payload = Bytes::from_static(&[0x7F, 0xF4, 3, 0, 9, 1, 7, 5, 6, 7]);
        assert_eq!(start_trim(&payload), Some(9));
        // ffmpeg's first packet: 439 bytes, a start trim of 312 (its pre-skip).
        assert_eq!(start_trim(&[0x7F, 0xF0, 0xFF, 0xB8, 0x01, 0x38]), Some(312));
        assert_eq!(start_trim(&control_header(5, None)), None);
        assert_eq!(start_trim(&control_header(5, Some(7))), Some(7));
        assert_eq!(
            packets(&payload).unwrap(),
            vec![Bytes::from_static(&[5, 6, 7])]
        );
        assert!(packets(&Bytes::from_static(&[0x7F, 0xE0, 9, 1])).is_err());
        assert!(packets(&Bytes::from_static(&[0x12, 0xE0, 1, 1])).is_err());
        assert!(packets(&Bytes::from_static(&[0x7F, 0xE0, 0xFF])).is_err());
    }
}
