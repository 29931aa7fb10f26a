//! The binary with file inputs: an MP4 made by ffmpeg to fragmented MP4 on stdout, packet
//! for packet (ffprobe), and `--fps` for an Annex B input.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use test_support::ffprobe::{self, ffmpeg, num};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// (pts − first dts, dts − first dts, size, key) per packet of `stream`.
fn listed(path: &Path, stream: &str) -> Vec<(i64, i64, u64, bool)> {
    let packets = ffprobe::packets(path, stream);
    let origin = num(&packets[0]["dts"]) as i64;
    packets
        .iter()
        .map(|p| {
            (
                num(&p["pts"]) as i64 - origin,
                num(&p["dts"]) as i64 - origin,
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect()
}

#[test]
fn mp4_to_stdout_keeps_every_packet() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    let h264_aac = ["-c:v", "libx264", "-bf", "2", "-c:a", "aac"];
    ffprobe::make_av(&source, "160x120", 2, &h264_aac);
    let out = Command::new(BIN)
        .arg(&source)
        .arg("-")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("stdout.mp4");
    std::fs::write(&file, &out.stdout).unwrap();
    for stream in ["v:0", "a:0"] {
        assert_eq!(listed(&file, stream), listed(&source, stream), "{stream}");
    }
    assert!(ffprobe::decode_errors(&file).is_empty());
}

#[test]
fn fps_sets_the_frame_rate_of_an_annexb_input() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let h264 = dir.path().join("in.h264");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-bf",
        "0",
        h264.to_str().unwrap(),
    ]);
    let mp4 = dir.path().join("out.mp4");
    let out = Command::new(BIN)
        .arg(&h264)
        .arg(&mp4)
        .args(["--fps", "50"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = ffprobe::probe(&mp4);
    assert_eq!(probe["streams"][0]["avg_frame_rate"], "50/1", "{probe}");
    assert!(
        (num(&probe["format"]["duration"]) - 1.0).abs() < 0.002,
        "{probe}"
    );
}
