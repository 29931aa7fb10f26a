//! The `rtsp-probe` example against the GStreamer server: its JSON lines carry the tracks,
//! per-second statistics and the lifecycle.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use test_support::rtsp::RtspServer;

/// The example binary, built if `cargo test` did not build it (e.g. `--test probe`).
fn probe_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/debug
    let path = profile_dir.join("examples").join("rtsp-probe");
    if !path.exists() {
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
