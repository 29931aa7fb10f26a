//! The receiving end of one stream: a [`futures::Stream`] of chunks with a bounded
//! buffer, so a slow reader slows the transport down instead of growing memory.
//!
//! Runtime-agnostic: a connection driver (the `tokio` adapter, or your own loop around
//! [`crate::Demultiplexer`]) feeds it through a [`ReaderFeed`].

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};

use crate::packet::StreamInfo;
use crate::{Error, Result};

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
    rx: mpsc::Receiver<ReaderMsg>,
    received: u64,
    done: bool,
}

/// The feeding side of a [`StreamReader`]: what a connection driver holds.
pub struct ReaderFeed {
    tx: mpsc::Sender<ReaderMsg>,
}

impl StreamReader {
    /// A reader for `info` buffering at most about `capacity` chunks, and its feed.
    pub fn channel(info: StreamInfo, capacity: usize) -> (ReaderFeed, StreamReader) {
        let (tx, rx) = mpsc::channel(capacity);
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
        let msg = futures::ready!(self.rx.poll_next_unpin(cx));
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
    /// Hands a chunk to the reader, waiting while its buffer is full. `false` when the
    /// reader was dropped (then stop feeding it).
    pub async fn chunk(&mut self, content: Bytes) -> bool {
        self.tx.send(ReaderMsg::Chunk(content)).await.is_ok()
    }

    /// Hands a chunk to the reader if its buffer has room: `Ok(true)` delivered,
    /// `Ok(false)` reader dropped, `Err(content)` buffer full (try again with
    /// [`ReaderFeed::chunk`]).
    pub fn try_chunk(&mut self, content: Bytes) -> Result<bool, Bytes> {
        match self.tx.try_send(ReaderMsg::Chunk(content)) {
            Ok(()) => Ok(true),
            Err(e) if e.is_disconnected() => Ok(false),
            Err(e) => match e.into_inner() {
                ReaderMsg::Chunk(content) => Err(content),
                ReaderMsg::End(_) => Ok(false),
            },
        }
    }

    /// Ends the stream normally with the final info (trailer attributes merged).
    pub async fn finish(mut self, info: StreamInfo) {
        // A dropped reader does not care how it ended.
        let _ = self.tx.send(ReaderMsg::End(Ok(info))).await;
    }

    /// Ends the stream with an error without waiting, even when the buffer is full (the
    /// error is queued after the buffered chunks).
    pub fn abort(self, error: Error) {
        // A fresh sender has a guaranteed slot in a futures channel.
        let _ = self.tx.clone().try_send(ReaderMsg::End(Err(error)));
    }

    /// Ends the stream with an error.
    pub async fn fail(mut self, error: Error) {
        let _ = self.tx.send(ReaderMsg::End(Err(error))).await;
    }
}
