//! The muxer: one program, PES packets cut into 188-byte TS packets (ISO/IEC 13818-1
//! §2.4.3 transport packets, §2.4.3.6 PCR, §2.4.3.7 PES).
//!
//! Payload pieces are copied once, into the TS packets: that copy is the packetization
//! itself. PAT and PMT go out before the first frame, before every video random access
//! point and at least every [`PSI_INTERVAL`] ticks. The PCR rides on the first video
//! stream (else the first stream), in the first TS packet of each of its PES packets.

use bytes::Bytes;

use crate::psi::{PAT_PID, StreamType, pat_section, pmt_section};
use crate::{Error, Result};

/// TS packet size.
pub const PACKET_SIZE: usize = 188;
/// 90 kHz ticks between PAT/PMT repetitions at most (100 ms).
pub const PSI_INTERVAL: i64 = 9_000;
/// Added to every PTS and DTS so that negative decode times (B-frames) and the PCR lead
/// stay positive, as ffmpeg does (1.4 s).
pub const TIME_OFFSET: i64 = 126_000;
/// How far the PCR runs behind the DTS it travels with (0.7 s of decoder buffering).
const PCR_LEAD: i64 = 63_000;
const PMT_PID: u16 = 0x1000;
const FIRST_PID: u16 = 0x100;
const PROGRAM: u16 = 1;
const TIME_MASK: i64 = (1 << 33) - 1;

/// One access unit to write: times in 90 kHz ticks, payload in pieces (e.g. start codes
/// and NAL units, or an ADTS header and a raw AAC frame), sent in order. Build it with
/// [`Frame::new`], then [`with_pts`](Frame::with_pts) when presentation and decode times
/// differ.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Frame<'a> {
    /// Index of the stream in the list given to [`Muxer::new`].
    pub stream: usize,
    /// Presentation time, 90 kHz.
    pub pts: i64,
    /// Decode time, 90 kHz.
    pub dts: i64,
    /// A random access point (key frame).
    pub random_access: bool,
    /// The PES payload, in pieces.
    pub payload: &'a [Bytes],
}

impl<'a> Frame<'a> {
    /// A frame of `stream` decoded at `dts` (90 kHz) and presented at the same time;
    /// `random_access` for a key frame.
    pub fn new(stream: usize, dts: i64, random_access: bool, payload: &'a [Bytes]) -> Self {
        Frame {
            stream,
            pts: dts,
            dts,
            random_access,
            payload,
        }
    }

    /// With this presentation time (90 kHz), when it differs from the decode time.
    pub fn with_pts(mut self, pts: i64) -> Self {
        self.pts = pts;
        self
    }
}

struct Stream {
    pid: u16,
    stream_type: StreamType,
    continuity: u8,
}

/// A sans-I/O transport stream muxer: frames in, TS packets appended to a buffer.
pub struct Muxer {
    streams: Vec<Stream>,
    pcr_stream: usize,
    pat: Vec<u8>,
    pmt: Vec<u8>,
    pat_continuity: u8,
    pmt_continuity: u8,
    last_psi: Option<i64>,
}

impl Muxer {
    /// A muxer for one program with these streams (PIDs 0x100, 0x101, …; PMT on 0x1000).
    pub fn new(stream_types: &[StreamType]) -> Result<Muxer> {
        if stream_types.is_empty() || stream_types.len() > 16 {
            return Err(Error::Mux(format!(
                "{} streams; one to 16 are supported",
                stream_types.len()
            )));
        }
        let streams: Vec<Stream> = stream_types
            .iter()
            .zip(FIRST_PID..)
            .map(|(&stream_type, pid)| Stream {
                pid,
                stream_type,
                continuity: 0,
            })
            .collect();
        let pcr_stream = streams
            .iter()
            .position(|s| s.stream_type.is_video())
            .unwrap_or(0);
        let list: Vec<(u16, StreamType)> = streams.iter().map(|s| (s.pid, s.stream_type)).collect();
        Ok(Muxer {
            pat: pat_section(PROGRAM, PMT_PID),
            pmt: pmt_section(PROGRAM, streams[pcr_stream].pid, &list),
            streams,
            pcr_stream,
            pat_continuity: 0,
            pmt_continuity: 0,
            last_psi: None,
        })
    }

    /// Appends the TS packets of one frame (and PAT/PMT when due) to `out`.
    pub fn write(&mut self, frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<()> {
        let Some(stream) = self.streams.get(frame.stream) else {
            return Err(Error::Mux(format!("no stream {}", frame.stream)));
        };
        let video = stream.stream_type.is_video();
        let due = self
            .last_psi
            .is_none_or(|last| frame.dts.wrapping_sub(last) >= PSI_INTERVAL || frame.dts < last);
        if due || (video && frame.random_access) {
            self.last_psi = Some(frame.dts);
            write_section(out, PAT_PID, &self.pat, &mut self.pat_continuity);
            write_section(out, PMT_PID, &self.pmt, &mut self.pmt_continuity);
        }
        // Wrapping: TS times are 33-bit anyway, and no input may panic.
        let pts = frame.pts.wrapping_add(TIME_OFFSET);
        let dts = frame.dts.wrapping_add(TIME_OFFSET);
        let pcr = (frame.stream == self.pcr_stream).then_some(dts.wrapping_sub(PCR_LEAD));
        let header = pes_header(stream.stream_type.pes_stream_id(), pts, dts, frame.payload);
        let stream = &mut self.streams[frame.stream];
        write_pes(
            out,
            stream,
            &header,
            frame.payload,
            pcr,
            frame.random_access,
        );
        Ok(())
    }
}

/// The PES header: stream id, length (0 = unbounded, for video frames over 64 KiB),
/// flags, PTS and DTS.
fn pes_header(stream_id: u8, pts: i64, dts: i64, payload: &[Bytes]) -> Vec<u8> {
    let with_dts = pts != dts;
    let header_data = if with_dts { 10 } else { 5 };
    let size: usize = payload.iter().map(Bytes::len).sum::<usize>() + 3 + header_data;
    // Video may say 0 (unbounded); a real length lets a demuxer hand the frame out at
    // once instead of at the next frame's start (latency on live streams).
    let length = if size > 0xFFFF { 0 } else { size as u16 };
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(&[0, 0, 1, stream_id]);
    h.extend_from_slice(&length.to_be_bytes());
    // '10', data_alignment_indicator (an access unit starts here).
    h.push(0x84);
    h.push(if with_dts { 0xC0 } else { 0x80 });
    h.push(header_data as u8);
    push_timestamp(&mut h, if with_dts { 0x3 } else { 0x2 }, pts);
    if with_dts {
        push_timestamp(&mut h, 0x1, dts);
    }
    h
}

/// A 33-bit PTS/DTS in its 5-byte form with marker bits (§2.4.3.7).
fn push_timestamp(h: &mut Vec<u8>, prefix: u8, time: i64) {
    let t = (time & TIME_MASK) as u64;
    h.push((prefix << 4) | (((t >> 29) as u8) & 0x0E) | 1);
    h.extend_from_slice(&((((t >> 14) as u16) & 0xFFFE) | 1).to_be_bytes());
    h.extend_from_slice(&((((t << 1) as u16) & 0xFFFE) | 1).to_be_bytes());
}

/// Reads the pieces as one byte sequence, in order.
struct Cursor<'a> {
    pieces: &'a [&'a [u8]],
    piece: usize,
    offset: usize,
    remaining: usize,
}

impl Cursor<'_> {
    fn copy_to(&mut self, out: &mut Vec<u8>, mut n: usize) {
        self.remaining -= n;
        while n > 0 {
            let Some(piece) = self.pieces.get(self.piece) else {
                return;
            };
            let take = n.min(piece.len() - self.offset);
            out.extend_from_slice(&piece[self.offset..self.offset + take]);
            self.offset += take;
            n -= take;
            if self.offset == piece.len() {
                self.piece += 1;
                self.offset = 0;
            }
        }
    }
}

fn write_pes(
    out: &mut Vec<u8>,
    stream: &mut Stream,
    header: &[u8],
    payload: &[Bytes],
    pcr: Option<i64>,
    random_access: bool,
) {
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(payload.len() + 1);
    pieces.push(header);
    pieces.extend(payload.iter().map(|p| &p[..]).filter(|p| !p.is_empty()));
    let total = pieces.iter().map(|p| p.len()).sum();
    let mut cursor = Cursor {
        pieces: &pieces,
        piece: 0,
        offset: 0,
        remaining: total,
    };
    out.reserve((total / 184 + 2) * PACKET_SIZE);
    let mut first = true;
    while cursor.remaining > 0 {
        let start = out.len();
        out.push(0x47);
        let pusi: u16 = if first { 0x4000 } else { 0 };
        out.extend_from_slice(&(pusi | stream.pid).to_be_bytes());
        let control_at = out.len();
        out.push(0);
        // Adaptation field: flags, then the PCR in the first packet.
        let mut field: Vec<u8> = Vec::new();
        if first && (pcr.is_some() || random_access) {
            let rai = if random_access { 0x40 } else { 0 };
            match pcr {
                Some(pcr) => {
                    field.push(rai | 0x10);
                    let base = (pcr & TIME_MASK) as u64;
                    let word = (base << 15) | (0x3F << 9); // reserved bits, extension 0
                    field.extend_from_slice(&word.to_be_bytes()[2..]);
                }
                None => field.push(rai),
            }
        }
        // 1 byte of length, then the field.
        let mut field_size = if field.is_empty() { 0 } else { 1 + field.len() };
        let room = 184 - field_size;
        if cursor.remaining < room {
            field_size = 184 - cursor.remaining;
        }
        let has_field = field_size > 0;
        out[control_at] = (if has_field { 0x30 } else { 0x10 }) | stream.continuity;
        stream.continuity = (stream.continuity + 1) & 0x0F;
        if has_field {
            out.push((field_size - 1) as u8);
            if field_size > 1 {
                if field.is_empty() {
                    field.push(0);
                }
                out.extend_from_slice(&field);
                out.resize(start + 4 + field_size, 0xFF);
            }
        }
        let n = PACKET_SIZE - (out.len() - start);
        cursor.copy_to(out, n);
        first = false;
    }
}

/// Writes one PSI section (it fits one packet), padded with 0xFF.
fn write_section(out: &mut Vec<u8>, pid: u16, section: &[u8], continuity: &mut u8) {
    let start = out.len();
    out.push(0x47);
    out.extend_from_slice(&(0x4000 | pid).to_be_bytes());
    out.push(0x10 | *continuity);
    *continuity = (*continuity + 1) & 0x0F;
    out.push(0); // pointer_field
    out.extend_from_slice(section);
    out.resize(start + PACKET_SIZE, 0xFF);
}
