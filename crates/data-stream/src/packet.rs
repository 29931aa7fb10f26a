//! Stream parts in domain terms ([`StreamInfo`], [`Header`], [`Chunk`], [`Trailer`]) and
//! their protobuf encoding as LiveKit `DataPacket`s (`livekit_models.proto`, messages
//! `DataStream.*`; field numbers in [`crate::wire`]).
//!
//! A chunk packet is encoded as a small head (envelope, stream id, index, content key
//! and length) plus the content itself, so a transport can write both with one vectored
//! write and the content is never copied into an intermediate buffer. Protobuf lets a
//! message's fields come in any order, so the content goes last; LiveKit's decoders read
//! it like any other packet.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use prost::encoding;

use crate::wire::{self, data_packet::Value, header::ContentHeader};
use crate::{Error, Result};

pub use crate::wire::OperationType;

mod chunk_head;
mod chunk_ref;
pub use chunk_head::ChunkHeads;
use chunk_head::encode_chunk_head;
pub(crate) use chunk_ref::decode_chunk;

/// What a stream carries and how it is described: everything of its header. Build it
/// with [`StreamInfo::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// Stream id (a UUIDv4 by default).
    pub id: String,
    /// Creation time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Topic, which routes the stream to a handler.
    pub topic: String,
    /// MIME type of the content.
    pub mime_type: String,
    /// Total content length; `None` = unknown, `Some(0)` = really empty.
    pub total_length: Option<u64>,
    /// Application attributes (the trailer's are merged in at the end; the trailer wins).
    pub attributes: HashMap<String, String>,
    /// Byte or text stream, with the kind's own fields.
    pub kind: StreamKind,
}

/// The kinds of stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamKind {
    /// A byte stream, usually a file.
    Bytes {
        /// Name (e.g. the file name).
        name: String,
    },
    /// A text stream: its content is UTF-8.
    Text(TextInfo),
}

/// The fields of a text stream's header: start from [`TextInfo::default`] (a plain
/// create) and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextInfo {
    /// Create, update, delete or reaction.
    pub operation: OperationType,
    /// Version, for updates and edits.
    pub version: i32,
    /// Stream this one replies to (empty = none).
    pub reply_to_stream_id: String,
    /// Ids of byte streams attached to this text.
    pub attached_stream_ids: Vec<String>,
    /// Whether an agent or transcriber generated the text.
    pub generated: bool,
}

/// Byte or text, without the kind's fields (the key of topic handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamType {
    /// Byte streams.
    Bytes,
    /// Text streams.
    Text,
}

impl StreamType {
    /// "byte" or "text", for messages.
    pub fn name(self) -> &'static str {
        match self {
            StreamType::Bytes => "byte",
            StreamType::Text => "text",
        }
    }
}

impl StreamInfo {
    /// A stream `id` of this kind, with no topic, MIME type, length or attributes, and
    /// time 0.
    pub fn new(id: impl Into<String>, kind: StreamKind) -> Self {
        StreamInfo {
            id: id.into(),
            timestamp_ms: 0,
            topic: String::new(),
            mime_type: String::new(),
            total_length: None,
            attributes: HashMap::new(),
            kind,
        }
    }

    /// With this creation time (Unix milliseconds).
    pub fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }

    /// On this topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// With this MIME type.
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = mime_type.into();
        self
    }

    /// With this total content length (`None`: unknown).
    pub fn with_total_length(mut self, total_length: Option<u64>) -> Self {
        self.total_length = total_length;
        self
    }

    /// With these attributes.
    pub fn with_attributes(mut self, attributes: HashMap<String, String>) -> Self {
        self.attributes = attributes;
        self
    }

    /// Byte or text.
    pub fn stream_type(&self) -> StreamType {
        match self.kind {
            StreamKind::Bytes { .. } => StreamType::Bytes,
            StreamKind::Text(_) => StreamType::Text,
        }
    }
}

/// LiveKit's budget for one header packet, inline content left out (client-sdk-js
/// `STREAM_CHUNK_SIZE_BYTES`, enforced by its `sendHeaderPacket`: "reduce attribute size";
/// the v2 cap on stream attributes). Senders refuse more, receivers fail such a stream with
/// [`Error::AttributesTooLarge`]. A single-packet (inline) stream must fit it whole.
pub const MAX_HEADER_BUDGET: usize = 15_000;

/// A header packet: the stream's info and the v2 fields. [`Header::new`], then set the
/// v2 fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The stream's description.
    pub info: StreamInfo,
    /// v2 (field 11): the whole content inside the header; then no chunk or trailer
    /// follows (a single-packet stream).
    pub inline_content: Option<Bytes>,
    /// v2 (field 12): [`crate::wire::CompressionType`] as its wire number: 0 none,
    /// 1 raw deflate of the whole content (inline or across the chunks).
    pub compression: i32,
}

/// A piece of a stream's content ([`Chunk::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Chunk {
    /// Stream id.
    pub stream_id: String,
    /// 0-based, contiguous index.
    pub index: u64,
    /// Content, a slice of the transport buffer when decoded from `Bytes`.
    pub content: Bytes,
}

/// The end of a stream: [`Trailer::new`], then set `reason` or `attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trailer {
    /// Stream id.
    pub stream_id: String,
    /// Empty for a normal end; otherwise why the sender aborted.
    pub reason: String,
    /// Attributes merged into the stream's info (the trailer wins).
    pub attributes: HashMap<String, String>,
}

/// One data-stream packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// Opens a stream.
    Header(Box<Header>),
    /// Carries content.
    Chunk(Chunk),
    /// Ends a stream.
    Trailer(Trailer),
}

/// The `DataPacket` fields around every part: who sends, who receives. Start from
/// [`Envelope::default`] (no identity, every recipient) and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// Identity of the sender (`participant_identity`).
    pub participant_identity: String,
    /// Recipients (`destination_identities`, empty = all). Put on every part, not only the
    /// header (LiveKit's Python and Rust SDKs leave it off chunks and trailers).
    pub destination_identities: Vec<String>,
}

impl Chunk {
    /// Content `index` (0-based) of stream `stream_id`.
    pub fn new(stream_id: impl Into<String>, index: u64, content: Bytes) -> Self {
        Chunk {
            stream_id: stream_id.into(),
            index,
            content,
        }
    }
}

impl Trailer {
    /// The normal end of stream `stream_id`, without attributes.
    pub fn new(stream_id: impl Into<String>) -> Self {
        Trailer {
            stream_id: stream_id.into(),
            ..Trailer::default()
        }
    }
}

impl Packet {
    /// Decodes one serialized `DataPacket`. Chunk content slices `bytes` (no copy).
    ///
    /// Returns `Ok(None)` for a valid `DataPacket` that is not a data-stream part (user
    /// packet, RPC...), and [`Error::UnsupportedPacket`] for an encrypted one.
    pub fn decode(bytes: Bytes) -> Result<Option<Packet>> {
        let packet = wire::DataPacket::decode(bytes).map_err(|e| Error::Decode {
            offset: 0,
            message: e.to_string(),
        })?;
        Ok(match packet.value {
            None => None,
            Some(Value::EncryptedPacket(_)) => {
                return Err(Error::UnsupportedPacket("encrypted DataPacket (E2EE)"));
            }
            Some(Value::StreamHeader(h)) => Some(Packet::Header(Box::new(Header::from_wire(h)))),
            Some(Value::StreamChunk(c)) => Some(Packet::Chunk(Chunk {
                stream_id: c.stream_id,
                index: c.chunk_index,
                content: c.content,
            })),
            Some(Value::StreamTrailer(t)) => Some(Packet::Trailer(Trailer {
                stream_id: t.stream_id,
                reason: t.reason,
                attributes: t.attributes,
            })),
        })
    }

    /// The stream this packet belongs to.
    pub fn stream_id(&self) -> &str {
        match self {
            Packet::Header(h) => &h.info.id,
            Packet::Chunk(c) => &c.stream_id,
            Packet::Trailer(t) => &t.stream_id,
        }
    }

    /// This packet as a LiveKit `DataPacket` (copies the strings and maps).
    pub fn to_wire(&self, envelope: &Envelope) -> wire::DataPacket {
        let value = match self {
            Packet::Header(h) => Value::StreamHeader(h.to_wire()),
            Packet::Chunk(c) => Value::StreamChunk(wire::Chunk {
                stream_id: c.stream_id.clone(),
                chunk_index: c.index,
                content: c.content.clone(),
                ..Default::default()
            }),
            Packet::Trailer(t) => Value::StreamTrailer(wire::Trailer {
                stream_id: t.stream_id.clone(),
                reason: t.reason.clone(),
                attributes: t.attributes.clone(),
            }),
        };
        wire::DataPacket {
            participant_identity: envelope.participant_identity.clone(),
            destination_identities: envelope.destination_identities.clone(),
            value: Some(value),
            ..Default::default()
        }
    }

    /// Serializes this packet as one frame (chunk content is not copied).
    pub fn to_frame(&self, envelope: &Envelope) -> Frame {
        match self {
            Packet::Chunk(c) => Frame::chunk(envelope, &c.stream_id, c.index, c.content.clone()),
            other => Frame {
                head: other.to_wire(envelope).encode_to_vec().into(),
                body: Bytes::new(),
            },
        }
    }
}

impl Header {
    /// A header without v2 fields.
    pub fn new(info: StreamInfo) -> Self {
        Header {
            info,
            inline_content: None,
            compression: 0,
        }
    }

    /// Whether the content is raw-deflate compressed.
    pub fn is_compressed(&self) -> bool {
        self.compression == wire::CompressionType::DeflateRaw as i32
    }

    /// Encoded size of the inline content field (0 without one): what the header budget
    /// leaves out.
    pub fn inline_size(&self) -> usize {
        self.inline_content
            .as_ref()
            .map_or(0, |c| encoding::bytes::encoded_len(11, c))
    }

    /// Encoded size of the attributes map (field 8).
    pub fn attributes_size(&self) -> usize {
        encoding::hash_map::encoded_len(
            encoding::string::encoded_len,
            encoding::string::encoded_len,
            8,
            &self.info.attributes,
        )
    }

    /// [`Error::AttributesTooLarge`] when this header, as a packet of `encoded_size` bytes,
    /// is over [`MAX_HEADER_BUDGET`] once its inline content is left out.
    pub fn check_budget(&self, encoded_size: usize) -> Result<()> {
        let size = encoded_size.saturating_sub(self.inline_size());
        if size > MAX_HEADER_BUDGET {
            return Err(Error::AttributesTooLarge {
                stream_id: self.info.id.clone(),
                size,
                attributes: self.attributes_size(),
                max: MAX_HEADER_BUDGET,
            });
        }
        Ok(())
    }

    fn from_wire(h: wire::Header) -> Self {
        let kind = match h.content_header {
            Some(ContentHeader::TextHeader(t)) => StreamKind::Text(TextInfo {
                operation: OperationType::try_from(t.operation_type).unwrap_or_default(),
                version: t.version,
                reply_to_stream_id: t.reply_to_stream_id,
                attached_stream_ids: t.attached_stream_ids,
                generated: t.generated,
            }),
            Some(ContentHeader::ByteHeader(b)) => StreamKind::Bytes { name: b.name },
            // No content header: LiveKit's readers treat it as bytes.
            None => StreamKind::Bytes {
                name: String::new(),
            },
        };
        Header {
            info: StreamInfo {
                id: h.stream_id,
                timestamp_ms: h.timestamp,
                topic: h.topic,
                mime_type: h.mime_type,
                total_length: h.total_length,
                attributes: h.attributes,
                kind,
            },
            inline_content: h.inline_content,
            compression: h.compression,
        }
    }

    fn to_wire(&self) -> wire::Header {
        let i = &self.info;
        let content_header = match &i.kind {
            StreamKind::Bytes { name } => {
                ContentHeader::ByteHeader(wire::ByteHeader { name: name.clone() })
            }
            StreamKind::Text(t) => ContentHeader::TextHeader(wire::TextHeader {
                operation_type: t.operation as i32,
                version: t.version,
                reply_to_stream_id: t.reply_to_stream_id.clone(),
                attached_stream_ids: t.attached_stream_ids.clone(),
                generated: t.generated,
            }),
        };
        wire::Header {
            stream_id: i.id.clone(),
            timestamp: i.timestamp_ms,
            topic: i.topic.clone(),
            mime_type: i.mime_type.clone(),
            total_length: i.total_length,
            encryption_type: 0,
            attributes: i.attributes.clone(),
            content_header: Some(content_header),
            inline_content: self.inline_content.clone(),
            compression: self.compression,
        }
    }
}

/// One serialized `DataPacket`, without its length prefix: `head` then `body` (the chunk
/// content, empty for headers and trailers). Write both, in order, to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// Everything before the chunk content.
    pub head: Bytes,
    /// Chunk content (shared with the writer's buffer, not copied).
    pub body: Bytes,
}

impl Frame {
    /// Encodes a chunk packet without copying `content` (its head in an allocation of its
    /// own: [`ChunkHeads::chunk`] reuses blocks for a stream of chunks).
    pub fn chunk(envelope: &Envelope, stream_id: &str, index: u64, content: Bytes) -> Frame {
        let mut head = BytesMut::new();
        encode_chunk_head(&mut head, envelope, stream_id, index, content.len());
        Frame {
            head: head.freeze(),
            body: content,
        }
    }

    /// Size of the serialized packet.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Whether the packet is empty (never, for a real part).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the 4-byte big-endian length prefix and the packet to `dst`.
    ///
    /// Fails with [`Error::FrameTooLarge`] when the packet exceeds `max_frame_size`.
    pub fn write_framed(&self, dst: &mut BytesMut, max_frame_size: usize) -> Result<()> {
        dst.reserve(4 + self.len());
        dst.put_u32(self.length_prefix(max_frame_size)?);
        dst.extend_from_slice(&self.head);
        dst.extend_from_slice(&self.body);
        Ok(())
    }

    /// The 4-byte big-endian length prefix, checked against `max_frame_size`.
    pub fn length_prefix(&self, max_frame_size: usize) -> Result<u32> {
        let len = self.len();
        match u32::try_from(len) {
            Ok(n) if len <= max_frame_size => Ok(n),
            _ => Err(Error::FrameTooLarge {
                len: len as u64,
                offset: 0,
                max: max_frame_size,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_frame_decodes_like_a_prost_encoded_packet() {
        let envelope = Envelope {
            participant_identity: "alice".into(),
            destination_identities: vec!["bob".into()],
        };
        for index in [0, 1, 300, u64::MAX] {
            for content in [
                Bytes::new(),
                Bytes::from_static(b"hello"),
                Bytes::from(vec![7u8; 20_000]),
            ] {
                let packet = Packet::Chunk(Chunk {
                    stream_id: "s1".into(),
                    index,
                    content,
                });
                let frame = packet.to_frame(&envelope);
                let mut joined = frame.head.to_vec();
                joined.extend_from_slice(&frame.body);
                let decoded = wire::DataPacket::decode(&joined[..]).unwrap();
                assert_eq!(decoded, packet.to_wire(&envelope));
                assert_eq!(
                    joined,
                    packet.to_wire(&envelope).encode_to_vec(),
                    "not prost's bytes"
                );
                assert_eq!(Packet::decode(joined.into()).unwrap(), Some(packet));
            }
        }
    }

    #[test]
    fn decoded_chunk_content_slices_the_input() {
        let packet = Packet::Chunk(Chunk {
            stream_id: "s".into(),
            index: 3,
            content: Bytes::from(vec![1u8; 1000]),
        });
        let mut buf = BytesMut::new();
        packet
            .to_frame(&Envelope::default())
            .write_framed(&mut buf, 1 << 20)
            .unwrap();
        let frame = buf.freeze().slice(4..);
        let range = frame.as_ptr_range();
        let Some(Packet::Chunk(c)) = Packet::decode(frame.clone()).unwrap() else {
            panic!("not a chunk")
        };
        assert!(range.contains(&c.content.as_ptr()), "content was copied");
    }

    #[test]
    fn header_round_trips_with_text_kind() {
        let info = StreamInfo {
            id: "id".into(),
            timestamp_ms: 1_700_000_000_000,
            topic: "chat".into(),
            mime_type: "text/plain".into(),
            total_length: Some(0),
            attributes: HashMap::from([("k".into(), "v".into())]),
            kind: StreamKind::Text(TextInfo {
                operation: OperationType::Update,
                version: 2,
                reply_to_stream_id: "r".into(),
                attached_stream_ids: vec!["a".into(), "b".into()],
                generated: true,
            }),
        };
        let packet = Packet::Header(Box::new(Header::new(info)));
        let frame = packet.to_frame(&Envelope::default());
        assert!(frame.body.is_empty());
        assert_eq!(Packet::decode(frame.head).unwrap(), Some(packet));
    }

    #[test]
    fn other_packets_are_none_and_garbage_is_an_error() {
        // DataPacket with only `sequence = 16` set: valid, not a stream part.
        assert_eq!(
            Packet::decode(Bytes::from_static(&[0x80, 0x01, 0x05])).unwrap(),
            None
        );
        assert!(matches!(
            Packet::decode(Bytes::from_static(&[0x72, 0x05, 0x0a])),
            Err(Error::Decode { .. })
        ));
    }
}
