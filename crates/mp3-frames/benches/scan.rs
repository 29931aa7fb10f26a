//! Scanning a 60-minute 128 kbit/s MP3 held in memory: our slice iterator and push parser
//! against symphonia's MP3 format reader (`MpaReader::next_packet` until the end).
//!
//! The hour is built by repeating the real lame frames of `fixtures/noxing-44100-cbr128.mp3`
//! (no encoding needed), 137,813 frames ≈ 57.6 MB.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mp3_frames::{Event, Frames, StreamParser};
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
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
