//! Protobuf messages of LiveKit data streams, with the field numbers of LiveKit's
//! `livekit_models.proto` (messages `DataPacket`, `DataStream.Header`, `DataStream.Chunk`,
//! `DataStream.Trailer`, `EncryptedPacket`).
//!
//! Written by hand with `prost` derives (no `protoc`, no build script), holding only the
//! parts of `DataPacket` that data streams use: the other `value` variants (user packets,
//! RPC, transcriptions...) are skipped by the decoder as unknown fields, so such a packet
//! decodes with `value: None`. Byte fields are [`bytes::Bytes`]: decoding from a `Bytes`
//! buffer slices the chunk content instead of copying it.
//!
//! Field 6 of `Header` (the removed `total_chunks`) stays unused, as in LiveKit.

use std::collections::HashMap;

use bytes::Bytes;

/// `livekit.DataPacket`: the envelope of every header, chunk and trailer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataPacket {
    /// Deprecated `kind` (0 = reliable, 1 = lossy). Data streams use reliable.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    /// Identity of the sending participant.
    #[prost(string, tag = "4")]
    pub participant_identity: String,
    /// Identities of the recipients (empty = everyone).
    #[prost(string, repeated, tag = "5")]
    pub destination_identities: Vec<String>,
    /// The packet's content; `None` for packets that are not data-stream parts.
    #[prost(oneof = "data_packet::Value", tags = "13, 14, 15, 18")]
    pub value: Option<data_packet::Value>,
    /// Sequence number of a reliable packet.
    #[prost(uint32, tag = "16")]
    pub sequence: u32,
    /// Session id of the sending participant.
    #[prost(string, tag = "17")]
    pub participant_sid: String,
}

/// Nested types of [`DataPacket`].
pub mod data_packet {
    /// The data-stream variants of `DataPacket.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `stream_header = 13`.
        #[prost(message, tag = "13")]
        StreamHeader(super::Header),
        /// `stream_chunk = 14`.
        #[prost(message, tag = "14")]
        StreamChunk(super::Chunk),
        /// `stream_trailer = 15`.
        #[prost(message, tag = "15")]
        StreamTrailer(super::Trailer),
        /// `encrypted_packet = 18` (end-to-end encryption; not decrypted by this crate).
        #[prost(message, tag = "18")]
        EncryptedPacket(super::EncryptedPacket),
    }
}

/// `livekit.EncryptedPacket`, carried only so that it can be recognised and refused.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptedPacket {
    /// `Encryption.Type` (0 none, 1 GCM, 2 custom).
    #[prost(int32, tag = "1")]
    pub encryption_type: i32,
    /// Initialisation vector.
    #[prost(bytes = "bytes", tag = "2")]
    pub iv: Bytes,
    /// Key index.
    #[prost(uint32, tag = "3")]
    pub key_index: u32,
    /// Ciphertext of an `EncryptedPacketPayload`.
    #[prost(bytes = "bytes", tag = "4")]
    pub encrypted_value: Bytes,
}

/// `DataStream.OperationType` of a text stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OperationType {
    /// A new text.
    Create = 0,
    /// An edit of an earlier text.
    Update = 1,
    /// A deletion.
    Delete = 2,
    /// A reaction.
    Reaction = 3,
}

/// `DataStream.CompressionType` (data streams v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CompressionType {
    /// Uncompressed.
    None = 0,
    /// Raw deflate (RFC 1951) of the whole payload.
    DeflateRaw = 1,
}

/// `DataStream.TextHeader`: its presence (even all-default, `4a00` on the wire) marks a
/// text stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TextHeader {
    /// [`OperationType`] as its number.
    #[prost(enumeration = "OperationType", tag = "1")]
    pub operation_type: i32,
    /// Version, for updates and edits.
    #[prost(int32, tag = "2")]
    pub version: i32,
    /// The stream this one replies to.
    #[prost(string, tag = "3")]
    pub reply_to_stream_id: String,
    /// Ids of byte streams attached to this text.
    #[prost(string, repeated, tag = "4")]
    pub attached_stream_ids: Vec<String>,
    /// Whether an agent or a transcriber generated the text.
    #[prost(bool, tag = "5")]
    pub generated: bool,
}

/// `DataStream.ByteHeader`: marks a byte stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ByteHeader {
    /// Name (usually a file name).
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `DataStream.Header`: opens a stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    /// Stream id (a UUIDv4 in every SDK).
    #[prost(string, tag = "1")]
    pub stream_id: String,
    /// Unix time in milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// Topic, used to route the stream to a handler.
    #[prost(string, tag = "3")]
    pub topic: String,
    /// MIME type of the content.
    #[prost(string, tag = "4")]
    pub mime_type: String,
    /// Total content length in bytes; absent = unknown (0 is a real length).
    #[prost(uint64, optional, tag = "5")]
    pub total_length: Option<u64>,
    /// Deprecated `Encryption.Type` (now carried by the DataPacket).
    #[prost(int32, tag = "7")]
    pub encryption_type: i32,
    /// Application attributes.
    #[prost(map = "string, string", tag = "8")]
    pub attributes: HashMap<String, String>,
    /// Text or byte stream.
    #[prost(oneof = "header::ContentHeader", tags = "9, 10")]
    pub content_header: Option<header::ContentHeader>,
    /// v2: the whole payload inside the header (no chunks follow).
    #[prost(bytes = "bytes", optional, tag = "11")]
    pub inline_content: Option<Bytes>,
    /// v2: [`CompressionType`] as its number.
    #[prost(enumeration = "CompressionType", tag = "12")]
    pub compression: i32,
}

/// Nested types of [`Header`].
pub mod header {
    /// `Header.content_header`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum ContentHeader {
        /// `text_header = 9`.
        #[prost(message, tag = "9")]
        TextHeader(super::TextHeader),
        /// `byte_header = 10`.
        #[prost(message, tag = "10")]
        ByteHeader(super::ByteHeader),
    }
}

/// `DataStream.Chunk`: a piece of content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    /// Stream id.
    #[prost(string, tag = "1")]
    pub stream_id: String,
    /// 0-based, contiguous index.
    #[prost(uint64, tag = "2")]
    pub chunk_index: u64,
    /// Content bytes.
    #[prost(bytes = "bytes", tag = "3")]
    pub content: Bytes,
    /// Version (a later version replaces an earlier chunk at the same index).
    #[prost(int32, tag = "4")]
    pub version: i32,
    /// Deprecated per-chunk IV.
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub iv: Option<Bytes>,
}

/// `DataStream.Trailer`: ends a stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trailer {
    /// Stream id.
    #[prost(string, tag = "1")]
    pub stream_id: String,
    /// Why the stream ended; empty = normal end.
    #[prost(string, tag = "2")]
    pub reason: String,
    /// Attributes merged into the stream's (the trailer wins).
    #[prost(map = "string, string", tag = "3")]
    pub attributes: HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn trailer_bytes_match_livekit_reference() {
        // Reference bytes from data-stream-anchors.md §1 (encoded by LiveKit's packages).
        let mut attributes = HashMap::new();
        attributes.insert("end".to_owned(), "1".to_owned());
        let packet = DataPacket {
            value: Some(data_packet::Value::StreamTrailer(Trailer {
                stream_id: "s1".into(),
                reason: String::new(),
                attributes,
            })),
            ..Default::default()
        };
        assert_eq!(
            hex(&packet.encode_to_vec()),
            "7a0e0a0273311a080a03656e64120131"
        );
    }

    #[test]
    fn empty_text_header_and_zero_length_are_present() {
        let header = Header {
            total_length: Some(0),
            content_header: Some(header::ContentHeader::TextHeader(TextHeader::default())),
            ..Default::default()
        };
        assert_eq!(hex(&header.encode_to_vec()), "28004a00");
    }
}
