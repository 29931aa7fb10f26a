//! Scanning a 60-minute 128 kbit/s MP3 held in memory, like with like:
//!
//! - Packets from reads: `ours-push-64k` ([`PushParser`], fed 64 KiB reads, frames as slices
//!   of the read, a frame across two reads copied once) against `peer-symphonia`
//!   (`MpaReader::next_packet` until the end: one packet per frame, read from a
//!   `MediaSourceStream`). `ours-push-64k-owned` is the older [`StreamParser`] (copies every
//!   byte, one `Bytes` per frame), kept to show what the zero-copy path saves.
//! - Header walks: `ours-frames` ([`Frames`] over the slice, summing frame lengths) against
//!   `peer-mp3-duration` (the `mp3-duration` crate's `from_read` over a cursor: it walks from
//!   header to header and sums the durations). The file has no Xing frame, so the peer walks
//!   every frame too.
//!
//! The hour is built by repeating the real lame frames of `fixtures/noxing-44100-cbr128.mp3`
//! (no encoding needed), 137,813 frames ≈ 57.6 MB.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mp3_frames::{Event, Frames, PushParser, StreamParser};
use std::hint::black_box;
use std::io::Cursor;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::default::formats::MpaReader;

fn hour_of_mp3() -> (Vec<u8>, u64) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/noxing-44100-cbr128.mp3");
    let one = std::fs::read(path).unwrap();
    let frames: Vec<&[u8]> = Frames::new(&one).map(|f| f.data).collect();
    let wanted = (3600 * 44_100u64).div_ceil(1152);
    let mut out = Vec::with_capacity(58 << 20);
    for f in frames.iter().cycle().take(wanted as usize) {
        out.extend_from_slice(f);
    }
    (out, wanted)
}

fn scan(c: &mut Criterion) {
    let (data, frames) = hour_of_mp3();
    let mut group = c.benchmark_group("scan-60min-cbr128");
    group.throughput(Throughput::ElementsAndBytes {
        elements: frames,
        bytes: data.len() as u64,
    });
    group.sample_size(10);

    group.bench_function("ours-frames", |b| {
        b.iter(|| {
            let (mut n, mut bytes) = (0u64, 0usize);
            for f in Frames::new(black_box(&data)) {
                n += 1;
                bytes += f.data.len();
            }
            assert_eq!(n, frames);
            bytes
        })
    });

    group.bench_function("ours-push-64k", |b| {
        b.iter(|| {
            let mut parser = PushParser::new();
            let (mut n, mut bytes) = (0u64, 0usize);
            for read in black_box(&data).chunks(64 * 1024) {
                for e in parser.feed(read) {
                    if let Event::Frame(f) = e {
                        n += 1;
                        bytes += black_box(f.data).len();
                    }
                }
            }
            for e in parser.finish() {
                if let Event::Frame(f) = e {
                    n += 1;
                    bytes += black_box(f.data).len();
                }
            }
            assert_eq!(n, frames);
            bytes
        })
    });

    group.bench_function("ours-push-64k-owned", |b| {
        b.iter(|| {
            let mut parser = StreamParser::new();
            let mut n = 0u64;
            for chunk in black_box(&data).chunks(64 * 1024) {
                parser.push(chunk);
                while let Some(e) = parser.pull() {
                    n += u64::from(matches!(e, Event::Frame(_)));
                }
            }
            parser.finish();
            while let Some(e) = parser.pull() {
                n += u64::from(matches!(e, Event::Frame(_)));
            }
            assert_eq!(n, frames);
        })
    });

    group.bench_function("peer-symphonia", |b| {
        b.iter(|| {
            let source = Box::new(Cursor::new(black_box(&data[..])));
            let mss = MediaSourceStream::new(source, Default::default());
            let mut reader = MpaReader::try_new(mss, FormatOptions::default()).unwrap();
            let mut n = 0u64;
            while let Some(packet) = reader.next_packet().unwrap() {
                n += 1;
                black_box(packet.data.len());
            }
            assert_eq!(n, frames);
        })
    });
    group.bench_function("peer-mp3-duration", |b| {
        let duration = frames as f64 * 1152.0 / 44_100.0;
        b.iter(|| {
            let mut cursor = Cursor::new(black_box(&data[..]));
            let d = mp3_duration::from_read(&mut cursor).unwrap();
            assert!((d.as_secs_f64() - duration).abs() < 0.1, "{d:?}");
            d
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
