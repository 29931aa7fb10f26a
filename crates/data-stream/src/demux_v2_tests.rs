//! Data streams v2 on the receiving side (single-packet and raw-deflate streams, the
//! header budget) and the legacy index-1 byte streams of LiveKit's old Python SDK.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::*;
use crate::compression::deflate_raw;
use crate::packet::{Chunk, Envelope, MAX_HEADER_BUDGET, StreamKind, TextInfo};

fn info(id: &str, kind: StreamType, total: Option<u64>) -> StreamInfo {
    StreamInfo {
        id: id.into(),
        timestamp_ms: 0,
        topic: "t".into(),
        mime_type: String::new(),
        total_length: total,
        attributes: HashMap::new(),
        kind: match kind {
            StreamType::Bytes => StreamKind::Bytes { name: "n".into() },
            StreamType::Text => StreamKind::Text(TextInfo::default()),
        },
    }
}

fn compressed_header(id: &str, kind: StreamType, total: Option<u64>) -> Packet {
    let mut header = Header::new(info(id, kind, total));
    header.compression = 1;
    Packet::Header(Box::new(header))
}

fn chunk(id: &str, index: u64, content: Bytes) -> Packet {
    Packet::Chunk(Chunk {
        stream_id: id.into(),
        index,
        content,
    })
}

fn trailer(id: &str) -> Packet {
    Packet::Trailer(Trailer {
        stream_id: id.into(),
        ..Default::default()
    })
}

fn demux(limits: Limits) -> Demultiplexer {
    let mut demux = Demultiplexer::new(limits);
    demux.register_fallback(StreamType::Bytes).unwrap();
    demux.register_fallback(StreamType::Text).unwrap();
    demux
}

/// Feeds packets through the real encoder; returns the events, the concatenated content
/// and the largest piece.
fn run(demux: &mut Demultiplexer, packets: &[Packet]) -> (Vec<Event>, Vec<u8>, usize) {
    let mut events = Vec::new();
    for p in packets {
        let frame = p.to_frame(&Envelope::default());
        let mut joined = frame.head.to_vec();
        joined.extend_from_slice(&frame.body);
        demux.handle_frame(joined.into(), Instant::now()).unwrap();
        events.extend(std::iter::from_fn(|| demux.poll_event()));
    }
    let mut content = Vec::new();
    let mut largest = 0;
    for e in &events {
        if let Event::Chunk { content: c, .. } = e {
            content.extend_from_slice(c);
            largest = largest.max(c.len());
        }
    }
    (events, content, largest)
}

fn failure(events: &[Event]) -> Option<&Error> {
    events.iter().find_map(|e| match e {
        Event::Failed { error, .. } => Some(error),
        _ => None,
    })
}

fn deflated_chunks(id: &str, data: &[u8], size: usize) -> Vec<Packet> {
    let packed = deflate_raw(data);
    packed
        .chunks(size)
        .enumerate()
        .map(|(i, c)| chunk(id, i as u64, Bytes::copy_from_slice(c)))
        .collect()
}

#[test]
fn compressed_chunked_stream_is_inflated_in_bounded_pieces() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8).collect();
    let limits = Limits {
        max_chunk_size: 20_000,
        ..Limits::default()
    };
    let mut packets = vec![compressed_header("z", StreamType::Bytes, Some(300_000))];
    packets.extend(deflated_chunks("z", &data, 1_000));
    packets.push(trailer("z"));
    let (events, content, largest) = run(&mut demux(limits), &packets);
    assert_eq!(content, data);
    assert!(largest <= 20_000, "a piece of {largest} bytes");
    assert!(matches!(events.last(), Some(Event::Finished(i)) if i.id == "z"));
}

#[test]
fn compressed_single_packet_text_is_checked_as_text() {
    let text = "héllo 😊 ".repeat(100);
    let mut header = Header::new(info("i", StreamType::Text, Some(text.len() as u64)));
    header.compression = 1;
    header.inline_content = Some(deflate_raw(text.as_bytes()));
    let (events, content, _) = run(
        &mut demux(Limits::default()),
        &[Packet::Header(Box::new(header))],
    );
    assert_eq!(content, text.as_bytes());
    assert!(matches!(events.last(), Some(Event::Finished(_))));
    // Invalid UTF-8 inside the deflated text is found after inflation.
    let mut header = Header::new(info("j", StreamType::Text, None));
    header.compression = 1;
    header.inline_content = Some(deflate_raw(b"ok\xffno"));
    let (events, ..) = run(
        &mut demux(Limits::default()),
        &[Packet::Header(Box::new(header))],
    );
    assert!(matches!(
        failure(&events),
        Some(Error::InvalidUtf8 { offset: 2, .. })
    ));
}

#[test]
fn a_deflate_bomb_is_stopped_by_the_stream_limits() {
    // 64 MB of zeros deflate to about 64 KB; the limits are 1 MB of stream, 16 KiB pieces.
    let bomb = vec![0u8; 64 << 20];
    let limits = Limits {
        max_stream_size: 1 << 20,
        max_chunk_size: 16 * 1024,
        ..Limits::default()
    };
    let mut packets = vec![compressed_header("b", StreamType::Bytes, None)];
    packets.extend(deflated_chunks("b", &bomb, 15_000));
    packets.push(trailer("b"));
    let mut d = demux(limits);
    let (events, content, largest) = run(&mut d, &packets);
    assert!(matches!(
        failure(&events),
        Some(Error::StreamTooLarge { .. })
    ));
    assert!(
        content.len() <= 1 << 20,
        "{} bytes delivered",
        content.len()
    );
    assert!(largest <= 16 * 1024);
    // With an announced total, one byte past it fails the stream.
    let mut packets = vec![compressed_header("c", StreamType::Bytes, Some(100_000))];
    packets.extend(deflated_chunks("c", &bomb[..200_000], 15_000));
    let (events, content, _) = run(&mut d, &packets);
    assert!(matches!(
        failure(&events),
        Some(Error::LengthExceeded { total: 100_000, .. })
    ));
    assert!(content.len() <= 100_000);
}

#[test]
fn corrupt_or_unfinished_deflate_fails_the_stream() {
    let mut d = demux(Limits::default());
    let garbage = Bytes::from_static(&[0xff; 32]);
    let (events, ..) = run(
        &mut d,
        &[
            compressed_header("g", StreamType::Bytes, None),
            chunk("g", 0, garbage),
        ],
    );
    assert!(matches!(
        failure(&events),
        Some(Error::Decompression { .. })
    ));
    // A deflate stream cut before its final block: the trailer finds it unfinished.
    let packed = deflate_raw(&(0..50_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let half = packed.slice(..packed.len() / 2);
    let (events, ..) = run(
        &mut d,
        &[
            compressed_header("h", StreamType::Bytes, None),
            chunk("h", 0, half),
            trailer("h"),
        ],
    );
    assert!(matches!(
        failure(&events),
        Some(Error::Decompression { .. })
    ));
    // Bytes after the final block.
    let mut extra = deflate_raw(b"hello").to_vec();
    extra.extend_from_slice(b"trailing");
    let (events, ..) = run(
        &mut d,
        &[
            compressed_header("x", StreamType::Bytes, None),
            chunk("x", 0, extra.into()),
            trailer("x"),
        ],
    );
    assert!(matches!(
        failure(&events),
        Some(Error::Decompression { .. })
    ));
}

#[test]
fn header_over_the_budget_is_refused_inline_content_is_not_counted() {
    let mut big = info("a", StreamType::Bytes, None);
    big.attributes
        .insert("blob".into(), "x".repeat(MAX_HEADER_BUDGET));
    let (events, ..) = run(
        &mut demux(Limits::default()),
        &[Packet::Header(Box::new(Header::new(big)))],
    );
    let Some(Error::AttributesTooLarge {
        size, attributes, ..
    }) = failure(&events)
    else {
        panic!("not refused: {events:?}")
    };
    assert!(*size > MAX_HEADER_BUDGET && *attributes > MAX_HEADER_BUDGET);
    // 14 000 bytes of inline content with small attributes: within the budget.
    let mut header = Header::new(info("b", StreamType::Bytes, Some(30_000)));
    header.inline_content = Some(Bytes::from(vec![7u8; 30_000]));
    let (events, content, _) = run(
        &mut demux(Limits::default()),
        &[Packet::Header(Box::new(header))],
    );
    assert_eq!(content.len(), 30_000);
    assert!(matches!(events.last(), Some(Event::Finished(_))));
}

/// Chunks exactly as LiveKit's Python SDK built them before python-sdks #430:
/// `ByteStreamWriter.write` incremented `_next_chunk_index` before building each chunk,
/// `TextStreamWriter.write` used it, then incremented (from 0).
fn seed_chunks(id: &str, data: &'static [u8], increment_first: bool) -> Vec<Packet> {
    let mut next_chunk_index = 0;
    let mut packets = Vec::new();
    for piece in data.chunks(4) {
        if increment_first {
            next_chunk_index += 1;
        }
        packets.push(chunk(id, next_chunk_index, Bytes::from_static(piece)));
        if !increment_first {
            next_chunk_index += 1;
        }
    }
    packets
}

#[test]
fn byte_streams_numbered_from_one_are_accepted_a_real_gap_still_fails() {
    let mut d = demux(Limits::default());
    let data = b"legacy python sdk bytes";
    for (id, kind, increment_first) in [
        ("bytes-seed", StreamType::Bytes, true),
        ("text-seed", StreamType::Text, false),
        ("bytes-v1", StreamType::Bytes, false),
    ] {
        let mut packets = vec![Packet::Header(Box::new(Header::new(info(id, kind, None))))];
        packets.extend(seed_chunks(id, data, increment_first));
        packets.push(trailer(id));
        let (events, content, _) = run(&mut d, &packets);
        assert_eq!(content, data, "{id}");
        assert!(matches!(events.last(), Some(Event::Finished(_))), "{id}");
    }
    assert!(d.legacy_index_logged, "logged once");
    // From 1 and then a gap: still an error.
    let mut packets = vec![Packet::Header(Box::new(Header::new(info(
        "gap",
        StreamType::Bytes,
        None,
    ))))];
    packets.push(chunk("gap", 1, Bytes::from_static(b"a")));
    packets.push(chunk("gap", 3, Bytes::from_static(b"b")));
    let (events, ..) = run(&mut d, &packets);
    assert!(matches!(
        failure(&events),
        Some(Error::ChunkIndex {
            expected: 2,
            got: 3,
            ..
        })
    ));
    // A text stream starting at 1 is a gap (the text writer always started at 0).
    let mut packets = vec![Packet::Header(Box::new(Header::new(info(
        "text-1",
        StreamType::Text,
        None,
    ))))];
    packets.push(chunk("text-1", 1, Bytes::from_static(b"a")));
    let (events, ..) = run(&mut d, &packets);
    assert!(matches!(
        failure(&events),
        Some(Error::ChunkIndex {
            expected: 0,
            got: 1,
            ..
        })
    ));
}
