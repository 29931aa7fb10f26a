//! Frames to RTP packets, one payload format per codec.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Error, HEADER_LEN};

/// The payload format of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// H.264, RFC 6184 packetization mode 1: a NAL unit per packet when it fits, else
    /// fragmentation units (FU-A). Frames are 4-byte length-prefixed NAL units.
    H264,
    /// H.265, RFC 7798: a NAL unit per packet when it fits, else fragmentation units.
    /// Frames are 4-byte length-prefixed NAL units.
    H265,
    /// AAC, RFC 3640 `mpeg4-generic` in `AAC-hbr` mode: one access unit per packet (13-bit
    /// size, 3-bit index), fragmented across packets when larger than one.
    Aac,
    /// AAC in LATM, RFC 6416 `MP4A-LATM` with the configuration out of band (`cpresent=0`,
    /// the StreamMuxConfig in the SDP's `config=`): one access unit per packet after its
    /// length (PayloadLengthInfo: bytes of 255 and a last one below), continued in the
    /// next packets when larger than one. What GStreamer's `rtpmp4apay` and many cameras
    /// send.
    AacLatm,
    /// Opus, RFC 7587: one Opus packet per RTP packet.
    Opus,
    /// MPEG audio (MP3, MP2), RFC 2250: one frame per packet after a 4-byte header that
    /// carries the fragment offset (payload type 14, 90 kHz clock).
    Mpa,
}

/// Cuts frames of one stream into RTP packets: sequence numbers, marker bits, the payload
/// format's headers. Counts what it made, for the sender reports.
#[derive(Debug, Clone)]
pub struct Packetizer {
    format: Format,
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    max_packet: usize,
    packets: u32,
    octets: u32,
}

impl Packetizer {
    /// A stream of `format` as `payload_type` (7 bits) from `ssrc`, each packet at most
    /// `max_packet` bytes with its RTP header (1200 keeps a packet within any path's MTU).
    pub fn new(format: Format, payload_type: u8, ssrc: u32, max_packet: usize) -> Packetizer {
        Packetizer {
            format,
            payload_type: payload_type & 0x7f,
            // Derived from the SSRC rather than 0: RFC 3550 wants it unpredictable.
            sequence: (ssrc >> 7) as u16,
            ssrc,
            max_packet,
            packets: 0,
            octets: 0,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets and payload octets sent so far (the sender report's counts, wrapping).
    pub fn counts(&self) -> (u32, u32) {
        (self.packets, self.octets)
    }

    /// The RTP packets of one frame presented at `timestamp` (the stream's clock: 90 kHz
    /// for video and MPEG audio, the sample rate for AAC, 48 kHz for Opus).
    pub fn packetize(&mut self, timestamp: u32, frame: &[u8]) -> Result<Vec<Bytes>, Error> {
        self.packetize_part(timestamp, frame, true)
    }

    /// As [`packetize`](Self::packetize), for NAL units that begin an access unit whose
    /// last packet (the one with the marker bit) is still to come when `ends_frame` is
    /// false: parameter sets sent in band before a key frame.
    pub fn packetize_part(
        &mut self,
        timestamp: u32,
        frame: &[u8],
        ends_frame: bool,
    ) -> Result<Vec<Bytes>, Error> {
        let room = self
            .max_packet
            .checked_sub(HEADER_LEN + 4)
            .filter(|r| *r > 0)
            .ok_or(Error::PacketSize(self.max_packet))?;
        let mut out = Vec::new();
        match self.format {
            Format::H264 | Format::H265 => {
                let units = nal_units(frame)?;
                let last = units.len().saturating_sub(1);
                for (i, unit) in units.into_iter().enumerate() {
                    self.nal_unit(timestamp, unit, ends_frame && i == last, room, &mut out);
                }
            }
            Format::Aac => {
                // AU-headers-length (16 bits: one 16-bit header), AU-size (13) + index (3).
                let size = u16::try_from(frame.len())
                    .ok()
                    .filter(|s| *s < 1 << 13)
                    .ok_or(Error::AacTooLong(frame.len()))?;
                let head = [0, 16, (size >> 5) as u8, ((size & 0x1f) << 3) as u8];
                let pieces: Vec<&[u8]> = frame.chunks(room).collect();
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.into_iter().enumerate() {
                    out.push(self.packet(timestamp, i == last, &[&head, piece]));
                }
            }
            Format::AacLatm => {
                let mut head = vec![255u8; frame.len() / 255];
                head.push((frame.len() % 255) as u8);
                let element = [&head[..], frame].concat();
                let pieces: Vec<&[u8]> = element.chunks(room + 4).collect();
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.into_iter().enumerate() {
                    out.push(self.packet(timestamp, i == last, &[piece]));
                }
            }
            Format::Opus => out.push(self.packet(timestamp, true, &[frame])),
            Format::Mpa => {
                let mut offset = 0usize;
                for piece in frame.chunks(room) {
                    let head = [0, 0, (offset >> 8) as u8, offset as u8];
                    let last = offset + piece.len() == frame.len();
                    out.push(self.packet(timestamp, last, &[&head, piece]));
                    offset += piece.len();
                }
            }
        }
        Ok(out)
    }

    /// One NAL unit's packets ([`nal_payloads`]); the last of the frame's carries the
    /// marker bit.
    fn nal_unit(
        &mut self,
        timestamp: u32,
        unit: &[u8],
        last_of_frame: bool,
        room: usize,
        out: &mut Vec<Bytes>,
    ) {
        // `room` leaves 4 bytes that a whole unit may use (its header is in the unit).
        for piece in nal_payloads(self.format, unit, room + 4) {
            let marker = last_of_frame && piece.last;
            out.push(self.packet(timestamp, marker, &[piece.head(), piece.body]));
        }
    }

    fn packet(&mut self, timestamp: u32, marker: bool, parts: &[&[u8]]) -> Bytes {
        let payload: usize = parts.iter().map(|p| p.len()).sum();
        let mut packet = BytesMut::with_capacity(HEADER_LEN + payload);
        packet.put_u8(0x80); // version 2, no padding, no extension, no CSRC
        packet.put_u8(u8::from(marker) << 7 | self.payload_type);
        packet.put_u16(self.sequence);
        packet.put_u32(timestamp);
        packet.put_u32(self.ssrc);
        for part in parts {
            packet.put_slice(part);
        }
        self.sequence = self.sequence.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
        packet.freeze()
    }
}

/// One RTP payload of an H.264 or H.265 NAL unit: a few header bytes of the payload
/// format (none for a whole unit) and the unit's bytes that follow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalPayload<'a> {
    head: [u8; 3],
    head_len: u8,
    /// The unit's bytes in this payload, after [`NalPayload::head`].
    pub body: &'a [u8],
    /// The unit's last payload (a frame's last unit puts the marker bit on it).
    pub last: bool,
}

impl NalPayload<'_> {
    /// The payload format's bytes before [`NalPayload::body`]: the FU indicator and
    /// header (H.264 FU-A: 2 bytes; H.265 FU: 3), empty for a whole unit.
    pub fn head(&self) -> &[u8] {
        &self.head[..usize::from(self.head_len)]
    }

    /// The payload's length.
    pub fn len(&self) -> usize {
        usize::from(self.head_len) + self.body.len()
    }

    /// Whether the payload is empty (never: a unit has its header byte).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The RTP payloads of one NAL unit (without its start code or length prefix) of
/// `format` ([`Format::H264`], RFC 6184 packetization mode 1; [`Format::H265`], RFC 7798
/// without DONL), each at most `max_payload` bytes: the whole unit when it fits, else
/// fragmentation units (FU-A type 28, FU type 49) whose first has the start bit and
/// last the end bit. Nothing for an empty unit, or a `max_payload` too small for a
/// fragment (under 4 bytes). Other formats are not cut in NAL units: nothing.
pub fn nal_payloads(
    format: Format,
    unit: &[u8],
    max_payload: usize,
) -> impl Iterator<Item = NalPayload<'_>> {
    let (head_len, indicator, kind) = match (format, unit) {
        (Format::H264, [first, ..]) => (2, [(first & 0xe0) | 28, 0], first & 0x1f),
        (Format::H265, [first, second, ..]) => (
            3,
            [(first & 0x81) | (49 << 1), *second],
            (first >> 1) & 0x3f,
        ),
        _ => (0, [0, 0], 0),
    };
    let cut = matches!(format, Format::H264 | Format::H265);
    let whole = cut && !unit.is_empty() && unit.len() <= max_payload;
    let body = if head_len > 0 && max_payload >= head_len + 2 && !whole {
        // The FU header replaces the unit's own header (1 byte in H.264, 2 in H.265).
        &unit[head_len - 1..]
    } else {
        &[][..]
    };
    let chunk = max_payload.saturating_sub(head_len).max(1);
    let count = body.len().div_ceil(chunk);
    let fragments = body.chunks(chunk).enumerate().map(move |(i, piece)| {
        let start = if i == 0 { 0x80 } else { 0 };
        let end = if i + 1 == count { 0x40 } else { 0 };
        let fu_header = start | end | kind;
        let head = if head_len == 2 {
            [indicator[0], fu_header, 0]
        } else {
            [indicator[0], indicator[1], fu_header]
        };
        NalPayload {
            head,
            head_len: head_len as u8,
            body: piece,
            last: i + 1 == count,
        }
    });
    let whole = whole.then_some(NalPayload {
        head: [0; 3],
        head_len: 0,
        body: unit,
        last: true,
    });
    whole.into_iter().chain(fragments)
}

/// The NAL units of a 4-byte length-prefixed access unit (empty ones left out).
fn nal_units(frame: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut units = Vec::new();
    let mut at = 0;
    while at < frame.len() {
        let truncated = |length| Error::NalTruncated {
            at,
            length,
            size: frame.len(),
        };
        let Some(prefix) = frame.get(at..at + 4) else {
            return Err(truncated(0));
        };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let unit = frame
            .get(at + 4..)
            .and_then(|rest| rest.get(..length))
            .ok_or_else(|| truncated(length))?;
        if !unit.is_empty() {
            units.push(unit);
        }
        at += 4 + length;
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn h264_small_units_go_whole_and_the_last_is_marked() {
        let mut p = Packetizer::new(Format::H264, 96, 7, 1200);
        let packets = p.packetize(3000, &unit(&[&[0x67, 1, 2], &[0x68, 3], &[0x65, 4, 5]]));
        let packets = packets.unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(&packets[0][12..], &[0x67, 1, 2]);
        assert_eq!(packets[0][1], 96);
        assert_eq!(packets[2][1], 0x80 | 96);
        let seq = |p: &Bytes| u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(seq(&packets[1]), seq(&packets[0]).wrapping_add(1));
        assert_eq!(&packets[1][4..8], &3000u32.to_be_bytes());
        assert_eq!(&packets[1][8..12], &7u32.to_be_bytes());
    }

    #[test]
    fn a_large_h264_unit_is_cut_into_fu_a_that_put_it_back_together() {
        let nal: Vec<u8> = std::iter::once(0x65)
            .chain((0..5000).map(|i| i as u8))
            .collect();
        let mut p = Packetizer::new(Format::H264, 96, 1, 500);
        let packets = p.packetize(0, &unit(&[&nal])).unwrap();
        assert!(packets.len() > 10 && packets.iter().all(|p| p.len() <= 500));
        let mut rebuilt = vec![(packets[0][12] & 0xe0) | (packets[0][13] & 0x1f)];
        for (i, packet) in packets.iter().enumerate() {
            assert_eq!(packet[12] & 0x1f, 28, "FU-A");
            assert_eq!(packet[13] & 0x80 != 0, i == 0, "start bit");
            assert_eq!(packet[13] & 0x40 != 0, i + 1 == packets.len(), "end bit");
            assert_eq!(packet[1] & 0x80 != 0, i + 1 == packets.len(), "marker");
            rebuilt.extend_from_slice(&packet[14..]);
        }
        assert_eq!(rebuilt, nal);
    }

    #[test]
    fn a_large_h265_unit_is_cut_into_fus_with_the_two_byte_header() {
        // An IDR_W_RADL (type 19) NAL unit header: 0x26 0x01.
        let nal: Vec<u8> = [0x26, 0x01]
            .into_iter()
            .chain(std::iter::repeat_n(9, 3000))
            .collect();
        let mut p = Packetizer::new(Format::H265, 96, 1, 1200);
        let packets = p.packetize(0, &unit(&[&nal])).unwrap();
        assert_eq!(packets.len(), 3);
        let mut rebuilt = vec![0x26, 0x01];
        for (i, packet) in packets.iter().enumerate() {
            assert_eq!((packet[12] >> 1) & 0x3f, 49, "FU");
            assert_eq!(packet[13], 0x01, "layer and temporal id kept");
            assert_eq!(packet[14] & 0x3f, 19, "the unit's type");
            assert_eq!(packet[14] & 0x80 != 0, i == 0);
            assert_eq!(packet[14] & 0x40 != 0, i == 2);
            rebuilt.extend_from_slice(&packet[15..]);
        }
        assert_eq!(rebuilt, nal);
    }

    #[test]
    fn aac_and_mpeg_audio_carry_their_headers() {
        let mut aac = Packetizer::new(Format::Aac, 97, 1, 1200);
        let packets = aac.packetize(1024, &[7; 300]).unwrap();
        assert_eq!(
            &packets[0][12..16],
            &[0, 16, (300 >> 5) as u8, ((300 & 0x1f) << 3) as u8]
        );
        assert_eq!(packets[0].len(), 12 + 4 + 300);
        assert!(aac.packetize(0, &[0; 9000]).is_err());

        let mut mpa = Packetizer::new(Format::Mpa, 14, 1, 200);
        let packets = mpa.packetize(0, &[1; 417]).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(&packets[1][12..16], &[0, 0, 0, 184]);
        assert_eq!(packets.iter().filter(|p| p[1] & 0x80 != 0).count(), 1);
        assert_eq!(mpa.counts(), (3, 417 + 12));
    }

    #[test]
    fn a_lying_length_prefix_is_an_error() {
        let mut p = Packetizer::new(Format::H264, 96, 1, 1200);
        assert!(p.packetize(0, &[0, 0, 0, 9, 0x65]).is_err());
        assert!(p.packetize(0, &[0, 0]).is_err());
        assert!(
            Packetizer::new(Format::Opus, 96, 1, 10)
                .packetize(0, &[1])
                .is_err()
        );
    }

    #[test]
    fn nal_payloads_fill_the_room_and_put_a_unit_back_together() {
        let nal: Vec<u8> = std::iter::once(0x65)
            .chain((0..2500).map(|i| i as u8))
            .collect();
        // A unit of exactly the room goes whole; one byte more is cut.
        let whole: Vec<_> = nal_payloads(Format::H264, &nal[..100], 100).collect();
        assert_eq!(whole.len(), 1);
        assert!(whole[0].head().is_empty() && whole[0].last && whole[0].len() == 100);
        let pieces: Vec<_> = nal_payloads(Format::H264, &nal, 1000).collect();
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() <= 1000));
        assert_eq!(pieces[0].len(), 1000, "every fragment but the last is full");
        let mut rebuilt = vec![(pieces[0].head()[0] & 0xe0) | (pieces[0].head()[1] & 0x1f)];
        for (i, p) in pieces.iter().enumerate() {
            assert_eq!(p.head()[1] & 0x80 != 0, i == 0);
            assert_eq!(p.head()[1] & 0x40 != 0, p.last);
            assert_eq!(p.last, i == 2);
            rebuilt.extend_from_slice(p.body);
        }
        assert_eq!(rebuilt, nal);
        // H.265: the three-byte FU head, the two-byte unit header rebuilt.
        let nal: Vec<u8> = [0x26, 0x01].into_iter().chain([5; 700]).collect();
        let pieces: Vec<_> = nal_payloads(Format::H265, &nal, 300).collect();
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[0].head(), &[(49 << 1), 0x01, 0x80 | 19]);
        let body: Vec<u8> = pieces.iter().flat_map(|p| p.body.iter().copied()).collect();
        assert_eq!(body, nal[2..]);
        // Nothing to send: an empty unit, a room too small for a fragment, audio.
        assert_eq!(nal_payloads(Format::H264, &[], 100).count(), 0);
        assert_eq!(nal_payloads(Format::H264, &[0x65; 10], 3).count(), 0);
        assert_eq!(nal_payloads(Format::Opus, &[1; 10], 100).count(), 0);
    }
}
