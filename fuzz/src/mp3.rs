//! mp3-frames targets: the slice parser (events, summary, estimate, header) and the push
//! parser (must give the slice parser's events for any chunking, with bounded memory).

use mp3_frames::{Event, Events, FrameHeader, StreamParser, StreamSummary};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("mp3_slice", mp3_slice),
    ("mp3_push", mp3_push),
    ("mp3_tag_text", mp3_tag_text),
];

/// Tag text reader: any bytes, as a whole file and as each kind of tag, never panic; a
/// title found is never empty.
pub fn mp3_tag_text(data: &[u8]) {
    use mp3_frames::{TagKind, TagText};
    let scanned = TagText::scan(data);
    for kind in [
        TagKind::Id3v2 {
            major: 4,
            footer: false,
        },
        TagKind::Id3v1,
        TagKind::Ape { header: false },
    ] {
        let text = TagText::parse(kind, data);
        assert!(text.title.as_deref() != Some(""));
        assert!(text.artist.as_deref() != Some(""));
    }
    let _ = scanned.stream_title();
}

/// Slice parser: events in order, frames are the input's bytes, never past the end.
pub fn mp3_slice(data: &[u8]) {
    let _ = FrameHeader::parse(data);
    let mut next = 0u64;
    for event in Events::new(data) {
        match event {
            Event::Frame(f) | Event::Info { frame: f, .. } => {
                assert!(f.offset >= next);
                let start = f.offset as usize;
                assert_eq!(f.data, &data[start..start + f.data.len()]);
                assert_eq!(FrameHeader::parse(f.data).map(|(_, h)| h), Ok(f.header));
                next = f.offset + f.data.len() as u64;
            }
            Event::Tag(t) => next = t.offset + t.len,
            Event::Skipped { offset, len } => {
                assert!(offset >= next && offset + len <= data.len() as u64);
                next = offset + len;
            }
            Event::Truncated { offset, len, .. } => assert_eq!(offset + len, data.len() as u64),
            _ => {} // an event kind newer than these checks
        }
    }
    let _ = StreamSummary::scan(data);
    let _ = mp3_frames::estimate(data);
}

/// Push parser: the first byte picks the chunk size; events equal the slice parser's.
pub fn mp3_push(data: &[u8]) {
    let Some((&seed, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(seed) % 64 + 1;
    let expected: Vec<Event<Vec<u8>>> = Events::new(data)
        .map(|e| e.map_data(<[u8]>::to_vec))
        .collect();
    let mut parser = StreamParser::new();
    let mut got = Vec::new();
    for piece in data.chunks(chunk) {
        parser.push(piece);
        while let Some(e) = parser.pull() {
            got.push(e.map_data(|d| d.to_vec()));
        }
        // One frame being confirmed (≤ 2 × 1441 + 4) or a free-format search window, plus a chunk.
        assert!(
            parser.buffered() <= 5762 + 4 + 64 + 2 * 2881,
            "{} buffered",
            parser.buffered()
        );
    }
    parser.finish();
    while let Some(e) = parser.pull() {
        got.push(e.map_data(|d| d.to_vec()));
    }
    assert_eq!(got, expected);
    // The zero-copy parser, fed the same reads; with the seed's top bit, each feed's
    // iterator is dropped after one event (the rest must come out later).
    let one_at_a_time = seed >= 128;
    let mut parser = mp3_frames::PushParser::new();
    let mut got = Vec::new();
    for piece in data.chunks(chunk) {
        let events = parser.feed(piece).map(|e| e.map_data(|d| d.to_vec()));
        if one_at_a_time {
            got.extend(events.take(1));
        } else {
            got.extend(events);
        }
        if !one_at_a_time {
            assert!(
                parser.buffered() <= 5762 + 4 + 2 * 2881,
                "{} held",
                parser.buffered()
            );
        }
    }
    loop {
        let before = got.len();
        got.extend(parser.feed(&[]).map(|e| e.map_data(|d| d.to_vec())).take(1));
        if got.len() == before {
            break;
        }
    }
    got.extend(parser.finish().map(|e| e.map_data(|d| d.to_vec())));
    assert_eq!(got, expected);
}
