//! One test per check and limit of the demultiplexer, plus LiveKit's receive-side
//! conformance cases (client-sdk-js DATA_STREAMS_SPEC.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::packet::{Chunk, Envelope, StreamKind, TextInfo};

fn info(id: &str, kind: StreamType, total: Option<u64>) -> StreamInfo {
    StreamInfo {
        id: id.into(),
        timestamp_ms: 0,
        topic: "t".into(),
        mime_type: String::new(),
        total_length: total,
        attributes: HashMap::from([("foo".into(), "header".into()), ("keep".into(), "1".into())]),
        kind: match kind {
            StreamType::Bytes => StreamKind::Bytes { name: "n".into() },
            StreamType::Text => StreamKind::Text(TextInfo::default()),
        },
    }
}

fn header(id: &str, kind: StreamType, total: Option<u64>) -> Packet {
    Packet::Header(Box::new(Header::new(info(id, kind, total))))
}

fn chunk(id: &str, index: u64, content: &'static [u8]) -> Packet {
    Packet::Chunk(Chunk {
        stream_id: id.into(),
        index,
        content: Bytes::from_static(content),
    })
}

fn trailer(id: &str, reason: &str) -> Packet {
    Packet::Trailer(Trailer {
        stream_id: id.into(),
        reason: reason.into(),
        attributes: HashMap::new(),
    })
}

struct Harness {
    demux: Demultiplexer,
    now: Instant,
}

impl Harness {
    fn new(limits: Limits) -> Self {
        let mut demux = Demultiplexer::new(limits);
        demux.register(StreamType::Bytes, "t").unwrap();
        demux.register(StreamType::Text, "t").unwrap();
        Harness {
            demux,
            now: Instant::now(),
        }
    }

    /// Feeds packets through the real encoder and decoder; returns the events.
    fn feed(&mut self, packets: &[Packet]) -> Vec<Event> {
        for p in packets {
            let frame = p.to_frame(&Envelope::default());
            let mut joined = frame.head.to_vec();
            joined.extend_from_slice(&frame.body);
            self.demux.handle_frame(joined.into(), self.now).unwrap();
        }
        std::iter::from_fn(|| self.demux.poll_event()).collect()
    }

    fn error_of(&mut self, packets: &[Packet]) -> Error {
        let events = self.feed(packets);
        let errors: Vec<Error> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::Failed { error, .. } => Some(error),
                _ => None,
            })
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected exactly one failure, got {errors:?}"
        );
        errors.into_iter().next().unwrap()
    }
}

fn h() -> Harness {
    Harness::new(Limits::default())
}

#[test]
fn normal_stream_merges_trailer_attributes_trailer_wins() {
    let mut t = h();
    let end = Packet::Trailer(Trailer {
        stream_id: "s".into(),
        reason: String::new(),
        attributes: HashMap::from([("foo".into(), "trailer".into())]),
    });
    let events = t.feed(&[
        header("s", StreamType::Bytes, Some(3)),
        chunk("s", 0, b"ab"),
        chunk("s", 1, b"c"),
        end,
    ]);
    assert!(matches!(&events[0], Event::Opened(i) if i.id == "s"));
    assert_eq!(
        events[1],
        Event::Chunk {
            stream_id: "s".into(),
            content: Bytes::from_static(b"ab")
        }
    );
    let Event::Finished(info) = &events[3] else {
        panic!("{events:?}")
    };
    assert_eq!(info.attributes["foo"], "trailer");
    assert_eq!(info.attributes["keep"], "1");
    assert_eq!(t.demux.open_streams(), 0);
}

#[test]
fn chunk_index_gap_duplicate_and_reorder_fail() {
    let e = h().error_of(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 0, b"a"),
        chunk("s", 2, b"c"),
    ]);
    assert!(
        matches!(
            e,
            Error::ChunkIndex {
                expected: 1,
                got: 2,
                kind: "gap",
                ..
            }
        ),
        "{e}"
    );
    let e = h().error_of(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 0, b"a"),
        chunk("s", 0, b"a"),
    ]);
    assert!(
        matches!(
            e,
            Error::ChunkIndex {
                expected: 1,
                got: 0,
                ..
            }
        ),
        "{e}"
    );
    // A byte stream may start at 1 (LiveKit's old Python SDK, see v2_tests), so the
    // reorder is found at the second chunk.
    let e = h().error_of(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 1, b"b"),
        chunk("s", 0, b"a"),
    ]);
    assert!(
        matches!(
            e,
            Error::ChunkIndex {
                expected: 2,
                got: 0,
                kind: "duplicate or reorder",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn too_many_bytes_fail_at_once_and_too_few_at_the_trailer() {
    let mut t = h();
    let e = t.error_of(&[
        header("s", StreamType::Bytes, Some(3)),
        chunk("s", 0, b"ab"),
        chunk("s", 1, b"cd"),
    ]);
    assert_eq!(
        e,
        Error::LengthExceeded {
            stream_id: "s".into(),
            received: 4,
            total: 3
        }
    );
    // Spec: a trailer before total_length -> incomplete ("Not enough chunk(s)").
    let e = h().error_of(&[
        header("s", StreamType::Bytes, Some(3)),
        chunk("s", 0, b"ab"),
        trailer("s", ""),
    ]);
    assert_eq!(
        e,
        Error::Incomplete {
            stream_id: "s".into(),
            received: 2,
            total: 3
        }
    );
    // total 0 is a real length; absent is unknown.
    let e = h().error_of(&[header("s", StreamType::Bytes, Some(0)), chunk("s", 0, b"a")]);
    assert!(matches!(e, Error::LengthExceeded { total: 0, .. }));
    let events = h().feed(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 0, b"a"),
        trailer("s", ""),
    ]);
    assert!(matches!(events.last(), Some(Event::Finished(_))));
}

#[test]
fn trailer_reason_is_an_abnormal_end() {
    let e = h().error_of(&[
        header("s", StreamType::Bytes, Some(5)),
        chunk("s", 0, b"ab"),
        trailer("s", "cancelled"),
    ]);
    assert_eq!(
        e,
        Error::AbnormalEnd {
            stream_id: "s".into(),
            reason: "cancelled".into()
        }
    );
}

#[test]
fn duplicate_stream_id_fails_open_and_recent_streams() {
    let mut t = h();
    let e = t.error_of(&[
        header("s", StreamType::Bytes, None),
        header("s", StreamType::Bytes, None),
    ]);
    assert_eq!(
        e,
        Error::DuplicateStreamId {
            stream_id: "s".into()
        }
    );
    let mut t = h();
    t.feed(&[header("s", StreamType::Bytes, None), trailer("s", "")]);
    let e = t.error_of(&[header("s", StreamType::Bytes, None)]);
    assert_eq!(
        e,
        Error::DuplicateStreamId {
            stream_id: "s".into()
        }
    );
}

#[test]
fn invalid_utf8_is_found_across_chunk_boundaries() {
    // "😊" split over two chunks is fine...
    let events = h().feed(&[
        header("s", StreamType::Text, None),
        chunk("s", 0, b"a\xf0\x9f"),
        chunk("s", 1, b"\x98\x8ab"),
        trailer("s", ""),
    ]);
    assert!(
        matches!(events.last(), Some(Event::Finished(_))),
        "{events:?}"
    );
    // ...a broken sequence is not, and neither is one cut off by the trailer.
    let e = h().error_of(&[
        header("s", StreamType::Text, None),
        chunk("s", 0, b"ab\xf0\x9f"),
        chunk("s", 1, b"x"),
    ]);
    assert_eq!(
        e,
        Error::InvalidUtf8 {
            stream_id: "s".into(),
            offset: 2
        }
    );
    let e = h().error_of(&[
        header("s", StreamType::Text, None),
        chunk("s", 0, b"ab\xf0\x9f"),
        trailer("s", ""),
    ]);
    assert_eq!(
        e,
        Error::InvalidUtf8 {
            stream_id: "s".into(),
            offset: 2
        }
    );
    // Byte streams are not checked.
    let events = h().feed(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 0, b"\xff"),
        trailer("s", ""),
    ]);
    assert!(matches!(events.last(), Some(Event::Finished(_))));
}

#[test]
fn unhandled_stream_is_reported_and_drained() {
    let mut t = h();
    let mut other = info("s", StreamType::Bytes, None);
    other.topic = "nobody".into();
    let events = t.feed(&[
        Packet::Header(Box::new(Header::new(other))),
        chunk("s", 0, b"dropped"),
        trailer("s", ""),
    ]);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], Event::Unhandled(i) if i.topic == "nobody"));
    assert_eq!(t.demux.open_streams(), 0);
    // A text handler does not take byte streams of the same topic.
    let mut d = Demultiplexer::new(Limits::default());
    d.register(StreamType::Text, "t").unwrap();
    d.handle_packet(header("b", StreamType::Bytes, None), 10, Instant::now())
        .unwrap();
    assert!(matches!(d.poll_event(), Some(Event::Unhandled(_))));
}

#[test]
fn registering_a_topic_twice_is_an_error() {
    let mut d = Demultiplexer::new(Limits::default());
    d.register(StreamType::Text, "chat").unwrap();
    d.register(StreamType::Bytes, "chat").unwrap();
    let e = d.register(StreamType::Text, "chat").unwrap_err();
    assert_eq!(
        e,
        Error::HandlerAlreadyRegistered {
            kind: "text",
            topic: "chat".into()
        }
    );
    assert!(d.unregister(StreamType::Text, "chat"));
    d.register(StreamType::Text, "chat").unwrap();
}

#[test]
fn header_size_limit() {
    let mut t = Harness::new(Limits {
        max_header_size: 30,
        ..Limits::default()
    });
    let e = t.error_of(&[header("s", StreamType::Bytes, None)]);
    assert!(matches!(e, Error::HeaderTooLarge { max: 30, .. }), "{e}");
    // Its chunks are then dropped quietly, not reported one by one.
    assert!(t.feed(&[chunk("s", 0, b"a"), trailer("s", "")]).is_empty());
}

#[test]
fn chunk_size_limit() {
    let mut t = Harness::new(Limits {
        max_chunk_size: 2,
        ..Limits::default()
    });
    let e = t.error_of(&[header("s", StreamType::Bytes, None), chunk("s", 0, b"abc")]);
    assert_eq!(
        e,
        Error::ChunkTooLarge {
            stream_id: "s".into(),
            index: 0,
            size: 3,
            max: 2
        }
    );
}

#[test]
fn stream_size_limit_on_announced_and_received_bytes() {
    let limits = Limits {
        max_stream_size: 4,
        ..Limits::default()
    };
    let e = Harness::new(limits.clone()).error_of(&[header("s", StreamType::Bytes, Some(5))]);
    assert_eq!(
        e,
        Error::StreamTooLarge {
            stream_id: "s".into(),
            size: 5,
            max: 4
        }
    );
    let e = Harness::new(limits).error_of(&[
        header("s", StreamType::Bytes, None),
        chunk("s", 0, b"abc"),
        chunk("s", 1, b"de"),
    ]);
    assert_eq!(
        e,
        Error::StreamTooLarge {
            stream_id: "s".into(),
            size: 5,
            max: 4
        }
    );
}

#[test]
fn open_streams_limit() {
    let mut t = Harness::new(Limits {
        max_open_streams: 2,
        ..Limits::default()
    });
    let e = t.error_of(&[
        header("a", StreamType::Bytes, None),
        header("b", StreamType::Bytes, None),
        header("c", StreamType::Bytes, None),
    ]);
    assert_eq!(
        e,
        Error::TooManyStreams {
            stream_id: "c".into(),
            max: 2
        }
    );
    // Once one ends, a new one fits.
    let events = t.feed(&[trailer("a", ""), header("d", StreamType::Bytes, None)]);
    assert!(matches!(events.last(), Some(Event::Opened(i)) if i.id == "d"));
}

#[test]
fn inactivity_timeout_fails_silent_streams_only() {
    let mut t = Harness::new(Limits {
        inactivity_timeout: Some(Duration::from_secs(10)),
        ..Limits::default()
    });
    let start = t.now;
    t.feed(&[
        header("quiet", StreamType::Bytes, None),
        header("busy", StreamType::Bytes, None),
    ]);
    assert_eq!(
        t.demux.poll_timeout(),
        Some(start + Duration::from_secs(10))
    );
    t.now = start + Duration::from_secs(6);
    t.feed(&[chunk("busy", 0, b"x")]);
    t.demux.handle_timeout(start + Duration::from_secs(10));
    let events: Vec<Event> = std::iter::from_fn(|| t.demux.poll_event()).collect();
    assert_eq!(
        events,
        [Event::Failed {
            stream_id: "quiet".into(),
            opened: true,
            error: Error::InactivityTimeout {
                stream_id: "quiet".into(),
                timeout_ms: 10_000
            }
        }]
    );
    assert_eq!(
        t.demux.poll_timeout(),
        Some(start + Duration::from_secs(16))
    );
}

#[test]
fn transport_close_fails_every_open_stream() {
    let mut t = h();
    t.feed(&[
        header("a", StreamType::Bytes, None),
        header("b", StreamType::Text, None),
    ]);
    t.demux.close("eof");
    let mut failed: Vec<String> = std::iter::from_fn(|| t.demux.poll_event())
        .map(|e| match e {
            Event::Failed {
                stream_id,
                error: Error::TransportClosed { .. },
                ..
            } => stream_id,
            other => panic!("{other:?}"),
        })
        .collect();
    failed.sort();
    assert_eq!(failed, ["a", "b"]);
}

#[test]
fn stray_packets_are_reported() {
    let events = h().feed(&[chunk("ghost", 0, b"a")]);
    assert_eq!(
        events,
        [Event::Stray {
            stream_id: "ghost".into()
        }]
    );
}

#[test]
fn unknown_compression_is_refused_inline_content_is_delivered() {
    let mut compressed = Header::new(info("z", StreamType::Bytes, None));
    compressed.compression = 2;
    let e = h().error_of(&[Packet::Header(Box::new(compressed))]);
    assert!(matches!(e, Error::Unsupported { .. }));
    let mut inline = Header::new(info("i", StreamType::Text, Some(2)));
    inline.inline_content = Some(Bytes::from_static(b"hi"));
    let events = h().feed(&[Packet::Header(Box::new(inline))]);
    assert!(matches!(&events[1], Event::Chunk { content, .. } if content == "hi"));
    assert!(matches!(&events[2], Event::Finished(_)));
}

#[test]
fn interleaved_streams_are_routed_by_id() {
    let events = h().feed(&[
        header("a", StreamType::Bytes, None),
        header("b", StreamType::Text, None),
        chunk("b", 0, b"x"),
        chunk("a", 0, b"1"),
        chunk("a", 1, b"2"),
        trailer("b", ""),
        chunk("a", 2, b"3"),
        trailer("a", ""),
    ]);
    let content = |id: &str| -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Chunk { stream_id, content } if stream_id.as_ref() == id => {
                    Some(content.to_vec())
                }
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert_eq!(content("a"), b"123");
    assert_eq!(content("b"), b"x");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Finished(_)))
            .count(),
        2
    );
}

#[test]
fn fallback_handler_takes_streams_of_other_topics() {
    let mut d = Demultiplexer::new(Limits::default());
    d.register_fallback(StreamType::Bytes).unwrap();
    let e = d.register_fallback(StreamType::Bytes).unwrap_err();
    assert_eq!(
        e,
        Error::HandlerAlreadyRegistered {
            kind: "byte",
            topic: "*".into()
        }
    );
    d.handle_packet(header("b", StreamType::Bytes, None), 10, Instant::now())
        .unwrap();
    assert!(matches!(d.poll_event(), Some(Event::Opened(_))));
    d.handle_packet(header("t", StreamType::Text, None), 10, Instant::now())
        .unwrap();
    assert!(matches!(d.poll_event(), Some(Event::Unhandled(_))));
}
