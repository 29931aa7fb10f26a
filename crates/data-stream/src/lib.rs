//! Chunked byte and text streams (header, chunks, trailer), wire compatible with LiveKit
//! data streams, multiplexed over any transport, with limits.
//!
//! A stream is a [`Header`] ([`StreamInfo`]: id, topic, MIME type, total length,
//! attributes, byte or text), [`Chunk`]s with contiguous indexes, and a [`Trailer`]
//! (reason, attributes). Each part is one protobuf `DataPacket` with the field numbers of
//! LiveKit's `livekit_models.proto` ([`wire`]); on a byte transport each packet is framed
//! by a 4-byte big-endian length ([`framing`]).
//!
//! - Sending: [`Outgoing`] opens [`ByteStreamWriter`]s and [`TextStreamWriter`]s (chunks
//!   of 15 000 bytes, text cut on code-point boundaries) and has one-shot `send_text`
//!   (with [`Attachment`]s too), `send_bytes` and (with `tokio`) `send_file`, which use
//!   data streams v2 (single-packet streams, raw-deflate compression) where every
//!   recipient supports it ([`V2Support`]) and report [`SendProgress`]. Its frames queue
//!   in a bounded channel that a transport drains.
//! - Receiving: the sans-I/O [`Demultiplexer`] routes interleaved streams by id, checks
//!   indexes, lengths, UTF-8, reasons, duplicate ids, and enforces [`Limits`] (header,
//!   chunk, stream size, open streams, inactivity) and LiveKit's 15 000-byte header budget
//!   ([`MAX_HEADER_BUDGET`]). It reads v2 single-packet and raw-deflate streams
//!   ([`compression`]), and byte streams numbered from 1 by LiveKit's old Python SDK. [`StreamReader`] is a
//!   `futures::Stream` of chunks with `read_all`, `read_text` and `progress`.
//! - With the `tokio` feature, `transport::write_frames` and `transport::Receiver` run
//!   both over any `AsyncWrite`/`AsyncRead` (TCP, Unix sockets, in-memory duplex), with
//!   backpressure to the transport.
//!
//! ```
//! use data_stream::{Demultiplexer, Event, FrameDecoder, Limits, Outgoing, StreamOptions, StreamType};
//! use futures::StreamExt;
//!
//! # fn main() -> Result<(), data_stream::Error> {
//! futures::executor::block_on(async {
//!     // Send: a text stream on topic "chat", framed into an in-memory "transport".
//!     let (outgoing, mut frames) = Outgoing::new(16);
//!     outgoing.send_text("a😊b", StreamOptions::topic("chat")).await?;
//!     drop(outgoing);
//!     let mut wire = bytes::BytesMut::new();
//!     while let Some(frame) = frames.next().await {
//!         frame.write_framed(&mut wire, 1 << 20)?;
//!     }
//!
//!     // Receive, sans-I/O: frames in, events out.
//!     let mut demux = Demultiplexer::new(Limits::default());
//!     demux.register(StreamType::Text, "chat")?;
//!     let mut decoder = FrameDecoder::default();
//!     let now = std::time::Instant::now();
//!     let mut text = Vec::new();
//!     let mut finished = None;
//!     while let Some(frame) = decoder.decode(&mut wire)? {
//!         demux.handle_frame(frame, now)?;
//!         while let Some(event) = demux.poll_event() {
//!             match event {
//!                 Event::Chunk { content, .. } => text.extend_from_slice(&content),
//!                 Event::Finished(info) => finished = Some(info),
//!                 _ => {}
//!             }
//!         }
//!     }
//!     assert_eq!(text, "a😊b".as_bytes());
//!     assert_eq!(finished.map(|i| i.total_length), Some(Some(6)));
//!     Ok(())
//! })
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compression;
pub mod demux;
mod error;
pub mod framing;
pub mod packet;
pub mod reader;
pub mod split;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod wire;
pub mod writer;

pub use demux::{Demultiplexer, Event, Limits};
pub use error::{Error, Result};
pub use framing::FrameDecoder;
pub use packet::{
    Chunk, ChunkHeads, Envelope, Frame, Header, MAX_HEADER_BUDGET, OperationType, Packet,
    StreamInfo, StreamKind, StreamType, TextInfo, Trailer,
};
pub use reader::{Progress, StreamReader};
pub use writer::{
    Attachment, ByteStreamWriter, OnProgress, Outgoing, OutgoingFrames, SendProgress,
    StreamOptions, TextStreamWriter, V2Support,
};
