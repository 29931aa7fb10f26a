//! Sending streams: [`Outgoing`] opens [`ByteStreamWriter`]s and [`TextStreamWriter`]s
//! whose frames go, in order, into one bounded queue that a transport drains
//! ([`OutgoingFrames`]; the `tokio` feature has a driver for any `AsyncWrite`).
//!
//! Guarantees LiveKit's SDKs lack (data-stream-anchors.md §7): a chunk index is taken only
//! once its frame is queued, so a failed or cancelled send leaves no gap; writes and close
//! on one writer are serialised by an async lock (one `write` never interleaves with
//! another); writing after close is refused; and a writer dropped without close sends a
//! trailer with a non-empty reason, so the receiver sees an abnormal end, never a success.
//!
//! Runtime-agnostic (our own queue, `frames.rs`, and a futures lock); the queue is bounded,
//! so writers wait when the transport is slow.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::lock::Mutex;

use crate::packet::{
    ChunkHeads, Envelope, Frame, Header, Packet, StreamInfo, StreamKind, TextInfo, Trailer,
};
use crate::split::{self, DEFAULT_CHUNK_SIZE};
use crate::{Error, Result};

/// The reason a dropped, unclosed writer puts in its trailer.
pub const DROPPED_REASON: &str = "writer dropped without close";

/// Largest header packet a receiver takes by default
/// ([`Limits::max_header_size`](crate::Limits::max_header_size)). Writers keep to the
/// smaller [`crate::packet::MAX_HEADER_BUDGET`] (LiveKit's, inline content left out).
pub const MAX_HEADER_SIZE: usize = 64 * 1024;

mod frames;
mod oneshot;
mod progress;

use frames::FrameSender;
pub use frames::{OutgoingFrames, TryRecvError};

pub use oneshot::Attachment;
pub use progress::{OnProgress, SendProgress, V2Support};

/// Options of a new outgoing stream; every field has a default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Topic (default empty).
    pub topic: String,
    /// MIME type (default `text/plain` for text, `application/octet-stream` for bytes).
    pub mime_type: Option<String>,
    /// Attributes sent in the header.
    pub attributes: HashMap<String, String>,
    /// Total length announced in the header; the writer refuses to write more.
    pub total_length: Option<u64>,
    /// Stream id (default a fresh UUIDv4).
    pub stream_id: Option<String>,
    /// Creation time in Unix ms (default the system clock now).
    pub timestamp_ms: Option<i64>,
    /// Largest chunk content (default 15 000, LiveKit's; at least 4 for text). Keep it
    /// under the receiver's [`Limits::max_chunk_size`](crate::Limits::max_chunk_size)
    /// (64 KiB by default) and a data channel's message size (64 000 for LiveKit JS).
    pub chunk_size: usize,
    /// Whether one-shot sends may compress (raw deflate) when every recipient supports
    /// it ([`V2Support`]); default `true`, as LiveKit JS's `compress ?? true`.
    pub compress: bool,
    /// Called as content is queued: bytes sent of the total, before compression (as
    /// LiveKit JS's `onProgress`).
    pub on_progress: Option<OnProgress>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            topic: String::new(),
            mime_type: None,
            attributes: HashMap::new(),
            total_length: None,
            stream_id: None,
            timestamp_ms: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            compress: true,
            on_progress: None,
        }
    }
}

impl StreamOptions {
    /// Default options on `topic`.
    pub fn topic(topic: impl Into<String>) -> Self {
        StreamOptions {
            topic: topic.into(),
            ..Default::default()
        }
    }

    pub(crate) fn into_info(self, kind: StreamKind) -> (StreamInfo, usize) {
        let default_mime = match kind {
            StreamKind::Text(_) => "text/plain",
            StreamKind::Bytes { .. } => "application/octet-stream",
        };
        let timestamp_ms = self.timestamp_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        });
        let info = StreamInfo {
            id: self
                .stream_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            timestamp_ms,
            topic: self.topic,
            mime_type: self.mime_type.unwrap_or_else(|| default_mime.to_owned()),
            total_length: self.total_length,
            attributes: self.attributes,
            kind,
        };
        (info, self.chunk_size)
    }
}

/// Opens outgoing streams on one connection. Cheap to clone.
#[derive(Clone)]
pub struct Outgoing {
    tx: FrameSender,
    envelope: Envelope,
    v2: V2Support,
}

impl Outgoing {
    /// A sender and the queue of its frames, holding at most about `capacity` frames.
    pub fn new(capacity: usize) -> (Outgoing, OutgoingFrames) {
        Outgoing::with_envelope(capacity, Envelope::default())
    }

    /// Like [`Outgoing::new`], putting `envelope` (sender identity, recipients) on every
    /// packet.
    pub fn with_envelope(capacity: usize, envelope: Envelope) -> (Outgoing, OutgoingFrames) {
        let (tx, rx) = frames::channel(capacity);
        let v2 = V2Support::default();
        (Outgoing { tx, envelope, v2 }, rx)
    }

    /// What every recipient supports of data streams v2 (default: nothing, so streams
    /// go out as v1, which every LiveKit SDK reads). One-shot sends use single-packet
    /// streams and compression only where this allows.
    pub fn with_v2(mut self, support: V2Support) -> Outgoing {
        self.v2 = support;
        self
    }

    /// The v2 support streams are sent with.
    pub fn v2(&self) -> V2Support {
        self.v2
    }

    /// Opens a byte stream named `name` (the header is queued before this returns).
    pub async fn stream_bytes(
        &self,
        name: impl Into<String>,
        options: StreamOptions,
    ) -> Result<ByteStreamWriter> {
        let progress = options.on_progress.clone();
        let (info, chunk_size) = options.into_info(StreamKind::Bytes { name: name.into() });
        let header = Header::new(info);
        Ok(ByteStreamWriter {
            inner: StreamWriter::open(self, header, chunk_size.max(1), progress).await?,
        })
    }

    /// Opens a text stream.
    pub async fn stream_text(
        &self,
        text: TextInfo,
        options: StreamOptions,
    ) -> Result<TextStreamWriter> {
        if options.chunk_size < 4 {
            return Err(Error::ChunkSizeTooSmall(options.chunk_size));
        }
        let progress = options.on_progress.clone();
        let (info, chunk_size) = options.into_info(StreamKind::Text(text));
        let header = Header::new(info);
        Ok(TextStreamWriter {
            inner: StreamWriter::open(self, header, chunk_size, progress).await?,
        })
    }
}

struct WriterState {
    tx: FrameSender,
    /// Chunk heads encoded into reused blocks (no allocation per chunk).
    heads: ChunkHeads,
    next_index: u64,
    written: u64,
    closed: bool,
}

/// What byte and text writers share.
struct StreamWriter {
    info: StreamInfo,
    chunk_size: usize,
    envelope: Envelope,
    /// Chunks carry deflate output: `total_length` (before compression) does not bound them.
    compressed: bool,
    progress: Option<OnProgress>,
    state: Mutex<WriterState>,
}

impl StreamWriter {
    async fn open(
        outgoing: &Outgoing,
        header: Header,
        chunk_size: usize,
        progress: Option<OnProgress>,
    ) -> Result<Self> {
        let tx = outgoing.tx.clone();
        let compressed = header.is_compressed();
        let info = header.info.clone();
        let packet = Packet::Header(Box::new(header));
        let frame = packet.to_frame(&outgoing.envelope);
        // Refused here rather than by the receiver: LiveKit's budget, "reduce attribute size".
        if let Packet::Header(h) = &packet {
            h.check_budget(frame.len())?;
        }
        queue(&tx, frame, &info.id).await?;
        let state = WriterState {
            tx,
            heads: ChunkHeads::default(),
            next_index: 0,
            written: 0,
            closed: false,
        };
        Ok(StreamWriter {
            info,
            chunk_size,
            envelope: outgoing.envelope.clone(),
            compressed,
            progress: progress.filter(|_| !compressed),
            state: Mutex::new(state),
        })
    }

    async fn write_pieces(&self, len: usize, pieces: impl Iterator<Item = Bytes>) -> Result<()> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(Error::StreamClosed {
                stream_id: self.info.id.clone(),
            });
        }
        let size = state.written + len as u64;
        if let Some(total) = self
            .info
            .total_length
            .filter(|&t| size > t && !self.compressed)
        {
            return Err(Error::WriteExceedsLength {
                stream_id: self.info.id.clone(),
                size,
                total,
            });
        }
        for piece in pieces {
            let piece_len = piece.len() as u64;
            let index = state.next_index;
            let frame = state
                .heads
                .chunk(&self.envelope, &self.info.id, index, piece);
            queue(&state.tx, frame, &self.info.id).await?;
            // The frame is queued: only now is the index used, so a cancelled or failed
            // send leaves no gap (and no index is sent twice).
            state.next_index += 1;
            state.written += piece_len;
            if let Some(progress) = &self.progress {
                progress.call(state.written, self.info.total_length);
            }
        }
        Ok(())
    }

    async fn close(&self, reason: &str, attributes: HashMap<String, String>) -> Result<StreamInfo> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(Error::StreamClosed {
                stream_id: self.info.id.clone(),
            });
        }
        let trailer = Trailer {
            stream_id: self.info.id.clone(),
            reason: reason.to_owned(),
            attributes,
        };
        let mut info = self.info.clone();
        info.attributes.extend(trailer.attributes.clone());
        let frame = Packet::Trailer(trailer).to_frame(&self.envelope);
        queue(&state.tx, frame, &self.info.id).await?;
        // Marked closed only once the trailer is queued: a cancelled close still aborts on drop.
        state.closed = true;
        Ok(info)
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if state.closed {
            return;
        }
        let trailer = Trailer {
            stream_id: self.info.id.clone(),
            reason: DROPPED_REASON.to_owned(),
            attributes: HashMap::new(),
        };
        // The last frame of a writer goes in even when the queue is full, so this
        // succeeds unless the transport is gone; it queues after this writer's chunks.
        let frame = Packet::Trailer(trailer).to_frame(&self.envelope);
        if !state.tx.push(frame) {
            tracing::debug!(stream_id = %self.info.id, "abort trailer not sent: transport closed");
        }
    }
}

/// Queues one frame: waits for room, then pushes it with no await in between, so the
/// frame is queued exactly when this returns `Ok` (a cancelled call queued nothing).
/// `SinkExt::send` would not do: it also waits for the flush, after the push.
async fn queue(tx: &FrameSender, frame: Frame, stream_id: &str) -> Result<()> {
    if futures::future::poll_fn(|cx| tx.poll_ready(cx)).await && tx.push(frame) {
        Ok(())
    } else {
        Err(closed_transport(stream_id))
    }
}

fn closed_transport(stream_id: &str) -> Error {
    Error::TransportClosed {
        stream_id: stream_id.to_owned(),
        detail: "outgoing queue closed".to_owned(),
    }
}

/// Writes one byte stream in chunks of the configured size.
pub struct ByteStreamWriter {
    inner: StreamWriter,
}

impl ByteStreamWriter {
    /// The stream's info as sent in the header.
    pub fn info(&self) -> &StreamInfo {
        &self.inner.info
    }

    /// Sends `data` in chunks (slices of it, not copies); waits while the queue is full.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<()> {
        let data = data.into();
        let len = data.len();
        self.inner
            .write_pieces(len, split::split_bytes(data, self.inner.chunk_size))
            .await
    }

    /// Sends the trailer (`reason` empty = normal end) and returns the final info with
    /// `attributes` merged. A second close, or a write after it, is [`Error::StreamClosed`].
    pub async fn close(
        &self,
        reason: &str,
        attributes: HashMap<String, String>,
    ) -> Result<StreamInfo> {
        self.inner.close(reason, attributes).await
    }
}

/// Writes one text stream, split on UTF-8 code-point boundaries.
pub struct TextStreamWriter {
    inner: StreamWriter,
}

impl TextStreamWriter {
    /// The stream's info as sent in the header.
    pub fn info(&self) -> &StreamInfo {
        &self.inner.info
    }

    /// Sends `text` in chunks ending on code-point boundaries; waits while the queue is full.
    pub async fn write(&self, text: impl Into<String>) -> Result<()> {
        let text = Bytes::from(text.into());
        let len = text.len();
        self.inner
            .write_pieces(len, split::split_text(text, self.inner.chunk_size)?)
            .await
    }

    /// Sends the trailer; see [`ByteStreamWriter::close`].
    pub async fn close(
        &self,
        reason: &str,
        attributes: HashMap<String, String>,
    ) -> Result<StreamInfo> {
        self.inner.close(reason, attributes).await
    }
}
