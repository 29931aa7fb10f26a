//! Interop in process with crates.io `livekit-protocol` (LiveKit's generated prost types):
//! it decodes packets we wrote, and we decode packets it wrote. Compared as messages.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use common::describe;
use data_stream::{
    Demultiplexer, Envelope, Error, Event, FrameDecoder, Limits, Outgoing, StreamOptions,
    StreamType, TextInfo,
};
use futures::executor::block_on;
use livekit_protocol as lk;
use lk::data_stream as lkds;
use prost::Message;

/// Converts LiveKit's decoded packet to ours by re-encoding it with LiveKit's encoder,
/// then compares the descriptions: what LiveKit read must be what our decoder reads.
fn same_message(frame: &Bytes) {
    let theirs = lk::DataPacket::decode(frame.clone()).expect("LiveKit cannot decode our packet");
    let reencoded = Bytes::from(theirs.encode_to_vec());
    let ours = data_stream::wire::DataPacket::decode(frame.clone()).unwrap();
    let via_livekit = data_stream::wire::DataPacket::decode(reencoded).unwrap();
    assert_eq!(describe(&via_livekit), describe(&ours));
}

#[test]
fn livekit_protocol_decodes_our_packets() {
    let mut envelope = Envelope::default();
    envelope.participant_identity = "me".into();
    envelope.destination_identities = vec!["you".into()];
    let (out, mut frames) = Outgoing::with_envelope(64, envelope);
    let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    block_on(async {
        let options = {
            let mut options = StreamOptions::topic("chat");
            options.attributes = HashMap::from([("a".into(), "1".into())]);
            options
        };
        let w = out
            .stream_text(
                {
                    let mut text = TextInfo::default();
                    text.version = 2;
                    text
                },
                options,
            )
            .await
            .unwrap();
        w.write("hello 👋").await.unwrap();
        w.close("", HashMap::from([("a".into(), "2".into())]))
            .await
            .unwrap();
        out.send_bytes("f", data.clone(), StreamOptions::topic("files"))
            .await
            .unwrap();
    });
    let mut lk_frames = Vec::new();
    while let Ok(frame) = frames.try_recv() {
        let mut joined = BytesMut::new();
        joined.extend_from_slice(&frame.head);
        joined.extend_from_slice(&frame.body);
        let joined = joined.freeze();
        same_message(&joined);
        lk_frames.push(lk::DataPacket::decode(joined).unwrap());
    }
    use lk::data_packet::Value;
    let Some(Value::StreamHeader(h)) = &lk_frames[0].value else {
        panic!()
    };
    assert!(
        matches!(&h.content_header, Some(lkds::header::ContentHeader::TextHeader(t)) if t.version == 2)
    );
    assert_eq!(h.attributes["a"], "1");
    assert_eq!(lk_frames[0].participant_identity, "me");
    let Some(Value::StreamTrailer(t)) = &lk_frames[2].value else {
        panic!("{:?}", lk_frames[2])
    };
    assert_eq!(t.attributes["a"], "2");
    let content: Vec<u8> = lk_frames
        .iter()
        .filter_map(|p| match &p.value {
            Some(Value::StreamChunk(c)) if c.stream_id != h.stream_id => Some(c.content.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(content, data);
}

fn frame(packet: lk::DataPacket, wire: &mut BytesMut) {
    let raw = packet.encode_to_vec();
    wire.extend_from_slice(&(raw.len() as u32).to_be_bytes());
    wire.extend_from_slice(&raw);
}

fn lk_packet(value: lk::data_packet::Value) -> lk::DataPacket {
    lk::DataPacket {
        participant_identity: "lk".into(),
        value: Some(value),
        ..Default::default()
    }
}

#[test]
fn we_decode_livekit_protocol_packets() {
    use lk::data_packet::Value;
    let mut wire = BytesMut::new();
    let header = |id: &str, total: Option<u64>, text: bool| lkds::Header {
        stream_id: id.into(),
        timestamp: 42,
        topic: "t".into(),
        mime_type: "text/plain".into(),
        total_length: total,
        attributes: HashMap::from([("foo".into(), "header".into())]),
        content_header: Some(if text {
            lkds::header::ContentHeader::TextHeader(lkds::TextHeader::default())
        } else {
            lkds::header::ContentHeader::ByteHeader(lkds::ByteHeader { name: "n".into() })
        }),
        ..Default::default()
    };
    let chunk = |id: &str, i: u64, c: &[u8]| {
        Value::StreamChunk(lkds::Chunk {
            stream_id: id.into(),
            chunk_index: i,
            content: c.to_vec(),
            ..Default::default()
        })
    };
    let trailer = |id: &str, reason: &str, attrs: &[(&str, &str)]| {
        Value::StreamTrailer(lkds::Trailer {
            stream_id: id.into(),
            reason: reason.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    };
    // A text stream (all-default TextHeader), interleaved with a byte stream.
    frame(
        lk_packet(Value::StreamHeader(header("txt", Some(8), true))),
        &mut wire,
    );
    frame(
        lk_packet(Value::StreamHeader(header("bin", None, false))),
        &mut wire,
    );
    frame(lk_packet(chunk("txt", 0, "día ".as_bytes())), &mut wire);
    frame(lk_packet(chunk("bin", 0, &[0, 1, 2])), &mut wire);
    frame(lk_packet(chunk("txt", 1, b"uno")), &mut wire);
    frame(
        lk_packet(trailer("txt", "", &[("foo", "trailer")])),
        &mut wire,
    );
    frame(lk_packet(chunk("bin", 2, &[9])), &mut wire); // a gap
    // v2: inline content in the header, deflated inline content, and a compression type
    // that does not exist, which we refuse.
    let mut inline = header("inline", Some(2), true);
    inline.inline_content = Some(b"hi".to_vec());
    frame(lk_packet(Value::StreamHeader(inline)), &mut wire);
    let mut zipped = header("zipped", Some(12), true);
    zipped.compression = lkds::CompressionType::DeflateRaw as i32;
    zipped.inline_content = Some(data_stream::compression::deflate_raw(b"zipped, zipped").to_vec());
    zipped.total_length = Some(14);
    frame(lk_packet(Value::StreamHeader(zipped)), &mut wire);
    let mut compressed = header("deflated", None, false);
    compressed.compression = 7;
    frame(lk_packet(Value::StreamHeader(compressed)), &mut wire);
    // A user packet (not a stream part) is ignored.
    frame(
        lk_packet(Value::User(lk::UserPacket {
            payload: b"x".to_vec(),
            ..Default::default()
        })),
        &mut wire,
    );

    // Message level: our decoder reads what LiveKit's encoder wrote.
    let mut decoder = FrameDecoder::default();
    let mut copy = wire.clone();
    while let Some(f) = decoder.decode(&mut copy).unwrap() {
        let theirs = lk::DataPacket::decode(f.clone()).unwrap();
        if matches!(theirs.value, Some(Value::User(_))) {
            continue;
        }
        same_message(&f);
    }

    let mut demux = Demultiplexer::new(Limits::default());
    demux.register(StreamType::Text, "t").unwrap();
    demux.register(StreamType::Bytes, "t").unwrap();
    let events = common::demux_all(&mut demux, wire);
    let text: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk { stream_id, content } if stream_id.as_ref() == "txt" => {
                Some(content.to_vec())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(String::from_utf8(text).unwrap(), "día uno");
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Finished(i) = e {
                Some(i)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(finished[0].id, "txt");
    assert_eq!(finished[0].attributes["foo"], "trailer");
    assert_eq!(finished[1].id, "inline");
    assert_eq!(finished[2].id, "zipped");
    let zipped: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk { stream_id, content } if stream_id.as_ref() == "zipped" => {
                Some(content.to_vec())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(zipped, b"zipped, zipped");
    let failures: Vec<&Error> = events
        .iter()
        .filter_map(|e| {
            if let Event::Failed { error, .. } = e {
                Some(error)
            } else {
                None
            }
        })
        .collect();
    assert!(
        matches!(failures[0], Error::ChunkIndex { stream_id, expected: 1, got: 2, .. } if stream_id == "bin")
    );
    assert!(matches!(failures[1], Error::Unsupported { stream_id, .. } if stream_id == "deflated"));
    assert_eq!(failures.len(), 2);
}
