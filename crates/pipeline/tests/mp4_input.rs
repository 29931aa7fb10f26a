//! MP4 files as input (plain, faststart, fragmented by ffmpeg, CMAF with sidx, M4A;
//! H.264 with B-frames, H.265, AAC, MP3 in MP4, an edit list) through the MP4, fMP4 and
//! HLS sinks, compared packet by packet with the source through `ffprobe -show_packets`;
//! ffmpeg decodes every output. Truncated files fail with a line naming what is missing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, num};

/// Runs ffmpeg with these arguments (quiet, overwriting), panicking on failure.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two seconds of test pattern and tone.
const VIDEO: &[&str] = &["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"];
const AUDIO: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];

/// An ffmpeg-made file in `dir`: `inputs`, then the encoding arguments, 2 s long.
fn make(dir: &Path, name: &str, inputs: &[&[&str]], encode: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args: Vec<&str> = inputs.iter().flat_map(|i| i.iter().copied()).collect();
    args.extend(["-t", "2"]);
    args.extend(encode);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

/// H.264 with two B-frames between references, key frame every second, AAC.
const H264_AAC: &[&str] = &[
    "-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac", "-b:a", "48k",
];

async fn run(
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
struct Listed {
    pts: i64,
    dts: i64,
    /// `None` where ffprobe says N/A: the first audio packet of any fragmented file
    /// (ffmpeg's own `frag_keyframe` output too).
    duration: Option<i64>,
    size: u64,
    key: bool,
}

/// The stream's time base and its packets.
fn listed(target: &Path, stream: &str) -> (String, Vec<Listed>) {
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
fn assert_same_packets(source: &Path, ours: &Path, stream: &str) {
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

/// Whether the file has a `moof` box (ffprobe names no such property).
fn is_fragmented(path: &Path) -> bool {
    let data = std::fs::read(path).unwrap();
    data.windows(4).any(|w| w == b"moof")
}

fn assert_decodes(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(
        errors.is_empty(),
        "{path:?}: ffmpeg decode errors: {errors}"
    );
}

/// Every form of one H.264 + AAC recording: plain (moov at the end), faststart,
/// ffmpeg's fragmented `frag_keyframe+empty_moov` (absolute base offsets), CMAF with a
/// `sidx` (default-base-is-moof): to MP4 and to fMP4, packet for packet.
#[tokio::test(flavor = "multi_thread")]
async fn h264_aac_in_every_mp4_form_to_mp4_and_fmp4_packet_for_packet() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let plain = make(dir.path(), "plain.mp4", &[VIDEO, AUDIO], H264_AAC);
    let src = plain.to_str().unwrap();
    let faststart = dir.path().join("faststart.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "faststart",
        faststart.to_str().unwrap(),
    ]);
    let fragmented = dir.path().join("fragmented.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        fragmented.to_str().unwrap(),
    ]);
    let cmaf = dir.path().join("cmaf.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof+global_sidx+cmaf",
        cmaf.to_str().unwrap(),
    ]);
    for source in [&plain, &faststart, &fragmented, &cmaf] {
        for fragmented_out in [false, true] {
            let out = dir.path().join(format!(
                "{}-out-{fragmented_out}.mp4",
                source.file_stem().unwrap().to_string_lossy()
            ));
            let options = Options {
                fragmented: fragmented_out,
                ..Options::default()
            };
            run(source, &out, options).await.unwrap();
            assert_same_packets(source, &out, "v:0");
            assert_same_packets(source, &out, "a:0");
            assert_decodes(&out);
        }
    }
}
