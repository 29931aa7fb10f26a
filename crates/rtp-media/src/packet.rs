//! The RTP fixed header (RFC 3550 §5.1) of a received packet: version 2, CSRCs, the
//! header extension (§5.3.1) and padding stepped over, the payload sliced, not copied.

use bytes::Bytes;

use crate::Error;

/// A received RTP packet: its header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RtpPacket {
    /// The payload type (7 bits).
    pub payload_type: u8,
    /// The marker bit: for video, the last packet of an access unit.
    pub marker: bool,
    /// The sequence number, wrapping.
    pub sequence: u16,
    /// The media timestamp in the stream's clock, wrapping.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: u32,
    /// The payload, without CSRCs, extension or padding.
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses one datagram. Anything but version 2, a header or extension longer than the
    /// datagram, or padding longer than the payload is [`Error::BadPacket`].
    pub fn parse(datagram: Bytes) -> Result<RtpPacket, Error> {
        let bad = |reason| Error::BadPacket {
            reason,
            length: datagram.len(),
        };
        if datagram.len() < crate::HEADER_LEN {
            return Err(bad("shorter than the 12-byte header"));
        }
        let first = datagram[0];
        if first >> 6 != 2 {
            return Err(bad("not RTP version 2"));
        }
        let csrcs = usize::from(first & 0x0f);
        let mut start = crate::HEADER_LEN + 4 * csrcs;
        if first & 0x10 != 0 {
            let Some(ext) = datagram.get(start..start + 4) else {
                return Err(bad("header extension past the end"));
            };
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = datagram.len();
        if start > end {
            return Err(bad("CSRC list or header extension past the end"));
        }
        if first & 0x20 != 0 {
            let padding = usize::from(datagram[end - 1]);
            if padding == 0 || padding > end - start {
                return Err(bad("padding longer than the payload"));
            }
            end -= padding;
        }
        let word = |at: usize| {
            u32::from_be_bytes([
                datagram[at],
                datagram[at + 1],
                datagram[at + 2],
                datagram[at + 3],
            ])
        };
        Ok(RtpPacket {
            payload_type: datagram[1] & 0x7f,
            marker: datagram[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
            timestamp: word(4),
            ssrc: word(8),
            payload: datagram.slice(start..end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrcs_extension_and_padding_are_stepped_over() {
        let mut d = vec![0x80 | 0x20 | 0x10 | 1, 0x80 | 96, 0x12, 0x34];
        d.extend_from_slice(&90_000u32.to_be_bytes());
        d.extend_from_slice(&7u32.to_be_bytes());
        d.extend_from_slice(&[9; 4]); // one CSRC
        d.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        d.extend_from_slice(&[0x65, 0xaa]);
        d.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(Bytes::from(d)).unwrap();
        assert_eq!((p.payload_type, p.marker, p.sequence), (96, true, 0x1234));
        assert_eq!((p.timestamp, p.ssrc), (90_000, 7));
        assert_eq!(&p.payload[..], &[0x65, 0xaa]);
    }

    #[test]
    fn bad_packets_are_errors() {
        let header = |first: u8| {
            let mut d = vec![first, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            d.push(1);
            Bytes::from(d)
        };
        assert!(RtpPacket::parse(Bytes::from_static(&[0x80; 11])).is_err());
        assert!(RtpPacket::parse(header(0x40)).is_err(), "version 1");
        assert!(RtpPacket::parse(header(0x81)).is_err(), "CSRC past the end");
        assert!(
            RtpPacket::parse(header(0x90)).is_err(),
            "extension past the end"
        );
        let mut padded = header(0xa0).to_vec();
        padded[12] = 5;
        assert!(RtpPacket::parse(Bytes::from(padded)).is_err());
        assert!(RtpPacket::parse(header(0x80)).is_ok());
    }
}
