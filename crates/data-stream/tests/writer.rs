//! Send-side behaviour: LiveKit's DATA_STREAMS_SPEC.md send cases and the guarantees the
//! SDKs lack (no index gaps, serialised writes, refused writes after close, abort on drop).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use common::{collect, drain_now, packets};
use data_stream::writer::DROPPED_REASON;
use data_stream::{Error, Outgoing, Packet, StreamKind, StreamOptions, TextInfo};
use futures::FutureExt;
use futures::executor::block_on;

fn contents(packets: &[Packet]) -> Vec<Bytes> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Chunk(c) => Some(c.content.clone()),
            _ => None,
        })
        .collect()
}

fn indexes(packets: &[Packet]) -> Vec<u64> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Chunk(c) => Some(c.index),
            _ => None,
        })
        .collect()
}

#[test]
fn forty_thousand_bytes_are_chunked_15000_15000_10000() {
    let (out, frames) = Outgoing::new(16);
    let info = block_on(out.send_bytes("a.bin", vec![b'A'; 40_000], StreamOptions::topic("files")))
        .unwrap();
    drop(out);
    let packets = packets(&block_on(collect(frames)));
    let sizes: Vec<usize> = contents(&packets).iter().map(|c| c.len()).collect();
    assert_eq!(sizes, [15_000, 15_000, 10_000]);
    assert_eq!(indexes(&packets), [0, 1, 2]);
    let Packet::Header(h) = &packets[0] else {
        panic!()
    };
    assert_eq!(h.info.total_length, Some(40_000));
    assert_eq!(h.info.mime_type, "application/octet-stream");
    assert_eq!(
        h.info.kind,
        StreamKind::Bytes {
            name: "a.bin".into()
        }
    );
    assert_eq!(h.info, info);
    assert!(matches!(&packets[4], Packet::Trailer(t) if t.reason.is_empty()));
    // Stream ids are UUIDv4.
    assert_eq!(info.id.len(), 36);
    assert_eq!(info.id.as_bytes()[14], b'4');
}

#[test]
fn text_is_split_on_code_points() {
    let (out, frames) = Outgoing::new(16);
    let options = {
        let mut options = StreamOptions::topic("chat");
        options.chunk_size = 4;
        options
    };
    let info = block_on(out.send_text("a😊b", options)).unwrap();
    drop(out);
    let packets = packets(&block_on(collect(frames)));
    assert_eq!(contents(&packets), ["a", "😊", "b"]);
    assert_eq!(info.total_length, Some(6));
    assert_eq!(info.mime_type, "text/plain");
    assert!(matches!(info.kind, StreamKind::Text(_)));
}

#[test]
fn text_chunk_size_under_four_is_refused() {
    let (out, _frames) = Outgoing::new(16);
    let options = {
        let mut options = StreamOptions::default();
        options.chunk_size = 3;
        options
    };
    let e = block_on(out.stream_text(TextInfo::default(), options))
        .err()
        .unwrap();
    assert_eq!(e, Error::ChunkSizeTooSmall(3));
}

#[test]
fn write_after_close_and_second_close_are_refused() {
    let (out, mut frames) = Outgoing::new(16);
    let w = block_on(out.stream_bytes("x", StreamOptions::default())).unwrap();
    block_on(w.write(&b"abc"[..])).unwrap();
    let attrs = HashMap::from([("done".to_owned(), "yes".to_owned())]);
    let info = block_on(w.close("", attrs)).unwrap();
    assert_eq!(info.attributes["done"], "yes");
    let e = block_on(w.write(&b"more"[..])).unwrap_err();
    assert_eq!(
        e,
        Error::StreamClosed {
            stream_id: info.id.clone()
        }
    );
    assert!(e.to_string().contains("stream already closed"));
    assert!(matches!(
        block_on(w.close("", HashMap::new())),
        Err(Error::StreamClosed { .. })
    ));
    drop(w);
    // Header, one chunk, one trailer: nothing after close, and no abort trailer on drop.
    let packets = packets(&drain_now(&mut frames));
    assert_eq!(packets.len(), 3);
    assert!(matches!(&packets[2], Packet::Trailer(t) if t.attributes["done"] == "yes"));
}

#[test]
fn dropping_an_unclosed_writer_sends_an_abort_trailer() {
    let (out, mut frames) = Outgoing::new(1);
    let w = block_on(out.stream_text(TextInfo::default(), StreamOptions::default())).unwrap();
    // Fill the queue: the abort trailer must still get through (each sender has a slot).
    let _ = drain_now(&mut frames);
    block_on(w.write("hello")).unwrap();
    let id = w.info().id.clone();
    drop(w);
    let packets = packets(&drain_now(&mut frames));
    assert!(matches!(&packets[0], Packet::Chunk(c) if c.content == "hello"));
    match &packets[1] {
        Packet::Trailer(t) => {
            assert_eq!(t.stream_id, id);
            assert_eq!(t.reason, DROPPED_REASON);
        }
        other => panic!("expected an abort trailer, got {other:?}"),
    }
}

#[test]
fn a_cancelled_send_leaves_no_index_gap() {
    let (out, mut frames) = Outgoing::new(0);
    let w = block_on(out.stream_bytes("x", {
        let mut options = StreamOptions::default();
        options.chunk_size = 2;
        options
    }))
    .unwrap();
    let _ = drain_now(&mut frames);
    // The queue has room for one frame: the write of 3 chunks stalls on the second; cancel it.
    let stalled = w.write(&b"aabbcc"[..]).now_or_never();
    assert!(
        stalled.is_none(),
        "the write should have waited for the transport"
    );
    let sent = packets(&drain_now(&mut frames));
    assert_eq!(indexes(&sent), [0]);
    block_on(w.write(&b"dd"[..])).unwrap();
    let next = packets(&drain_now(&mut frames));
    assert_eq!(
        indexes(&next),
        [1],
        "a cancelled send must not consume an index"
    );
    assert_eq!(contents(&next), ["dd"]);
}

#[test]
fn a_send_on_a_closed_transport_fails_without_gap_or_success() {
    let (out, frames) = Outgoing::new(4);
    let w = block_on(out.stream_bytes("x", StreamOptions::default())).unwrap();
    drop(frames);
    let e = block_on(w.write(&b"a"[..])).unwrap_err();
    assert!(matches!(e, Error::TransportClosed { .. }), "{e}");
    assert!(matches!(
        block_on(w.close("", HashMap::new())),
        Err(Error::TransportClosed { .. })
    ));
}

#[test]
fn concurrent_writes_on_one_writer_do_not_interleave() {
    let (out, frames) = Outgoing::new(64);
    let w = block_on(out.stream_text(TextInfo::default(), {
        let mut options = StreamOptions::default();
        options.chunk_size = 4;
        options
    }))
    .unwrap();
    let a = "aaaa".repeat(10);
    let b = "bbbb".repeat(10);
    block_on(async { futures::future::try_join(w.write(a.clone()), w.write(b.clone())).await })
        .unwrap();
    block_on(w.close("", HashMap::new())).unwrap();
    drop((w, out));
    let packets = packets(&block_on(collect(frames)));
    assert_eq!(indexes(&packets), (0..20).collect::<Vec<u64>>());
    let text: String = contents(&packets)
        .iter()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    assert!(
        text == a.clone() + &b || text == b + &a,
        "writes interleaved: {text}"
    );
}

#[test]
fn writing_past_the_announced_length_is_refused() {
    let (out, _frames) = Outgoing::new(16);
    let w = block_on(out.stream_bytes("x", {
        let mut options = StreamOptions::default();
        options.total_length = Some(3);
        options
    }))
    .unwrap();
    block_on(w.write(&b"ab"[..])).unwrap();
    let e = block_on(w.write(&b"cd"[..])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::WriteExceedsLength {
                size: 4,
                total: 3,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn empty_text_has_no_chunk_and_a_zero_length() {
    let (out, frames) = Outgoing::new(16);
    let info = block_on(out.send_text("", StreamOptions::default())).unwrap();
    drop(out);
    let packets = packets(&block_on(collect(frames)));
    assert_eq!(packets.len(), 2);
    assert_eq!(info.total_length, Some(0));
}

#[test]
fn envelope_goes_on_every_part() {
    let mut envelope = data_stream::Envelope::default();
    envelope.participant_identity = "alice".into();
    envelope.destination_identities = vec!["bob".into()];
    let (out, frames) = Outgoing::with_envelope(16, envelope);
    block_on(out.send_text("hi", StreamOptions::default())).unwrap();
    drop(out);
    for frame in block_on(collect(frames)) {
        use prost::Message;
        let p = data_stream::wire::DataPacket::decode(frame).unwrap();
        assert_eq!(p.participant_identity, "alice");
        assert_eq!(p.destination_identities, ["bob"]);
    }
}

#[test]
fn a_header_over_livekits_budget_is_refused_by_the_writer() {
    let (out, _frames) = Outgoing::new(16);
    let options = |n| {
        let mut options = StreamOptions::default();
        options.attributes = HashMap::from([("big".to_owned(), "x".repeat(n))]);
        options
    };
    let e = block_on(out.stream_bytes("x", options(15_000)))
        .err()
        .unwrap();
    assert!(
        matches!(e, Error::AttributesTooLarge { max: 15_000, attributes, .. } if attributes > 15_000),
        "{e}"
    );
    assert!(e.to_string().contains("reduce attribute size"));
    block_on(out.stream_bytes("x", options(14_000))).unwrap();
}
