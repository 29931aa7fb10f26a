//! The head of a chunk packet: everything before the content, so that the content goes
//! out as its own slice (see the parent module).

use bytes::BytesMut;
use prost::encoding::{self, WireType};

use super::Envelope;

const CHUNK_FIELD: u32 = 14;
const CONTENT_FIELD: u32 = 3;

/// Writes a chunk `DataPacket` up to and including the content's length, using prost's
/// field encoders (the nested lengths are computed, not guessed).
pub(super) fn encode_chunk_head(
    dst: &mut BytesMut,
    envelope: &Envelope,
    stream_id: &str,
    index: u64,
    content_len: usize,
) {
    // proto3 omits empty bytes fields; so do we, to match prost's output byte for byte.
    let content_key = match content_len {
        0 => 0,
        n => encoding::key_len(CONTENT_FIELD) + encoding::encoded_len_varint(n as u64),
    };
    let mut chunk_len = content_key + content_len;
    if !stream_id.is_empty() {
        chunk_len += encoding::key_len(1)
            + encoding::encoded_len_varint(stream_id.len() as u64)
            + stream_id.len();
    }
    if index != 0 {
        chunk_len += encoding::uint64::encoded_len(2, &index);
    }
    let envelope_len = encoding::string::encoded_len(4, &envelope.participant_identity)
        + encoding::string::encoded_len_repeated(5, &envelope.destination_identities);
    dst.reserve(envelope_len + 16 + chunk_len - content_len);
    // Envelope fields as prost writes them for `DataPacket` (empty strings are omitted).
    if !envelope.participant_identity.is_empty() {
        encoding::string::encode(4, &envelope.participant_identity, dst);
    }
    encoding::string::encode_repeated(5, &envelope.destination_identities, dst);
    encoding::encode_key(CHUNK_FIELD, WireType::LengthDelimited, dst);
    encoding::encode_varint(chunk_len as u64, dst);
    if !stream_id.is_empty() {
        encoding::encode_key(1, WireType::LengthDelimited, dst);
        encoding::encode_varint(stream_id.len() as u64, dst);
        dst.extend_from_slice(stream_id.as_bytes());
    }
    if index != 0 {
        encoding::uint64::encode(2, &index, dst);
    }
    if content_len != 0 {
        encoding::encode_key(CONTENT_FIELD, WireType::LengthDelimited, dst);
        encoding::encode_varint(content_len as u64, dst);
    }
}
