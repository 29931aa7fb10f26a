//! The receiving end of one stream: a [`futures::Stream`] of chunks with a bounded
//! buffer, so a slow reader slows the transport down instead of growing memory.
//!
//! Runtime-agnostic: a connection driver (the `tokio` adapter, or your own loop around
//! [`crate::Demultiplexer`]) feeds it through a [`ReaderFeed`].

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::packet::StreamInfo;
use crate::{Error, Result};

mod queue;

use queue::{Pushed, Queue};

enum ReaderMsg {
    Chunk(Bytes),
    End(Result<StreamInfo>),
}

/// Bytes read so far out of the announced total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Content bytes handed to the reader.
    pub received: u64,
    /// The header's total length (`None` = unknown).
    pub total: Option<u64>,
}

impl Progress {
    /// Fraction done in `[0, 1]`, when the total is known (an empty stream is done).
    pub fn fraction(&self) -> Option<f64> {
        self.total.map(|t| {
            if t == 0 {
                1.0
            } else {
                self.received as f64 / t as f64
            }
        })
    }
}

/// One incoming stream: yields its chunks in order, then ends; an abnormal end is an
/// `Err` item (then the stream ends).
pub struct StreamReader {
    info: StreamInfo,
    rx: Queue<ReaderMsg>,
    received: u64,
    done: bool,
}

/// The feeding side of a [`StreamReader`]: what a connection driver holds.
pub struct ReaderFeed {
    tx: Queue<ReaderMsg>,
}

impl StreamReader {
    /// A reader for `info` buffering at most about `capacity` chunks, and its feed.
    pub fn channel(info: StreamInfo, capacity: usize) -> (ReaderFeed, StreamReader) {
        // One more than asked, as the futures channel used before held.
        let (tx, rx) = Queue::pair(capacity.saturating_add(1));
        (
            ReaderFeed { tx },
            StreamReader {
                info,
                rx,
                received: 0,
                done: false,
            },
        )
    }

    /// The stream's info: the header's, and after a normal end with the trailer's
    /// attributes merged in (the trailer wins).
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Bytes read so far of the announced total.
    pub fn progress(&self) -> Progress {
        Progress {
            received: self.received,
            total: self.info.total_length,
        }
    }

    /// Reads the whole stream into one buffer (no copy when it came in one chunk).
    pub async fn read_all(&mut self) -> Result<Bytes> {
        let mut chunks = Vec::new();
        while let Some(chunk) = self.next().await {
            chunks.push(chunk?);
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => chunks.concat().into(),
        })
    }

    /// Reads the whole stream as text (the demultiplexer already checked text streams
    /// are UTF-8; this checks again for byte streams).
    pub async fn read_text(&mut self) -> Result<String> {
        let bytes = self.read_all().await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| Error::InvalidUtf8 {
            stream_id: self.info.id.clone(),
            offset: e.utf8_error().valid_up_to() as u64,
        })
    }
}

impl Stream for StreamReader {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let msg = futures::ready!(self.rx.poll_pop(cx));
        Poll::Ready(match msg {
            Some(ReaderMsg::Chunk(b)) => {
                self.received += b.len() as u64;
                Some(Ok(b))
            }
            Some(ReaderMsg::End(Ok(info))) => {
                self.info = info;
                self.done = true;
                None
            }
            Some(ReaderMsg::End(Err(e))) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                // The driver went away without an end: never a silent success.
                self.done = true;
                let detail = "connection driver stopped".to_owned();
                Some(Err(Error::TransportClosed {
                    stream_id: self.info.id.clone(),
                    detail,
                }))
            }
        })
    }
}

impl ReaderFeed {
    /// Hands a chunk to the reader, waiting while its buffer is full; `false` if the
    /// reader was dropped.
    pub async fn chunk(&mut self, content: Bytes) -> bool {
        let mut item = Some(ReaderMsg::Chunk(content));
        std::future::poll_fn(|cx| self.tx.poll_push(cx, &mut item)).await && self.room().await
    }

    /// Waits until the reader's buffer has room again; `false` if the reader is gone.
    async fn room(&self) -> bool {
        std::future::poll_fn(|cx| self.tx.poll_room(cx)).await;
        true
    }

    /// Hands a chunk to the reader if its buffer has room: `Ok(true)` delivered,
    /// `Ok(false)` reader dropped, `Err(content)` buffer full (try again with
    /// [`ReaderFeed::chunk`]).
    pub fn try_chunk(&mut self, content: Bytes) -> Result<bool, Bytes> {
        let delivered = self.try_chunk_quiet(content);
        self.tx.wake_reader();
        delivered
    }

    /// [`ReaderFeed::try_chunk`] without waking the reader (it is woken once half its
    /// buffer waits): a driver delivering a batch calls [`ReaderFeed::wake_reader`] after it.
    pub(crate) fn try_chunk_quiet(&mut self, content: Bytes) -> Result<bool, Bytes> {
        match self.tx.push_quiet(ReaderMsg::Chunk(content)) {
            Pushed::Queued => Ok(true),
            Pushed::ReaderGone => Ok(false),
            Pushed::Full(ReaderMsg::Chunk(content)) => Err(content),
            Pushed::Full(ReaderMsg::End(_)) => Ok(false),
        }
    }

    /// Wakes the reader for chunks queued by [`ReaderFeed::try_chunk_quiet`].
    #[cfg(feature = "tokio")]
    pub(crate) fn wake_reader(&self) {
        self.tx.wake_reader();
    }

    /// Ends the stream normally with the final info (trailer attributes merged).
    pub async fn finish(self, info: StreamInfo) {
        // A dropped reader does not care how it ended. The end waits for room like a
        // chunk, so the driver does not run ahead of a slow reader.
        let mut item = Some(ReaderMsg::End(Ok(info)));
        if std::future::poll_fn(|cx| self.tx.poll_push(cx, &mut item)).await {
            self.room().await;
        }
    }

    /// Ends the stream with an error without waiting, even when the buffer is full (the
    /// error is queued after the buffered chunks).
    pub fn abort(self, error: Error) {
        self.tx.push_last(ReaderMsg::End(Err(error)));
    }

    /// Ends the stream with an error.
    pub async fn fail(self, error: Error) {
        let mut item = Some(ReaderMsg::End(Err(error)));
        if std::future::poll_fn(|cx| self.tx.poll_push(cx, &mut item)).await {
            self.room().await;
        }
    }
}

impl Drop for ReaderFeed {
    fn drop(&mut self) {
        self.tx.close(false);
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.rx.close(true);
    }
}
