//! RTSP recordings from the GStreamer test camera (gst-rtsp-server), checked by ffprobe
//! and decoded by ffmpeg: plain and fragmented MP4 (H.264+AAC, H.265), HLS, rotation
//! across a server restart; rotating Matroska.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline::{Direction, Endpoint, Options, Pipeline, Summary};
use tempfile::TempDir;
use test_support::ffprobe::{self, Value, num};
use test_support::rtsp::RtspServer;

fn peers(test: &str, extra: &[&str]) -> bool {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.extend(["ffprobe", "ffmpeg"]);
    names.extend(extra);
    test_support::peers_present(test, &names)
}

/// The test camera and a temporary directory; `None` when a peer is missing (reported as
/// skipped, a failure under CI).
fn camera(test: &str, extra: &[&str]) -> Option<(RtspServer, TempDir)> {
    peers(test, extra).then(|| (RtspServer::start_default(), test_support::temp_dir()))
}

async fn record(url: &str, out: &Path, options: Options) -> Summary {
    let input = Endpoint::parse(url, Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap_or_else(|e| panic!("recording {url} to {}: {e}", out.display()))
}

fn secs(s: f64) -> Option<Duration> {
    Some(Duration::from_secs_f64(s))
}

/// Both streams present, durations within 100 ms of `expected`, start times within one
/// video frame of each other, clean decode.
fn check_av(file: &Path, video_codec: &str, expected: f64) {
    let probe = ffprobe::probe(file);
    let streams = probe["streams"].as_array().unwrap();
    let find = |kind: &str| -> &Value {
        streams
            .iter()
            .find(|s| s["codec_type"] == kind)
            .unwrap_or_else(|| panic!("{}: no {kind} stream in {probe}", file.display()))
    };
    let (video, audio) = (find("video"), find("audio"));
    assert_eq!(video["codec_name"], video_codec, "{}", file.display());
    assert_eq!(audio["codec_name"], "aac", "{}", file.display());
    let frame = 1.0 / 15.0; // the test camera's frame rate
    for s in [video, audio] {
        let d = num(&s["duration"]);
        assert!(
            (d - expected).abs() <= 0.1,
            "{}: {} duration {d}, expected {expected}",
            file.display(),
            s["codec_type"]
        );
    }
    let (sv, sa) = (num(&video["start_time"]), num(&audio["start_time"]));
    assert!(
        (sv - sa).abs() <= frame,
        "{}: start times video {sv} audio {sa}",
        file.display()
    );
    let errors = ffprobe::decode_errors(file);
    assert!(
        errors.is_empty(),
        "{}: ffmpeg decode errors: {errors}",
        file.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn h264_aac_to_plain_and_fragmented_mp4() {
    let Some((server, dir)) = camera("h264_aac_to_plain_and_fragmented_mp4", &[]) else {
        return;
    };
    let plain = dir.path().join("plain.mp4");
    let fragmented = dir.path().join("fragmented.mp4");
    let url = server.url("/h264aac");
    let base = {
        let mut options = Options::default();
        options.duration = secs(3.0);
        options
    };
    let frag = {
        let mut options = base.clone();
        options.fragmented = true;
        options.fragment_duration = Duration::from_secs(1);
        options
    };
    // One after the other: a second client joining gst-rtsp-server's shared media sees a
    // sequence number gap before its first packet, which counts as loss.
    let a = record(&url, &plain, base).await;
    let b = record(&url, &fragmented, frag).await;
    assert_eq!(a.files, vec![plain.clone()]);
    assert_eq!(b.files, vec![fragmented.clone()]);
    assert!(
        !dir.path().join("plain.mp4.partial").exists(),
        "the .partial file was renamed"
    );
    check_av(&plain, "h264", 3.0);
    check_av(&fragmented, "h264", 3.0);
    let format = ffprobe::probe(&fragmented)["format"].clone();
    assert!(
        format["format_name"].as_str().unwrap().contains("mp4"),
        "{format}"
    );
}

/// Matroska rotates as MP4 does: each file begins with a key frame, holds both tracks,
/// decodes cleanly, and the files add up to the recording.
#[tokio::test(flavor = "multi_thread")]
async fn h264_aac_to_rotating_matroska() {
    let Some((server, dir)) = camera("h264_aac_to_rotating_matroska", &[]) else {
        return;
    };
    let pattern = dir.path().join("cam-%H%M%S%3f.mkv");
    let options = {
        let mut options = Options::default();
        options.duration = secs(5.0);
        options.segment = Some(Duration::from_secs(2));
        options
    };
    let summary = record(&server.url("/h264aac"), &pattern, options).await;
    assert!(summary.files.len() >= 2, "{:?}", summary.files);
    let mut total = 0.0;
    for file in &summary.files {
        let probe = ffprobe::probe(file);
        assert_eq!(probe["streams"].as_array().unwrap().len(), 2, "{probe}");
        assert_eq!(probe["format"]["format_name"], "matroska,webm", "{probe}");
        total += num(&probe["format"]["duration"]);
        let first = &ffprobe::packets(file, "v:0")[0];
        assert!(
            first["flags"].as_str().unwrap().starts_with('K'),
            "{file:?}"
        );
        let errors = ffprobe::decode_errors(file);
        assert!(
            errors.is_empty(),
            "{file:?}: ffmpeg decode errors: {errors}"
        );
    }
    assert!(
        (total - 5.0).abs() <= 0.3,
        "{total} s in {:?}",
        summary.files
    );
}

/// A camera's G.711 goes into Matroska as it is (`A_MS/ACM`, as ffmpeg writes it; MP4
/// players do not take G.711, so an MP4 gets it only transcoded).
#[tokio::test(flavor = "multi_thread")]
async fn h264_pcma_to_matroska_keeps_the_g711() {
    let Some((server, dir)) = camera("h264_pcma_to_matroska_keeps_the_g711", &[]) else {
        return;
    };
    let file = dir.path().join("pcma.mkv");
    let options = {
        let mut options = Options::default();
        options.duration = secs(3.0);
        options
    };
    record(&server.url("/h264pcma"), &file, options).await;
    let probe = ffprobe::probe(&file);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "pcm_alaw"], "{probe}");
    assert_eq!(probe["streams"][1]["sample_rate"], "8000", "{probe}");
    let d = num(&probe["format"]["duration"]);
    assert!((d - 3.0).abs() <= 0.2, "duration {d}");
    let errors = ffprobe::decode_errors(&file);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn h265_to_plain_and_fragmented_mp4_and_matroska() {
    let Some((server, dir)) = camera(
        "h265_to_plain_and_fragmented_mp4_and_matroska",
        &["gst-bad"],
    ) else {
        return;
    };
    let url = server.url("/h265");
    for fragmented in [false, true] {
        let file = dir.path().join(format!("h265-{fragmented}.mp4"));
        let options = {
            let mut options = Options::default();
            options.duration = secs(2.0);
            options.fragmented = fragmented;
            options
        };
        record(&url, &file, options).await;
        let probe = ffprobe::probe(&file);
        let video = &probe["streams"][0];
        assert_eq!(video["codec_name"], "hevc", "{probe}");
        assert_eq!(video["codec_tag_string"], "hvc1", "{probe}");
        let d = num(&video["duration"]);
        assert!((d - 2.0).abs() <= 0.1, "duration {d}");
        let errors = ffprobe::decode_errors(&file);
        assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
    }
    // And live into Matroska (`V_MPEGH/ISO/HEVC` with the camera's `hvcC`).
    let file = dir.path().join("h265.mkv");
    let mut options = Options::default();
    options.duration = secs(2.0);
    record(&url, &file, options).await;
    let probe = ffprobe::probe(&file);
    assert_eq!(probe["streams"][0]["codec_name"], "hevc", "{probe}");
    let d = num(&probe["format"]["duration"]);
    assert!((d - 2.0).abs() <= 0.2, "duration {d}");
    let errors = ffprobe::decode_errors(&file);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hls_playlist_has_the_recorded_duration() {
    let Some((server, dir)) = camera("hls_playlist_has_the_recorded_duration", &[]) else {
        return;
    };
    let playlist = dir.path().join("hls/live.m3u8");
    let options = {
        let mut options = Options::default();
        options.duration = secs(4.0);
        options.fragment_duration = Duration::from_secs(1);
        options
    };
    let summary = record(&server.url("/h264aac"), &playlist, options).await;
    assert_eq!(summary.files, vec![playlist.clone()]);
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(
        text.contains("#EXT-X-MAP:URI=\"init.mp4\"") && text.ends_with("#EXT-X-ENDLIST\n"),
        "{text}"
    );
    assert!(dir.path().join("hls/init.mp4").exists());
    assert!(text.matches(".m4s").count() >= 2, "{text}");
    let probe = ffprobe::probe(&playlist);
    let d = num(&probe["format"]["duration"]);
    assert!((d - 4.0).abs() <= 0.1, "HLS duration {d}: {probe}");
    let errors = ffprobe::decode_errors(&playlist);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_survives_a_server_restart() {
    let Some((mut server, dir)) = camera("rotation_survives_a_server_restart", &[]) else {
        return;
    };
    let pattern = dir.path().join("cam-%H%M%S.mp4");
    let input = Endpoint::parse(&server.url("/h264aac"), Direction::Input).unwrap();
    let output = Endpoint::parse(pattern.to_str().unwrap(), Direction::Output).unwrap();
    let options = {
        let mut options = Options::default();
        options.segment = Some(Duration::from_secs(2));
        options
    };
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    let status = handle.status();
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.kill(); // the camera disappears without TEARDOWN
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_gap = status.borrow().files;
    server.restart();
    // Wait until the reconnected session has recorded for a while (bounded): about 2 s of
    // packets (15 video + 47 audio a second).
    let resumed = status.borrow().packets;
    for _ in 0..200 {
        if status.borrow().packets > resumed + 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.close();
    let summary = handle.wait().await.unwrap();
    assert!(
        before_gap >= 2,
        "rotation before the gap: {before_gap} file(s)"
    );
    assert!(
        summary.files.len() as u64 > before_gap,
        "a file after the gap: {:?}",
        summary.files
    );
    for file in &summary.files {
        let probe = ffprobe::probe(file);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2, "{}: {probe}", file.display());
        // The file cut by the kill may hold only the frames since the last rotation: on a
        // loaded machine the recording starts late and a rotation falls just before the
        // kill (0.47 s seen under CI). Every file must still hold media of both tracks.
        assert!(
            num(&probe["format"]["duration"]) > 0.2,
            "{}: {probe}",
            file.display()
        );
        let errors = ffprobe::decode_errors(file);
        assert!(
            errors.is_empty(),
            "{}: ffmpeg decode errors: {errors}",
            file.display()
        );
    }
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "partial"))
        .collect();
    assert!(leftovers.is_empty(), "unfinished files: {leftovers:?}");
}

/// Every other RTSP-to-file test runs with the default bursts (`Options::burst`); this
/// one handles each packet as it arrives, on the caller's runtime.
#[tokio::test(flavor = "current_thread")]
async fn packets_one_by_one_without_bursts() {
    let Some((server, dir)) = camera("packets_one_by_one_without_bursts", &[]) else {
        return;
    };
    let file = dir.path().join("one-by-one.mp4");
    let options = {
        let mut options = Options::default();
        options.duration = secs(2.0);
        options.burst = None;
        options
    };
    let summary = record(&server.url("/h264aac"), &file, options).await;
    assert_eq!(summary.files, vec![file.clone()]);
    check_av(&file, "h264", 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_video_records_audio_only() {
    let Some((server, dir)) = camera("no_video_records_audio_only", &[]) else {
        return;
    };
    let file = dir.path().join("audio.mp4");
    let options = {
        let mut options = Options::default();
        options.duration = secs(1.5);
        options.video = false;
        options
    };
    record(&server.url("/h264aac"), &file, options).await;
    let probe = ffprobe::probe(&file);
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{probe}");
    assert_eq!(streams[0]["codec_name"], "aac");
    assert!((num(&streams[0]["duration"]) - 1.5).abs() <= 0.1, "{probe}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_file_is_finalized_when_the_camera_dies() {
    let Some((mut server, dir)) = camera("the_file_is_finalized_when_the_camera_dies", &[]) else {
        return;
    };
    let file = dir.path().join("cut.mp4");
    let input = Endpoint::parse(&server.url("/h264aac"), Direction::Input).unwrap();
    let output = Endpoint::parse(file.to_str().unwrap(), Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    let status = handle.status();
    for _ in 0..100 {
        if status.borrow().media_seconds > 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill(); // no TEARDOWN, the connection drops
    // The end of the input (an error or the server closing) still finalizes the file.
    let result = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .unwrap();
    eprintln!("recording ended with {result:?}");
    assert!(file.exists(), "renamed from .partial");
    let probe = ffprobe::probe(&file);
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2, "{probe}");
    assert!(num(&probe["format"]["duration"]) > 1.5, "{probe}");
    let errors = ffprobe::decode_errors(&file);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}
