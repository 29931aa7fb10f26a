//! Zero-copy push parsing: [`PushParser::feed`] takes the caller's buffer (a socket or
//! file read) and yields the frames inside it as slices of that buffer; only a frame that
//! straddles two reads is copied, once, into a carry buffer and handed out as `Bytes`.
//!
//! This is the fast path for sockets and pipes: [`crate::StreamParser`] copies every byte
//! into its own buffer and makes one `Bytes` per frame, which costs about as much as the
//! scan itself; here a 64 KiB read holds about 150 frames of 128 kbit/s and one of them is
//! copied.
//!
//! Memory: the carry holds at most the bytes of one frame and the 4 bytes after it (or
//! the free-format search window of 5.6 KiB while resynchronising). Tags are dropped as
//! their bytes arrive, never held.

use std::ops::Deref;

use bytes::{Buf, Bytes, BytesMut};

use crate::events::{Event, Frame};
use crate::prefetch::Prefetch;
use crate::scan::{Core, Out};
use crate::tag::Tag;

/// The bytes of one frame from [`PushParser`]: a slice of the buffer given to
/// [`PushParser::feed`], or, for a frame that straddles two feeds, its own copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameBytes<'a> {
    /// Inside the fed buffer: not copied.
    Borrowed(&'a [u8]),
    /// Joined from the end of one feed and the start of the next (copied once).
    Joined(Bytes),
}

impl FrameBytes<'_> {
    /// As `Bytes` without a copy when the fed buffer was a `Bytes` (`source`): a borrowed
    /// frame becomes a slice of `source` ([`Bytes::slice_ref`]), a joined one is returned
    /// as is. Panics (in `bytes`) if a borrowed frame is not inside `source`.
    pub fn into_bytes(self, source: &Bytes) -> Bytes {
        match self {
            FrameBytes::Borrowed(slice) => source.slice_ref(slice),
            FrameBytes::Joined(bytes) => bytes,
        }
    }

    /// Whether the frame was copied (it straddled two feeds).
    pub fn is_joined(&self) -> bool {
        matches!(self, FrameBytes::Joined(_))
    }
}

impl Deref for FrameBytes<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            FrameBytes::Borrowed(slice) => slice,
            FrameBytes::Joined(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for FrameBytes<'_> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A sans-I/O MPEG audio parser over the caller's buffers: [`feed`](Self::feed) a read
/// and iterate its events, then [`finish`](Self::finish) at the end of input.
///
/// Bytes of a feed that its iterator did not reach (the tail of a frame that goes on in
/// the next read, or everything after the point where the iterator was dropped) are kept
/// and parsed first on the next feed, so no byte is lost whatever the read sizes.
///
/// ```
/// use mp3_frames::{Event, FrameHeader, PushParser, silent_frame};
/// let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
/// let input = frame.repeat(10);
/// let mut parser = PushParser::new();
/// let (mut frames, mut joined) = (0, 0);
/// for read in input.chunks(1000) {
///     for event in parser.feed(read) {
///         if let Event::Frame(f) = event {
///             assert_eq!(f.data.len(), 417);
///             frames += 1;
///             joined += usize::from(f.data.is_joined());
///         }
///     }
/// }
/// frames += parser.finish().filter(|e| matches!(e, Event::Frame(_))).count();
/// assert_eq!((frames, joined), (10, 4)); // 4 frames cross a 1000-byte boundary
/// ```
#[derive(Debug, Default)]
pub struct PushParser {
    core: Core,
    /// Bytes carried over from earlier feeds: the start of a frame (or of a resync
    /// window) whose end has not arrived yet.
    carry: BytesMut,
    /// Bytes of the current tag still to drop, and the tag.
    discard: u64,
    tag: Option<Tag>,
    finished: bool,
    /// Bytes the core asked for last (asking again earlier would repeat its search).
    need: usize,
}

impl PushParser {
    /// A parser at offset 0.
    pub fn new() -> PushParser {
        PushParser::default()
    }

    /// The events of the stream so far with `data` appended. Frames wholly inside `data`
    /// borrow from it; the iterator keeps what it did not reach when it is dropped.
    pub fn feed<'p, 'a>(&'p mut self, data: &'a [u8]) -> Fed<'p, 'a> {
        Fed {
            parser: self,
            data,
            pos: 0,
            appended: 0,
            prefetch: Prefetch::default(),
        }
    }

    /// Marks the end of input and gives the events of the bytes still held (a frame or
    /// a tag cut short at the end comes as [`Event::Truncated`]).
    pub fn finish(&mut self) -> Finished<'_> {
        self.finished = true;
        Finished { parser: self }
    }

    /// Bytes held over from earlier feeds.
    pub fn buffered(&self) -> usize {
        self.carry.len()
    }

    /// Drops tag bytes first from the carry, then from `data[*pos..]`; whether the tag
    /// is gone.
    fn drop_tag_bytes(&mut self, data: &[u8], pos: &mut usize) -> bool {
        let held = (self.carry.len() as u64).min(self.discard);
        self.carry.advance(held as usize);
        self.discard -= held;
        let fresh = ((data.len() - *pos) as u64).min(self.discard);
        *pos += fresh as usize;
        self.discard -= fresh;
        if self.discard == 0 {
            self.tag = None;
        }
        self.discard == 0
    }

    /// The next event of the carry (topped up from `data[*pos..]` as far as the core asks):
    /// `None` when more input is needed, `Some(None)` when the carry is used up and parsing
    /// goes on in `data`.
    fn next_carried(
        &mut self,
        data: &[u8],
        pos: &mut usize,
        appended: &mut usize,
    ) -> Option<Option<Event<Bytes>>> {
        loop {
            if self.carry.len() < self.need && !self.finished {
                let take = (self.need - self.carry.len()).min(data.len() - *pos);
                if take == 0 {
                    return None;
                }
                self.carry.extend_from_slice(&data[*pos..*pos + take]);
                *pos += take;
                *appended += take;
                continue;
            }
            self.need = 0;
            let event = match self.core.next(&self.carry, self.finished) {
                Out::Frame(meta) => {
                    let data = self.carry.split_to(meta.len).freeze();
                    Some(Event::Frame(Frame::new(meta, data)))
                }
                Out::Info(meta, tag) => {
                    let data = self.carry.split_to(meta.len).freeze();
                    Some(Event::Info {
                        frame: Frame::new(meta, data),
                        tag,
                    })
                }
                Out::Tag { tag, consume } => {
                    self.discard = consume;
                    self.tag = Some(tag);
                    Some(Event::Tag(tag))
                }
                Out::Skipped { offset, len } => Some(Event::Skipped { offset, len }),
                Out::Junk(n) => {
                    self.carry.advance(n);
                    None
                }
                Out::Truncated {
                    offset,
                    len,
                    expected,
                } => {
                    self.carry.clear();
                    Some(Event::Truncated {
                        offset,
                        len,
                        expected,
                    })
                }
                Out::NeedMore(n) => {
                    // Top up with exactly what the core asked for: the one copy.
                    self.need = n.max(self.carry.len() + 1);
                    continue;
                }
                Out::End => return None,
            };
            // Once the carry holds only bytes of this feed, parse them in place again.
            if self.carry.len() <= *appended {
                *pos -= self.carry.len();
                self.carry.clear();
                *appended = 0;
            }
            match event {
                Some(event) => return Some(Some(event)),
                None if self.carry.is_empty() => return Some(None),
                None => {}
            }
        }
    }
}

/// The events of one [`PushParser::feed`], in stream order.
#[derive(Debug)]
pub struct Fed<'p, 'a> {
    parser: &'p mut PushParser,
    data: &'a [u8],
    pos: usize,
    /// Bytes of `data` copied onto the end of the carry.
    appended: usize,
    /// Reads ahead of the header walk (a read that is no longer in cache would otherwise
    /// cost a memory latency per frame, as in [`crate::Events`]).
    prefetch: Prefetch,
}

impl<'a> Iterator for Fed<'_, 'a> {
    type Item = Event<FrameBytes<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // The common case: in sync, a whole frame in the fed buffer.
        if self.parser.carry.is_empty() && self.parser.discard == 0 {
            let buf = &self.data[self.pos..];
            if let Some(meta) = self.parser.core.next_frame(buf) {
                self.pos += meta.len;
                self.prefetch.after_frame(self.data, self.pos);
                return Some(Event::Frame(Frame::new(
                    meta,
                    FrameBytes::Borrowed(&buf[..meta.len]),
                )));
            }
        }
        self.next_slow()
    }
}

impl<'a> Fed<'_, 'a> {
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Event<FrameBytes<'a>>> {
        let parser = &mut *self.parser;
        loop {
            if parser.discard > 0 && !parser.drop_tag_bytes(self.data, &mut self.pos) {
                return None;
            }
            if !parser.carry.is_empty() {
                match parser.next_carried(self.data, &mut self.pos, &mut self.appended)? {
                    Some(event) => return Some(event.map_data(FrameBytes::Joined)),
                    None => continue,
                }
            }
            let buf = &self.data[self.pos..];
            match parser.core.next(buf, false) {
                Out::Frame(meta) => {
                    self.pos += meta.len;
                    return Some(Event::Frame(Frame::new(
                        meta,
                        FrameBytes::Borrowed(&buf[..meta.len]),
                    )));
                }
                Out::Info(meta, tag) => {
                    self.pos += meta.len;
                    return Some(Event::Info {
                        frame: Frame::new(meta, FrameBytes::Borrowed(&buf[..meta.len])),
                        tag,
                    });
                }
                Out::Tag { tag, consume } => {
                    parser.discard = consume;
                    parser.tag = Some(tag);
                    return Some(Event::Tag(tag));
                }
                Out::Skipped { offset, len } => return Some(Event::Skipped { offset, len }),
                Out::Junk(n) => self.pos += n,
                Out::Truncated {
                    offset,
                    len,
                    expected,
                } => {
                    // Not at the end of input: cannot happen; drop the bytes it names.
                    self.pos = self.data.len();
                    return Some(Event::Truncated {
                        offset,
                        len,
                        expected,
                    });
                }
                Out::NeedMore(n) => {
                    // The rest goes on in the next feed: keep it (the one copy).
                    parser.need = n;
                    parser.carry.extend_from_slice(buf);
                    self.pos = self.data.len();
                    return None;
                }
                Out::End => {
                    parser.carry.extend_from_slice(buf);
                    self.pos = self.data.len();
                    return None;
                }
            }
        }
    }
}

impl Drop for Fed<'_, '_> {
    fn drop(&mut self) {
        // Keep what the iterator did not reach, after dropping tag bytes.
        let parser = &mut *self.parser;
        if parser.discard > 0 && !parser.drop_tag_bytes(self.data, &mut self.pos) {
            return;
        }
        parser
            .carry
            .extend_from_slice(&self.data[self.pos.min(self.data.len())..]);
    }
}

/// The events of the bytes held at the end of input ([`PushParser::finish`]).
#[derive(Debug)]
pub struct Finished<'p> {
    parser: &'p mut PushParser,
}

impl Iterator for Finished<'_> {
    type Item = Event<FrameBytes<'static>>;

    fn next(&mut self) -> Option<Self::Item> {
        let parser = &mut *self.parser;
        loop {
            if parser.discard > 0 && !parser.drop_tag_bytes(&[], &mut 0) {
                let tag = parser.tag.take()?;
                let missing = std::mem::take(&mut parser.discard);
                return Some(Event::Truncated {
                    offset: tag.offset,
                    len: tag.len - missing,
                    expected: tag.len,
                });
            }
            if let Some(event) = parser.next_carried(&[], &mut 0, &mut 0)? {
                return Some(event.map_data(FrameBytes::Joined));
            }
        }
    }
}
