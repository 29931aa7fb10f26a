//! Data streams v2 and the legacy index-1 byte streams against LiveKit's PyPI
//! `livekit-protocol` (1.1.29 here: `DataStream.Header` fields 11 `inline_content` and 12
//! `compression` since 1.1.17) with Python's own zlib as the raw-deflate peer: Python
//! rebuilds and inflates the streams we write, and writes streams the way LiveKit's
//! senders do for us to read. Contents are compared by SHA-256.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use data_stream::wire::DataPacket;
use data_stream::{
    Attachment, Demultiplexer, Envelope, Event, FrameDecoder, Limits, Outgoing, StreamOptions,
    StreamType, V2Support,
};
use futures::executor::block_on;
use prost::Message;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

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

fn sha256(data: &[u8]) -> String {
    common::hex(&Sha256::digest(data))
}

/// Deterministic bytes that deflate cannot shrink (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Sent {
    id: String,
    content: Vec<u8>,
    inline: bool,
    compression: i32,
}

#[test]
fn livekit_python_reads_our_v2_streams() {
    test_support::require_peer!("livekit-protocol-py");
    let mut envelope = Envelope::default();
    envelope.participant_identity = "rust".into();
    envelope.destination_identities = vec!["py".into()];
    let (out, mut frames) = Outgoing::with_envelope(1024, envelope);
    let v2 = out.clone().with_v2(V2Support::all());
    let inline_only = out.clone().with_v2({
        let mut support = V2Support::default();
        support.single_packet = true;
        support
    });
    let compressible = "data streams v2, compressed ".repeat(400);
    // Four letters at random: about a quarter of the size deflated, still many chunks.
    let big: Vec<u8> = noise(200_000).iter().map(|b| b'a' + b % 4).collect();
    let mut sent = Vec::new();
    let mut attachment_ids = Vec::new();
    block_on(async {
        let mut push = |id: String, content: &[u8], inline, compression| {
            sent.push(Sent {
                id,
                content: content.to_vec(),
                inline,
                compression,
            })
        };
        let chat = || StreamOptions::topic("chat");
        let info = v2.send_text("hi", chat()).await.unwrap();
        push(info.id, b"hi", true, 0); // deflate would make it longer
        let info = v2.send_text(compressible.clone(), chat()).await.unwrap();
        push(info.id, compressible.as_bytes(), true, 1);
        let info = v2.send_bytes("big.bin", big.clone(), chat()).await.unwrap();
        push(info.id, &big, false, 1);
        let info = v2
            .send_bytes("noise.bin", noise(40_000), chat())
            .await
            .unwrap();
        push(info.id, &noise(40_000), false, 1);
        let info = inline_only
            .send_text(compressible.clone(), chat())
            .await
            .unwrap();
        push(info.id, compressible.as_bytes(), true, 0);
        let info = out.send_bytes("v1.bin", big.clone(), chat()).await.unwrap();
        push(info.id, &big, false, 0);
        let attachments = vec![
            Attachment::new("notes.txt", &b"attached text"[..]),
            Attachment::new("photo.bin", noise(50_000)),
        ];
        let info = v2
            .send_text_with_attachments("see attached", attachments, chat())
            .await
            .unwrap();
        let data_stream::StreamKind::Text(text) = &info.kind else {
            panic!("not text")
        };
        attachment_ids = text.attached_stream_ids.clone();
        push(info.id, b"see attached", false, 1);
        push(attachment_ids[0].clone(), b"attached text", true, 0);
        push(attachment_ids[1].clone(), &noise(50_000), false, 1);
    });
    let mut wire = BytesMut::new();
    while let Ok(frame) = frames.try_recv() {
        frame.write_framed(&mut wire, 1 << 20).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ours-v2.bin");
    std::fs::write(&file, &wire).unwrap();

    // Field by field, LiveKit's classes decode what our prost types meant (fields 11, 12).
    let theirs = python("decode", &file);
    let mut decoder = FrameDecoder::default();
    let ours: Vec<Json> = std::iter::from_fn(|| decoder.decode(&mut wire).unwrap())
        .map(|f| common::describe(&DataPacket::decode(f).unwrap()))
        .collect();
    assert_eq!(theirs, ours, "LiveKit decoded a different message");

    // Stream by stream, Python rebuilds and inflates the content we meant.
    let streams = python("reassemble", &file);
    assert_eq!(streams.len(), sent.len());
    let by_id: HashMap<&str, &Json> = streams
        .iter()
        .map(|s| (s["stream_id"].as_str().unwrap(), s))
        .collect();
    for s in &sent {
        let theirs = by_id[s.id.as_str()];
        assert_eq!(theirs["sha256"], sha256(&s.content), "stream {}", s.id);
        assert_eq!(theirs["size"], s.content.len());
        assert_eq!(
            theirs["total_length"],
            s.content.len(),
            "size before compression"
        );
        assert_eq!(theirs["inline"], s.inline, "stream {}", s.id);
        assert_eq!(theirs["compression"], s.compression, "stream {}", s.id);
        assert_eq!(theirs["complete"], true);
        assert!(theirs["header_size"].as_u64().unwrap() <= 15_000);
    }
    let text = by_id[sent[6].id.as_str()];
    assert_eq!(
        text["attached_stream_ids"],
        serde_json::json!(attachment_ids)
    );
}

#[test]
fn we_read_livekit_python_v2_and_legacy_streams() {
    test_support::require_peer!("livekit-protocol-py");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("theirs-v2.bin");
    let expected = python("encode-v2", &file);
    let wire = BytesMut::from(&std::fs::read(&file).unwrap()[..]);
    let mut demux = Demultiplexer::new(Limits::default());
    demux.register_fallback(StreamType::Text).unwrap();
    demux.register_fallback(StreamType::Bytes).unwrap();
    let events = common::demux_all(&mut demux, wire);
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    let mut finished = Vec::new();
    for event in events {
        match event {
            Event::Chunk { stream_id, content } => {
                assert!(content.len() <= Limits::default().max_chunk_size);
                contents
                    .entry(stream_id.to_string())
                    .or_default()
                    .extend(&content);
            }
            Event::Finished(info) => finished.push(info.id),
            Event::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    assert_eq!(finished.len(), expected.len());
    for e in &expected {
        let id = e["stream_id"].as_str().unwrap();
        let content = Bytes::from(contents.remove(id).unwrap_or_default());
        assert_eq!(e["size"], content.len(), "stream {id}");
        assert_eq!(e["sha256"], sha256(&content), "stream {id}");
    }
}
