//! Iteration over an in-memory stream: [`Events`] yields every frame, tag, skipped range
//! and truncation in order; [`Frames`] only the audio frames. Frame data are sub-slices of
//! the input (no copy).

use std::time::Duration;

use crate::header::{FrameHeader, samples_to_duration};
use crate::prefetch::Prefetch;
use crate::scan::{Core, FrameMeta, Out};
use crate::tag::Tag;
use crate::xing::InfoTag;

/// One frame: where it is, its header, its exact bytes (`&[u8]` from a slice, `Bytes` from
/// the push parser) and its place in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<D> {
    /// Byte offset of the header in the input.
    pub offset: u64,
    /// Index among the audio frames (0-based; the Info frame is not counted).
    pub index: u64,
    /// The header.
    pub header: FrameHeader,
    /// The whole frame: header, CRC, side info and data.
    pub data: D,
    time_base: Duration,
    samples_since_base: u64,
}

impl<D> Frame<D> {
    pub(crate) fn new(meta: FrameMeta, data: D) -> Frame<D> {
        Frame {
            offset: meta.offset,
            index: meta.index,
            header: meta.header,
            data,
            time_base: meta.time_base,
            samples_since_base: meta.samples_since_base,
        }
    }

    /// The same frame with its data converted (e.g. `&[u8]` to `Bytes` or `Vec<u8>`).
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> Frame<E> {
        Frame {
            offset: self.offset,
            index: self.index,
            header: self.header,
            data: f(self.data),
            time_base: self.time_base,
            samples_since_base: self.samples_since_base,
        }
    }

    /// Presentation time of the first sample (sum of the durations of the audio frames
    /// before this one; exact, also across sample-rate changes).
    pub fn timestamp(&self) -> Duration {
        self.time_base + samples_to_duration(self.samples_since_base, self.header.sample_rate())
    }

    /// Duration of this frame.
    pub fn duration(&self) -> Duration {
        self.header.duration()
    }

    /// Samples per channel in this frame.
    pub fn samples(&self) -> u32 {
        self.header.samples()
    }
}

impl<D: AsRef<[u8]>> Frame<D> {
    /// Frame length in bytes.
    pub fn len(&self) -> usize {
        self.data.as_ref().len()
    }

    /// Never true for a frame (it holds at least its header); for API completeness.
    pub fn is_empty(&self) -> bool {
        self.data.as_ref().is_empty()
    }
}

/// What the parser found, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<D> {
    /// An audio frame.
    Frame(Frame<D>),
    /// The first frame holds an Info/Xing/VBRI tag: metadata, not audio (decoders output
    /// nothing for it).
    Info {
        /// The frame (its `index` is that of the next audio frame).
        frame: Frame<D>,
        /// The tag it carries.
        tag: Box<InfoTag>,
    },
    /// A tag (ID3v2, ID3v1, APE) was skipped.
    Tag(Tag),
    /// Bytes that are neither frames nor tags (junk, damage) were skipped.
    Skipped {
        /// Offset of the first byte.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
    /// The input ends inside a frame or a tag: not returned as a frame.
    Truncated {
        /// Offset of the frame or tag.
        offset: u64,
        /// Bytes present.
        len: u64,
        /// Bytes its header announced.
        expected: u64,
    },
}

impl<D> Event<D> {
    /// The same event with its frame data (if any) mapped by `f`, e.g. to owned bytes.
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> Event<E> {
        match self {
            Event::Frame(frame) => Event::Frame(frame.map_data(f)),
            Event::Info { frame, tag } => Event::Info {
                frame: frame.map_data(f),
                tag,
            },
            Event::Tag(t) => Event::Tag(t),
            Event::Skipped { offset, len } => Event::Skipped { offset, len },
            Event::Truncated {
                offset,
                len,
                expected,
            } => Event::Truncated {
                offset,
                len,
                expected,
            },
        }
    }
}

/// Every event of an in-memory stream (never panics, never allocates per frame).
///
/// ```
/// use mp3_frames::{Event, Events, silent_frame, FrameHeader};
/// let header = FrameHeader::from_u32(0xFFFB_9064).unwrap();
/// let mut data = b"junk".to_vec();
/// for _ in 0..3 { data.extend(silent_frame(&header).unwrap()); }
/// let events: Vec<_> = Events::new(&data).collect();
/// assert!(matches!(events[0], Event::Skipped { offset: 0, len: 4 }));
/// assert!(matches!(&events[3], Event::Frame(f) if f.index == 2 && f.offset == 4 + 2 * 417));
/// ```
#[derive(Debug)]
pub struct Events<'a> {
    data: &'a [u8],
    pos: usize,
    core: Core,
    pending: Option<Event<&'a [u8]>>,
    prefetch: Prefetch,
}

impl<'a> Events<'a> {
    /// Starts at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Events<'a> {
        Events {
            data,
            pos: 0,
            core: Core::default(),
            pending: None,
            prefetch: Prefetch::default(),
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<&'a [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(frame) = self.next_frame() {
            return Some(Event::Frame(frame));
        }
        self.next_slow()
    }
}

impl<'a> Events<'a> {
    /// The common case: a whole frame that continues the synced stream.
    #[inline(always)]
    fn next_frame(&mut self) -> Option<Frame<&'a [u8]>> {
        if self.pending.is_some() {
            return None;
        }
        let buf = self.data.get(self.pos..)?;
        let meta = self.core.next_frame(buf)?;
        let data = buf.get(..meta.len)?;
        self.pos += meta.len;
        self.prefetch.after_frame(self.data, self.pos);
        Some(Frame::new(meta, data))
    }

    #[inline(never)]
    fn next_slow(&mut self) -> Option<Event<&'a [u8]>> {
        if self.pending.is_some() {
            return self.pending.take();
        }
        loop {
            let buf = self.data.get(self.pos..).unwrap_or_default();
            match self.core.next(buf, true) {
                Out::Frame(meta) => {
                    self.pos += meta.len;
                    self.prefetch.after_frame(self.data, self.pos);
                    return Some(Event::Frame(Frame::new(meta, &buf[..meta.len])));
                }
                Out::Info(meta, tag) => {
                    self.pos += meta.len;
                    return Some(Event::Info {
                        frame: Frame::new(meta, &buf[..meta.len]),
                        tag,
                    });
                }
                Out::Tag { tag, consume } => {
                    let available = buf.len() as u64;
                    if consume > available {
                        self.pos = self.data.len();
                        let present = tag.len - (consume - available);
                        self.pending = Some(Event::Truncated {
                            offset: tag.offset,
                            len: present,
                            expected: tag.len,
                        });
                    } else {
                        self.pos += consume as usize;
                    }
                    return Some(Event::Tag(tag));
                }
                Out::Skipped { offset, len } => return Some(Event::Skipped { offset, len }),
                Out::Junk(n) => self.pos += n,
                Out::Truncated {
                    offset,
                    len,
                    expected,
                } => {
                    self.pos = self.data.len();
                    return Some(Event::Truncated {
                        offset,
                        len,
                        expected,
                    });
                }
                Out::NeedMore(_) | Out::End => return None,
            }
        }
    }
}

/// The audio frames of an in-memory stream (tags, junk, the Info frame and a truncated
/// end are passed over; use [`Events`] to see them).
///
/// ```
/// use mp3_frames::{Frames, silent_frame, FrameHeader};
/// let header = FrameHeader::from_u32(0xFFF3_6444).unwrap(); // MPEG-2 L3 64k 24 kHz
/// let data: Vec<u8> = (0..10).flat_map(|_| silent_frame(&header).unwrap()).collect();
/// let frames: Vec<_> = Frames::new(&data).collect();
/// assert_eq!(frames.len(), 10);
/// assert_eq!(frames[9].timestamp().as_millis(), 9 * 24);
/// ```
#[derive(Debug)]
pub struct Frames<'a>(Events<'a>);

impl<'a> Frames<'a> {
    /// Starts at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Frames<'a> {
        Frames(Events::new(data))
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<&'a [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(frame) = self.0.next_frame() {
            return Some(frame);
        }
        loop {
            if let Event::Frame(f) = self.0.next()? {
                return Some(f);
            }
        }
    }
}
