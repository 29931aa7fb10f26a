//! Interop with LiveKit's own PyPI package `livekit-protocol` (peer "livekit-protocol-py"):
//! Python decodes packets we wrote, and writes packets we decode. Messages are compared
//! field by field (as JSON descriptions), not bytes.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use common::{describe, hex};
use data_stream::wire::DataPacket;
use data_stream::{
    Demultiplexer, Envelope, Error, Event, FrameDecoder, Limits, OperationType, Outgoing,
    StreamOptions, StreamType, TextInfo,
};
use futures::executor::block_on;
use prost::Message;
use serde_json::{Value as Json, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/livekit_interop.py");

fn python(mode: &str, file: &Path) -> Vec<Json> {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg(mode)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn frames_of(mut wire: BytesMut) -> Vec<Bytes> {
    let mut decoder = FrameDecoder::default();
    std::iter::from_fn(|| decoder.decode(&mut wire).unwrap()).collect()
}

/// Streams written with our writers: every header field, 3 chunks, an empty stream, an abort.
fn our_packets() -> BytesMut {
    let mut envelope = Envelope::default();
    envelope.participant_identity = "rust".into();
    envelope.destination_identities = vec!["py".into()];
    let (out, mut frames) = Outgoing::with_envelope(64, envelope);
    block_on(async {
        let mut text = TextInfo::default();
        text.operation = OperationType::Reaction;
        text.version = 7;
        text.reply_to_stream_id = "parent".into();
        text.attached_stream_ids = vec!["file-1".into()];
        text.generated = true;
        let options = {
            let mut options = StreamOptions::topic("chat");
            options.attributes = HashMap::from([("foo".into(), "header".into())]);
            options.timestamp_ms = Some(1_700_000_000_999);
            options.chunk_size = 4;
            options
        };
        let w = out.stream_text(text, options).await.unwrap();
        w.write("a😊b").await.unwrap();
        w.close("", HashMap::from([("foo".into(), "trailer".into())]))
            .await
            .unwrap();
        out.send_bytes("big.bin", vec![0xAB; 40_000], StreamOptions::topic("files"))
            .await
            .unwrap();
        out.send_bytes("empty.bin", Bytes::new(), StreamOptions::topic("files"))
            .await
            .unwrap();
        let dropped = out
            .stream_bytes("dropped.bin", StreamOptions::topic("files"))
            .await
            .unwrap();
        dropped.write(&b"partial"[..]).await.unwrap();
    });
    let mut wire = BytesMut::new();
    while let Ok(frame) = frames.try_recv() {
        frame.write_framed(&mut wire, 1 << 20).unwrap();
    }
    wire
}

#[test]
fn livekit_python_decodes_our_packets() {
    test_support::require_peer!("livekit-protocol-py");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ours.bin");
    let wire = our_packets();
    std::fs::write(&file, &wire).unwrap();
    let theirs = python("decode", &file);
    let ours: Vec<Json> = frames_of(wire)
        .iter()
        .map(|f| describe(&DataPacket::decode(f.clone()).unwrap()))
        .collect();
    assert_eq!(theirs.len(), ours.len());
    for (t, o) in theirs.iter().zip(&ours) {
        assert_eq!(t, o, "LiveKit decoded a different message");
    }
    // And what LiveKit saw is what we meant to send.
    let text_header = &theirs[0];
    assert_eq!(text_header["text"]["operation_type"], 3);
    assert_eq!(text_header["text"]["version"], 7);
    assert_eq!(text_header["text"]["generated"], true);
    assert_eq!(text_header["timestamp"], 1_700_000_000_999i64);
    assert_eq!(text_header["participant_identity"], "rust");
    let chunks: Vec<&str> = theirs[1..4]
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(chunks, [hex(b"a"), hex("😊".as_bytes()), hex(b"b")]);
    assert_eq!(theirs[4]["attributes"]["foo"], "trailer");
    let big: Vec<&Json> = theirs
        .iter()
        .filter(|p| p["part"] == "chunk" && p["content"].as_str().unwrap().len() > 100)
        .collect();
    let sizes: Vec<usize> = big
        .iter()
        .map(|c| c["content"].as_str().unwrap().len() / 2)
        .collect();
    assert_eq!(sizes, [15_000, 15_000, 10_000]);
    let empty = theirs
        .iter()
        .find(|p| p["byte"]["name"] == "empty.bin")
        .unwrap();
    assert_eq!(
        empty["total_length"], 0,
        "a zero total length must be present, not absent"
    );
    let last = theirs.last().unwrap();
    assert_eq!(last["part"], "trailer");
    assert_eq!(last["reason"], data_stream::writer::DROPPED_REASON);
    // Every part carries the destinations, not only the header.
    assert!(
        theirs
            .iter()
            .all(|p| p["destination_identities"] == json!(["py"]))
    );
}

#[test]
fn we_decode_livekit_python_packets() {
    test_support::require_peer!("livekit-protocol-py");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("theirs.bin");
    let written = python("encode", &file);
    let wire = BytesMut::from(&std::fs::read(&file).unwrap()[..]);
    let ours: Vec<Json> = frames_of(wire.clone())
        .iter()
        .map(|f| describe(&DataPacket::decode(f.clone()).unwrap()))
        .collect();
    assert_eq!(
        ours, written,
        "we decoded a different message than LiveKit wrote"
    );

    // Stream level: the demultiplexer reassembles and checks them.
    let mut demux = Demultiplexer::new(Limits::default());
    demux.register(StreamType::Text, "chat").unwrap();
    demux.register(StreamType::Bytes, "files").unwrap();
    let events = common::demux_all(&mut demux, wire);
    let text: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk { stream_id, content } if stream_id.as_ref() == "py-text" => {
                Some(content.to_vec())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(String::from_utf8(text).unwrap(), "héllo😊");
    let finished: HashMap<String, _> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finished(i) => Some((i.id.clone(), i.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished["py-text"].attributes["k"], "v2",
        "the trailer's attribute wins"
    );
    assert_eq!(finished["py-text"].attributes["lang"], "fr");
    assert_eq!(finished["py-empty"].total_length, Some(0));
    assert!(events.iter().any(|e| matches!(e,
        Event::Failed { error: Error::AbnormalEnd { stream_id, reason }, .. } if stream_id == "py-bin" && reason == "aborted")));
}
