//! The head of a chunk packet: everything before the content, so that the content goes
//! out as its own slice (see the parent module), and [`ChunkHeads`], which encodes the
//! heads of many chunks into a few reused blocks instead of one allocation each.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use prost::encoding::{self, WireType};

use super::{Envelope, Frame};

/// Bytes of a chunk head besides the envelope's fields and the stream id: the chunk's key
/// and length, the id's key and length, the index, the content's key and length (each
/// varint at most 10 bytes).
const HEAD_OVERHEAD: usize = 48;
/// Size of one block of heads: about 60 heads of a 36-byte stream id.
const BLOCK: usize = 4 * 1024;
/// Blocks kept while their heads are still queued: with the block in use, room for about
/// 250 heads in flight (the outgoing queue holds 16 frames by default).
const SPARE: usize = 3;

/// Encodes chunk heads into reused blocks: each [`Frame`]'s head is a slice of a block,
/// and a block is taken again once the frames cut from it are dropped (written). One per
/// writer: [`Frame::chunk`] allocates every head, this does not once its blocks are warm
/// (as long as fewer than about 250 of its heads wait in queues at once).
#[derive(Debug, Default)]
pub struct ChunkHeads {
    block: BytesMut,
    spare: VecDeque<BytesMut>,
}

impl ChunkHeads {
    /// A chunk frame whose head is encoded into this arena; the content is not copied.
    /// The same bytes as [`Frame::chunk`].
    pub fn chunk(
        &mut self,
        envelope: &Envelope,
        stream_id: &str,
        index: u64,
        content: Bytes,
    ) -> Frame {
        let envelope_len = encoding::string::encoded_len(4, &envelope.participant_identity)
            + encoding::string::encoded_len_repeated(5, &envelope.destination_identities);
        let need = envelope_len + stream_id.len() + HEAD_OVERHEAD;
        if need > BLOCK {
            // A huge envelope: not worth a block.
            return Frame::chunk(envelope, stream_id, index, content);
        }
        if self.block.capacity() - self.block.len() < need {
            self.next_block();
        }
        encode_chunk_head(&mut self.block, envelope, stream_id, index, content.len());
        Frame {
            head: self.block.split().freeze(),
            body: content,
        }
    }

    /// Moves to a block whose heads are all dropped, or a new one.
    fn next_block(&mut self) {
        let free = self.spare.iter_mut().position(|b| b.try_reclaim(BLOCK));
        let block = match free.and_then(|i| self.spare.remove(i)) {
            Some(block) => block,
            None => BytesMut::with_capacity(BLOCK),
        };
        let used = std::mem::replace(&mut self.block, block);
        if self.spare.len() == SPARE {
            self.spare.pop_front();
        }
        self.spare.push_back(used);
    }
}

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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{BLOCK, ChunkHeads};
    use crate::packet::{Envelope, Frame};

    #[test]
    fn heads_are_frame_chunks_bytes_and_blocks_come_back_once_written() {
        let envelope = Envelope {
            participant_identity: "alice".into(),
            destination_identities: vec!["bob".into()],
        };
        let mut heads = ChunkHeads::default();
        let content = Bytes::from_static(b"content");
        let first = heads.chunk(&envelope, "s", 0, content.clone());
        let block = first.head.as_ptr();
        for index in [0, 1, 300, u64::MAX] {
            let ours = heads.chunk(&envelope, "s", index, content.clone());
            assert_eq!(ours, Frame::chunk(&envelope, "s", index, content.clone()));
        }
        drop(first);
        // Run through more blocks than are kept, writing (dropping) each frame: the
        // first block comes round again instead of a new one.
        let mut seen_again = false;
        for index in 0..(BLOCK as u64) {
            let frame = heads.chunk(&envelope, "s", index, content.clone());
            seen_again |= frame.head.as_ptr() == block;
        }
        assert!(seen_again, "the first block was never reused");
        // A head too large for a block still encodes.
        let crowd = Envelope {
            destination_identities: vec!["x".repeat(BLOCK)],
            ..Envelope::default()
        };
        let big = heads.chunk(&crowd, "s", 1, content.clone());
        assert_eq!(big, Frame::chunk(&crowd, "s", 1, content));
    }
}
