//! Property tests: header round trip, valid frames found exactly among junk, the push
//! parser agreeing with the slice parser however the input is chunked, and the Xing frame
//! `InfoFrameWriter` makes read back with the stream's counts.
#![allow(clippy::unwrap_used)]

use mp3_frames::{
    ChannelMode, Event, Events, FrameHeader, Frames, InfoFrameWriter, Layer, PushParser,
    StreamParser, StreamSummary, Version,
};
use proptest::prelude::*;

fn any_valid_word() -> impl Strategy<Value = u32> {
    (0u32..1 << 21).prop_filter_map("valid header", |low| {
        let word = 0xFFE0_0000 | low;
        FrameHeader::from_u32(word).ok().map(|_| word)
    })
}

/// A stream format: version, layer, rate, mode and flags (bitrate and padding vary).
fn any_stream() -> impl Strategy<Value = FrameHeader> {
    any_valid_word()
        .prop_map(FrameHeader::from_u32)
        .prop_filter_map("not free format", |h| {
            h.ok().filter(|h| !h.is_free_format())
        })
}

/// A frame of the stream `base`: another bitrate and padding, random payload after the
/// first 40 bytes (the side info stays zero so no frame looks like an Info tag).
fn frame_of(base: FrameHeader) -> impl Strategy<Value = Vec<u8>> {
    (1u32..15, any::<bool>(), any::<u64>()).prop_filter_map(
        "bitrate allowed in this mode",
        move |(idx, pad, seed)| {
            let word = (base.to_u32() & !0xF200) | idx << 12 | u32::from(pad) << 9;
            let h = FrameHeader::from_u32(word).ok()?;
            let len = h.frame_len()? as usize;
            let mut frame = vec![0u8; len];
            frame[..4].copy_from_slice(&h.to_bytes());
            let mut x = seed | 1;
            for b in frame.iter_mut().skip(40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            Some(frame)
        },
    )
}

/// Junk without sync words or tag magic (what the resync rule cannot be asked to tell
/// apart is a forged frame whose end lands exactly on a real header).
fn junk() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(|mut j| {
        for b in &mut j {
            if *b == 0xFF || matches!(*b, b'I' | b'T' | b'A') {
                *b = 0x55;
            }
        }
        j
    })
}

/// Segments of junk followed by at least two frames (a frame after junk is confirmed by
/// the next one, as in FFmpeg).
fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>)> {
    any_stream().prop_flat_map(|base| {
        proptest::collection::vec(
            (junk(), proptest::collection::vec(frame_of(base), 2..6)),
            1..6,
        )
        .prop_map(|segments| {
            let mut data = Vec::new();
            let mut frames = Vec::new();
            for (junk, seg) in segments {
                data.extend(junk);
                for f in seg {
                    frames.push((data.len(), f.len()));
                    data.extend(f);
                }
            }
            (data, frames)
        })
    })
}

proptest! {
    #[test]
    fn header_round_trip(word in any_valid_word()) {
        let h = FrameHeader::from_u32(word).unwrap();
        let bytes = h.to_bytes();
        let (rest, parsed) = FrameHeader::parse(&bytes).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, h);
        prop_assert_eq!(h.to_u32(), word);
        if !h.is_free_format() {
            let rebuilt = FrameHeader::new(h.version(), h.layer(), h.bitrate(), h.sample_rate(), h.mode()).unwrap();
            let rebuilt = rebuilt.with_padding(h.padding()).with_crc(h.crc()).with_mode_extension(h.mode_extension());
            // Private, copyright, original and emphasis are not set by `new`.
            prop_assert_eq!(rebuilt.to_u32() | (word & 0x10F), word);
            let min_len = if h.crc() { 6 } else { 4 };
            prop_assert!(h.frame_len().unwrap() >= min_len);
        }
    }

    #[test]
    fn valid_frames_among_junk_come_out_exactly((data, frames) in stream()) {
        let found: Vec<(usize, usize)> = Frames::new(&data).map(|f| (f.offset as usize, f.len())).collect();
        prop_assert_eq!(&found, &frames);
        // Skipped ranges plus frames cover the input exactly once.
        let covered: u64 = Events::new(&data)
            .map(|e| match e {
                Event::Frame(f) => f.len() as u64,
                Event::Skipped { len, .. } => len,
                other => panic!("unexpected {other:?}"),
            })
            .sum();
        prop_assert_eq!(covered, data.len() as u64);
    }

    #[test]
    fn push_parser_agrees_with_slices(
        (data, _) in stream(),
        cuts in proptest::collection::vec(1usize..700, 1..40),
        noise in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Random bytes too (sync words allowed): both parsers must still agree.
        let mut data = data;
        data.extend(noise);
        let slice: Vec<Event<Vec<u8>>> = Events::new(&data).map(|e| e.map_data(<[u8]>::to_vec)).collect();
        let mut parser = StreamParser::new();
        let mut pushed = Vec::new();
        let mut rest = &data[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            parser.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(e) = parser.pull() {
                pushed.push(e.map_data(|d| d.to_vec()));
            }
            // Bounded: one frame to confirm (≤ 2 × largest frame + header) plus one push.
            prop_assert!(parser.buffered() <= 2 * 2881 + 4 + 700, "{} buffered", parser.buffered());
        }
        parser.finish();
        while let Some(e) = parser.pull() {
            pushed.push(e.map_data(|d| d.to_vec()));
        }
        prop_assert_eq!(pushed, slice);
    }

    #[test]
    fn zero_copy_push_parser_agrees_with_slices(
        (data, _) in stream(),
        cuts in proptest::collection::vec(1usize..3000, 1..40),
        noise in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut data = data;
        data.extend(noise);
        let slice: Vec<Event<Vec<u8>>> = Events::new(&data).map(|e| e.map_data(<[u8]>::to_vec)).collect();
        let mut parser = PushParser::new();
        let mut pushed = Vec::new();
        let mut rest = &data[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            pushed.extend(parser.feed(&rest[..n]).map(|e| e.map_data(|d| d.to_vec())));
            rest = &rest[n..];
            // Bounded: one frame to confirm (≤ 2 × largest frame + header).
            prop_assert!(parser.buffered() <= 2 * 2881 + 4, "{} held", parser.buffered());
        }
        pushed.extend(parser.finish().map(|e| e.map_data(|d| d.to_vec())));
        prop_assert_eq!(pushed, slice);
    }

    /// Any Layer III stream (bitrates and padding varying) written after the frame
    /// `InfoFrameWriter` makes: our scanner takes it as the info tag (not audio), with the
    /// stream's frame count and bytes, `Info` only when every bitrate is the same, and a
    /// seek table that never goes back.
    #[test]
    fn info_frame_round_trip(
        frames in any_stream()
            .prop_filter("Layer III", |h| h.layer() == Layer::Layer3)
            .prop_flat_map(|base| proptest::collection::vec(frame_of(base), 1..300))
    ) {
        let mut writer = InfoFrameWriter::new();
        for f in &frames {
            writer.push(f);
        }
        let placeholder = writer.placeholder().unwrap();
        let mut bytes = writer.info_frame().unwrap();
        prop_assert_eq!(bytes.len(), placeholder.len());
        for f in &frames {
            bytes.extend_from_slice(f);
        }
        let summary = StreamSummary::scan(&bytes).unwrap();
        prop_assert_eq!(summary.frames, frames.len() as u64);
        let info = summary.info.expect("the info frame is read as one");
        prop_assert_eq!(info.frames(), Some(frames.len() as u32));
        prop_assert_eq!(info.bytes(), Some(bytes.len() as u32));
        let bitrate = |f: &Vec<u8>| f[2] >> 4;
        let cbr = frames.iter().all(|f| bitrate(f) == bitrate(&frames[0]));
        prop_assert_eq!(info.name(), if cbr { "Info" } else { "Xing" });
        let mp3_frames::InfoTag::Xing(xing) = info else { unreachable!() };
        let toc = xing.toc.unwrap();
        prop_assert!(toc.windows(2).all(|w| w[0] <= w[1]), "{:?}", toc);
    }
}

#[test]
fn builder_covers_every_version_and_layer() {
    for v in [Version::Mpeg1, Version::Mpeg2, Version::Mpeg25] {
        for l in [Layer::Layer1, Layer::Layer2, Layer::Layer3] {
            let h = FrameHeader::new(
                v,
                l,
                64_000,
                match v {
                    Version::Mpeg1 => 48_000,
                    Version::Mpeg2 => 24_000,
                    Version::Mpeg25 => 12_000,
                },
                ChannelMode::Mono,
            )
            .unwrap();
            assert_eq!((h.version(), h.layer()), (v, l));
        }
    }
}
