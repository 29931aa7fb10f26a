//! The sans-I/O scanning core shared by the slice iterator ([`crate::Events`]) and the push
//! parser ([`crate::StreamParser`]): given the bytes from the current position (and whether
//! more can come) it says what starts there.
//!
//! Sync rules (after FFmpeg `libavformat/mp3dec.c` and `libavcodec/mpegaudio_parser.c`):
//! - In sync, a header at the end of the previous frame is accepted when it is valid and
//!   keeps the version, layer, sample rate, channel mode and flags ([`SAME_MASK`]).
//! - Otherwise (start, after junk or a change) a header is accepted only when the header
//!   at its end is valid and agrees under [`STREAM_MASK`] (or the frame ends exactly at the
//!   end of input, or a tag follows). Bytes passed over are reported as one skipped range.
//! - Tags are recognised where a frame could start, never inside a frame or a tag.

use std::time::Duration;

use crate::header::{FrameHeader, Layer, SAME_MASK, STREAM_MASK, Version, samples_to_duration};
use crate::tag::{self, Tag, TagKind, TagProbe};
use crate::xing::{self, InfoTag};

/// Largest free-format frame searched for (MPEG-2.5 Layer III at 640 kbit/s and 8 kHz is
/// 5760 bytes).
pub(crate) const MAX_FREE_FORMAT_LEN: usize = 5762;
/// Free-format search budget: bytes searched per byte of input, plus a start allowance.
const FREE_SEARCH_PER_BYTE: u64 = 16;
const FREE_SEARCH_ALLOWANCE: u64 = 64 * 1024;

/// What starts at the current position.
#[derive(Debug)]
pub(crate) enum Out {
    /// An audio frame of `len` bytes (the caller takes them).
    Frame(FrameMeta),
    /// The first frame carries an Info/Xing/VBRI tag: metadata, not audio.
    Info(FrameMeta, Box<InfoTag>),
    /// A tag; the caller drops `consume` bytes (possibly more than it holds now).
    Tag {
        /// Where the tag is.
        tag: Tag,
        /// Bytes to drop from the current position.
        consume: u64,
    },
    /// Bytes that are neither frames nor tags, already consumed.
    Skipped {
        /// Offset of the first skipped byte.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
    /// The caller drops this many junk bytes, then asks again.
    Junk(usize),
    /// At the end of input, the last frame is cut short: the caller drops the `len` rest.
    Truncated {
        /// Offset of the frame.
        offset: u64,
        /// Bytes present.
        len: u64,
        /// Bytes the header announced.
        expected: u64,
    },
    /// Need at least this many bytes from the current position (never at end of input).
    NeedMore(usize),
    /// Nothing more.
    End,
}

/// Where a frame is and its place in the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameMeta {
    pub offset: u64,
    pub len: usize,
    pub header: FrameHeader,
    pub index: u64,
    pub time_base: Duration,
    pub samples_since_base: u64,
}

/// Frame lengths of one synced stream by bitrate index (0 = not allowed here).
#[derive(Debug, Clone, Copy)]
struct SyncedStream {
    /// The header that started sync (every next one agrees with it under `SAME_MASK`).
    start: FrameHeader,
    lens: [u16; 16],
    slot: u16,
    samples: u32,
    /// MPEG-1 Layer II: bitrate/mode pairs need the full check.
    full_check: bool,
}

impl SyncedStream {
    fn new(h: FrameHeader, free_len: Option<u32>) -> SyncedStream {
        let mut lens = [0u16; 16];
        for (idx, slot) in lens.iter_mut().enumerate().take(15) {
            let word = (h.to_u32() & !0xF200) | (idx as u32) << 12;
            if let Ok(v) = FrameHeader::from_u32(word) {
                *slot = match v.frame_len() {
                    Some(n) => n as u16,
                    None => free_len.unwrap_or(0) as u16,
                };
            }
        }
        SyncedStream {
            start: h,
            lens,
            slot: h.slot_len() as u16,
            samples: h.samples(),
            full_check: h.version() == Version::Mpeg1 && h.layer() == Layer::Layer2,
        }
    }
}

/// Scanner state; `offset` is the absolute position of the next byte the caller holds.
#[derive(Debug, Default)]
pub(crate) struct Core {
    offset: u64,
    synced: Option<SyncedStream>,
    junk: Option<(u64, u64)>,
    /// Unpadded length of free-format frames once measured.
    free_len: Option<u32>,
    /// Bytes searched for free-format headers since `free_search_base` (the last sync):
    /// bounded so that junk full of free-format-looking headers stays linear.
    free_search_spent: u64,
    free_search_base: u64,
    index: u64,
    frames_seen: bool,
    rate: u32,
    time_base: Duration,
    samples_since_base: u64,
    /// An event that follows the one just returned.
    pending: Option<Out>,
}

impl Core {
    /// Absolute offset of the current position.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// What starts at `buf[0]`. `eof`: nothing follows `buf`.
    #[inline]
    pub(crate) fn next(&mut self, buf: &[u8], eof: bool) -> Out {
        if let Some((header, len)) = self.continues(buf) {
            if len <= buf.len() {
                return Out::Frame(self.take_frame(header, len));
            }
            if !eof {
                return Out::NeedMore(len);
            }
            let out = Out::Truncated {
                offset: self.offset,
                len: buf.len() as u64,
                expected: len as u64,
            };
            self.offset += buf.len() as u64;
            return out;
        }
        self.next_slow(buf, eof)
    }

    /// The common case of [`Core::next`], kept small so that it inlines into the callers'
    /// loops: a whole frame at `buf[0]` that continues the synced stream.
    #[inline(always)]
    pub(crate) fn next_frame(&mut self, buf: &[u8]) -> Option<FrameMeta> {
        let (header, len) = self.continues(buf)?;
        if len > buf.len() {
            return None;
        }
        Some(self.take_frame(header, len))
    }

    /// In sync: the header at `buf[0]` continues the stream; its frame length.
    #[inline(always)]
    fn continues(&self, buf: &[u8]) -> Option<(FrameHeader, usize)> {
        let sync = self.synced.as_ref()?;
        let &[a, b, c, d] = buf.first_chunk::<4>()?;
        let word = u32::from_be_bytes([a, b, c, d]);
        if word & SAME_MASK != sync.start.to_u32() & SAME_MASK || self.junk.is_some() {
            return None;
        }
        let base = sync.lens[((word >> 12) & 15) as usize];
        if base == 0 || sync.full_check && FrameHeader::from_u32(word).is_err() {
            return None;
        }
        let pad = if word & 0x200 != 0 { sync.slot } else { 0 };
        Some((FrameHeader::trusted(word), usize::from(base + pad)))
    }

    /// A frame of `len` bytes at the current position.
    #[inline(always)]
    fn meta(&self, header: FrameHeader, len: usize) -> FrameMeta {
        FrameMeta {
            offset: self.offset,
            len,
            header,
            index: self.index,
            time_base: self.time_base,
            samples_since_base: self.samples_since_base,
        }
    }

    /// A frame that continues the synced stream (same rate and samples per frame).
    #[inline(always)]
    fn take_frame(&mut self, header: FrameHeader, len: usize) -> FrameMeta {
        let meta = self.meta(header, len);
        self.offset += len as u64;
        // `synced` is set before any frame is taken; 0 cannot happen.
        self.samples_since_base += u64::from(self.synced.as_ref().map_or(0, |s| s.samples));
        self.index += 1;
        meta
    }

    /// The frame that (re)starts sync: maybe the Info frame, maybe a new sample rate.
    fn take_synced_frame(&mut self, header: FrameHeader, len: usize, buf: &[u8]) -> Out {
        self.synced = Some(SyncedStream::new(header, self.free_len));
        self.free_search_spent = 0;
        self.free_search_base = self.offset;
        if !self.frames_seen {
            self.frames_seen = true;
            if let Some(info) = xing::parse(header, &buf[..len]) {
                // Metadata: takes its bytes but no index or time.
                let meta = self.meta(header, len);
                self.offset += len as u64;
                return Out::Info(meta, Box::new(info));
            }
        }
        let rate = header.sample_rate();
        if rate != self.rate {
            if self.rate != 0 {
                self.time_base += samples_to_duration(self.samples_since_base, self.rate);
            }
            self.rate = rate;
            self.samples_since_base = 0;
        }
        Out::Frame(self.take_frame(header, len))
    }

    fn flush_junk(&mut self) -> Option<Out> {
        self.junk
            .take()
            .map(|(offset, len)| Out::Skipped { offset, len })
    }

    fn junk(&mut self, n: usize) -> Out {
        let (start, len) = self.junk.get_or_insert((self.offset, 0));
        debug_assert_eq!(*start + *len, self.offset);
        *len += n as u64;
        self.offset += n as u64;
        Out::Junk(n)
    }

    #[cold]
    fn next_slow(&mut self, buf: &[u8], eof: bool) -> Out {
        if let Some(out) = self.pending.take() {
            return out;
        }
        if buf.is_empty() {
            if !eof {
                return Out::NeedMore(1);
            }
            return self.flush_junk().unwrap_or(Out::End);
        }
        // In sync: a tag may sit between frames; a header that does not continue the stream
        // (or a free-format one) falls through to resync at this same byte.
        if self.synced.is_some() && self.junk.is_none() {
            match tag::probe(buf, eof) {
                TagProbe::Starts(kind, len) => return self.take_tag(kind, len),
                TagProbe::NeedMore(n) => return Out::NeedMore(n),
                TagProbe::No | TagProbe::ApeFooter { .. } => {}
            }
            if buf.len() < 4 && !eof {
                return Out::NeedMore(4);
            }
            self.synced = None;
        }
        self.resync(buf, eof)
    }

    fn take_tag(&mut self, kind: TagKind, len: u64) -> Out {
        let tag = Tag {
            kind,
            offset: self.offset,
            len,
        };
        self.offset += len;
        Out::Tag { tag, consume: len }
    }

    /// Scans for the next confirmed frame or tag; everything before it is junk.
    fn resync(&mut self, buf: &[u8], eof: bool) -> Out {
        for (i, &b) in buf.iter().enumerate() {
            let found = if b == 0xFF {
                match self.candidate(&buf[i..], i, eof) {
                    Candidate::No => continue,
                    Candidate::NeedMore(n) => Found::NeedMore(n),
                    Candidate::Frame(header, len) => Found::Frame(header, len),
                }
            } else if matches!(b, b'I' | b'T' | b'A') {
                match tag::probe(&buf[i..], eof) {
                    TagProbe::No => continue,
                    TagProbe::NeedMore(n) => Found::NeedMore(n),
                    TagProbe::Starts(kind, len) => Found::Tag(kind, len),
                    TagProbe::ApeFooter { back, len, header } => {
                        // A footer-only APE tag: its items were taken for junk. Give them
                        // back to the tag when the junk run covers them.
                        // Bytes before the footer (buf[..i]) become junk too.
                        let here = self.offset + i as u64;
                        let junk_start = self.junk.map_or(self.offset, |(s, _)| s);
                        match here.checked_sub(back) {
                            Some(start) if start >= junk_start => {
                                Found::ApeFooter(start, len, header)
                            }
                            _ => continue,
                        }
                    }
                }
            } else {
                continue;
            };
            if i > 0 {
                return self.junk(i);
            }
            return match found {
                Found::NeedMore(n) => Out::NeedMore(n),
                Found::Frame(header, len) => {
                    if let Some(skipped) = self.flush_junk() {
                        return skipped;
                    }
                    self.take_synced_frame(header, len, buf)
                }
                Found::Tag(kind, len) => {
                    if let Some(skipped) = self.flush_junk() {
                        return skipped;
                    }
                    self.take_tag(kind, len)
                }
                Found::ApeFooter(start, len, header) => {
                    let junk_start = self.junk.take().map_or(start, |(s, _)| s);
                    self.offset += 32;
                    let tag = Out::Tag {
                        tag: Tag {
                            kind: TagKind::Ape { header },
                            offset: start,
                            len,
                        },
                        consume: 32,
                    };
                    if start > junk_start {
                        self.pending = Some(tag);
                        Out::Skipped {
                            offset: junk_start,
                            len: start - junk_start,
                        }
                    } else {
                        tag
                    }
                }
            };
        }
        if buf.is_empty() {
            return self.flush_junk().unwrap_or(Out::End);
        }
        self.junk(buf.len())
    }

    /// Is there a frame at `buf[0]` that the next header (or the end, or a tag) confirms?
    fn candidate(&mut self, buf: &[u8], at: usize, eof: bool) -> Candidate {
        let Some(&[a, b, c, d]) = buf.first_chunk::<4>() else {
            return if eof {
                Candidate::No
            } else {
                Candidate::NeedMore(4)
            };
        };
        let word = u32::from_be_bytes([a, b, c, d]);
        let Ok(header) = FrameHeader::from_u32(word) else {
            return Candidate::No;
        };
        let len = match header.frame_len() {
            Some(n) => n as usize,
            None => match self.free_format_len(header, buf, at, eof) {
                Ok(n) => n,
                Err(c) => return c,
            },
        };
        let Some(&[a, b, c, d]) = buf.get(len..).and_then(|r| r.first_chunk::<4>()) else {
            if !eof {
                return Candidate::NeedMore(len + 4);
            }
            return if buf.len() == len {
                Candidate::Frame(header, len)
            } else {
                Candidate::No
            };
        };
        let next = u32::from_be_bytes([a, b, c, d]);
        let agree = next & STREAM_MASK == word & STREAM_MASK
            && (next & 0xF000 == 0) == header.is_free_format()
            && FrameHeader::from_u32(next).is_ok();
        if agree {
            return Candidate::Frame(header, len);
        }
        // FFmpeg writes its Info frame in plain stereo before joint-stereo audio: a first
        // frame that carries an info tag only needs the version, layer and rate to agree.
        let same_format = (next ^ word) & 0xFFFE_0C00 == 0 && FrameHeader::from_u32(next).is_ok();
        if same_format && !self.frames_seen && xing::parse(header, &buf[..len]).is_some() {
            return Candidate::Frame(header, len);
        }
        match tag::probe(&buf[len..], eof) {
            TagProbe::Starts(..) => Candidate::Frame(header, len),
            TagProbe::NeedMore(n) => Candidate::NeedMore(len + n),
            _ => Candidate::No,
        }
    }

    /// Free format: the frame runs to the next header of the same stream.
    fn free_format_len(
        &mut self,
        header: FrameHeader,
        buf: &[u8],
        at: usize,
        eof: bool,
    ) -> Result<usize, Candidate> {
        let key = header.to_u32() & (STREAM_MASK | 0xF000);
        let limit = buf.len().min(MAX_FREE_FORMAT_LEN + 4);
        let progress = (self.offset + at as u64).saturating_sub(self.free_search_base);
        if self.free_search_spent > FREE_SEARCH_PER_BYTE * progress + FREE_SEARCH_ALLOWANCE {
            return self
                .free_len
                .map(|base| base as usize + header.padding_len() as usize)
                .ok_or(Candidate::No);
        }
        self.free_search_spent += limit as u64;
        // No free-format frame is shorter than the lowest standard bitrate's frame.
        let shortest = (1..15)
            .find_map(|idx| FrameHeader::from_u32((header.to_u32() & !0xF200) | idx << 12).ok())
            .and_then(FrameHeader::frame_len)
            .map_or(4, |n| n as usize);
        let found = (shortest..limit.saturating_sub(3)).find(|&j| {
            let w = u32::from_be_bytes([buf[j], buf[j + 1], buf[j + 2], buf[j + 3]]);
            w & (STREAM_MASK | 0xF000) == key && FrameHeader::from_u32(w).is_ok()
        });
        let pad = header.padding_len() as usize;
        match found {
            Some(j) if j > pad + 4 => {
                self.free_len = Some((j - pad) as u32);
                Ok(j)
            }
            _ if !eof && buf.len() < MAX_FREE_FORMAT_LEN + 4 => {
                Err(Candidate::NeedMore(MAX_FREE_FORMAT_LEN + 4))
            }
            _ => match self.free_len {
                Some(base) => Ok(base as usize + pad),
                None => Err(Candidate::No),
            },
        }
    }
}

enum Candidate {
    No,
    NeedMore(usize),
    Frame(FrameHeader, usize),
}

enum Found {
    NeedMore(usize),
    Frame(FrameHeader, usize),
    Tag(TagKind, u64),
    ApeFooter(u64, u64, bool),
}
