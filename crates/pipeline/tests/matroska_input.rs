//! Matroska and WebM input (`.mkv`, `.webm`): files as ffmpeg writes them (VP8, VP9 and
//! AV1 with Opus in WebM; H.264 with B-frames and AAC, H.265 with MP3 in Matroska) read
//! by us into MP4, fragmented MP4, MPEG-TS and HLS, each compared with the source as
//! ffprobe reads it: the same packets per stream (video: the same presentation times,
//! sizes and key flags, so B-frame decode times were derived right), and ffmpeg decodes
//! every output without an error; and back to Matroska or WebM by our own writer, read
//! by mkvtoolnix too. They were refused before
//! ("unsupported input endpoint"), so a browser's MediaRecorder file or an OBS recording
//! could not be remuxed.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, ffmpeg, num};

/// ffmpeg's test picture and a tone, 3 s, with `codecs` into `out`.
fn make(out: &Path, rate: &str, codecs: &[&str]) {
    let picture = format!("testsrc2=size=320x240:rate={rate}");
    let mut args = vec!["-f", "lavfi", "-i", &picture];
    if codecs.iter().any(|c| c.starts_with("-c:a")) {
        args.extend(["-f", "lavfi", "-i", "sine=f=440:sample_rate=48000"]);
    }
    args.extend(["-t", "3", "-g", "30"]);
    args.extend(codecs);
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
}

async fn run(input: &Path, output: &Path, fragmented: bool) {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output).unwrap();
    let mut options = Options::default();
    options.fragmented = fragmented;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
}

/// Per video packet (presentation time in seconds from the first, size, key).
fn video(path: &Path) -> Vec<(i64, u64, bool)> {
    let packets = ffprobe::packets(path, "v:0");
    let first = packets
        .iter()
        .map(|p| num(&p["pts_time"]))
        .fold(f64::MAX, f64::min);
    let mut out: Vec<_> = packets
        .iter()
        .map(|p| {
            (
                // Milliseconds: Matroska's precision.
                ((num(&p["pts_time"]) - first) * 1000.0).round() as i64,
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect();
    out.sort_unstable();
    out
}

fn audio_sizes(path: &Path) -> Vec<u64> {
    ffprobe::packets(path, "a:0")
        .iter()
        .map(|p| num(&p["size"]) as u64)
        .collect()
}

fn codec_names(path: &Path) -> Vec<String> {
    ffprobe::probe(path)["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn assert_decodes(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(errors.is_empty(), "{path:?}: {errors}");
}

/// Ours of `source` as MP4, fMP4, HLS and (`ts`: H.264, H.265) MPEG-TS against the
/// source as ffprobe reads it.
async fn remuxes(source: &Path, codecs: &[&str], ts: bool) {
    let dir = source.parent().unwrap();
    let stem = source.file_stem().unwrap().to_string_lossy();
    let (their_video, their_audio) = (video(source), audio_sizes(source));
    assert!(their_video.len() >= 75, "{source:?}");
    assert_eq!(codec_names(source), codecs, "{source:?}");
    for (name, fragmented) in [("mp4", false), ("frag.mp4", true)] {
        let out = dir.join(format!("{stem}-ours.{name}"));
        run(source, &out, fragmented).await;
        assert_eq!(codec_names(&out), codecs, "{out:?}");
        assert_eq!(video(&out), their_video, "{out:?}: video packets");
        assert_eq!(audio_sizes(&out), their_audio, "{out:?}: audio packets");
        assert_decodes(&out);
    }
    if ts {
        // Annex B there (start codes, access unit delimiters): times and keys compared.
        let out = dir.join(format!("{stem}-ours.ts"));
        run(source, &out, false).await;
        let times =
            |v: Vec<(i64, u64, bool)>| v.into_iter().map(|(t, _, k)| (t, k)).collect::<Vec<_>>();
        assert_eq!(times(video(&out)), times(their_video.clone()), "{out:?}");
        assert_eq!(audio_sizes(&out).len(), their_audio.len(), "{out:?}");
        assert_decodes(&out);
    }
    // And back to Matroska (WebM from WebM): the same packets, and the Matroska
    // authors' own reader (mkvtoolnix) takes the file.
    let ext = source.extension().unwrap().to_string_lossy();
    let out = dir.join(format!("{stem}-ours.{ext}"));
    run(source, &out, false).await;
    assert_eq!(codec_names(&out), codecs, "{out:?}");
    assert_eq!(video(&out), their_video, "{out:?}: video packets");
    assert_eq!(audio_sizes(&out), their_audio, "{out:?}: audio packets");
    assert_decodes(&out);
    test_support::mkvtoolnix::identify(&out);
    let info = test_support::mkvtoolnix::info(&out);
    let doc_type = if ext == "webm" { "webm" } else { "matroska" };
    assert_eq!(test_support::mkvtoolnix::doc_type(&info), doc_type);
    let hls = dir.join(format!("{stem}-hls/"));
    run(source, &hls, false).await;
    let playlist = hls.join("index.m3u8");
    assert_eq!(video(&playlist).len(), their_video.len());
    assert_decodes(&playlist);
}

#[tokio::test(flavor = "multi_thread")]
async fn webm_with_vp8_vp9_and_opus() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let vp8 = dir.path().join("vp8.webm");
    make(
        &vp8,
        "25",
        &["-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus"],
    );
    remuxes(&vp8, &["vp8", "opus"], false).await;
    let vp9 = dir.path().join("vp9.webm");
    let vpx = [
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "300k",
        "-deadline",
        "realtime",
    ];
    make(
        &vp9,
        "25",
        &[&vpx[..], &["-cpu-used", "8", "-c:a", "libopus"]].concat(),
    );
    remuxes(&vp9, &["vp9", "opus"], false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webm_with_av1_alone() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let av1 = dir.path().join("av1.webm");
    make(
        &av1,
        "25",
        &["-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "300k"],
    );
    remuxes(&av1, &["av1"], false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matroska_with_b_frames_aac_and_hevc_mp3() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let h264 = dir.path().join("h264.mkv");
    make(&h264, "25", &["-c:v", "libx264", "-bf", "3", "-c:a", "aac"]);
    remuxes(&h264, &["h264", "aac"], true).await;
    let h265 = dir.path().join("h265.mkv");
    let x265 = [
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error:bframes=4",
    ];
    make(
        &h265,
        "30000/1001",
        &[&x265[..], &["-c:a", "libmp3lame"]].concat(),
    );
    remuxes(&h265, &["hevc", "mp3"], true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_matroska_is_a_clear_error() {
    let dir = test_support::temp_dir();
    let bad = dir.path().join("bad.mkv");
    std::fs::write(&bad, b"this is not EBML at all").unwrap();
    let input = Endpoint::parse(bad.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(
        dir.path().join("o.mp4").to_str().unwrap(),
        Direction::Output,
    )
    .unwrap();
    let err = Pipeline::new(input, output)
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable Matroska file"), "{err}");
}
