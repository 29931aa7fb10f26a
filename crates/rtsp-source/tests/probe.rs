//! The `rtsp-probe` example against the GStreamer server: its JSON lines carry the tracks,
//! per-second statistics and the lifecycle.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};

/// The example binary, built (or found up to date) first: `cargo test --test probe` does
/// not build examples, and a stale one would be tested otherwise.
fn probe_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/debug
    let path = profile_dir.join("examples").join("rtsp-probe");
    {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "rtsp-source", "--example", "rtsp-probe"])
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

#[test]
fn probe_prints_tracks_stats_and_lifecycle() {
    if !test_support::peers_present("probe", RtspServer::PEERS) {
        return;
    }
    let binary = probe_binary();
    let server = RtspServer::start_default();
    let out = Command::new(binary)
        .arg(server.url("/h264aac"))
        .args(["--duration", "2.5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str| -> Vec<&Value> { lines.iter().filter(|l| l["event"] == kind).collect() };

    assert_eq!(of("connected")[0]["url"], server.url("/h264aac"));
    let tracks = &of("tracks")[0]["tracks"];
    assert_eq!(tracks[0]["codec"], "H264");
    assert_eq!(tracks[0]["video"]["width"], 640);
    assert_eq!(tracks[0]["video"]["fps"], 15.0);
    assert_eq!(tracks[1]["codec"], "Aac");
    assert_eq!(tracks[1]["audio"]["sample_rate"], 48_000);
    assert_eq!(tracks[1]["codec_string"], "mp4a.40.2");

    let stats = of("stats");
    assert!(stats.len() >= 2, "{lines:?}");
    let frames: u64 = stats
        .iter()
        .map(|s| s["tracks"]["0"]["frames"].as_u64().unwrap_or(0))
        .sum();
    let keyframes: u64 = stats
        .iter()
        .map(|s| s["tracks"]["0"]["keyframes"].as_u64().unwrap_or(0))
        .sum();
    let audio: u64 = stats
        .iter()
        .map(|s| s["tracks"]["1"]["frames"].as_u64().unwrap_or(0))
        .sum();
    // About 2 s of 15 fps video and 46.9 AAC frames per second, counted in full seconds.
    assert!(
        (15..=40).contains(&frames),
        "{frames} video frames: {lines:?}"
    );
    assert!(keyframes >= 1);
    assert!(audio >= 40, "{audio} audio frames");
    assert!(
        stats
            .iter()
            .all(|s| s["tracks"]["0"]["loss"].as_u64().unwrap_or(0) == 0)
    );

    let last = lines.last().unwrap();
    assert_eq!(last["event"], "stopped");
    assert!(last["reason"].is_null());
}

/// A camera that refuses the credentials (Basic auth, the test camera): the probe stops
/// (the refusal is permanent), says why in one line and exits non-zero. It exited 0.
#[test]
fn probe_exits_non_zero_when_the_camera_refuses() {
    if !test_support::peers_present("probe refused", RtspServer::PEERS) {
        return;
    }
    let binary = probe_binary();
    let server = RtspServer::start(RtspServerOptions {
        auth: Some(RtspAuth::Basic {
            user: "cam".into(),
            password: "right".into(),
        }),
        ..RtspServerOptions::default()
    });
    let url = server
        .url("/h264")
        .replace("rtsp://", "rtsp://cam:Wr0ngPw@");
    for once in [false, true] {
        let mut cmd = Command::new(&binary);
        cmd.arg(&url).args(["--duration", "10"]);
        if once {
            cmd.arg("--once");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "once={once}: {stderr}");
        let last = stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with("rtsp-probe: ") && last.contains("401"),
            "once={once}: {stderr}"
        );
        assert!(
            last.contains("refused the credentials") && !last.contains("digest"),
            "once={once}: {last}"
        );
        let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
        assert!(!all.contains("Wr0ngPw"), "password shown: {all}");
    }
}
