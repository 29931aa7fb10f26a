//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use data_stream::wire::{DataPacket, data_packet::Value, header::ContentHeader};
use data_stream::{Demultiplexer, Event, FrameDecoder, OutgoingFrames, Packet};
use futures::StreamExt;
use serde_json::{Value as Json, json};
use std::collections::HashMap;

/// Takes every frame queued so far (the queue must be closed or drained).
pub fn drain_now(frames: &mut OutgoingFrames) -> Vec<Bytes> {
    let mut out = Vec::new();
    while let Ok(frame) = frames.try_recv() {
        let mut joined = BytesMut::new();
        joined.extend_from_slice(&frame.head);
        joined.extend_from_slice(&frame.body);
        out.push(joined.freeze());
    }
    out
}

/// Decodes every frame into packets.
pub fn packets(frames: &[Bytes]) -> Vec<Packet> {
    frames
        .iter()
        .map(|f| Packet::decode(f.clone()).unwrap().unwrap())
        .collect()
}

/// Collects all frames of a closed queue.
pub async fn collect(frames: OutgoingFrames) -> Vec<Bytes> {
    frames
        .map(|f| {
            let mut joined = BytesMut::new();
            joined.extend_from_slice(&f.head);
            joined.extend_from_slice(&f.body);
            joined.freeze()
        })
        .collect()
        .await
}

/// Runs framed bytes through a frame decoder and the demultiplexer; returns the events.
pub fn demux_all(demux: &mut Demultiplexer, mut wire: BytesMut) -> Vec<Event> {
    let mut decoder = FrameDecoder::default();
    let mut events = Vec::new();
    while let Some(frame) = decoder.decode(&mut wire).unwrap() {
        demux.handle_frame(frame, Instant::now()).unwrap();
        events.extend(std::iter::from_fn(|| demux.poll_event()));
    }
    decoder.finish(&wire).unwrap();
    events
}

/// Our decoder's view of a packet, in the schema of the Python script's `describe`.
pub fn describe(p: &DataPacket) -> Json {
    let mut out = json!({
        "participant_identity": p.participant_identity,
        "destination_identities": p.destination_identities,
    });
    let map = |m: &HashMap<String, String>| json!(m);
    let fields = match &p.value {
        Some(Value::StreamHeader(h)) => {
            let mut f = json!({
                "part": "header", "stream_id": h.stream_id, "timestamp": h.timestamp, "topic": h.topic,
                "mime_type": h.mime_type, "total_length": h.total_length, "attributes": map(&h.attributes),
                "inline_content": h.inline_content.as_ref().map(|c| hex(c)), "compression": h.compression,
            });
            match &h.content_header {
                Some(ContentHeader::TextHeader(t)) => {
                    f["text"] = json!({
                        "operation_type": t.operation_type, "version": t.version,
                        "reply_to_stream_id": t.reply_to_stream_id,
                        "attached_stream_ids": t.attached_stream_ids, "generated": t.generated,
                    })
                }
                Some(ContentHeader::ByteHeader(b)) => f["byte"] = json!({ "name": b.name }),
                None => {}
            }
            f
        }
        Some(Value::StreamChunk(c)) => json!({
            "part": "chunk", "stream_id": c.stream_id, "chunk_index": c.chunk_index, "content": hex(&c.content),
        }),
        Some(Value::StreamTrailer(t)) => json!({
            "part": "trailer", "stream_id": t.stream_id, "reason": t.reason, "attributes": map(&t.attributes),
        }),
        other => panic!("unexpected packet {other:?}"),
    };
    for (k, v) in fields.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
