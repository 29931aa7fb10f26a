//! Incremental parsing: push bytes in, pull [`Event`]s out ([`StreamParser`], sans-I/O),
//! with a blocking [`FrameReader`] over `std::io::Read` and, behind the `tokio` feature, an
//! [`AsyncFrameReader`] over `tokio::io::AsyncRead`.
//!
//! Memory: the parser keeps at most one frame (or the bytes needed to confirm a frame
//! while resynchronising: frame + 4, or a free-format search window of 5.6 KiB) plus what
//! was pushed since the last pull. Tags are dropped as their bytes arrive, never held.

use bytes::{Buf, Bytes, BytesMut};

use crate::events::{Event, Frame};
use crate::scan::{Core, Out};
use crate::tag::Tag;

/// A sans-I/O MPEG audio parser: [`push`](Self::push) bytes, [`pull`](Self::pull) events,
/// [`finish`](Self::finish) at the end of input. Frames are `Bytes` split from the
/// internal buffer (no copy after `push`).
///
/// ```
/// use mp3_frames::{Event, FrameHeader, StreamParser, silent_frame};
/// let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
/// let mut parser = StreamParser::new();
/// let mut frames = 0;
/// for chunk in frame.repeat(3).chunks(100) {
///     parser.push(chunk);
///     while let Some(event) = parser.pull() {
///         if let Event::Frame(f) = event { assert_eq!(f.data.len(), 417); frames += 1; }
///     }
/// }
/// parser.finish();
/// while let Some(event) = parser.pull() {
///     if let Event::Frame(_) = event { frames += 1; }
/// }
/// assert_eq!(frames, 3);
/// ```
#[derive(Debug, Default)]
pub struct StreamParser {
    buf: BytesMut,
    core: Core,
    /// Bytes of the current tag still to drop, and the tag.
    discard: u64,
    tag: Option<Tag>,
    finished: bool,
    need: usize,
}

impl StreamParser {
    /// A parser at offset 0.
    pub fn new() -> StreamParser {
        StreamParser::default()
    }

    /// Appends input. Tag bytes still to skip are dropped here without being buffered.
    pub fn push(&mut self, mut data: &[u8]) {
        self.drop_tag_bytes();
        if self.discard > 0 {
            let n = data
                .len()
                .min(usize::try_from(self.discard).unwrap_or(usize::MAX));
            data = &data[n..];
            self.discard -= n as u64;
        }
        self.buf.extend_from_slice(data);
    }

    /// Reads once from `fill` into the buffer (at most `max` bytes); returns the byte count
    /// (0 = end of input, which calls [`finish`](Self::finish)). Saves a copy over `push`.
    pub fn fill<E>(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let old = self.buf.len();
        self.buf.resize(old + max, 0);
        let n = match fill(&mut self.buf[old..]) {
            Ok(n) => n.min(max),
            Err(e) => {
                self.buf.truncate(old);
                return Err(e);
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.finish();
        } else if self.discard > 0 {
            // Drop tag bytes at once so they never accumulate.
            self.drop_tag_bytes();
        }
        Ok(n)
    }

    /// Marks the end of input: what is buffered is parsed to the end by later pulls.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bytes held now.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Absolute offset of the next byte to parse.
    pub fn offset(&self) -> u64 {
        self.core.offset().saturating_sub(self.discard)
    }

    fn drop_tag_bytes(&mut self) {
        let n = self
            .buf
            .len()
            .min(usize::try_from(self.discard).unwrap_or(usize::MAX));
        self.buf.advance(n);
        self.discard -= n as u64;
    }

    /// The next event, or `None` when more input is needed (or all is done after
    /// [`finish`](Self::finish)).
    pub fn pull(&mut self) -> Option<Event<Bytes>> {
        loop {
            if self.discard > 0 {
                self.drop_tag_bytes();
                if self.discard > 0 {
                    if !self.finished {
                        return None;
                    }
                    let tag = self.tag.take()?;
                    let missing = std::mem::take(&mut self.discard);
                    return Some(Event::Truncated {
                        offset: tag.offset,
                        len: tag.len - missing,
                        expected: tag.len,
                    });
                }
            }
            if !self.finished && self.buf.len() < self.need {
                return None;
            }
            self.need = 0;
            match self.core.next(&self.buf, self.finished) {
                Out::Frame(meta) => {
                    let data = self.buf.split_to(meta.len).freeze();
                    return Some(Event::Frame(Frame::new(meta, data)));
                }
                Out::Info(meta, tag) => {
                    let data = self.buf.split_to(meta.len).freeze();
                    return Some(Event::Info {
                        frame: Frame::new(meta, data),
                        tag,
                    });
                }
                Out::Tag { tag, consume } => {
                    self.discard = consume;
                    self.tag = Some(tag);
                    return Some(Event::Tag(tag));
                }
                Out::Skipped { offset, len } => return Some(Event::Skipped { offset, len }),
                Out::Junk(n) => self.buf.advance(n),
                Out::Truncated {
                    offset,
                    len,
                    expected,
                } => {
                    self.buf.clear();
                    return Some(Event::Truncated {
                        offset,
                        len,
                        expected,
                    });
                }
                Out::NeedMore(n) => {
                    self.need = n;
                    return None;
                }
                Out::End => return None,
            }
        }
    }
}

/// Events from a blocking reader, read in chunks of 16 KiB.
///
/// ```
/// use mp3_frames::{Event, FrameReader, FrameHeader, silent_frame};
/// let data = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap().repeat(5);
/// let frames = FrameReader::new(&data[..])
///     .filter(|e| matches!(e, Ok(Event::Frame(_))))
///     .count();
/// assert_eq!(frames, 5);
/// ```
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    parser: StreamParser,
}

/// Read size of the adapters.
const CHUNK: usize = 16 * 1024;

impl<R: std::io::Read> FrameReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            parser: StreamParser::new(),
        }
    }

    /// The next event; `Ok(None)` at the end.
    pub fn next_event(&mut self) -> std::io::Result<Option<Event<Bytes>>> {
        loop {
            if let Some(e) = self.parser.pull() {
                return Ok(Some(e));
            }
            if self.parser.is_finished() {
                return Ok(None);
            }
            let inner = &mut self.inner;
            match self.parser.fill(CHUNK, |b| inner.read(b)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: std::io::Read> Iterator for FrameReader<R> {
    type Item = std::io::Result<Event<Bytes>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Events from a tokio reader (feature `tokio`), read in chunks of 16 KiB.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct AsyncFrameReader<R> {
    inner: R,
    parser: StreamParser,
    chunk: Box<[u8]>,
}

#[cfg(feature = "tokio")]
impl<R: tokio::io::AsyncRead + Unpin> AsyncFrameReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> AsyncFrameReader<R> {
        AsyncFrameReader {
            inner,
            parser: StreamParser::new(),
            chunk: vec![0; CHUNK].into_boxed_slice(),
        }
    }

    /// The next event; `Ok(None)` at the end. Cancel-safe: a cancelled call loses no bytes.
    pub async fn next_event(&mut self) -> std::io::Result<Option<Event<Bytes>>> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(e) = self.parser.pull() {
                return Ok(Some(e));
            }
            if self.parser.is_finished() {
                return Ok(None);
            }
            let n = self.inner.read(&mut self.chunk).await?;
            if n == 0 {
                self.parser.finish();
            } else {
                self.parser.push(&self.chunk[..n]);
            }
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}
