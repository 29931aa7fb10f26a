//! The sans-I/O demultiplexer: many interleaved streams over one connection, routed by
//! stream id, checked and bounded.
//!
//! Feed it frames ([`Demultiplexer::handle_frame`]) or decoded packets, the time as an
//! [`Instant`], and take [`Event`]s out with [`Demultiplexer::poll_event`]. It never
//! reads the clock and never buffers content: chunks come out as they go in.
//!
//! The checks close the gaps LiveKit's SDKs leave (see the crate README): chunk indexes
//! must be contiguous (a gap, duplicate or reorder fails the stream), received bytes may
//! not pass the header's `total_length` and must reach it by the trailer, a non-empty
//! trailer reason is an abnormal end, text must be UTF-8 across chunk boundaries, a
//! stream id may not be reused, and a silent stream times out.
//!
//! Data streams v2 (LiveKit `livekit_models.proto`, `DataStream.Header` fields 11
//! `inline_content` and 12 `compression`; client-sdk-js `src/room/data-stream` and its
//! `DATA_STREAMS_SPEC.md`): a single-packet stream carries its content in the header; a
//! raw-deflate stream is inflated here ([`crate::compression`]) one bounded piece at a
//! time as events are polled, and its checks apply to the inflated content. A header over
//! LiveKit's 15 000-byte budget ([`crate::packet::MAX_HEADER_BUDGET`], inline content left
//! out) is refused.
//!
//! Compatibility: LiveKit's Python SDK before python-sdks #430 numbered byte-stream chunks
//! from 1 (`ByteStreamWriter.write` incremented the index before use). A byte stream whose
//! first chunk is 1 is accepted (and must then be contiguous); this is logged once per
//! demultiplexer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::compression::Inflater;
use crate::packet::{Header, Packet, StreamInfo, StreamType, Trailer, decode_chunk};
use crate::split::Utf8Validator;
use crate::{Error, Result};

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A stream with a handler for its kind and topic opened; its chunks follow.
    Opened(StreamInfo),
    /// A stream with no handler opened: its chunks are dropped as they arrive.
    Unhandled(StreamInfo),
    /// Content of an opened stream, in order.
    Chunk {
        /// Stream id, shared by all the stream's chunks (not one allocation per chunk).
        stream_id: Arc<str>,
        /// Content (a slice of the frame).
        content: Bytes,
    },
    /// A stream ended normally; its info has the trailer's attributes merged in.
    Finished(StreamInfo),
    /// A stream ended abnormally (also reported for unhandled and refused streams).
    Failed {
        /// Stream id.
        stream_id: String,
        /// Whether [`Event::Opened`] was given for it (so a reader waits for this).
        opened: bool,
        /// Why.
        error: Error,
    },
    /// A chunk or trailer for a stream never opened (or ended long ago); dropped.
    Stray {
        /// Stream id.
        stream_id: String,
    },
}

struct OpenStream {
    info: StreamInfo,
    /// `info.id`, shared with every chunk event.
    id: Arc<str>,
    handled: bool,
    next_index: u64,
    /// Content bytes (inflated, for a compressed stream) checked so far.
    received: u64,
    utf8: Option<Utf8Validator>,
    last_activity: Instant,
    /// Present for a raw-deflate stream.
    inflater: Option<Inflater>,
    /// Compressed bytes received (a compressed stream's wire size).
    compressed: u64,
    /// A compressed stream's trailer is queued behind its content.
    closing: bool,
}

/// What waits to be polled: events, and for compressed streams the content still to
/// inflate and the trailer behind it (so inflation happens one piece per poll).
enum Queued {
    Event(Event),
    Inflate { stream_id: Arc<str>, input: Bytes },
    Finish(Trailer),
}

/// How many ended stream ids are remembered (duplicate detection, silent drain).
const RECENT_IDS: usize = 1024;

/// Routes packets to streams and checks them; see the module docs.
pub struct Demultiplexer {
    limits: Limits,
    handlers: HashSet<(StreamType, String)>,
    fallbacks: HashSet<StreamType>,
    streams: HashMap<String, OpenStream>,
    recent: VecDeque<String>,
    recent_set: HashSet<String>,
    queue: VecDeque<Queued>,
    legacy_index_logged: bool,
}

impl Demultiplexer {
    /// A demultiplexer with these limits and no handler.
    pub fn new(limits: Limits) -> Self {
        Demultiplexer {
            limits,
            handlers: HashSet::new(),
            fallbacks: HashSet::new(),
            streams: HashMap::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            queue: VecDeque::new(),
            legacy_index_logged: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Streams of this kind and topic will be [`Event::Opened`]; registering the same
    /// kind and topic twice is [`Error::HandlerAlreadyRegistered`].
    pub fn register(&mut self, kind: StreamType, topic: &str) -> Result<()> {
        if !self.handlers.insert((kind, topic.to_owned())) {
            return Err(Error::HandlerAlreadyRegistered {
                kind: kind.name(),
                topic: topic.to_owned(),
            });
        }
        Ok(())
    }

    /// Streams of this kind whose topic has no handler will be [`Event::Opened`] too
    /// (a catch-all); registering it twice is [`Error::HandlerAlreadyRegistered`] with
    /// topic `"*"`.
    pub fn register_fallback(&mut self, kind: StreamType) -> Result<()> {
        if !self.fallbacks.insert(kind) {
            return Err(Error::HandlerAlreadyRegistered {
                kind: kind.name(),
                topic: "*".to_owned(),
            });
        }
        Ok(())
    }

    /// Whether a stream of this kind and topic has a handler (its own or the fallback).
    pub fn is_handled(&self, kind: StreamType, topic: &str) -> bool {
        self.fallbacks.contains(&kind) || self.handlers.contains(&(kind, topic.to_owned()))
    }

    /// Removes a handler; returns whether there was one. Open streams are not affected.
    pub fn unregister(&mut self, kind: StreamType, topic: &str) -> bool {
        self.handlers.remove(&(kind, topic.to_owned()))
    }

    /// Number of open streams.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Decodes and handles one frame (a serialized `DataPacket`). Non-stream packets
    /// are ignored. An undecodable frame is an error for the connection.
    pub fn handle_frame(&mut self, frame: Bytes, now: Instant) -> Result<()> {
        // Chunks, the bulk of the packets, are decoded by hand: no allocation per chunk.
        if let Some(chunk) = decode_chunk(&frame) {
            self.on_chunk(chunk.stream_id, chunk.index, chunk.content, now);
            return Ok(());
        }
        let size = frame.len();
        match Packet::decode(frame)? {
            Some(packet) => self.handle_packet(packet, size, now),
            None => Ok(()),
        }
    }

    /// Handles one decoded packet; `encoded_size` is its size on the wire (for the
    /// header limit).
    pub fn handle_packet(
        &mut self,
        packet: Packet,
        encoded_size: usize,
        now: Instant,
    ) -> Result<()> {
        match packet {
            Packet::Header(h) => self.on_header(*h, encoded_size, now),
            Packet::Chunk(c) => self.on_chunk(&c.stream_id, c.index, c.content, now),
            Packet::Trailer(t) => self.on_trailer(t),
        }
        Ok(())
    }

    /// The next event, if any. Drain after every `handle_*` call.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            match self.queue.pop_front()? {
                Queued::Event(event) => return Some(event),
                Queued::Inflate { stream_id, input } => {
                    if let Some(event) = self.inflate_next(stream_id, input) {
                        return Some(event);
                    }
                }
                Queued::Finish(trailer) => {
                    if let Some(event) = self.end_by_trailer(trailer) {
                        return Some(event);
                    }
                }
            }
        }
    }

    /// When [`Demultiplexer::handle_timeout`] should be called next, if a stream is open
    /// and a timeout is set.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeout = self.limits.inactivity_timeout?;
        self.streams
            .values()
            .map(|s| s.last_activity + timeout)
            .min()
    }

    /// Fails every stream silent for the inactivity timeout or longer.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(timeout) = self.limits.inactivity_timeout else {
            return;
        };
        let expired: Vec<String> = self
            .streams
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_activity) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for stream_id in expired {
            let error = Error::InactivityTimeout {
                stream_id: stream_id.clone(),
                timeout_ms: timeout.as_millis() as u64,
            };
            self.fail(&stream_id, error);
        }
    }

    /// Stops delivering a stream (its reader went away): its remaining chunks are dropped.
    pub fn discard(&mut self, stream_id: &str) {
        if let Some(s) = self.streams.get_mut(stream_id) {
            s.handled = false;
        }
    }

    /// The transport closed: every open stream fails with [`Error::TransportClosed`].
    pub fn close(&mut self, detail: &str) {
        let ids: Vec<String> = self.streams.keys().cloned().collect();
        for stream_id in ids {
            let error = Error::TransportClosed {
                stream_id: stream_id.clone(),
                detail: detail.to_owned(),
            };
            self.fail(&stream_id, error);
        }
    }

    fn push(&mut self, event: Event) {
        self.queue.push_back(Queued::Event(event));
    }

    fn on_header(&mut self, header: Header, encoded_size: usize, now: Instant) {
        let id = header.info.id.clone();
        let refuse = |error| Event::Failed {
            stream_id: id.clone(),
            opened: false,
            error,
        };
        if let Some(open) = self.streams.get(&id) {
            // Both the open stream and the newcomer fail: their chunks are indistinguishable.
            let opened = open.handled;
            self.end(&id);
            let error = Error::DuplicateStreamId {
                stream_id: id.clone(),
            };
            self.push(Event::Failed {
                stream_id: id.clone(),
                opened,
                error,
            });
            return;
        }
        let error = if self.recent_set.contains(&id) {
            Some(Error::DuplicateStreamId {
                stream_id: id.clone(),
            })
        } else if encoded_size > self.limits.max_header_size {
            Some(Error::HeaderTooLarge {
                stream_id: id.clone(),
                size: encoded_size,
                max: self.limits.max_header_size,
            })
        } else if let Err(e) = header.check_budget(encoded_size) {
            Some(e)
        } else if self.streams.len() >= self.limits.max_open_streams {
            Some(Error::TooManyStreams {
                stream_id: id.clone(),
                max: self.limits.max_open_streams,
            })
        } else if header.compression != 0 && !header.is_compressed() {
            Some(Error::Unsupported {
                stream_id: id.clone(),
                feature: "compression type (data streams v2 knows 0 none and 1 raw deflate)",
            })
        } else {
            match header.info.total_length {
                Some(total) if total > self.limits.max_stream_size => Some(Error::StreamTooLarge {
                    stream_id: id.clone(),
                    size: total,
                    max: self.limits.max_stream_size,
                }),
                _ => None,
            }
        };
        if let Some(error) = error {
            self.push(refuse(error));
            self.remember(id);
            return;
        }
        let compressed = header.is_compressed();
        let info = header.info;
        let handled = self.is_handled(info.stream_type(), &info.topic);
        let utf8 = (info.stream_type() == StreamType::Text).then(Utf8Validator::default);
        self.push(if handled {
            Event::Opened(info.clone())
        } else {
            Event::Unhandled(info.clone())
        });
        let stream = OpenStream {
            id: Arc::from(info.id.as_str()),
            info,
            handled,
            next_index: 0,
            received: 0,
            utf8,
            last_activity: now,
            inflater: compressed.then(Inflater::default),
            compressed: 0,
            closing: false,
        };
        self.streams.insert(id.clone(), stream);
        if let Some(content) = header.inline_content {
            // v2 single-packet stream: the whole content in the header, no chunk or
            // trailer follows.
            self.on_chunk(&id, 0, content, now);
            self.on_trailer(Trailer {
                stream_id: id,
                ..Default::default()
            });
        }
    }

    fn on_chunk(&mut self, id: &str, index: u64, content: Bytes, now: Instant) {
        let Some(s) = self.streams.get_mut(id) else {
            self.stray(id.to_owned());
            return;
        };
        s.last_activity = now;
        let len = content.len();
        let legacy_first = index == 1
            && s.next_index == 0
            && s.inflater.is_none()
            && s.info.stream_type() == StreamType::Bytes;
        if legacy_first {
            // python-sdks before #430: byte streams numbered from 1. Accepted, then
            // contiguous from there.
            s.next_index = 1;
            if !self.legacy_index_logged {
                self.legacy_index_logged = true;
                tracing::info!(stream_id = %id, "byte stream numbers its chunks from 1 (LiveKit Python SDK before python-sdks #430); accepted");
            }
        }
        let error = if index != s.next_index {
            let kind = if index > s.next_index {
                "gap"
            } else {
                "duplicate or reorder"
            };
            Some(Error::ChunkIndex {
                stream_id: id.to_owned(),
                expected: s.next_index,
                got: index,
                kind,
            })
        } else if s.closing {
            // Content after a compressed stream's trailer.
            Some(Error::Decompression {
                stream_id: id.to_owned(),
                message: "chunk after the trailer".to_owned(),
            })
        } else if len > self.limits.max_chunk_size {
            Some(Error::ChunkTooLarge {
                stream_id: id.to_owned(),
                index,
                size: len,
                max: self.limits.max_chunk_size,
            })
        } else if s.inflater.is_some() {
            // Compressed: the content checks run on the inflated pieces, as they are polled.
            let compressed = s.compressed + len as u64;
            match compressed > self.limits.max_stream_size {
                true => Some(Error::StreamTooLarge {
                    stream_id: id.to_owned(),
                    size: compressed,
                    max: self.limits.max_stream_size,
                }),
                false => None,
            }
        } else {
            check_content(s, &self.limits, &content)
        };
        if let Some(error) = error {
            self.fail(id, error);
            return;
        }
        s.next_index += 1;
        if s.inflater.is_some() {
            s.compressed += len as u64;
            self.queue.push_back(Queued::Inflate {
                stream_id: s.id.clone(),
                input: content,
            });
            return;
        }
        s.received += len as u64;
        if s.handled {
            let stream_id = s.id.clone();
            self.push(Event::Chunk { stream_id, content });
        }
    }

    fn on_trailer(&mut self, trailer: Trailer) {
        let Some(s) = self.streams.get_mut(&trailer.stream_id) else {
            self.stray(trailer.stream_id);
            return;
        };
        if s.inflater.is_some() && trailer.reason.is_empty() {
            // Checked once the content queued before it is inflated.
            s.closing = true;
            self.queue.push_back(Queued::Finish(trailer));
            return;
        }
        if let Some(event) = self.end_by_trailer(trailer) {
            self.push(event);
        }
    }

    /// Ends a stream at its trailer: `Finished` (if handled) or `Failed`.
    fn end_by_trailer(&mut self, trailer: Trailer) -> Option<Event> {
        let s = self.streams.get_mut(&trailer.stream_id)?;
        let id = trailer.stream_id;
        // The reason first: an aborted stream is incomplete by nature, and the reason says why.
        let error = if !trailer.reason.is_empty() {
            Some(Error::AbnormalEnd {
                stream_id: id.clone(),
                reason: trailer.reason,
            })
        } else if s.handled && s.inflater.as_ref().is_some_and(|i| !i.is_finished()) {
            Some(Error::Decompression {
                stream_id: id.clone(),
                message: "the deflate stream has no final block before the trailer".to_owned(),
            })
        } else if let Some(total) = s
            .info
            .total_length
            // A drained compressed stream is not inflated, so its length is unknown.
            .filter(|&t| s.received < t && (s.handled || s.inflater.is_none()))
        {
            Some(Error::Incomplete {
                stream_id: id.clone(),
                received: s.received,
                total,
            })
        } else {
            s.utf8
                .as_ref()
                .and_then(|v| v.finish().err())
                .map(|offset| Error::InvalidUtf8 {
                    stream_id: id.clone(),
                    offset,
                })
        };
        if let Some(error) = error {
            return self.end_with_error(&id, error);
        }
        let handled = s.handled;
        let mut s = self.end(&id)?;
        s.info.attributes.extend(trailer.attributes);
        handled.then_some(Event::Finished(s.info))
    }

    fn fail(&mut self, stream_id: &str, error: Error) {
        if let Some(event) = self.end_with_error(stream_id, error) {
            self.push(event);
        }
    }

    fn end_with_error(&mut self, stream_id: &str, error: Error) -> Option<Event> {
        let s = self.end(stream_id)?;
        Some(Event::Failed {
            stream_id: stream_id.to_owned(),
            opened: s.handled,
            error,
        })
    }

    fn stray(&mut self, stream_id: String) {
        // Leftovers of a stream that failed or ended recently are expected: drop quietly.
        if !self.recent_set.contains(&stream_id) {
            self.push(Event::Stray { stream_id });
        }
    }

    fn end(&mut self, stream_id: &str) -> Option<OpenStream> {
        let s = self.streams.remove(stream_id)?;
        self.remember(stream_id.to_owned());
        Some(s)
    }

    fn remember(&mut self, stream_id: String) {
        if self.recent_set.insert(stream_id.clone()) {
            self.recent.push_back(stream_id);
            if self.recent.len() > RECENT_IDS
                && let Some(old) = self.recent.pop_front()
            {
                self.recent_set.remove(&old);
            }
        }
    }
}

/// The checks of content bytes (inflated, for a compressed stream) against the header's
/// total length, the stream size limit and UTF-8 for text.
fn check_content(s: &mut OpenStream, limits: &Limits, content: &[u8]) -> Option<Error> {
    let id = &s.info.id;
    let received = s.received + content.len() as u64;
    if let Some(total) = s.info.total_length.filter(|&total| received > total) {
        Some(Error::LengthExceeded {
            stream_id: id.clone(),
            received,
            total,
        })
    } else if received > limits.max_stream_size {
        Some(Error::StreamTooLarge {
            stream_id: id.clone(),
            size: received,
            max: limits.max_stream_size,
        })
    } else {
        s.utf8
            .as_mut()
            .and_then(|v| v.push(content).err())
            .map(|offset| Error::InvalidUtf8 {
                stream_id: id.clone(),
                offset,
            })
    }
}

mod compressed;
mod limits;

pub use limits::Limits;

#[cfg(test)]
#[path = "demux_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "demux_v2_tests.rs"]
mod v2_tests;
