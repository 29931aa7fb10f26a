//! The demuxer: TS packets in, the program's streams and whole PES packets out
//! (ISO/IEC 13818-1 §2.4.3, §2.4.4; PES §2.4.3.6).
//!
//! Bytes are pushed in any slicing; a PES packet is gathered from its TS packets into
//! one buffer (the one copy, undoing the packetization) and handed out as [`Bytes`]. A
//! PES packet ends at the next payload unit start on its PID, when its declared length
//! is complete, or at [`Demuxer::finish`]. Lost sync is searched again; memory is bounded
//! by [`MAX_PES_SIZE`] per stream. Times are unwrapped from 33 bits to a running `i64`.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::mux::PACKET_SIZE;
use crate::psi::{PAT_PID, StreamType, parse_pat, parse_pmt, parse_section};
use crate::{Error, Result};

/// The largest PES packet accepted (a 4K key frame fits).
pub const MAX_PES_SIZE: usize = 16 << 20;
/// Bytes searched for sync before the input is declared not a transport stream.
const SYNC_SEARCH: usize = 64 * PACKET_SIZE;

/// An elementary stream of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// Its PID.
    pub pid: u16,
    /// What it carries.
    pub stream_type: StreamType,
}

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The program's streams (again when the PMT changes); later frames index this list.
    Streams(Vec<StreamInfo>),
    /// One PES packet's payload.
    Frame(DemuxedFrame),
}

/// One PES packet of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemuxedFrame {
    /// Index in the last [`Event::Streams`].
    pub stream: usize,
    /// Presentation time, 90 kHz, unwrapped (None if the PES had none).
    pub pts: Option<i64>,
    /// Decode time, 90 kHz, unwrapped (the PTS when the PES had no DTS).
    pub dts: Option<i64>,
    /// The adaptation field's random access indicator was set.
    pub random_access: bool,
    /// The PES payload (an access unit, or several audio frames).
    pub data: Bytes,
}

struct Assembly {
    info: StreamInfo,
    buffer: BytesMut,
    random_access: bool,
    started: bool,
}

/// A sans-I/O transport stream demuxer.
#[derive(Default)]
pub struct Demuxer {
    pending: BytesMut,
    offset: u64,
    synced: bool,
    /// Bytes before each 188-byte packet: 0 in a transport stream, 4 in BDAV (`.m2ts`,
    /// AVCHD's `.MTS`: each packet after a 4-byte arrival time stamp), found at sync.
    prefix: usize,
    /// Prefix bytes still to drop before the next packet.
    to_skip: usize,
    pmt_pid: Option<u16>,
    streams: Vec<Assembly>,
    events: VecDeque<Event>,
    /// Last unwrapped time, for 33-bit wrap-around.
    last_time: Option<i64>,
}

impl Demuxer {
    /// A demuxer waiting for a PAT.
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset + self.pending.len() as u64
    }

    /// Takes more of the stream; then call [`Demuxer::poll`] until it returns `None`.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(data);
        self.drain(false)
    }

    /// Demuxes the whole packets pending. Sync is found where three sync bytes repeat;
    /// only at the end of the stream (`at_end`) also where fewer do (a stream of one or
    /// two packets): before, more bytes may come, and a BDAV arrival time holding 0x47
    /// 188 bytes after a sync byte is no rare thing.
    fn drain(&mut self, at_end: bool) -> Result<()> {
        loop {
            if !self.synced {
                match find_sync(&self.pending, at_end) {
                    Some((at, prefix)) => {
                        let _ = self.pending.split_to(at);
                        self.offset += at as u64;
                        self.synced = true;
                        self.prefix = prefix;
                        self.to_skip = 0;
                    }
                    None => {
                        if self.pending.len() >= SYNC_SEARCH {
                            return Err(Error::NoSync {
                                offset: self.offset,
                            });
                        }
                        return Ok(());
                    }
                }
            }
            if self.to_skip > 0 {
                let skip = self.to_skip.min(self.pending.len());
                let _ = self.pending.split_to(skip);
                self.offset += skip as u64;
                self.to_skip -= skip;
                if self.to_skip > 0 {
                    return Ok(());
                }
            }
            if self.pending.len() < PACKET_SIZE {
                return Ok(());
            }
            if self.pending[0] != 0x47 {
                self.synced = false;
                continue;
            }
            let packet = self.pending.split_to(PACKET_SIZE).freeze();
            self.packet(&packet)?;
            self.offset += PACKET_SIZE as u64;
            self.to_skip = self.prefix;
        }
    }

    /// The next event, if any.
    pub fn poll(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The stream ended: the PES packets still open are handed out. A partial TS packet
    /// at the end, or no program at all, is an error (the events before it stay valid).
    pub fn finish(&mut self) -> Result<()> {
        if !self.synced {
            self.drain(true)?;
        }
        for index in 0..self.streams.len() {
            self.flush(index);
        }
        if self.pmt_pid.is_none() || self.streams.is_empty() {
            return Err(Error::NoProgram {
                bytes: self.offset(),
            });
        }
        if !self.pending.is_empty() {
            return Err(Error::Truncated {
                offset: self.offset,
                bytes: self.pending.len(),
            });
        }
        Ok(())
    }

    fn packet(&mut self, p: &[u8]) -> Result<()> {
        if p[1] & 0x80 != 0 {
            return Ok(()); // transport_error_indicator: the payload is damaged
        }
        let start = p[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        let control = (p[3] >> 4) & 0x3;
        let mut payload_at = 4;
        let mut random_access = false;
        if control & 0x2 != 0 {
            let length = usize::from(p[4]);
            random_access = length > 0 && p[5] & 0x40 != 0;
            payload_at = 5 + length;
        }
        if control & 0x1 == 0 || payload_at >= PACKET_SIZE {
            return Ok(());
        }
        let payload = &p[payload_at..];
        if pid == PAT_PID || Some(pid) == self.pmt_pid {
            if start {
                self.section(pid, payload);
            }
            return Ok(());
        }
        let Some(index) = self.streams.iter().position(|s| s.info.pid == pid) else {
            return Ok(());
        };
        if start {
            self.flush(index);
            let s = &mut self.streams[index];
            s.started = true;
            s.random_access = random_access;
        }
        let s = &mut self.streams[index];
        if !s.started {
            return Ok(()); // joined in the middle of a PES packet
        }
        if s.buffer.len() + payload.len() > MAX_PES_SIZE {
            s.buffer.clear();
            s.started = false;
            return Err(Error::PesTooLarge {
                pid,
                limit: MAX_PES_SIZE,
                offset: self.offset,
            });
        }
        s.buffer.extend_from_slice(payload);
        // A PES with a declared length is complete once that many bytes are in.
        if s.buffer.len() >= 6 {
            let declared = usize::from(u16::from_be_bytes([s.buffer[4], s.buffer[5]]));
            if declared > 0 && s.buffer.len() >= 6 + declared {
                self.flush(index);
            }
        }
        Ok(())
    }

    fn section(&mut self, pid: u16, payload: &[u8]) {
        let pointer = usize::from(payload[0]);
        let Some((table, body)) = payload.get(1 + pointer..).and_then(parse_section) else {
            return;
        };
        match (pid, table) {
            (PAT_PID, 0x00) => {
                if let Some(&pmt) = parse_pat(body).first() {
                    self.pmt_pid = Some(pmt);
                }
            }
            (_, 0x02) => {
                let found = parse_pmt(body);
                let same = found.len() == self.streams.len()
                    && found
                        .iter()
                        .zip(&self.streams)
                        .all(|(&(pid, t), s)| s.info.pid == pid && s.info.stream_type == t);
                if same {
                    return;
                }
                for index in 0..self.streams.len() {
                    self.flush(index);
                }
                self.streams = found
                    .into_iter()
                    .map(|(pid, stream_type)| Assembly {
                        info: StreamInfo { pid, stream_type },
                        buffer: BytesMut::new(),
                        random_access: false,
                        started: false,
                    })
                    .collect();
                let infos = self.streams.iter().map(|s| s.info.clone()).collect();
                self.events.push_back(Event::Streams(infos));
            }
            _ => {}
        }
    }

    /// Hands out the PES packet gathered on stream `index`, if it is valid.
    fn flush(&mut self, index: usize) {
        let s = &mut self.streams[index];
        let random_access = s.random_access;
        s.started = false;
        let pes = s.buffer.split().freeze();
        let Some((pts, dts, data)) = parse_pes(pes) else {
            return;
        };
        let pts = pts.map(|t| self.unwrap_time(t));
        let dts = dts.map(|t| self.unwrap_time(t)).or(pts);
        self.events.push_back(Event::Frame(DemuxedFrame {
            stream: index,
            pts,
            dts,
            random_access,
            data,
        }));
    }

    /// A 33-bit time as the nearest `i64` to the last time seen.
    fn unwrap_time(&mut self, raw: i64) -> i64 {
        const WRAP: i64 = 1 << 33;
        let time = match self.last_time {
            None => raw,
            Some(last) => {
                let base = last - last.rem_euclid(WRAP);
                [base - WRAP, base, base + WRAP]
                    .into_iter()
                    .map(|b| b + raw)
                    .min_by_key(|t| (t - last).abs())
                    .unwrap_or(raw)
            }
        };
        self.last_time = Some(time);
        time
    }
}

/// PTS, DTS and payload of a PES packet (§2.4.3.6); None if it is not one.
fn parse_pes(pes: Bytes) -> Option<(Option<i64>, Option<i64>, Bytes)> {
    if pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([pes[4], pes[5]]));
    let end = if declared > 0 {
        (6 + declared).min(pes.len())
    } else {
        pes.len()
    };
    let flags = pes[7];
    let header_end = 9 + usize::from(pes[8]);
    if header_end > end {
        return None;
    }
    let pts = (flags & 0x80 != 0)
        .then(|| read_timestamp(pes.get(9..14)?))
        .flatten();
    let dts = (flags & 0xC0 == 0xC0)
        .then(|| read_timestamp(pes.get(14..19)?))
        .flatten();
    Some((pts, dts, pes.slice(header_end..end)))
}

fn read_timestamp(b: &[u8]) -> Option<i64> {
    let b: [u8; 5] = b.try_into().ok()?;
    Some(
        (i64::from(b[0] >> 1 & 0x07) << 30)
            | (i64::from(b[1]) << 22)
            | (i64::from(b[2] >> 1) << 15)
            | (i64::from(b[3]) << 7)
            | i64::from(b[4] >> 1),
    )
}

/// The first offset where sync bytes repeat three times at 188-byte spacing, or at
/// BDAV's 192, and the bytes before each packet (0 or 4); else, at the end of the stream
/// (a stream shorter than three packets), one or two at 188-byte spacing to its end.
fn find_sync(data: &[u8], at_end: bool) -> Option<(usize, usize)> {
    let end = data.len().min(SYNC_SEARCH);
    let three =
        |at: usize, spacing: usize| (0..3).all(|k| data.get(at + k * spacing) == Some(&0x47));
    let bdav = PACKET_SIZE + 4;
    if let Some(at) = (0..end).find(|&at| three(at, PACKET_SIZE) || three(at, bdav)) {
        return Some((at, if three(at, PACKET_SIZE) { 0 } else { 4 }));
    }
    if !at_end {
        return None;
    }
    (0..end)
        .find(|&at| {
            let syncs = (at..data.len()).step_by(PACKET_SIZE);
            let all = syncs.clone().all(|i| data[i] == 0x47);
            all && syncs.count() > 0 && data.len() - at >= PACKET_SIZE
        })
        .map(|at| (at, 0))
}
