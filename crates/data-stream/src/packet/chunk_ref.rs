//! A chunk packet decoded by hand, its stream id borrowed from the frame: prost's decode
//! allocates a `String` for the id of every chunk, which the demultiplexer only looks up.
//!
//! Only the common form is taken: a `DataPacket` of participant identity (4), destination
//! identities (5) and one chunk (14) of stream id (1), index (2) and content (3), each
//! field at most once where it is a scalar. Anything else (other fields, a repeated
//! scalar, a wrong wire type, a bad length or varint, invalid UTF-8, no chunk) is left to
//! prost ([`super::Packet::decode`]), so errors and the rare forms decode exactly as
//! before; what is taken here decodes to what prost would give.

use bytes::Bytes;

/// A chunk whose stream id borrows the frame.
pub(crate) struct ChunkRef<'a> {
    pub(crate) stream_id: &'a str,
    pub(crate) index: u64,
    pub(crate) content: Bytes,
}

const LENGTH_DELIMITED: u64 = 2;
const VARINT: u64 = 0;

/// The chunk in `frame` when it has the common form (see the module docs); `None` means
/// "ask prost", not "invalid".
pub(crate) fn decode_chunk(frame: &Bytes) -> Option<ChunkRef<'_>> {
    let mut at = 0;
    let mut chunk = None;
    while at < frame.len() {
        let key = varint(frame, &mut at)?;
        let (tag, wire_type) = (key >> 3, key & 7);
        if wire_type != LENGTH_DELIMITED {
            return None;
        }
        let field = delimited(frame, &mut at)?;
        match tag {
            // participant_identity, destination_identities: strings, checked as prost does.
            4 | 5 => {
                std::str::from_utf8(&frame[field.clone()]).ok()?;
            }
            14 if chunk.is_none() => chunk = Some(field),
            _ => return None,
        }
    }
    let chunk = chunk?;
    let mut at = chunk.start;
    let (mut stream_id, mut index, mut content) = (None, None, None);
    while at < chunk.end {
        let key = varint(&frame[..chunk.end], &mut at)?;
        match (key >> 3, key & 7) {
            (1, LENGTH_DELIMITED) if stream_id.is_none() => {
                let field = delimited(&frame[..chunk.end], &mut at)?;
                stream_id = Some(std::str::from_utf8(&frame[field]).ok()?);
            }
            (2, VARINT) if index.is_none() => index = Some(varint(&frame[..chunk.end], &mut at)?),
            (3, LENGTH_DELIMITED) if content.is_none() => {
                content = Some(delimited(&frame[..chunk.end], &mut at)?);
            }
            _ => return None,
        }
    }
    Some(ChunkRef {
        // proto3: absent fields are their defaults.
        stream_id: stream_id.unwrap_or(""),
        index: index.unwrap_or(0),
        content: content.map_or_else(Bytes::new, |range| frame.slice(range)),
    })
}

/// A base-128 varint at `*at` (at most 10 bytes, the 10th at most 1, as prost requires).
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(*at)?;
        *at += 1;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// The range of a length-delimited field's bytes at `*at`, moving past it.
fn delimited(buf: &[u8], at: &mut usize) -> Option<std::ops::Range<usize>> {
    let len = varint(buf, at)?;
    let start = *at;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    if end > buf.len() {
        return None;
    }
    *at = end;
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message;

    use super::decode_chunk;
    use crate::packet::{Chunk, Envelope, Packet};
    use crate::wire::{self, data_packet::Value};

    fn encoded(packet: &wire::DataPacket) -> Bytes {
        packet.encode_to_vec().into()
    }

    /// Whatever the fast path takes, prost decodes to the same chunk.
    fn agrees(frame: &Bytes) -> bool {
        let Some(fast) = decode_chunk(frame) else {
            return false;
        };
        let Ok(Some(Packet::Chunk(c))) = Packet::decode(frame.clone()) else {
            panic!("taken by hand, not a chunk for prost: {frame:?}")
        };
        assert_eq!(
            (fast.stream_id, fast.index, &fast.content),
            (c.stream_id.as_str(), c.index, &c.content)
        );
        true
    }

    #[test]
    fn common_chunks_are_taken_by_hand_as_prost_reads_them() {
        let envelope = Envelope {
            participant_identity: "alice".into(),
            destination_identities: vec!["bob".into(), "carol".into()],
        };
        for envelope in [Envelope::default(), envelope] {
            for (id, index, content) in [
                ("s", 0, Bytes::new()),
                ("", 7, Bytes::from_static(b"x")),
                ("3f8e5a52", u64::MAX, Bytes::from(vec![1; 20_000])),
            ] {
                let chunk = Packet::Chunk(Chunk::new(id, index, content));
                let frame = chunk.to_frame(&envelope);
                let joined: Bytes = [frame.head, frame.body].concat().into();
                assert!(agrees(&joined));
                let fast = decode_chunk(&joined).unwrap();
                assert!(joined.as_ptr_range().contains(&fast.stream_id.as_ptr()) || id.is_empty());
            }
        }
    }

    #[test]
    fn other_forms_are_left_to_prost() {
        let chunk = |c: wire::Chunk| wire::DataPacket {
            value: Some(Value::StreamChunk(c)),
            ..Default::default()
        };
        let with_version = chunk(wire::Chunk {
            stream_id: "s".into(),
            version: 2,
            ..Default::default()
        });
        let with_sequence = wire::DataPacket {
            sequence: 3,
            ..chunk(wire::Chunk::default())
        };
        let trailer = wire::DataPacket {
            value: Some(Value::StreamTrailer(wire::Trailer::default())),
            ..Default::default()
        };
        for packet in [with_version, with_sequence, trailer] {
            assert!(decode_chunk(&encoded(&packet)).is_none(), "{packet:?}");
        }
        // Two chunk fields (prost merges them), a repeated index, bad UTF-8, a short
        // length, an over-long varint, nothing at all.
        let twice = Bytes::from_static(&[0x72, 0x02, 0x10, 0x01, 0x72, 0x02, 0x10, 0x02]);
        let index_twice = Bytes::from_static(&[0x72, 0x04, 0x10, 0x01, 0x10, 0x02]);
        let bad_id = Bytes::from_static(&[0x72, 0x03, 0x0a, 0x01, 0xff]);
        let short = Bytes::from_static(&[0x72, 0x05, 0x0a]);
        let long_varint = Bytes::from_static(&[
            0x72, 0x0b, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        for frame in [twice, index_twice, bad_id, short, long_varint, Bytes::new()] {
            assert!(decode_chunk(&frame).is_none(), "{frame:?}");
        }
    }
}
