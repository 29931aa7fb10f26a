//! 720p25 H.264 decode to RGB24 and encode from RGB24, frames per second, ours against
//! the ffmpeg program doing the same work on one thread (`-threads 1`), in the same run.
//!
//! Setup: ffmpeg makes `FRAMES` (default 100; 4 s) frames of `testsrc2` at 1280×720:
//! an H.264 Annex B file (libx264 `veryfast`, 2 Mbit/s, no B-frames) and the same
//! pictures as raw RGB24.
//! - `h264-decode-720p-rgb24`: ours (`VideoDecoder`, one thread, RGB24 out) against
//!   `ffmpeg -threads 1 -i in.h264 -filter_threads 1 -f rawvideo -pix_fmt rgb24 /dev/null`
//!   (`-filter_threads 1`: the RGB conversion would otherwise run on every core).
//! - `h264-encode-720p-rgb24`: ours (`VideoEncoder`: libx264 `veryfast`, 2 Mbit/s, GOP
//!   50, no B-frames, one thread) from RGB24 frames in memory against `ffmpeg -f rawvideo
//!   -pix_fmt rgb24 … -filter_threads 1 -c:v libx264 -preset veryfast -b:v 2M -bf 0 -g 50
//!   -threads 1 -f null`.
//!
//! The peer is a whole process (start-up and file reading included: about 30 ms), ours
//! is the library in this process. Throughput: frames; `cargo xtask bench media-toolkit-codec`
//! prints frames per second and the ours/peer ratio. Under `cargo test --benches` (no
//! `--bench` argument) each function runs once on 10 frames, as a smoke test.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use elementary::{AnnexBReader, ParameterSets, VideoCodec};
use media_codec::{
    PixelFormat, VideoDecoder, VideoEncoder, VideoEncoderSettings, VideoFormat, VideoFrame,
};
use media_core::{Codec, Packet, Track};

const W: u32 = 1280;
const H: u32 = 720;

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
}

fn packets(path: &Path) -> (Codec, Vec<Packet>) {
    let mut reader = AnnexBReader::new(VideoCodec::H264);
    reader.push(&std::fs::read(path).unwrap());
    reader.finish();
    let mut sets = ParameterSets::default();
    let mut out = Vec::new();
    while let Some(unit) = reader.pull() {
        for nal in &unit.nals {
            sets.take(VideoCodec::H264, nal);
        }
        let dts = out.len() as i64 * 3600;
        out.push(Packet::new(
            0,
            dts,
            unit.key,
            unit.to_length_prefixed().unwrap(),
        ));
    }
    let config = elementary::record(VideoCodec::H264, &sets).unwrap();
    (Codec::H264 { config }, out)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let frames: usize = match full {
        true => std::env::var("CODEC_BENCH_FRAMES")
            .ok()
            .and_then(|f| f.parse().ok())
            .unwrap_or(100),
        false => 10,
    };
    let dir = tempfile::tempdir().unwrap();
    let h264 = dir.path().join("in.h264");
    let rgb = dir.path().join("in.rgb");
    let count = frames.to_string();
    let source = format!("testsrc2=size={W}x{H}:rate=25");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-frames:v",
        &count,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "2M",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "h264",
        h264.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-frames:v",
        &count,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        rgb.to_str().unwrap(),
    ]);
    let (codec, encoded) = packets(&h264);
    let raw = Bytes::from(std::fs::read(&rgb).unwrap());
    let frame_len = PixelFormat::Rgb24.frame_len(W, H);
    let pictures: Vec<VideoFrame> = (0..frames)
        .map(|i| {
            let data = raw.slice(i * frame_len..(i + 1) * frame_len);
            VideoFrame::new(W, H, PixelFormat::Rgb24, data, i as i64 * 3600, 90_000).unwrap()
        })
        .collect();
    let track = Track::video(codec, 90_000, W, H);

    let mut c = Criterion::default().configure_from_args();
    let mut decode = c.benchmark_group("h264-decode-720p-rgb24");
    decode
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    decode.throughput(Throughput::Elements(frames as u64));
    decode.bench_function("ours", |b| {
        b.iter(|| {
            let mut decoder =
                VideoDecoder::new(&track, VideoFormat::new(PixelFormat::Rgb24)).unwrap();
            let mut n = 0;
            for p in &encoded {
                decoder.push(p).unwrap();
                while decoder.pull().unwrap().is_some() {
                    n += 1;
                }
            }
            decoder.finish().unwrap();
            while decoder.pull().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, frames);
        })
    });
    decode.bench_function("peer-ffmpeg", |b| {
        b.iter(|| {
            ffmpeg(&[
                "-filter_threads",
                "1",
                "-threads",
                "1",
                "-i",
                h264.to_str().unwrap(),
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "/dev/null",
            ])
        })
    });
    decode.finish();

    let mut encode = c.benchmark_group("h264-encode-720p-rgb24");
    encode
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    encode.throughput(Throughput::Elements(frames as u64));
    encode.bench_function("ours", |b| {
        b.iter(|| {
            let mut encoder = VideoEncoder::new(VideoEncoderSettings::new(W, H)).unwrap();
            let mut n = 0;
            for picture in &pictures {
                encoder.push(picture).unwrap();
                while encoder.pull().unwrap().is_some() {
                    n += 1;
                }
            }
            encoder.finish().unwrap();
            while encoder.pull().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, frames);
        })
    });
    let size = format!("{W}x{H}");
    encode.bench_function("peer-ffmpeg", |b| {
        b.iter(|| {
            ffmpeg(&[
                "-filter_threads",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                &size,
                "-r",
                "25",
                "-i",
                rgb.to_str().unwrap(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "2M",
                "-bf",
                "0",
                "-g",
                "50",
                "-threads",
                "1",
                "-f",
                "null",
                "-",
            ])
        })
    });
    encode.finish();
    c.final_summary();
}
