//! The push parser and its Read/AsyncRead adapters on every fixture (same events as the
//! slice parser, bounded memory), bad input, and silent frames checked by ffmpeg and mp3val.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mp3_frames::{
    ChannelMode, Error, Event, Events, FrameHeader, FrameReader, Layer, PushParser, SilenceRun,
    StreamParser, StreamSummary, TagKind, Version, silent_frame,
};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = test_support::workspace_root().join("fixtures");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp3" || x == "mp2"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 20,
        "fixtures missing: run cargo xtask fixtures"
    );
    out
}

fn owned<D: AsRef<[u8]>>(e: Event<D>) -> Event<Vec<u8>> {
    e.map_data(|d| d.as_ref().to_vec())
}

#[test]
fn push_parser_gives_the_slice_events_for_every_chunk_size() {
    for (name, data) in fixtures() {
        let expected: Vec<_> = Events::new(&data).map(owned).collect();
        for chunk in [1, 3, 100, 4096, data.len()] {
            let mut parser = StreamParser::new();
            let mut got = Vec::new();
            let mut max_buffered = 0;
            for piece in data.chunks(chunk) {
                parser.push(piece);
                max_buffered = max_buffered.max(parser.buffered());
                while let Some(e) = parser.pull() {
                    got.push(owned(e));
                }
            }
            parser.finish();
            while let Some(e) = parser.pull() {
                got.push(owned(e));
            }
            assert_eq!(got, expected, "{name} in chunks of {chunk}");
            // Tags (here up to 25 KiB) are never buffered; a frame and the next header (or
            // the free-format search window of 5762 + 4 bytes) and one chunk are.
            if chunk < 4096 {
                let window = if name.starts_with("freeformat") {
                    5766
                } else {
                    2 * 1441 + 4
                };
                assert!(
                    max_buffered <= window + chunk,
                    "{name}: {max_buffered} bytes buffered"
                );
            }
        }
        let read: Vec<_> = FrameReader::new(&data[..])
            .map(|e| owned(e.unwrap()))
            .collect();
        assert_eq!(read, expected, "{name} through FrameReader");
    }
}

#[test]
fn zero_copy_push_parser_gives_the_slice_events_for_every_read_size() {
    for (name, data) in fixtures() {
        let expected: Vec<_> = Events::new(&data).map(owned).collect();
        for read in [1, 3, 100, 4096, 64 * 1024, data.len()] {
            let mut parser = PushParser::new();
            let (mut got, mut borrowed, mut joined, mut max_held) = (Vec::new(), 0, 0, 0);
            for piece in data.chunks(read) {
                for e in parser.feed(piece) {
                    if let Event::Frame(f) | Event::Info { frame: f, .. } = &e {
                        if f.data.is_joined() {
                            joined += 1;
                        } else {
                            // A borrowed frame lies inside the read it came from.
                            let start = f.data.as_ptr() as usize - piece.as_ptr() as usize;
                            assert!(start + f.data.len() <= piece.len(), "{name}");
                            borrowed += 1;
                        }
                    }
                    got.push(owned(e));
                }
                max_held = max_held.max(parser.buffered());
            }
            got.extend(parser.finish().map(owned));
            if got != expected {
                let first = got.iter().zip(&expected).position(|(a, b)| a != b);
                panic!(
                    "{name} in reads of {read}: {} vs {} events, first difference at {first:?}",
                    got.len(),
                    expected.len()
                );
            }
            // Only frames that straddle a read are copied: at most one per read boundary
            // (when frames are longer than a read, every frame straddles).
            let frames = borrowed + joined;
            assert!(
                joined <= data.len().div_ceil(read),
                "{name}/{read}: {joined} joined"
            );
            if read >= 4096 && frames > 4 {
                assert!(
                    borrowed > joined,
                    "{name}/{read}: {borrowed} borrowed, {joined} joined"
                );
            }
            // Held between reads: the start of one frame and its next header, or the
            // free-format search window; tags are never held.
            let window = if name.starts_with("freeformat") {
                5766
            } else {
                2 * 1441 + 4
            };
            assert!(max_held <= window, "{name}/{read}: {max_held} bytes held");
        }
    }
}

#[test]
fn zero_copy_push_parser_keeps_what_a_dropped_iterator_did_not_reach() {
    let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
    let data = [
        b"ID3\x04\x00\x00\x00\x00\x00\x05hello".as_slice(),
        &frame.repeat(6),
    ]
    .concat();
    let expected: Vec<_> = Events::new(&data).map(owned).collect();
    let mut parser = PushParser::new();
    let mut got = Vec::new();
    for piece in data.chunks(1000) {
        // Take one event per read only: the rest must come out of the next feeds.
        got.extend(parser.feed(piece).next().map(owned));
    }
    loop {
        let before = got.len();
        got.extend(parser.feed(&[]).next().map(owned));
        if got.len() == before {
            break;
        }
    }
    got.extend(parser.finish().map(owned));
    assert_eq!(got, expected);
    // A tag cut short by the end of input is reported as truncated.
    let mut parser = PushParser::new();
    let cut = b"ID3\x04\x00\x00\x00\x00\x01\x00abc";
    let events: Vec<_> = parser.feed(cut).map(owned).collect();
    assert!(matches!(events[..], [Event::Tag(_)]), "{events:?}");
    let end: Vec<_> = parser.finish().map(owned).collect();
    assert_eq!(
        end,
        vec![Event::Truncated {
            offset: 0,
            len: 13,
            expected: 138
        }]
    );
}

// AsyncFrameReader exists with the `tokio` feature (`cargo test --all-features`, as
// `cargo xtask test` runs); the pure-Rust tests of this file run without it too.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_reader_gives_the_slice_events() {
    for (name, data) in fixtures() {
        let expected: Vec<_> = Events::new(&data).map(owned).collect();
        let path = test_support::workspace_root().join("fixtures").join(&name);
        let mut reader =
            mp3_frames::AsyncFrameReader::new(tokio::fs::File::open(&path).await.unwrap());
        let mut got = Vec::new();
        while let Some(e) = reader.next_event().await.unwrap() {
            got.push(owned(e));
        }
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_huge_tag_is_skipped_without_buffering_it() {
    let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
    // ID3v2.4 with footer flag, 20 MiB body (syncsafe), full of sync words.
    let body = 20u32 << 20;
    let size = [
        (body >> 21) as u8 & 0x7F,
        (body >> 14) as u8 & 0x7F,
        (body >> 7) as u8 & 0x7F,
        body as u8 & 0x7F,
    ];
    let mut parser = StreamParser::new();
    parser.push(b"ID3\x04\x00\x10");
    parser.push(&size);
    let filler = [0xFFu8, 0xFB, 0x90, 0x64].repeat(16 * 1024);
    let mut sent = 0u64;
    let mut events = Vec::new();
    while sent < u64::from(body) + 10 {
        let n = filler.len().min((u64::from(body) + 10 - sent) as usize);
        parser.push(&filler[..n]);
        sent += n as u64;
        events.extend(parser.pull());
        assert!(
            parser.buffered() <= filler.len() + 10,
            "{}",
            parser.buffered()
        );
    }
    for _ in 0..3 {
        parser.push(&frame);
    }
    parser.finish();
    while let Some(e) = parser.pull() {
        events.push(e);
    }
    assert!(
        matches!(events[0], Event::Tag(t) if t.len == u64::from(body) + 20 && t.kind == TagKind::Id3v2 { major: 4, footer: true })
    );
    let frames: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            if let Event::Frame(f) = e {
                Some(f.offset)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        frames,
        [
            u64::from(body) + 20,
            u64::from(body) + 20 + 417,
            u64::from(body) + 20 + 834
        ]
    );
}

#[test]
fn bad_input_gives_errors_or_reports() {
    assert!(matches!(StreamSummary::scan(b""), Err(Error::Empty)));
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let err = StreamSummary::scan(&garbage).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoFrames {
                len: 5000,
                skipped: 5000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("5000 bytes"), "{err}");
    // A tag that claims more bytes than there are: reported, then the truncation.
    let lying = b"ID3\x03\x00\x00\x00\x00\x7F\x7Fshort";
    let events: Vec<_> = Events::new(lying).collect();
    assert_eq!(events.len(), 2);
    assert!(matches!(
        events[1],
        Event::Truncated {
            offset: 0,
            len: 15,
            expected: 16393
        }
    ));
    // A truncated last frame is reported, not returned.
    let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
    let mut cut = frame.repeat(3);
    cut.truncate(417 * 2 + 100);
    let s = StreamSummary::scan(&cut).unwrap();
    assert_eq!(
        (s.frames, s.truncated.map(|t| (t.offset, t.len, t.expected))),
        (2, Some((834, 100, 417)))
    );
}

/// Headers the Icecast output could meet: MPEG-1/2/2.5, Layer III and II, mono/stereo,
/// CRC on and off.
fn silence_headers() -> Vec<FrameHeader> {
    let mut out = Vec::new();
    for (v, l, br, sr, m, crc) in [
        (
            Version::Mpeg1,
            Layer::Layer3,
            128_000,
            44_100,
            ChannelMode::JointStereo,
            false,
        ),
        (
            Version::Mpeg1,
            Layer::Layer3,
            320_000,
            48_000,
            ChannelMode::Stereo,
            true,
        ),
        (
            Version::Mpeg1,
            Layer::Layer3,
            64_000,
            32_000,
            ChannelMode::Mono,
            true,
        ),
        (
            Version::Mpeg2,
            Layer::Layer3,
            64_000,
            24_000,
            ChannelMode::Mono,
            false,
        ),
        (
            Version::Mpeg2,
            Layer::Layer3,
            48_000,
            22_050,
            ChannelMode::JointStereo,
            true,
        ),
        (
            Version::Mpeg25,
            Layer::Layer3,
            16_000,
            8_000,
            ChannelMode::Mono,
            false,
        ),
        (
            Version::Mpeg1,
            Layer::Layer2,
            192_000,
            44_100,
            ChannelMode::Stereo,
            false,
        ),
        (
            Version::Mpeg1,
            Layer::Layer1,
            384_000,
            44_100,
            ChannelMode::Stereo,
            true,
        ),
    ] {
        out.push(FrameHeader::new(v, l, br, sr, m).unwrap().with_crc(crc));
    }
    out
}

#[test]
fn silence_runs_decode_to_zeros_in_ffmpeg_and_pass_mp3val() {
    test_support::require_peer!("ffmpeg", "mp3val");
    let dir = test_support::temp_dir();
    for header in silence_headers() {
        let run = SilenceRun::new(&header, Duration::from_secs(2)).unwrap();
        let frames = run.len();
        let data: Vec<u8> = run.flat_map(|f| f.to_vec()).collect();
        // Every frame parses back with the same header apart from the padding bit.
        let parsed: Vec<_> = mp3_frames::Frames::new(&data).collect();
        assert_eq!(parsed.len(), frames, "{header:?}");
        assert!(
            parsed
                .iter()
                .all(|f| f.header.with_padding(false) == header.with_padding(false))
        );
        let ext = if header.layer() == Layer::Layer3 {
            "mp3"
        } else {
            "mp2"
        };
        let path = dir
            .path()
            .join(format!("silence-{:08X}.{ext}", header.to_u32()));
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            test_support::ffprobe::decode_errors(&path),
            "",
            "{header:?}"
        );
        let pcm = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-err_detect", "crccheck", "-i"])
            .arg(&path)
            .args(["-f", "s16le", "-"])
            .output()
            .unwrap();
        assert!(
            pcm.status.success() && pcm.stderr.is_empty(),
            "{header:?}: {}",
            String::from_utf8_lossy(&pcm.stderr)
        );
        let samples = pcm.stdout.len() / 2 / usize::from(header.mode().channels());
        assert!(
            samples >= frames * header.samples() as usize - 1152,
            "{header:?}: {samples} samples"
        );
        assert!(pcm.stdout.iter().all(|&b| b == 0), "{header:?}: not silent");
        let out = std::process::Command::new("mp3val")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = format!("{frames} MPEG frames");
        let problems: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("WARNING")
                    && !l.contains("No supported tags")
                    && !l.contains("Non-layer-III")
            })
            .collect();
        assert!(problems.is_empty(), "{header:?}: {text}");
        assert!(text.contains(&expected), "{header:?}: {text}");
    }
}

#[test]
fn silence_follows_the_cbr_padding_schedule() {
    // 128 kbit/s at 44.1 kHz: 417.96 bytes per frame on average.
    let header = FrameHeader::from_u32(0xFFFB_9064).unwrap();
    let run = SilenceRun::new(&header, Duration::from_secs(60)).unwrap();
    let frames = run.len() as u64;
    let bytes: u64 = run.map(|f| f.len() as u64).sum();
    let exact = frames * 1152 * 16_000 / 44_100;
    assert!(bytes.abs_diff(exact) <= 1, "{bytes} vs {exact}");
    assert!(matches!(
        silent_frame(&FrameHeader::from_u32(0xFFFB_0064).unwrap()),
        Err(Error::FreeFormatSilence)
    ));
}

#[test]
fn id3v2_tags_later_in_the_stream_are_reported_where_they_are() {
    let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
    let mut data = frame.repeat(3);
    // ID3v2.3 with the extended-header flag: the extended header is inside the size.
    let v23_at = data.len();
    data.extend(b"ID3\x03\x00\x40\x00\x00\x00\x14");
    data.extend([0, 0, 0, 6, 0, 0, 0, 0, 0, 0]);
    data.extend([0xFF, 0xFB, 0x90, 0x64, 0xFF, 0xFB, 0x90, 0x64, 0xFF, 0xF3]);
    data.extend(frame.repeat(2));
    // ID3v2.4 with a footer (10 more bytes after the body).
    let v24_at = data.len();
    data.extend(b"ID3\x04\x00\x10\x00\x00\x00\x04\xFF\xFB\x90\x64");
    data.extend(b"3DI\x04\x00\x10\x00\x00\x00\x04");
    data.extend(frame.repeat(2));
    let events: Vec<_> = Events::new(&data).collect();
    let tags: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Tag(t) = e {
                Some(*t)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(tags.len(), 2);
    assert_eq!(
        (tags[0].offset, tags[0].len, tags[0].kind),
        (
            v23_at as u64,
            30,
            TagKind::Id3v2 {
                major: 3,
                footer: false
            }
        )
    );
    assert_eq!(
        (tags[1].offset, tags[1].len, tags[1].kind),
        (
            v24_at as u64,
            24,
            TagKind::Id3v2 {
                major: 4,
                footer: true
            }
        )
    );
    let s = StreamSummary::scan(&data).unwrap();
    assert_eq!((s.frames, s.skipped_bytes), (7, 0));
}

#[test]
fn junk_full_of_free_format_headers_stays_linear() {
    // 4 MiB of free-format-looking headers that never chain: without a search budget every
    // one would scan 5.6 KiB ahead (about 6 G steps); with it this takes milliseconds.
    // Every version, layer, rate, mode and flag combination once per 10 KiB, so no header
    // finds a partner within the 5.6 KiB free-format window.
    let mut junk = Vec::new();
    while junk.len() < 4 << 20 {
        for version in [0u32, 2, 3] {
            for layer in 1u32..4 {
                for low in 0u32..(3 << 10) {
                    let (rate, rest) = (low >> 8, low & 0xFF);
                    let word =
                        0xFFE0_0000 | version << 19 | layer << 17 | rate << 10 | (rest & 0xCF);
                    if FrameHeader::from_u32(word).is_ok() && rest & 0x30 == 0 {
                        junk.extend(word.to_be_bytes());
                        junk.extend([0x55, 0x55]);
                    }
                }
            }
        }
    }
    let mut data = junk.clone();
    data.extend([0u8; 6000]);
    let frame = silent_frame(&FrameHeader::from_u32(0xFFFB_9064).unwrap()).unwrap();
    data.extend(frame.repeat(3));
    let s = StreamSummary::scan(&data).unwrap();
    assert_eq!((s.frames, s.skipped_bytes), (3, junk.len() as u64 + 6000));
}
