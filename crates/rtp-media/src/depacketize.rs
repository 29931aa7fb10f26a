//! RTP packets back to frames, the inverse of [`Packetizer`](crate::Packetizer): H.264
//! (RFC 6184 §5.6–5.8: single NAL units, STAP-A, FU-A), H.265 (RFC 7798 §4.4: single NAL
//! units, aggregation packets, fragmentation units), AAC (RFC 3640 §3.2–3.3, `AAC-hbr`:
//! 13-bit sizes and 3-bit indices, several access units per packet or one across
//! several), Opus (RFC 7587) and MPEG audio (RFC 2250 §3.5, fragments by offset).
//!
//! A gap in the sequence numbers drops the NAL unit or access unit it cut into (counted in
//! [`Depacketizer::dropped`]) rather than gluing the bytes on either side of it together.
//! Memory is bounded: an access unit over 16 MiB and frames not pulled beyond 1024 are
//! dropped too.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Format, RtpPacket};

/// The largest access unit kept; beyond it, it is dropped.
const MAX_FRAME: usize = 16 << 20;
/// Frames waiting to be pulled; beyond it, the oldest is dropped.
const MAX_READY: usize = 1024;
/// Samples per AAC access unit: the step between access units of one packet.
const AAC_FRAME: u32 = 1024;

/// One frame rebuilt from packets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// The RTP timestamp (for video the presentation time).
    pub timestamp: u32,
    /// Video: the access unit's NAL units, each after a 4-byte big-endian length (as in
    /// MP4). Audio: one access unit (AAC, Opus) or the MPEG audio frames of one packet.
    pub data: Bytes,
    /// A video access unit with an IDR (H.264 type 5) or IRAP (H.265 types 16–21) NAL
    /// unit; audio frames are always key frames.
    pub key: bool,
}

/// A frame being rebuilt from fragments.
#[derive(Debug)]
struct Partial {
    timestamp: u32,
    data: BytesMut,
    key: bool,
    /// AAC: the access unit's size from its AU-header.
    size: usize,
}

/// Rebuilds the frames of one stream. Feed it packets in sequence order
/// ([`push`](Self::push)), take frames out ([`pull`](Self::pull)); it never panics and
/// keeps what it holds bounded.
#[derive(Debug)]
pub struct Depacketizer {
    format: Format,
    expected: Option<u16>,
    /// The video access unit being gathered, or the audio frame being defragmented.
    unit: Option<Partial>,
    /// The NAL unit being rebuilt from fragmentation units, its header first.
    fragment: Option<BytesMut>,
    /// The latest VPS (H.265 only), SPS and PPS seen in band.
    parameter_sets: [Option<Bytes>; 3],
    ready: VecDeque<Frame>,
    dropped: u64,
    /// The timestamp of a fragmented unit a gap dropped (already counted): its remaining
    /// fragments are skipped silently.
    skip: Option<u32>,
}

impl Depacketizer {
    /// A depacketizer for a stream of `format`.
    pub fn new(format: Format) -> Depacketizer {
        Depacketizer {
            format,
            expected: None,
            unit: None,
            fragment: None,
            parameter_sets: [None, None, None],
            ready: VecDeque::new(),
            dropped: 0,
            skip: None,
        }
    }

    /// Takes one packet, the next in sequence order (a gap means packets were lost).
    pub fn push(&mut self, packet: &RtpPacket) {
        let gap = self.expected.is_some_and(|e| e != packet.sequence);
        self.expected = Some(packet.sequence.wrapping_add(1));
        if gap {
            if self.fragment.take().is_some() {
                self.dropped += 1;
                self.skip = Some(packet.timestamp);
            }
            if !matches!(self.format, Format::H264 | Format::H265)
                && let Some(partial) = self.unit.take()
            {
                self.dropped += 1;
                self.skip = Some(partial.timestamp);
            }
        }
        match self.format {
            Format::H264 | Format::H265 => self.video(packet),
            Format::Aac => self.aac(packet),
            Format::AacLatm => self.latm(packet),
            Format::Opus => {
                if !packet.payload.is_empty() {
                    self.emit(packet.timestamp, packet.payload.clone(), true);
                }
            }
            Format::Mpa => self.mpa(packet),
        }
    }

    /// The next frame rebuilt, if any.
    pub fn pull(&mut self) -> Option<Frame> {
        self.ready.pop_front()
    }

    /// Ends the stream: the access unit or audio frame still being gathered is made a
    /// frame (a NAL unit still in fragments is dropped).
    pub fn finish(&mut self) {
        match self.format {
            Format::H264 | Format::H265 => self.finish_unit(),
            Format::Mpa => self.finish_audio(),
            _ => {
                if self.unit.take().is_some() {
                    self.dropped += 1;
                }
            }
        }
    }

    /// NAL units or audio access units dropped: cut by a lost packet, malformed, or too
    /// large.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The latest parameter sets seen in band, each without a length prefix: H.264 SPS
    /// and PPS, H.265 VPS, SPS and PPS (those seen so far, in that order).
    pub fn parameter_sets(&self) -> Vec<Bytes> {
        self.parameter_sets.iter().flatten().cloned().collect()
    }

    fn emit(&mut self, timestamp: u32, data: Bytes, key: bool) {
        if self.ready.len() >= MAX_READY {
            self.ready.pop_front();
            self.dropped += 1;
        }
        self.ready.push_back(Frame {
            timestamp,
            data,
            key,
        });
    }

    fn video(&mut self, packet: &RtpPacket) {
        if self
            .unit
            .as_ref()
            .is_some_and(|u| u.timestamp != packet.timestamp)
        {
            self.finish_unit();
        }
        let p = &packet.payload;
        let h265 = self.format == Format::H265;
        let header_len = if h265 { 2 } else { 1 };
        if p.len() < header_len {
            self.dropped += 1;
        } else {
            let kind = if h265 {
                (p[0] >> 1) & 0x3f
            } else {
                p[0] & 0x1f
            };
            match (h265, kind) {
                (false, 1..=23) | (true, 0..=47) => self.nal(packet.timestamp, p.clone()),
                (false, 24) | (true, 48) => self.aggregate(packet.timestamp, p.slice(header_len..)),
                (false, 28) | (true, 49) => self.fragment(packet.timestamp, p),
                _ => self.dropped += 1, // STAP-B, MTAP, FU-B, PACI: not sent by anyone we meet
            }
        }
        if packet.marker {
            self.finish_unit();
        }
    }

    /// STAP-A / AP: NAL units each after a 16-bit size.
    fn aggregate(&mut self, timestamp: u32, mut body: Bytes) {
        while body.len() >= 2 {
            let size = usize::from(u16::from_be_bytes([body[0], body[1]]));
            if size > body.len() - 2 {
                self.dropped += 1;
                return;
            }
            let unit = body.slice(2..2 + size);
            body = body.slice(2 + size..);
            self.nal(timestamp, unit);
        }
    }

    /// FU-A / FU: the start bit begins a NAL unit (its header rebuilt from the indicator
    /// and the FU header), the end bit completes it.
    fn fragment(&mut self, timestamp: u32, p: &Bytes) {
        let h265 = self.format == Format::H265;
        let at = if h265 { 2 } else { 1 };
        let Some(&fu) = p.get(at) else {
            self.dropped += 1;
            return;
        };
        let body = &p[at + 1..];
        if fu & 0x80 != 0 {
            if self.fragment.take().is_some() {
                self.dropped += 1;
            }
            self.skip = None;
            let mut unit = BytesMut::with_capacity(body.len() * 4);
            if h265 {
                unit.put_slice(&[(p[0] & 0x81) | ((fu & 0x3f) << 1), p[1]]);
            } else {
                unit.put_u8((p[0] & 0xe0) | (fu & 0x1f));
            }
            self.fragment = Some(unit);
        }
        let Some(unit) = self.fragment.as_mut() else {
            // Its start was lost: count the unit once, at its end, unless the gap did.
            if fu & 0x40 != 0 && self.skip.take() != Some(timestamp) {
                self.dropped += 1;
            }
            return;
        };
        if unit.len() + body.len() > MAX_FRAME {
            self.fragment = None;
            self.dropped += 1;
            return;
        }
        unit.put_slice(body);
        if fu & 0x40 != 0
            && let Some(unit) = self.fragment.take()
        {
            self.nal(timestamp, unit.freeze());
        }
    }

    fn nal(&mut self, timestamp: u32, unit: Bytes) {
        let Some(&first) = unit.first() else { return };
        let (parameter_set, key) = if self.format == Format::H265 {
            let kind = (first >> 1) & 0x3f;
            (
                kind.checked_sub(32).filter(|k| *k < 3),
                (16..=21).contains(&kind),
            )
        } else {
            let kind = first & 0x1f;
            (
                kind.checked_sub(6).filter(|k| (1..3).contains(k)),
                kind == 5,
            )
        };
        if let Some(slot) = parameter_set {
            self.parameter_sets[usize::from(slot)] = Some(unit.clone());
        }
        let partial = self.unit.get_or_insert_with(|| Partial {
            timestamp,
            data: BytesMut::new(),
            key: false,
            size: 0,
        });
        if partial.data.len() + 4 + unit.len() > MAX_FRAME {
            self.unit = None;
            self.dropped += 1;
            return;
        }
        partial.data.put_u32(unit.len() as u32);
        partial.data.put_slice(&unit);
        partial.key |= key;
    }

    fn finish_unit(&mut self) {
        if self.fragment.take().is_some() {
            self.dropped += 1;
        }
        if let Some(unit) = self.unit.take() {
            self.emit(unit.timestamp, unit.data.freeze(), unit.key);
        }
    }

    /// AU-headers-length in bits, 16-bit AU-headers (13-bit size, 3-bit index or delta),
    /// then the access units; one access unit larger than the packet continues in the
    /// next packets of the same timestamp.
    /// LATM (RFC 6416, `cpresent=0`): the packets of one timestamp up to the marker make
    /// an AudioMuxElement: PayloadLengthInfo (255s and a last byte below 255, summed),
    /// then the access unit. One access unit per element (one program, one layer,
    /// `numSubFrames` 0: what payloaders send).
    fn latm(&mut self, packet: &RtpPacket) {
        if self.skip == Some(packet.timestamp) {
            return; // the rest of an element a gap cut, already counted
        }
        self.skip = None;
        let mut element = match self.unit.take() {
            Some(partial) if partial.timestamp == packet.timestamp => partial.data,
            Some(_) => {
                self.dropped += 1;
                BytesMut::new()
            }
            None => BytesMut::new(),
        };
        if element.len() + packet.payload.len() > MAX_FRAME {
            self.dropped += 1;
            return;
        }
        element.put_slice(&packet.payload);
        if !packet.marker {
            self.unit = Some(Partial {
                timestamp: packet.timestamp,
                data: element,
                key: true,
                size: 0,
            });
            return;
        }
        let element = element.freeze();
        let mut size = 0usize;
        let mut at = 0;
        loop {
            let Some(&b) = element.get(at) else {
                self.dropped += 1;
                return;
            };
            at += 1;
            size += usize::from(b);
            if b != 255 {
                break;
            }
        }
        match element.get(at..at + size) {
            Some(_) if size > 0 => self.emit(packet.timestamp, element.slice(at..at + size), true),
            _ => self.dropped += 1,
        }
    }

    fn aac(&mut self, packet: &RtpPacket) {
        let p = &packet.payload;
        let Some(bits) = p
            .get(..2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            self.dropped += 1;
            return;
        };
        let count = bits / 16;
        let data_at = 2 + bits.div_ceil(8);
        if bits % 16 != 0 || count == 0 || p.len() < data_at {
            self.dropped += 1;
            return;
        }
        let size_of = |i: usize| usize::from(u16::from_be_bytes([p[2 + 2 * i], p[3 + 2 * i]]) >> 3);
        let data = p.slice(data_at..);
        if self.skip == Some(packet.timestamp) {
            return; // the rest of an access unit a gap cut, already counted
        }
        self.skip = None;
        if let Some(mut partial) = self.unit.take() {
            if count == 1 && partial.timestamp == packet.timestamp && size_of(0) == partial.size {
                partial
                    .data
                    .put_slice(&data[..data.len().min(partial.size - partial.data.len())]);
                if partial.data.len() == partial.size {
                    self.emit(partial.timestamp, partial.data.freeze(), true);
                } else {
                    self.unit = Some(partial);
                }
                return;
            }
            self.dropped += 1;
        }
        let mut at = 0;
        for i in 0..count {
            let size = size_of(i);
            let timestamp = packet
                .timestamp
                .wrapping_add(AAC_FRAME.wrapping_mul(i as u32));
            if at + size <= data.len() {
                self.emit(timestamp, data.slice(at..at + size), true);
                at += size;
            } else if count == 1 {
                self.unit = Some(Partial {
                    timestamp,
                    data: BytesMut::from(&data[..]),
                    key: true,
                    size,
                });
            } else {
                self.dropped += (count - i) as u64;
                return;
            }
        }
    }

    /// RFC 2250 §3.5: 16 bits zero, a 16-bit fragment offset, then MPEG audio. A frame
    /// is complete at the marker bit or when the next one (offset 0) begins.
    fn mpa(&mut self, packet: &RtpPacket) {
        let p = &packet.payload;
        if p.len() < 4 {
            self.dropped += 1;
            return;
        }
        let offset = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let data = &p[4..];
        if offset == 0 {
            self.finish_audio();
            self.unit = Some(Partial {
                timestamp: packet.timestamp,
                data: BytesMut::from(data),
                key: true,
                size: 0,
            });
        } else {
            match self.unit.as_mut() {
                Some(partial)
                    if partial.timestamp == packet.timestamp
                        && partial.data.len() == offset
                        && offset + data.len() <= MAX_FRAME =>
                {
                    partial.data.put_slice(data)
                }
                Some(_) => {
                    self.unit = None;
                    self.dropped += 1;
                }
                None => {} // its start was lost: counted when the gap was seen
            }
        }
        if packet.marker {
            self.finish_audio();
        }
    }

    fn finish_audio(&mut self) {
        if let Some(partial) = self.unit.take().filter(|p| !p.data.is_empty()) {
            self.emit(partial.timestamp, partial.data.freeze(), true);
        }
    }
}

#[cfg(test)]
#[path = "depacketize_tests.rs"]
mod tests;
