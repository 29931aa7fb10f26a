//! Helpers shared by the MP4 input tests (`mp4_input.rs`, `mp4_other_muxers.rs`):
//! ffmpeg-made files, a run of the pipeline, and packet-for-packet comparisons by ffprobe.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, ffmpeg, num};

/// Runs ffmpeg with these arguments (quiet, overwriting), panicking on failure.
/// Two seconds of test pattern and tone.
pub const VIDEO: &[&str] = &["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"];
pub const AUDIO: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];

/// An ffmpeg-made file in `dir`: `inputs`, then the encoding arguments, 2 s long.
pub fn make(dir: &Path, name: &str, inputs: &[&[&str]], encode: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args: Vec<&str> = inputs.iter().flat_map(|i| i.iter().copied()).collect();
    args.extend(["-t", "2"]);
    args.extend(encode);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

/// H.264 with two B-frames between references, key frame every second, AAC.
pub const H264_AAC: &[&str] = &[
    "-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac", "-b:a", "48k",
];

pub async fn run(
    input: &Path,
    output: &Path,
    options: Options,
) -> Result<pipeline::Summary, pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input)?;
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output)?;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
}

/// One packet as ffprobe lists it, in ticks of the stream's time base, on a time line
/// that starts at the stream's first decode time (each container applies its own shift:
/// edit lists, tfdt).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listed {
    pub pts: i64,
    pub dts: i64,
    /// `None` where ffprobe says N/A: the first audio packet of any fragmented file
    /// (ffmpeg's own `frag_keyframe` output too).
    pub duration: Option<i64>,
    pub size: u64,
    pub key: bool,
}

/// The stream's time base and its packets.
pub fn listed(target: &Path, stream: &str) -> (String, Vec<Listed>) {
    let probe = ffprobe::probe_with(
        target,
        &["-select_streams", stream, "-show_streams", "-show_packets"],
    );
    let time_base = probe["streams"][0]["time_base"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let packets = probe["packets"].as_array().cloned().unwrap_or_default();
    let ticks = |v: &Value| num(v) as i64;
    let Some(first) = packets.first() else {
        return (time_base, Vec::new());
    };
    let origin = ticks(&first["dts"]);
    let packets = packets
        .iter()
        .map(|p| Listed {
            pts: ticks(&p["pts"]) - origin,
            dts: ticks(&p["dts"]) - origin,
            duration: (!p["duration"].is_null()).then(|| ticks(&p["duration"])),
            size: num(&p["size"]) as u64,
            key: p["flags"].as_str().unwrap_or("").starts_with('K'),
        })
        .collect();
    (time_base, packets)
}

/// Same count, pts, dts, duration, size and key flag per packet of `stream`.
///
/// ffprobe (5.1) shows the last sample of a fragmented file with the previous sample's
/// duration instead of its `trun` duration (ffmpeg's own `frag_keyframe` output too), so
/// that one duration is not compared for fragmented files.
pub fn assert_same_packets(source: &Path, ours: &Path, stream: &str) {
    let (their_base, theirs) = listed(source, stream);
    let (our_base, got) = listed(ours, stream);
    assert_eq!(our_base, their_base, "{stream} time base of {ours:?}");
    assert!(!theirs.is_empty(), "{source:?} has no {stream} packets");
    assert_eq!(
        got.len(),
        theirs.len(),
        "{stream}: {ours:?} has {} packets, {source:?} {}",
        got.len(),
        theirs.len()
    );
    for (i, (g, t)) in got.iter().zip(&theirs).enumerate() {
        let unknown = (i == 0 && (g.duration.is_none() || t.duration.is_none()))
            || (i + 1 == got.len() && (is_fragmented(ours) || is_fragmented(source)));
        let t = Listed {
            duration: if unknown { g.duration } else { t.duration },
            ..*t
        };
        assert_eq!(
            *g, t,
            "{stream} packet {i}: ours {ours:?}, source {source:?}"
        );
    }
}

/// Whether the file has a `moof` box (ffprobe names no such property); an HLS playlist's
/// segments are fragments.
pub fn is_fragmented(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "m3u8") {
        return true;
    }
    let data = std::fs::read(path).unwrap();
    data.windows(4).any(|w| w == b"moof")
}

pub fn assert_decodes(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(
        errors.is_empty(),
        "{path:?}: ffmpeg decode errors: {errors}"
    );
}
