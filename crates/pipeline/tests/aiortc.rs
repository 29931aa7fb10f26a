//! aiortc (Python's WebRTC stack: its own ICE, DTLS, SRTP, depacketizers and libav
//! codecs) as the other side of our WebRTC endpoints, besides Chromium:
//! - it plays the RTSP test camera (H.264 640x360 15 fps with G.711 A-law, then µ-law)
//!   from `whep-listen://`: decoded pictures at the camera's size and rate, and the
//!   camera's PCMA or PCMU audio as it is;
//! - it publishes a generated picture (VP8, then H.264, encoded by aiortc) and an Opus
//!   tone by WHIP into `whip-listen://`, recorded to MP4: ffprobe sees both codecs, about
//!   the recorded duration at 25 fps, and ffmpeg decodes every frame;
//! - as a server (test-support's `scripts/aiortc_server.py`) it serves VP8 and H.264 to
//!   our `whep://` client (recorded to MP4 and checked as above) and takes our `whip://`
//!   client's push of an H.264 + Opus file (aiortc decodes it).
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they are #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

mod webrtc_common;

use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::aiortc::AiortcServer;
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

const PLAY_SECONDS: f64 = 6.0;
const RECORD_SECONDS: f64 = 5.0;

fn peers(test: &str, others: &[&'static str]) -> bool {
    let mut names: Vec<&str> = test_support::aiortc::PEERS.to_vec();
    names.extend_from_slice(others);
    test_support::peers_present(test, &names)
}

#[tokio::test(flavor = "multi_thread")]
async fn aiortc_plays_g711_cameras_through_whep() {
    if !peers("aiortc_plays_g711_cameras_through_whep", RtspServer::PEERS) {
        return;
    }
    let camera = RtspServer::start_default();
    for (mount, audio) in [("/h264pcma", "PCMA/8000"), ("/h264pcmu", "PCMU/8000")] {
        plays(&camera, mount, audio).await;
    }
}

/// aiortc plays the camera's `mount` (H.264 and G.711) from `whep-listen://`; its audio
/// must be `audio` (the answer's rtpmap) as the camera sends it.
async fn plays(camera: &RtspServer, mount: &str, audio: &str) {
    let port = test_support::free_port();
    let pipeline = webrtc_common::serve_on_whep(&camera.url(mount), port);
    webrtc_common::wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/cam/whep");
    // Until the camera's tracks are known the server answers 503.
    let started = Instant::now();
    let seen = loop {
        let url = url.clone();
        let played =
            tokio::task::spawn_blocking(move || test_support::aiortc::play(&url, PLAY_SECONDS))
                .await
                .unwrap();
        match played {
            Err(e) if e.contains(" 503 ") && started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            other => break other.unwrap(),
        }
    };
    pipeline.close();
    let summary = tokio::time::timeout(Duration::from_secs(20), pipeline.wait()).await;
    eprintln!("{mount}: aiortc saw {seen}; pipeline: {summary:?}");
    assert_eq!(seen["video_codec"], "H264/90000", "{seen}");
    assert_eq!((num(&seen["width"]), num(&seen["height"])), (640.0, 360.0));
    // 15 fps for PLAY_SECONDS, less the connection's set-up.
    let frames = num(&seen["video_frames"]);
    assert!(
        frames >= 15.0 * (PLAY_SECONDS - 2.0),
        "{frames} pictures decoded in {PLAY_SECONDS} s: {seen}"
    );
    assert!(num(&seen["first_video_after_s"]) < 3.0, "{seen}");
    assert_eq!(seen["audio_codec"], audio, "the camera's G.711 as it is");
    assert_eq!(num(&seen["audio_rate"]), 8000.0);
    assert!(
        num(&seen["audio_seconds"]) >= PLAY_SECONDS - 2.5,
        "audio decoded: {seen}"
    );
    // The audio's RTP times advance at G.711's 8 kHz clock: their span is the samples'.
    assert!(
        (num(&seen["audio_time_span_s"]) - num(&seen["audio_seconds"])).abs() < 0.5,
        "audio times against samples: {seen}"
    );
    assert_eq!(
        num(&seen["delete_status"]),
        200.0,
        "DELETE ends the session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aiortc_publishes_vp8_and_h264_by_whip_into_mp4() {
    if !peers(
        "aiortc_publishes_vp8_and_h264_by_whip_into_mp4",
        &["ffprobe", "ffmpeg"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    for (codec, probed) in [("vp8", "vp8"), ("h264", "h264")] {
        let port = test_support::free_port();
        let file = dir.path().join(format!("{codec}.mp4"));
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs_f64(RECORD_SECONDS));
        let pipeline = Pipeline::new(
            Endpoint::parse(
                &format!("whip-listen://127.0.0.1:{port}/pub"),
                Direction::Input,
            )
            .unwrap(),
            Endpoint::parse(file.to_str().unwrap(), Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn();
        webrtc_common::wait_listening(port).await;
        // Publishes longer than the recording: the recording ends the session.
        let url = format!("http://127.0.0.1:{port}/pub/whip");
        let published = tokio::task::spawn_blocking(move || {
            test_support::aiortc::publish(&url, RECORD_SECONDS + 2.0, codec)
        })
        .await
        .unwrap()
        .unwrap();
        let summary = tokio::time::timeout(Duration::from_secs(20), pipeline.wait())
            .await
            .expect("the recording ends after its duration")
            .unwrap();
        eprintln!("{codec}: aiortc {published}; {summary:?}");
        assert_eq!(summary.files, vec![file.clone()]);

        let (probe, frames) = webrtc_common::probe_video(&file, probed, (640.0, 360.0));
        let audio = webrtc_common::stream(&probe, "audio");
        assert_eq!(audio["codec_name"], "opus", "{probe}");
        let duration = num(&probe["format"]["duration"]);
        assert!(
            (RECORD_SECONDS - 0.5..=RECORD_SECONDS + 0.5).contains(&duration),
            "{codec}: duration {duration}"
        );
        // aiortc sends 25 pictures a second.
        assert!(
            (frames - 25.0 * RECORD_SECONDS).abs() <= 0.15 * 25.0 * RECORD_SECONDS,
            "{codec}: {frames} pictures in {RECORD_SECONDS} s"
        );
        let errors = ffprobe::decode_errors_keeping_times(&file);
        assert!(errors.is_empty(), "{codec}: {errors}");
    }
}

/// Our `whep://` client against aiortc's WHEP server (not ours: the other side's ICE,
/// DTLS, SRTP and packetizers are aiortc's): VP8, then H.264, each pulled 4 s into MP4.
#[tokio::test(flavor = "multi_thread")]
async fn whep_client_pulls_from_an_aiortc_server() {
    if !peers(
        "whep_client_pulls_from_an_aiortc_server",
        &["ffprobe", "ffmpeg"],
    ) {
        return;
    }
    const SECONDS: f64 = 4.0;
    let dir = test_support::temp_dir();
    for (codec, probed) in [("vp8", "vp8"), ("h264", "h264")] {
        let server = tokio::task::spawn_blocking(move || {
            AiortcServer::start("whep", SECONDS + 4.0, Some(codec))
        })
        .await
        .unwrap();
        let file = dir.path().join(format!("pulled-{codec}.mp4"));
        let url = format!("whep://127.0.0.1:{}/whep", server.port);
        let summary = webrtc_common::pull(&url, &file, SECONDS, Duration::from_secs(5))
            .await
            .unwrap();
        let report = tokio::task::spawn_blocking(move || server.report())
            .await
            .unwrap();
        eprintln!("{codec}: {summary:?}; aiortc server: {report}");
        assert_eq!(report["deleted"], 1, "our client ended its session");
        let (probe, frames) = webrtc_common::probe_video(&file, probed, (640.0, 360.0));
        assert_eq!(webrtc_common::stream(&probe, "audio")["codec_name"], "opus");
        assert!(
            (frames - 25.0 * SECONDS).abs() <= 0.15 * 25.0 * SECONDS,
            "{codec}: {frames} pictures in {SECONDS} s"
        );
        let errors = ffprobe::decode_errors_keeping_times(&file);
        assert!(errors.is_empty(), "{codec}: {errors}");
    }
}

/// Our `whip://` client against aiortc's WHIP server: a 4 s H.264 + Opus file made by
/// ffmpeg, pushed in real time; aiortc decodes every picture at the file's size.
#[tokio::test(flavor = "multi_thread")]
async fn whip_client_pushes_to_an_aiortc_server() {
    if !peers("whip_client_pushes_to_an_aiortc_server", &["ffmpeg"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-g",
            "25",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "libopus", "-ac", "2", "-b:a", "48k",
        ])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    let server = tokio::task::spawn_blocking(|| AiortcServer::start("whip", 30.0, None))
        .await
        .unwrap();
    let summary = Pipeline::new(
        Endpoint::parse(source.to_str().unwrap(), Direction::Input).unwrap(),
        Endpoint::parse(
            &format!("whip://127.0.0.1:{}/whip", server.port),
            Direction::Output,
        )
        .unwrap(),
    )
    .run()
    .await
    .unwrap();
    // It reports at our DELETE.
    let report = tokio::task::spawn_blocking(move || server.report())
        .await
        .unwrap();
    eprintln!("{summary:?}; aiortc server: {report}");
    assert_eq!(report["deleted"], 1, "our client ended its session");
    assert_eq!(
        (num(&report["width"]), num(&report["height"])),
        (320.0, 240.0)
    );
    assert!(
        num(&report["video_frames"]) >= 90.0,
        "of 100 pictures: {report}"
    );
    assert!(num(&report["audio_seconds"]) >= 3.5, "{report}");
    assert!(
        (num(&report["audio_time_span_s"]) - num(&report["audio_seconds"])).abs() < 0.5,
        "audio times against samples: {report}"
    );
}
