//! Glass-to-glass latency (issue 18): the RTSP test camera's `/clock` mount makes 640x360
//! pictures at 25 fps that carry the wall-clock time they were made (48 bits of
//! milliseconds in 16x16 blocks, written twice), encodes them with x264 (zerolatency) and
//! sends them by RTSP; the pipeline serves them on `whep-listen://`; headless Chromium
//! plays them (test-support's `scripts/glass_to_glass.html`) and reads the time back from
//! each picture as it is shown. Made-to-shown covers the camera's encoder, RTSP, us,
//! WebRTC, Chromium's jitter buffer, decoder and compositor, all on one clock.
#![allow(clippy::unwrap_used)]
#![allow(clippy::field_reassign_with_default)]

mod webrtc_common;

use std::time::{Duration, Instant};

use test_support::ffprobe::num;
use test_support::rtsp::RtspServer;

/// Seconds of steady play measured, after the late joiner's first pictures (which were
/// made before it joined) are out of the way.
const WINDOWS: usize = 6;

#[tokio::test(flavor = "multi_thread")]
async fn glass_to_glass_latency_in_chromium() {
    let mut peers: Vec<&str> = RtspServer::PEERS.to_vec();
    peers.push("chromium");
    if !test_support::peers_present("glass_to_glass_latency_in_chromium", &peers) {
        return;
    }
    let camera = RtspServer::start_default();
    let port = test_support::free_port();
    let pipeline = webrtc_common::serve_on_whep(&camera.url("/clock"), port);
    let reports = test_support::chromium::ReportServer::start();
    let page =
        test_support::workspace_root().join("crates/test-support/scripts/glass_to_glass.html");
    let url = format!(
        "file://{}?whep=http://127.0.0.1:{port}/cam/whep&report={}",
        page.display(),
        reports.url()
    );
    let profile = test_support::temp_dir();
    let mut chromium = test_support::chromium::launch(&url, profile.path(), &[]);

    // Each report is one second of shown pictures; the first seconds with pictures are
    // the late joiner's catch-up (pictures made up to a GOP before it joined).
    let started = Instant::now();
    let mut playing = Vec::new();
    let mut last = serde_json::Value::Null;
    while playing.len() < WINDOWS + 2 && started.elapsed() < Duration::from_secs(40) {
        let Some(text) = reports.next(Duration::from_secs(2)) else {
            continue;
        };
        last = serde_json::from_str(&text).unwrap();
        eprintln!("page: {last}");
        if last["glassToDisplay"]["frames"]
            .as_f64()
            .is_some_and(|n| n > 0.0)
        {
            playing.push(last.clone());
        }
    }
    chromium.stop();
    pipeline.close();
    let _ = tokio::time::timeout(Duration::from_secs(20), pipeline.wait()).await;
    assert!(
        playing.len() >= WINDOWS + 2,
        "pictures read back in Chromium for {} s within 40 s: {last}",
        playing.len()
    );
    let steady = &playing[2..];
    let (mut frames, mut unreadable, mut medians, mut p95s) = (0.0, 0.0, vec![], vec![]);
    for window in steady {
        let g = &window["glassToDisplay"];
        frames += num(&g["frames"]);
        unreadable += num(&window["unreadable"]);
        medians.push(num(&g["median"]));
        p95s.push(num(&g["p95"]));
    }
    medians.sort_by(f64::total_cmp);
    p95s.sort_by(f64::total_cmp);
    let receive: Vec<f64> = steady
        .iter()
        .filter_map(|w| w["receiveToDisplay"]["median"].as_f64())
        .collect();
    eprintln!(
        "glass to glass over {} s: {frames} pictures, {unreadable} unreadable; \
         per-second medians {medians:?} ms, p95s {p95s:?} ms; \
         Chromium's part (received → shown) medians {receive:?} ms",
        steady.len()
    );
    // 25 fps, and the times read back (both copies agree) for nearly every picture.
    assert!(
        frames >= 20.0 * steady.len() as f64,
        "{frames} pictures in {} s",
        steady.len()
    );
    assert!(
        unreadable <= 0.05 * frames,
        "{unreadable} of {frames} unreadable"
    );
    let median = medians[medians.len() / 2];
    assert!(
        median > 0.0 && median < 1000.0,
        "glass-to-glass median {median} ms"
    );
}
