//! The WebRTC clients against our own servers, each side a pipeline of its own, ffprobe
//! and ffmpeg as judges: (a) the RTSP test camera (H.264, also with B-frames, and H.265) → `whep-listen://` (pipeline A) →
//! `whep://` (pipeline B) → MP4; (b) an H.264 + Opus file made by ffmpeg (also with
//! B-frames) → `whip://` (pipeline A) → `whip-listen://` (pipeline B) → MP4; (c) `whep://` and `whip://` to
//! nobody, to a 404 and to a 401 (no token, wrong token): one clear line, an error
//! result, no hang.
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they become #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

mod webrtc_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;
use webrtc_common::{pull, stream, wait_listening};

#[tokio::test(flavor = "multi_thread")]
async fn camera_through_whep_listen_into_whep_client() {
    camera_through_whep(
        "camera_through_whep_listen_into_whep_client",
        "/h264",
        "h264",
    )
    .await;
}

/// H.265 (RFC 7798) both ways through str0m: no browser here offers it (Chromium 156 on
/// Debian has no H.265 decoder for WebRTC), so our own client is the viewer.
#[tokio::test(flavor = "multi_thread")]
async fn h265_camera_through_whep_listen_into_whep_client() {
    camera_through_whep(
        "h265_camera_through_whep_listen_into_whep_client",
        "/h265",
        "hevc",
    )
    .await;
}

/// A camera sending H.264 with B-frames (`/h264b`, x264 `bframes=2`): the WHEP input
/// derives decode times from the RTP presentation times, so the MP4 takes every frame.
#[tokio::test(flavor = "multi_thread")]
async fn b_frame_camera_through_whep_listen_into_whep_client() {
    camera_through_whep(
        "b_frame_camera_through_whep_listen_into_whep_client",
        "/h264b",
        "h264",
    )
    .await;
}

/// The camera's `mount` → `whep-listen://` → `whep://` → MP4: ffprobe must see `codec`
/// (its name) at the camera's size and rate, and ffmpeg decode every frame.
async fn camera_through_whep(test: &str, mount: &str, codec: &str) {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present(test, &names) {
        return;
    }
    let camera = RtspServer::start_default();
    let port = test_support::free_port();
    let a = webrtc_common::serve_on_whep(&camera.url(mount), port);
    wait_listening(port).await;
    let dir = test_support::temp_dir();
    let mp4 = dir.path().join("pulled.mp4");
    const SECONDS: f64 = 4.0;
    let input = format!("whep://127.0.0.1:{port}/cam/whep");
    // Until the camera's tracks are known the server answers 503: try again.
    pull(&input, &mp4, SECONDS, Duration::from_secs(20))
        .await
        .unwrap();
    a.close();
    let _ = tokio::time::timeout(Duration::from_secs(20), a.wait()).await;
    let (probe, frames) = webrtc_common::probe_video(&mp4, codec, (640.0, 360.0));
    let duration = num(&probe["format"]["duration"]);
    eprintln!("{frames} frames in {duration} s (camera: 15 fps)");
    assert!(
        (SECONDS - 1.0..=SECONDS + 1.0).contains(&duration),
        "{duration}"
    );
    assert!(
        (15.0 * SECONDS * 0.75..=15.0 * SECONDS * 1.25).contains(&frames),
        "{frames} frames"
    );
    let errors = ffprobe::decode_errors_keeping_times(&mp4);
    assert!(errors.is_empty(), "{errors}");
}

/// A 4 s H.264 (320x240, 25 fps) file with `audio` ("libopus" or "aac") made by ffmpeg.
fn source_file(dir: &Path, audio: &str) -> std::path::PathBuf {
    source_file_in(dir, &["-c:v", "libx264", "-profile:v", "baseline"], audio)
}

/// As [`source_file`], the video encoded with `video` (ffmpeg's options).
fn source_file_in(dir: &Path, video: &[&str], audio: &str) -> std::path::PathBuf {
    let source = dir.join(format!("source-{}-{audio}.mp4", video[1]));
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "4"])
        .args(video)
        .args(["-g", "25", "-pix_fmt", "yuv420p", "-c:a", audio])
        .args(["-ac", "2", "-b:a", "48k"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    source
}

/// Publishes `source` through `whip://` into a `whip-listen://` pipeline recording MP4;
/// returns the recording.
async fn publish(source: &Path, dir: &Path) -> std::path::PathBuf {
    publish_with(source, dir, Options::default()).await
}

/// As [`publish`], the publishing pipeline run with `options` (real time added).
async fn publish_with(source: &Path, dir: &Path, mut options: Options) -> std::path::PathBuf {
    let port = test_support::free_port();
    let recorded = dir.join("published.mp4");
    let b = Pipeline::new(
        Endpoint::parse(
            &format!("whip-listen://127.0.0.1:{port}/pub"),
            Direction::Input,
        )
        .unwrap(),
        Endpoint::parse(recorded.to_str().unwrap(), Direction::Output).unwrap(),
    )
    .spawn();
    wait_listening(port).await;
    options.realtime = true;
    let a = Pipeline::new(
        Endpoint::parse(source.to_str().unwrap(), Direction::Input).unwrap(),
        Endpoint::parse(
            &format!("whip://127.0.0.1:{port}/pub/whip"),
            Direction::Output,
        )
        .unwrap(),
    )
    .with_options(options)
    .spawn();
    let a = tokio::time::timeout(Duration::from_secs(40), a.wait())
        .await
        .expect("pipeline A ends");
    eprintln!("A: {a:?}");
    a.unwrap();
    // The DELETE ends the publish, and with it pipeline B.
    let b = tokio::time::timeout(Duration::from_secs(20), b.wait())
        .await
        .expect("pipeline B ends when the publisher leaves");
    eprintln!("B: {b:?}");
    b.unwrap();
    recorded
}

#[tokio::test(flavor = "multi_thread")]
async fn h264_opus_file_through_whip_client_into_whip_listen() {
    let dir = test_support::temp_dir();
    file_through_whip(
        "h264_opus_file_through_whip_client_into_whip_listen",
        dir.path(),
        &["-c:v", "libx264", "-profile:v", "baseline"],
        "h264",
    )
    .await;
}

/// H.265 with B-frames pushed by our `whip://` to our `whip-listen://` (the publish side
/// of RFC 7798), its parameter sets turned into the recording's `hvcC`.
#[tokio::test(flavor = "multi_thread")]
async fn h265_opus_file_through_whip_client_into_whip_listen() {
    let dir = test_support::temp_dir();
    file_through_whip(
        "h265_opus_file_through_whip_client_into_whip_listen",
        dir.path(),
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=2",
        ],
        "hevc",
    )
    .await;
}

/// H.264 with B-frames (as ffmpeg and x264 make it, and a file pushed by our `whip://`
/// sends it): RTP times are presentation times, frames come in decode order, so the
/// recording's decode times are derived (before, the MP4 writer refused the first
/// B-frame: "decode time … is not after the previous one"). The recording shows the
/// source's frames at the source's presentation times, in the source's decode order.
#[tokio::test(flavor = "multi_thread")]
async fn h264_with_b_frames_through_whip_client_into_whip_listen() {
    let test = "h264_with_b_frames_through_whip_client_into_whip_listen";
    let video = ["-c:v", "libx264", "-bf", "2"];
    let dir = test_support::temp_dir();
    let Some((source, recorded)) = file_through_whip(test, dir.path(), &video, "h264").await else {
        return;
    };
    let times = |file: &Path| {
        let packets = ffprobe::packets(file, "v:0");
        let first = num(&packets[0]["pts_time"]);
        packets
            .iter()
            .map(|p| ((num(&p["pts_time"]) - first) * 1000.0).round() as i64)
            .collect::<Vec<_>>()
    };
    let (ours, theirs) = (times(&recorded), times(&source));
    assert!(
        theirs.windows(2).any(|w| w[1] < w[0]),
        "the source has no B-frames"
    );
    assert!(
        ours.len() as f64 >= theirs.len() as f64 * 0.85,
        "{} of {}",
        ours.len(),
        theirs.len()
    );
    assert_eq!(ours[..], theirs[..ours.len()]);
}

/// A file of `video` (ffmpeg's encoder options) and Opus → `whip://` → `whip-listen://`
/// → MP4 in `dir`: ffprobe sees `codec` and Opus over the file's 4 s, ffmpeg decodes it.
/// Returns the source and the recording (`None` without the peers).
async fn file_through_whip(
    test: &str,
    dir: &Path,
    video: &[&str],
    codec: &str,
) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    if !test_support::peers_present(test, &["ffprobe", "ffmpeg"]) {
        return None;
    }
    const SECONDS: f64 = 4.0;
    let source = source_file_in(dir, video, "libopus");
    let recorded = publish(&source, dir).await;
    let probe = ffprobe::probe(&recorded);
    eprintln!("{probe}");
    let video = stream(&probe, "video");
    let audio = stream(&probe, "audio");
    assert_eq!(video["codec_name"], codec);
    assert_eq!(num(&video["width"]), 320.0);
    assert_eq!(audio["codec_name"], "opus");
    for (kind, rate) in [("v:0", 25.0), ("a:0", 50.0)] {
        let packets = ffprobe::packets(&recorded, kind);
        let first = num(&packets.first().unwrap()["pts_time"]);
        let last = num(&packets.last().unwrap()["pts_time"]);
        eprintln!("{kind}: {} packets over {first}..{last} s", packets.len());
        assert!(
            (last - first - SECONDS).abs() < 1.0,
            "{kind}: {first}..{last}"
        );
        let n = packets.len() as f64;
        assert!(n >= rate * SECONDS * 0.85, "{kind}: {n} packets");
    }
    let errors = ffprobe::decode_errors_keeping_times(&recorded);
    assert!(errors.is_empty(), "{errors}");
    Some((source, recorded))
}

#[tokio::test(flavor = "multi_thread")]
async fn aac_into_whip_client_goes_on_with_the_video() {
    if !test_support::peers_present(
        "aac_into_whip_client_goes_on_with_the_video",
        &["ffprobe", "ffmpeg"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let source = source_file(dir.path(), "aac");
    // Without transcoding (a build without the `codec` feature, or `--transcode never`).
    let mut options = Options::default();
    options.transcoding.policy = pipeline::transcoding::TranscodePolicy::Never;
    let recorded = publish_with(&source, dir.path(), options).await;
    let probe = ffprobe::probe(&recorded);
    eprintln!("{probe}");
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "video alone: {probe}");
    assert_eq!(stream(&probe, "video")["codec_name"], "h264");
    let frames = ffprobe::packets(&recorded, "v:0").len();
    assert!(frames >= 85, "{frames} frames");
    let errors = ffprobe::decode_errors_keeping_times(&recorded);
    assert!(errors.is_empty(), "{errors}");
}

/// With transcoding (the `codec` feature; `--transcode if-needed`, the default), the AAC
/// that WebRTC would leave out becomes Opus: the publish carries both tracks, and the recording holds
/// H.264 and about 4 s of Opus that ffmpeg decodes.
#[cfg(feature = "codec")]
#[tokio::test(flavor = "multi_thread")]
async fn aac_into_whip_client_becomes_opus_when_transcoding() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = source_file(dir.path(), "aac");
    let recorded = publish_with(&source, dir.path(), Options::default()).await;
    let probe = ffprobe::probe(&recorded);
    assert_eq!(stream(&probe, "video")["codec_name"], "h264", "{probe}");
    assert_eq!(stream(&probe, "audio")["codec_name"], "opus", "{probe}");
    let audio = ffprobe::packets(&recorded, "a:0");
    // 4 s of 20 ms Opus packets: 200 (the first few may go before the connection).
    assert!(audio.len() >= 180, "{} Opus packets", audio.len());
    let errors = ffprobe::decode_errors_keeping_times(&recorded);
    assert!(errors.is_empty(), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_clients_fail_with_one_clear_line() {
    let mut settings = whip_whep::WhepSettings::default();
    settings.token = Some("the-right-one".into());
    let server = whip_whep::WhepServer::bind("127.0.0.1:0", "cam", settings).unwrap();
    server.set_codecs(whip_whep::StreamCodecs::new(
        None,
        Some(whip_whep::AudioCodec::Opus),
    ));
    let port = server.local_addr().port();
    let closed = test_support::free_port();
    let opus = test_support::temp_dir();
    for (input, token, expect) in [
        (
            format!("whep://127.0.0.1:{closed}/cam/whep"),
            None,
            "refused",
        ),
        (
            format!("whep://127.0.0.1:{port}/nope/whep"),
            None,
            "answered 404",
        ),
        (
            format!("whep://127.0.0.1:{port}/cam/whep"),
            None,
            "answered 401",
        ),
        (
            format!("whep://127.0.0.1:{port}/cam/whep"),
            Some("s3cret-wrong"),
            "answered 401",
        ),
    ] {
        let mut options = Options::default();
        options.remote.token = token.map(str::to_owned);
        let started = Instant::now();
        let p = Pipeline::new(
            Endpoint::parse(&input, Direction::Input).unwrap(),
            Endpoint::parse(
                opus.path().join("x.mp4").to_str().unwrap(),
                Direction::Output,
            )
            .unwrap(),
        )
        .with_options(options)
        .spawn();
        let result = tokio::time::timeout(Duration::from_secs(30), p.wait())
            .await
            .expect("no hang");
        let error = result.unwrap_err().to_string();
        eprintln!("{input}: {error} ({:?})", started.elapsed());
        assert!(error.contains(expect), "{error}");
        assert!(
            !error.contains("s3cret") && !error.contains('\n'),
            "{error}"
        );
    }
    // whip:// fails when the tracks are known and the offer is refused: nobody listening,
    // and a WHEP endpoint that is no WHIP endpoint (404).
    for (output, expect) in [
        (format!("whip://127.0.0.1:{closed}/pub/whip"), "refused"),
        (format!("whip://127.0.0.1:{port}/cam/whip"), "answered 404"),
    ] {
        let mut options = Options::default();
        options.remote.token = Some("s3cret-whip".into());
        let p = Pipeline::new(
            Endpoint::parse(
                test_support::fixture("h264.mp4").to_str().unwrap(),
                Direction::Input,
            )
            .unwrap(),
            Endpoint::parse(&output, Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn();
        let result = tokio::time::timeout(Duration::from_secs(30), p.wait())
            .await
            .expect("no hang");
        let error = result.unwrap_err().to_string();
        eprintln!("{output}: {error}");
        assert!(error.contains(expect), "{error}");
        assert!(
            !error.contains("s3cret") && !error.contains('\n'),
            "{error}"
        );
    }
    // whip:// with a query (where a token might be put) is refused, without showing it.
    let error = Endpoint::parse("whip://127.0.0.1:1/x/whip?token=s3cret", Direction::Output)
        .unwrap_err()
        .to_string();
    assert!(
        !error.contains("s3cret") && error.contains("--token"),
        "{error}"
    );
}
