//! The `pipeline` binary: SIGINT finishes the file; errors are one line, non-zero, and
//! never show a password.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;
use test_support::ffprobe::{self, num};
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

#[test]
fn sigint_stops_gracefully_and_the_file_is_complete() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("sigint", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let out = dir.path().join("stopped.mp4");
    let child = Command::new(BIN)
        .arg(server.url("/h264aac"))
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    // Wait until recording has started (the .partial file exists), bounded, then record
    // for a while (the data is buffered, so the file's size says little).
    let partial = dir.path().join("stopped.mp4.partial");
    let started = Instant::now();
    while !partial.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "recording did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    child.signal("INT");
    let started = Instant::now();
    while child.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(out.exists() && !partial.exists(), "finalized and renamed");
    let probe = ffprobe::probe(&out);
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2, "{probe}");
    assert!(num(&probe["format"]["duration"]) > 1.0, "{probe}");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

#[test]
fn refused_credentials_fail_in_one_line_without_the_password() {
    if !test_support::peers_present("credentials", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start(RtspServerOptions {
        auth: Some(RtspAuth::Digest {
            user: "admin".into(),
            password: "right".into(),
        }),
        ..RtspServerOptions::default()
    });
    let url = server
        .url("/h264")
        .replace("rtsp://", "rtsp://admin:hunter2@");
    let dir = test_support::temp_dir();
    let out = Command::new(BIN)
        .args(["-v", &url])
        .arg(dir.path().join("x.mp4"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "password shown: {stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("pipeline: ") && last.contains("401"),
        "{stderr}"
    );
    assert!(last.contains("admin:***@"), "{last}");
}

#[test]
fn unknown_endpoints_name_the_string_and_direction() {
    let out = Command::new(BIN)
        .args(["notes.txt", "out.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("input"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = Command::new(BIN).args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--fragmented",
        "--fragment-duration",
        "--faststart",
        "--segment",
        "--duration",
        "--no-video",
        "--no-audio",
        "--transport",
        "--fail-on-loss",
        "--teardown",
        "--initial-timestamp",
        "--user",
        "--password",
        "--verbose",
        "--quiet",
        "<INPUTS>... <OUTPUT>",
    ] {
        assert!(
            help.contains(option),
            "{option} missing from --help:\n{help}"
        );
    }
}

#[test]
fn dash_writes_fragmented_mp4_to_stdout() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mp3-44100.mp3");
    let out = Command::new(BIN)
        .arg("-q")
        .arg(&mp3)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&out.stdout[4..8], b"ftyp");
    assert!(out.stdout.windows(4).any(|w| w == b"moof"), "fragmented");
    let file = dir.path().join("stdout.mp4");
    std::fs::write(&file, &out.stdout).unwrap();
    let probe = ffprobe::probe(&file);
    assert_eq!(probe["streams"][0]["codec_name"], "mp3", "{probe}");
    let expected = num(&ffprobe::probe(&mp3)["format"]["duration"]);
    assert!(
        (num(&probe["format"]["duration"]) - expected).abs() < 0.0011,
        "{probe}"
    );
    assert!(ffprobe::decode_errors(&file).is_empty());
}

/// A client joining the shared mount makes gst-rtsp-server restart the stream for the
/// others (a sequence gap and timestamps starting over). By default the recording goes on
/// and exits 0 with a complete file; `--fail-on-loss` ends it with exit 1 and one line.
#[test]
fn loss_is_counted_by_default_and_fatal_with_fail_on_loss() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("fail_on_loss", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let url = server.url("/h264aac");
    let spawn = |name: &str, strict: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--duration", "5"]);
        if strict {
            cmd.arg("--fail-on-loss");
        }
        cmd.arg(&url)
            .arg(dir.path().join(name))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        ChildGuard::new("pipeline", cmd.spawn().unwrap())
    };
    let default = spawn("default.mp4", false);
    let strict = spawn("strict.mp4", true);
    let started = Instant::now();
    while !dir.path().join("default.mp4.partial").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "recording did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // The joining client: ffmpeg reading one second.
    let joined = Command::new("timeout")
        .args([
            "20",
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(&url)
        .args(["-t", "1", "-f", "null", "-"])
        .status()
        .unwrap();
    assert!(joined.success());
    let finish = |mut child: ChildGuard| child.wait_with_stderr(Duration::from_secs(30));
    let (code, log) = finish(default);
    assert_eq!(code, Some(0), "default: {log}");
    assert!(
        log.contains("timestamps jumped by"),
        "the jump is logged: {log}"
    );
    let file = dir.path().join("default.mp4");
    let d = num(&ffprobe::probe(&file)["format"]["duration"]);
    assert!((d - 5.0).abs() <= 0.2, "default recording lasts {d} s");
    assert!(ffprobe::decode_errors(&file).is_empty());
    let (code, log) = finish(strict);
    assert_eq!(code, Some(1), "strict: {log}");
    let last = log.lines().last().unwrap_or("");
    assert!(
        last.starts_with("pipeline: ") && last.contains("lost"),
        "strict: {log}"
    );
}
