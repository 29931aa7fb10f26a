//! Matroska and WebM output (`.mkv`, `.webm`) from inputs that are not Matroska: an MP4
//! of H.264 with B-frames and AAC (priming before its time zero), and an Ogg Opus file.
//! Every packet is compared with ffprobe's reading of the source (video: presentation
//! times, sizes, key flags; audio: sizes, and times to the millisecond), ffmpeg decodes
//! the result, mkvtoolnix identifies it and counts one cluster and one cue per GOP, and
//! our own Matroska input reads it back; headless Chromium plays our VP8 and VP9 WebM
//! through Media Source Extensions. A codec WebM cannot hold is one clear error before any
//! file is made.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pipeline::{Direction, Endpoint, Pipeline};
use test_support::ffprobe::{self, ffmpeg, num};
use test_support::mkvtoolnix;

async fn remux(input: &Path, output: &Path) -> Result<(), pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output).run().await.map(|_| ())
}

/// Per packet of `stream` in file order: (presentation time in ms from the file's
/// earliest, size, key).
fn packets(path: &Path, stream: &str, earliest: f64) -> Vec<(i64, u64, bool)> {
    ffprobe::packets(path, stream)
        .iter()
        .map(|p| {
            (
                ((num(&p["pts_time"]) - earliest) * 1000.0).round() as i64,
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect()
}

/// The earliest presentation time of any packet of the file, in seconds.
fn earliest(path: &Path) -> f64 {
    ["v", "a"]
        .iter()
        .flat_map(|s| ffprobe::packets(path, s))
        .map(|p| num(&p["pts_time"]))
        .fold(f64::MAX, f64::min)
}

/// Video equal; audio sizes equal and times within a millisecond (Matroska keeps
/// milliseconds, rounded from each packet's own time).
fn assert_same_packets(source: &Path, ours: &Path) {
    let (theirs_zero, ours_zero) = (earliest(source), earliest(ours));
    let video = |p, z| {
        let mut v = packets(p, "v:0", z);
        v.sort_unstable();
        v
    };
    let theirs = video(source, theirs_zero);
    assert!(theirs.len() >= 100, "{source:?}");
    assert_eq!(video(ours, ours_zero), theirs, "{ours:?}: video packets");
    let (a, b) = (
        packets(source, "a:0", theirs_zero),
        packets(ours, "a:0", ours_zero),
    );
    assert_eq!(a.len(), b.len(), "{ours:?}: audio packets");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.1, y.1, "{ours:?}: audio sizes");
        assert!(
            (x.0 - y.0).abs() <= 1,
            "{ours:?}: audio at {} ms, ours {} ms",
            x.0,
            y.0
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mp4_with_b_frames_and_aac_to_matroska() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:sample_rate=44100",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-bf",
        "3",
        "-g",
        "25",
        "-c:a",
        "aac",
        source.to_str().unwrap(),
    ]);
    let ours = dir.path().join("ours.mkv");
    remux(&source, &ours).await.unwrap();
    assert_same_packets(&source, &ours);
    // ffmpeg's own Matroska of the same file starts where ours does: the AAC priming
    // at 0, the first picture 23 ms later (nothing is negative).
    let reference = dir.path().join("reference.mkv");
    ffmpeg(&[
        "-i",
        source.to_str().unwrap(),
        "-c",
        "copy",
        reference.to_str().unwrap(),
    ]);
    let starts = |p: &Path| {
        let probe = ffprobe::probe(p);
        let streams = probe["streams"].as_array().unwrap().clone();
        streams
            .iter()
            .map(|s| num(&s["start_time"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(starts(&ours), starts(&reference));
    let duration = num(&ffprobe::probe(&ours)["format"]["duration"]);
    assert!((duration - 6.0).abs() < 0.05, "duration {duration}");
    let errors = ffprobe::decode_errors(&ours);
    assert!(errors.is_empty(), "{errors}");

    mkvtoolnix::identify(&ours);
    let info = mkvtoolnix::info(&ours);
    assert_eq!(mkvtoolnix::doc_type(&info), "matroska");
    // One cluster per one-second GOP, one cue point each.
    assert_eq!(mkvtoolnix::count(&info, "Cluster"), 6, "{info}");
    assert_eq!(mkvtoolnix::count(&info, "Cue point"), 6, "{info}");

    // Read back by our Matroska input.
    let back = dir.path().join("back.mp4");
    remux(&ours, &back).await.unwrap();
    assert_same_packets(&source, &back);
}

#[tokio::test(flavor = "multi_thread")]
async fn ogg_opus_to_webm_keeps_the_pre_skip() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.opus");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:sample_rate=48000",
        "-t",
        "5",
        "-c:a",
        "libopus",
        source.to_str().unwrap(),
    ]);
    let ours = dir.path().join("ours.webm");
    remux(&source, &ours).await.unwrap();
    let theirs = ffprobe::packets(&source, "a:0");
    let mine = ffprobe::packets(&ours, "a:0");
    assert_eq!(theirs.len(), mine.len());
    for (x, y) in theirs.iter().zip(&mine) {
        assert_eq!(x["size"], y["size"]);
    }
    let stream = |p: &Path| ffprobe::probe(p)["streams"][0].clone();
    // The pre-skip as ffmpeg reads it (`initial_padding`, from our CodecDelay).
    assert_eq!(
        stream(&ours)["initial_padding"],
        stream(&source)["initial_padding"]
    );
    let duration = num(&ffprobe::probe(&ours)["format"]["duration"]);
    assert!((duration - 5.0).abs() < 0.03, "duration {duration}");
    let errors = ffprobe::decode_errors(&ours);
    assert!(errors.is_empty(), "{errors}");
    let info = mkvtoolnix::info(&ours);
    assert_eq!(mkvtoolnix::doc_type(&info), "webm");
    // Audio alone: a cluster (and a cue) every 5 s.
    assert_eq!(mkvtoolnix::count(&info, "Cluster"), 2, "{info}");
    mkvtoolnix::identify(&ours);
}

#[tokio::test(flavor = "multi_thread")]
async fn webm_refuses_h264_before_making_a_file() {
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "1",
        "-c:v",
        "libx264",
        source.to_str().unwrap(),
    ]);
    let out = dir.path().join("out.webm");
    let err = remux(&source, &out).await.unwrap_err().to_string();
    assert!(
        err.contains("VP8, VP9, AV1 or Opus") && err.contains("H.264"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the source: {left:?}");
}

/// Chromium's WebM parser (Media Source Extensions, the strictest reader we have: it
/// takes no element out of place) plays our VP8 and VP9 WebM with Opus past 2.5 s of 3.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_plays_our_webm() {
    test_support::require_peer!("ffmpeg", "chromium");
    let dir = test_support::temp_dir();
    for (codec, args) in [
        ("vp8", &["-c:v", "libvpx", "-b:v", "300k"][..]),
        (
            "vp9",
            &[
                "-c:v",
                "libvpx-vp9",
                "-b:v",
                "300k",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ],
        ),
    ] {
        let source = dir.path().join(format!("{codec}.mkv"));
        let mut all = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:sample_rate=48000",
            "-t",
            "3",
            "-g",
            "25",
        ];
        all.extend(args);
        all.extend(["-c:a", "libopus", source.to_str().unwrap()]);
        ffmpeg(&all);
        let ours = dir.path().join(format!("{codec}.webm"));
        remux(&source, &ours).await.unwrap();
        let bytes = std::fs::read(&ours).unwrap();
        let mime = format!("video/webm; codecs=\"{codec},opus\"");
        let report = test_support::mse::play(vec![("/ours.webm".into(), bytes)], &mime, 2.5);
        assert!(
            report.starts_with("ok") && report.contains("width=320"),
            "{codec}: {report}"
        );
    }
}
