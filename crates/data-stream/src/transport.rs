//! tokio adapters: drive an [`Outgoing`](crate::Outgoing) queue into any `AsyncWrite`,
//! and a [`Receiver`] from any `AsyncRead` (TCP, Unix socket, `tokio::io::duplex`...),
//! with the length-delimited framing of [`crate::framing`].
//!
//! Backpressure: the receiver stops reading the transport while a reader's buffer
//! ([`Limits::stream_buffer_chunks`]) is full, so memory stays bounded and TCP's window
//! slows the sender. A reader that takes nothing for the inactivity timeout while its
//! buffer is full is dropped ([`Error::ReaderStalled`]), so it cannot freeze the other
//! streams. Time comes from tokio's clock (pausable in tests), so [`Receiver::run`] needs a
//! runtime with time enabled unless [`Limits::inactivity_timeout`] is `None`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use futures::channel::mpsc::{self, TryRecvError};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::demux::{Demultiplexer, Event, Limits};
use crate::framing::FrameDecoder;
use crate::packet::{Frame, StreamType};
use crate::reader::{ReaderFeed, StreamReader};
use crate::writer::OutgoingFrames;
use crate::{Error, Result};

mod blocks;
mod messages;
#[cfg(feature = "websocket")]
pub mod websocket;

pub use messages::{ReceivedAttachment, TextMessage, TextMessages};

/// Writes queued frames to `transport` with their length prefix until every
/// [`Outgoing`](crate::Outgoing) handle and writer is gone, then flushes and shuts the
/// transport down (so the peer sees the end). Flushes whenever the queue runs empty.
///
/// The frames already queued go out together, in one vectored write where the transport
/// takes one (TCP, `tokio::io::duplex`): prefixes, heads and small bodies are gathered in
/// one buffer, and a chunk's content of 4 KiB or more is written from its own `Bytes`, so
/// the socket's copy is the only one. (A 64 KiB `BufWriter` copied every chunk once more;
/// one write per chunk woke the peer's reader once per chunk.)
pub async fn write_frames<W: AsyncWrite + Unpin>(
    mut frames: OutgoingFrames,
    mut transport: W,
    max_frame_size: usize,
) -> Result<()> {
    let io = |e: std::io::Error| Error::io("writing the transport", &e);
    let mut output = Output::default();
    loop {
        let frame = match frames.try_recv() {
            Ok(frame) => frame,
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => {
                // Nothing queued right now: push out what is gathered before waiting.
                output.write_to(&mut transport).await.map_err(io)?;
                transport.flush().await.map_err(io)?;
                match frames.next().await {
                    Some(frame) => frame,
                    None => break,
                }
            }
        };
        output.push(frame, max_frame_size)?;
        if output.is_full() {
            output.write_to(&mut transport).await.map_err(io)?;
        }
    }
    output.write_to(&mut transport).await.map_err(io)?;
    transport.flush().await.map_err(io)?;
    transport.shutdown().await.map_err(io)
}

/// Content at least this long is written from its own buffer, not gathered.
const GATHER_BELOW: usize = 4 * 1024;
/// Frames are written once this many bytes wait...
const WRITE_BATCH: usize = 256 * 1024;
/// ...or this many pieces (one vectored write takes at most this many).
const MAX_PIECES: usize = 64;

/// Size of a block of gathered bytes.
const GATHER_BLOCK: usize = 64 * 1024;

/// Frames waiting to be written, as pieces that share the frames' buffers.
#[derive(Default)]
struct Output {
    /// Prefixes, heads and small bodies not yet made a piece.
    gathered: BytesMut,
    /// The block before `gathered`, taken again once its pieces are written: growing
    /// `gathered` while pieces of it wait would allocate a new block every time.
    spare: BytesMut,
    pieces: std::collections::VecDeque<Bytes>,
    len: usize,
}

impl Output {
    fn push(&mut self, frame: Frame, max_frame_size: usize) -> Result<()> {
        let prefix = frame.length_prefix(max_frame_size)?;
        let need = 4 + frame.head.len() + GATHER_BELOW;
        if self.gathered.capacity() - self.gathered.len() < need {
            self.next_block(need);
        }
        self.gathered.extend_from_slice(&prefix.to_be_bytes());
        self.gathered.extend_from_slice(&frame.head);
        self.len += 4 + frame.len();
        if frame.body.len() >= GATHER_BELOW {
            self.pieces.push_back(self.gathered.split().freeze());
            self.pieces.push_back(frame.body);
        } else {
            self.gathered.extend_from_slice(&frame.body);
        }
        Ok(())
    }

    /// Moves to the spare block (or a new one), the gathered bytes made a piece first.
    fn next_block(&mut self, need: usize) {
        if !self.gathered.is_empty() {
            self.pieces.push_back(self.gathered.split().freeze());
        }
        let size = need.max(GATHER_BLOCK);
        let mut next = std::mem::take(&mut self.spare);
        if !next.try_reclaim(size) {
            next = BytesMut::with_capacity(size);
        }
        self.spare = std::mem::replace(&mut self.gathered, next);
    }

    fn is_full(&self) -> bool {
        self.len >= WRITE_BATCH || self.pieces.len() >= MAX_PIECES
    }

    /// Writes every piece: vectored where the transport takes it, else one write each.
    async fn write_to<W: AsyncWrite + Unpin>(&mut self, transport: &mut W) -> std::io::Result<()> {
        if !self.gathered.is_empty() {
            self.pieces.push_back(self.gathered.split().freeze());
        }
        while let Some(first) = self.pieces.front() {
            let n = if transport.is_write_vectored() && self.pieces.len() > 1 {
                let mut slices = [std::io::IoSlice::new(&[]); MAX_PIECES];
                let count = self.pieces.len().min(MAX_PIECES);
                for (slice, piece) in slices.iter_mut().zip(&self.pieces) {
                    *slice = std::io::IoSlice::new(piece);
                }
                transport.write_vectored(&slices[..count]).await?
            } else {
                transport.write(first).await?
            };
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.consume(n);
        }
        self.len = 0;
        Ok(())
    }

    /// Drops the first `n` bytes of the pieces.
    fn consume(&mut self, mut n: usize) {
        while let Some(piece) = self.pieces.front_mut() {
            if n < piece.len() {
                piece.advance(n);
                return;
            }
            n -= piece.len();
            self.pieces.pop_front();
        }
    }
}

/// The incoming streams of one topic and kind: a stream of readers, one per stream.
pub type IncomingStreams = mpsc::Receiver<StreamReader>;

struct Registry {
    demux: Demultiplexer,
    /// Topic handlers; `None` is the kind's fallback.
    routes: HashMap<(StreamType, Option<String>), mpsc::Sender<StreamReader>>,
    reports: Option<mpsc::Sender<Event>>,
}

/// Receives the streams of one connection and hands them to topic handlers. Clone it to
/// register handlers while [`Receiver::run`] drives the connection.
#[derive(Clone)]
pub struct Receiver {
    registry: Arc<Mutex<Registry>>,
    limits: Limits,
}

impl Receiver {
    /// A receiver with these limits and no handler.
    pub fn new(limits: Limits) -> Self {
        let registry = Registry {
            demux: Demultiplexer::new(limits.clone()),
            routes: HashMap::new(),
            reports: None,
        };
        Receiver {
            registry: Arc::new(Mutex::new(registry)),
            limits,
        }
    }

    /// Text streams on `topic`; a second registration is [`Error::HandlerAlreadyRegistered`].
    pub fn text_streams(&self, topic: &str) -> Result<IncomingStreams> {
        self.register(StreamType::Text, topic)
    }

    /// Byte streams on `topic`; a second registration is [`Error::HandlerAlreadyRegistered`].
    pub fn byte_streams(&self, topic: &str) -> Result<IncomingStreams> {
        self.register(StreamType::Bytes, topic)
    }

    /// Texts on `topic` read whole, each with the byte streams it attaches (registers
    /// both the text and the byte handler of the topic).
    pub fn text_messages(&self, topic: &str) -> Result<TextMessages> {
        let texts = self.text_streams(topic)?;
        let bytes = self.byte_streams(topic)?;
        Ok(TextMessages::new(texts, bytes))
    }

    /// Text streams whose topic has no handler of its own (a catch-all).
    pub fn other_text_streams(&self) -> Result<IncomingStreams> {
        self.register_fallback(StreamType::Text)
    }

    /// Byte streams whose topic has no handler of its own (a catch-all).
    pub fn other_byte_streams(&self) -> Result<IncomingStreams> {
        self.register_fallback(StreamType::Bytes)
    }

    /// What is not delivered to a reader: [`Event::Unhandled`] streams (drained),
    /// [`Event::Failed`] streams no reader waits for, [`Event::Stray`] packets. Reports
    /// are dropped while this buffer (64) is full. Every report is also logged.
    pub fn reports(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(64);
        self.lock().reports = Some(tx);
        rx
    }

    fn register(&self, kind: StreamType, topic: &str) -> Result<IncomingStreams> {
        let mut registry = self.lock();
        registry.demux.register(kind, topic)?;
        let (tx, rx) = mpsc::channel(self.limits.stream_buffer_chunks.max(1));
        registry.routes.insert((kind, Some(topic.to_owned())), tx);
        Ok(rx)
    }

    fn register_fallback(&self, kind: StreamType) -> Result<IncomingStreams> {
        let mut registry = self.lock();
        registry.demux.register_fallback(kind)?;
        let (tx, rx) = mpsc::channel(self.limits.stream_buffer_chunks.max(1));
        registry.routes.insert((kind, None), tx);
        Ok(rx)
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic elsewhere cannot leave the registry half-updated: every section is short.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads frames from `transport` until it ends, delivering streams to their handlers.
    /// At the end (or on a transport error, a framing error or a packet that is not a
    /// valid `DataPacket`) every open stream fails with
    /// [`Error::TransportClosed`]; the error, if any, is returned too.
    pub async fn run<R: AsyncRead + Unpin>(&self, transport: R) -> Result<()> {
        let max_frame_size = self.limits.max_frame_size;
        let decoder = FrameDecoder::new(max_frame_size);
        let buf = BytesMut::with_capacity(blocks::READ_SIZE);
        let state = (transport, decoder, buf, blocks::Blocks::default());
        let frames = futures::stream::unfold(Some(state), move |state| async move {
            let (mut transport, mut decoder, mut buf, mut blocks) = state?;
            let item = loop {
                // Before decoding: the decoder would grow a buffer that queued chunks still
                // share into fresh memory (see `blocks.rs`).
                blocks.make_room(&mut buf, max_frame_size);
                match decoder.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let offset = decoder.offset() - frame.len() as u64 - 4;
                        break Ok((frame, offset));
                    }
                    Ok(None) => {}
                    Err(e) => break Err(e),
                }
                // Reads are large (at least half of `READ_SIZE`, made room for above): a
                // few reads per 15 000-byte chunk would cost more than the copy.
                match transport.read_buf(&mut buf).await {
                    Ok(0) => match decoder.finish(&buf) {
                        Ok(()) => return None,
                        Err(e) => break Err(e),
                    },
                    Ok(_) => {}
                    Err(e) => break Err(Error::io("reading the transport", &e)),
                }
            };
            // After an error the stream ends.
            let next = item.is_ok().then_some((transport, decoder, buf, blocks));
            Some((item, next))
        });
        self.run_frames(frames).await
    }

    /// Like [`Receiver::run`] for a transport that keeps message boundaries (a WebSocket,
    /// a data channel): each item is one serialized `DataPacket` and where it was (a byte
    /// offset or a message number, for error messages). The stream ending ends the
    /// connection; an `Err` item fails it.
    pub async fn run_frames<S>(&self, frames: S) -> Result<()>
    where
        S: futures::Stream<Item = Result<(bytes::Bytes, u64)>>,
    {
        let mut frames = std::pin::pin!(frames);
        let mut feeds: HashMap<String, ReaderFeed> = HashMap::new();
        let mut timer = std::pin::pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut armed = false;
        let mut deadline = self.lock().demux.poll_timeout();
        let mut clock = Clock::default();
        let outcome = loop {
            // One timer for the connection, moved only when a deadline comes sooner;
            // when it fires, the demultiplexer checks the real times.
            if let Some(at) = deadline.map(tokio::time::Instant::from_std)
                && (!armed || at < timer.deadline())
            {
                timer.as_mut().reset(at);
                armed = true;
            }
            let next = std::future::poll_fn(|cx| {
                if let Poll::Ready(item) = frames.as_mut().poll_next(cx) {
                    return Poll::Ready(Some(item));
                }
                clock.waited();
                // The transport has nothing more for now: wake the readers once for the
                // chunks queued since (not once per chunk: see `reader/queue.rs`).
                for feed in feeds.values() {
                    feed.wake_reader();
                }
                if armed && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            let (frame, offset) = match next {
                None => {
                    armed = false;
                    self.lock().demux.handle_timeout(clock.now());
                    deadline = self.deliver(&mut feeds).await;
                    continue;
                }
                Some(None) => break Ok(()),
                Some(Some(Err(e))) => break Err(e),
                Some(Some(Ok(item))) => item,
            };
            if frame.len() > self.limits.max_frame_size {
                break Err(Error::FrameTooLarge {
                    len: frame.len() as u64,
                    offset,
                    max: self.limits.max_frame_size,
                });
            }
            let handled = self.lock().demux.handle_frame(frame, clock.now());
            deadline = self.deliver(&mut feeds).await;
            match handled {
                Ok(()) => {}
                // Say where in the transport the bad packet was.
                Err(Error::Decode { message, .. }) => break Err(Error::Decode { offset, message }),
                Err(e) => break Err(e),
            }
        };
        let detail = match &outcome {
            Ok(()) => "transport ended".to_owned(),
            Err(e) => e.to_string(),
        };
        self.lock().demux.close(&detail);
        self.deliver(&mut feeds).await;
        outcome
    }

    /// Hands the demultiplexer's events to readers, waiting on full buffers
    /// (backpressure); returns the demultiplexer's next deadline.
    async fn deliver(&self, feeds: &mut HashMap<String, ReaderFeed>) -> Option<std::time::Instant> {
        loop {
            // Chunks for readers with room go under one lock (the usual case: one lock
            // per frame, not one per event); the first event that may wait is handled
            // after the lock is let go.
            let event = {
                let mut registry = self.lock();
                match Self::deliver_ready(&mut registry.demux, feeds) {
                    Some(event) => event,
                    None => return registry.demux.poll_timeout(),
                }
            };
            self.deliver_one(event, feeds).await;
        }
    }

    /// Delivers events while they need no waiting: chunks for readers with room (or for
    /// readers gone: the stream is discarded). Returns the first other event, `None`
    /// once there are no more.
    fn deliver_ready(
        demux: &mut Demultiplexer,
        feeds: &mut HashMap<String, ReaderFeed>,
    ) -> Option<Event> {
        loop {
            let event = demux.poll_event()?;
            let Event::Chunk { stream_id, content } = event else {
                return Some(event);
            };
            let Some(feed) = feeds.get_mut(&*stream_id) else {
                continue;
            };
            match feed.try_chunk_quiet(content) {
                Ok(true) => {}
                Ok(false) => {
                    demux.discard(&stream_id);
                    feeds.remove(&*stream_id);
                }
                Err(content) => return Some(Event::Chunk { stream_id, content }),
            }
        }
    }

    /// Handles one event that may wait: a chunk for a full reader, a stream opened,
    /// finished or failed, a report.
    async fn deliver_one(&self, event: Event, feeds: &mut HashMap<String, ReaderFeed>) {
        match event {
            Event::Opened(info) => {
                let route = {
                    let registry = self.lock();
                    let kind = info.stream_type();
                    let own = registry.routes.get(&(kind, Some(info.topic.clone())));
                    own.or_else(|| registry.routes.get(&(kind, None))).cloned()
                };
                let id = info.id.clone();
                let (feed, reader) =
                    StreamReader::channel(info.clone(), self.limits.stream_buffer_chunks);
                let accepted = match route {
                    Some(mut route) => route.send(reader).await.is_ok(),
                    None => false,
                };
                if accepted {
                    feeds.insert(id, feed);
                } else {
                    // The handler went away: drain the stream like an unhandled one.
                    self.lock().demux.discard(&id);
                    self.report(Event::Unhandled(info));
                }
            }
            Event::Chunk { stream_id, content } => {
                let Some(feed) = feeds.get_mut(&*stream_id) else {
                    return;
                };
                // Wait for a full reader, but not forever: one stalled reader must not
                // freeze the other streams of the connection. (The timer is only set up
                // when the buffer is full.)
                let delivered = match self.limits.inactivity_timeout {
                    Some(t) => tokio::time::timeout(t, feed.chunk(content))
                        .await
                        .map_err(|_| t),
                    None => Ok(feed.chunk(content).await),
                };
                if delivered != Ok(true) {
                    self.lock().demux.discard(&stream_id);
                    if let (Some(feed), Err(t)) = (feeds.remove(&*stream_id), delivered) {
                        let timeout_ms = t.as_millis() as u64;
                        feed.abort(Error::ReaderStalled {
                            stream_id: stream_id.to_string(),
                            timeout_ms,
                        });
                    }
                }
            }
            Event::Finished(info) => {
                if let Some(feed) = feeds.remove(&info.id) {
                    feed.finish(info).await;
                }
            }
            Event::Failed {
                stream_id,
                opened,
                error,
            } => match feeds.remove(&stream_id) {
                Some(feed) => feed.fail(error).await,
                None => self.report(Event::Failed {
                    stream_id,
                    opened,
                    error,
                }),
            },
            other @ (Event::Unhandled(_) | Event::Stray { .. }) => self.report(other),
        }
    }

    fn report(&self, event: Event) {
        match &event {
            Event::Unhandled(info) => {
                tracing::warn!(stream_id = %info.id, topic = %info.topic, kind = info.stream_type().name(), "no handler: stream drained")
            }
            Event::Failed { error, .. } => tracing::warn!(%error, "stream failed"),
            Event::Stray { stream_id } => {
                tracing::debug!(%stream_id, "packet for an unknown stream dropped")
            }
            _ => {}
        }
        if let Some(reports) = self.lock().reports.as_mut() {
            // Reports are advisory: a full or closed buffer drops them (they were logged).
            let _ = reports.try_send(event);
        }
    }
}

/// The time frames are handled at: read again after the transport made the driver wait,
/// and at least every [`Clock::FRAMES`] frames of a burst (frames read together arrived
/// together; a clock read per 15 000-byte chunk was a measurable share of the path).
#[derive(Default)]
struct Clock {
    now: Option<std::time::Instant>,
    frames: u32,
}

impl Clock {
    const FRAMES: u32 = 64;

    fn waited(&mut self) {
        self.now = None;
    }

    fn now(&mut self) -> std::time::Instant {
        self.frames += 1;
        match self.now {
            Some(now) if self.frames < Self::FRAMES => now,
            _ => {
                self.frames = 0;
                *self.now.insert(tokio::time::Instant::now().into_std())
            }
        }
    }
}
