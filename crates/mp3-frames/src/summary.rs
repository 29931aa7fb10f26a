//! Stream summary: exact duration by scanning every frame, or a fast estimate from the
//! Xing/VBRI tag; average bitrate, CBR/VBR, format, tags and damage.

use std::time::Duration;

use crate::Error;
use crate::events::{Event, Events};
use crate::header::{ChannelMode, FrameHeader, Layer, Version, samples_to_duration};
use crate::tag::Tag;
use crate::xing::InfoTag;

/// How many tags and skipped ranges are kept (the counts stay exact beyond).
const KEEP: usize = 64;

/// Constant or variable bitrate, as seen in the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitrateMode {
    /// Every audio frame has the same bitrate.
    Constant,
    /// Bitrates vary (VBR or ABR).
    Variable,
}

/// A skipped byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// Offset of the first byte.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// A frame or tag cut short by the end of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// Offset of the frame or tag.
    pub offset: u64,
    /// Bytes present.
    pub len: u64,
    /// Bytes announced.
    pub expected: u64,
}

/// What a whole stream holds. Build it with [`StreamSummary::scan`] (a slice) or feed
/// events from the push parser to [`SummaryBuilder`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// Version of the first audio frame.
    pub version: Version,
    /// Layer of the first audio frame.
    pub layer: Layer,
    /// Sample rate of the first audio frame.
    pub sample_rate: u32,
    /// Channel mode of the first audio frame.
    pub mode: ChannelMode,
    /// Audio frames (the Info frame excluded).
    pub frames: u64,
    /// Samples per channel in the audio frames.
    pub samples: u64,
    /// Exact duration of the audio frames.
    pub duration: Duration,
    /// Duration without the encoder delay and padding of the LAME tag, when there is one.
    pub gapless_duration: Option<Duration>,
    /// Bytes of the audio frames.
    pub audio_bytes: u64,
    /// Average bitrate (bit/s) of the audio frames.
    pub bitrate: u32,
    /// Constant or variable bitrate.
    pub bitrate_mode: BitrateMode,
    /// Some frame carries a CRC.
    pub crc: bool,
    /// Offset of the first audio frame.
    pub first_frame_offset: u64,
    /// The Info/Xing/VBRI tag of the first frame.
    pub info: Option<InfoTag>,
    /// Tags (the first 64).
    pub tags: Vec<Tag>,
    /// Number of tags.
    pub tag_count: u64,
    /// Skipped ranges (the first 64).
    pub skipped: Vec<Skipped>,
    /// Bytes skipped in all.
    pub skipped_bytes: u64,
    /// The last frame or a tag cut short.
    pub truncated: Option<Truncation>,
}

impl StreamSummary {
    /// Scans a whole in-memory stream.
    ///
    /// ```
    /// use mp3_frames::{BitrateMode, FrameHeader, StreamSummary, silent_frame};
    /// let data = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap().repeat(100);
    /// let s = StreamSummary::scan(&data).unwrap();
    /// assert_eq!((s.frames, s.bitrate_mode), (100, BitrateMode::Constant));
    /// assert_eq!(s.bitrate, 127_706); // 417-byte frames without padding: just under 128k
    /// assert_eq!(s.duration.as_micros(), 2_612_244);
    /// ```
    pub fn scan(data: &[u8]) -> Result<StreamSummary, Error> {
        let mut builder = SummaryBuilder::default();
        for event in Events::new(data) {
            builder.add(&event);
        }
        builder.finish(data.len() as u64)
    }
}

/// Collects a [`StreamSummary`] from events (bounded memory).
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    first: Option<(FrameHeader, u64)>,
    frames: u64,
    samples: u64,
    duration: Duration,
    samples_at_rate: (u32, u64),
    audio_bytes: u64,
    first_bitrate: u32,
    variable: bool,
    crc: bool,
    info: Option<InfoTag>,
    tags: Vec<Tag>,
    tag_count: u64,
    skipped: Vec<Skipped>,
    skipped_bytes: u64,
    truncated: Option<Truncation>,
}

impl SummaryBuilder {
    /// Takes one event into account.
    pub fn add<D: AsRef<[u8]>>(&mut self, event: &Event<D>) {
        match event {
            Event::Frame(f) => {
                let h = f.header;
                if self.first.is_none() {
                    self.first = Some((h, f.offset));
                    self.first_bitrate = h.bitrate();
                }
                self.variable |= h.bitrate() != self.first_bitrate;
                self.crc |= h.crc();
                self.frames += 1;
                self.samples += u64::from(h.samples());
                let rate = h.sample_rate();
                if rate != self.samples_at_rate.0 {
                    self.flush_rate();
                    self.samples_at_rate.0 = rate;
                }
                self.samples_at_rate.1 += u64::from(h.samples());
                self.audio_bytes += f.len() as u64;
            }
            Event::Info { tag, .. } => self.info = Some((**tag).clone()),
            Event::Tag(t) => {
                self.tag_count += 1;
                if self.tags.len() < KEEP {
                    self.tags.push(*t);
                }
            }
            Event::Skipped { offset, len } => {
                self.skipped_bytes += len;
                if self.skipped.len() < KEEP {
                    self.skipped.push(Skipped {
                        offset: *offset,
                        len: *len,
                    });
                }
            }
            Event::Truncated {
                offset,
                len,
                expected,
            } => {
                self.truncated = Some(Truncation {
                    offset: *offset,
                    len: *len,
                    expected: *expected,
                });
            }
        }
    }

    fn flush_rate(&mut self) {
        let (rate, samples) = std::mem::take(&mut self.samples_at_rate);
        self.duration += samples_to_duration(samples, rate);
    }

    /// The summary; `input_len` is only used in the error.
    pub fn finish(mut self, input_len: u64) -> Result<StreamSummary, Error> {
        self.flush_rate();
        let Some((header, first_frame_offset)) = self.first else {
            return Err(if input_len == 0 {
                Error::Empty
            } else {
                Error::NoFrames {
                    len: input_len,
                    skipped: self.skipped_bytes,
                    tags: self.tag_count,
                }
            });
        };
        let bitrate = if self.duration.is_zero() {
            0
        } else {
            (self.audio_bytes as f64 * 8.0 / self.duration.as_secs_f64()).round() as u32
        };
        let gapless_duration = self.info.as_ref().and_then(InfoTag::lame).map(|lame| {
            let trim = u64::from(lame.delay) + u64::from(lame.padding);
            samples_to_duration(self.samples.saturating_sub(trim), header.sample_rate())
        });
        Ok(StreamSummary {
            version: header.version(),
            layer: header.layer(),
            sample_rate: header.sample_rate(),
            mode: header.mode(),
            frames: self.frames,
            samples: self.samples,
            duration: self.duration,
            gapless_duration,
            audio_bytes: self.audio_bytes,
            bitrate,
            bitrate_mode: if self.variable {
                BitrateMode::Variable
            } else {
                BitrateMode::Constant
            },
            crc: self.crc,
            first_frame_offset,
            info: self.info,
            tags: self.tags,
            tag_count: self.tag_count,
            skipped: self.skipped,
            skipped_bytes: self.skipped_bytes,
            truncated: self.truncated,
        })
    }
}

/// A duration read from the Xing/VBRI tag alone (no scan).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Estimate {
    /// The first frame's header.
    pub header: FrameHeader,
    /// Audio frames the tag announces.
    pub frames: u32,
    /// Duration of those frames.
    pub duration: Duration,
    /// Minus the LAME encoder delay and padding, when known.
    pub gapless_duration: Option<Duration>,
    /// Average bitrate from the tag's byte count, when present.
    pub bitrate: Option<u32>,
}

/// Reads the duration from the Xing/VBRI tag of the first frame, without scanning the
/// stream: `None` when there is no such tag with a frame count (then use
/// [`StreamSummary::scan`]). Only the bytes up to the first frame are looked at.
pub fn estimate(data: &[u8]) -> Option<Estimate> {
    for event in Events::new(data) {
        match event {
            Event::Info { frame, tag } => {
                let header = frame.header;
                let frames = tag.frames()?;
                let samples = u64::from(frames) * u64::from(header.samples());
                let duration = samples_to_duration(samples, header.sample_rate());
                let gapless_duration = tag.lame().map(|l| {
                    let trim = u64::from(l.delay) + u64::from(l.padding);
                    samples_to_duration(samples.saturating_sub(trim), header.sample_rate())
                });
                let bitrate = tag
                    .bytes()
                    .filter(|_| !duration.is_zero())
                    .map(|b| (f64::from(b) * 8.0 / duration.as_secs_f64()).round() as u32);
                return Some(Estimate {
                    header,
                    frames,
                    duration,
                    gapless_duration,
                    bitrate,
                });
            }
            Event::Frame(_) => return None,
            _ => {}
        }
    }
    None
}
