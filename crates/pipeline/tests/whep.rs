//! RTSP test camera (gst-rtsp-server, H.264 640x360 15 fps, G.711 A-law) → `whep-listen://`,
//! watched by headless Chromium through the served player page (WHEP, DTLS-SRTP over
//! str0m): the page's `getStats()` must show decoded frames and the camera's size. Also
//! the signalling's answers to bad requests (garbage SDP, unknown session).
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they become #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::rtsp::RtspServer;

fn peers(test: &str) -> bool {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.push("chromium");
    test_support::peers_present(test, &names)
}

/// One HTTP/1.1 request; returns the status and the body.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// An offer as headless Chromium makes it (recvonly video + audio).
const CHROMIUM_OFFER: &str = include_str!("../../whip-whep/tests/data/chromium_recvonly_offer.sdp");

fn number(report: &serde_json::Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn camera_plays_in_chromium_through_whep() {
    if !peers("camera_plays_in_chromium_through_whep") {
        return;
    }
    let camera = RtspServer::start_default();
    let port = test_support::free_port();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(40));
    // With its G.711 (PCMA) audio, which goes to the browser as it is.
    let input = Endpoint::parse(&camera.url("/h264pcma"), Direction::Input).unwrap();
    let output = Endpoint::parse(
        &format!("whep-listen://127.0.0.1:{port}/cam"),
        Direction::Output,
    )
    .unwrap();
    let pipeline = Pipeline::new(input, output).with_options(options).spawn();

    // Bad requests get clear errors, while the stream runs.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, page) = loop {
        let r = tokio::task::spawn_blocking(move || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then(|| request(port, "GET", "/cam", ""))
        })
        .await
        .unwrap();
        match r {
            Some(r) => break r,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            None => panic!("whep-listen never listened"),
        }
    };
    assert_eq!(status, 200);
    assert!(page.contains("RTCPeerConnection"), "the player page");
    let bad = tokio::task::spawn_blocking(move || {
        (
            request(port, "POST", "/cam/whep", "this is not SDP"),
            request(port, "DELETE", "/cam/whep/0123456789abcdef", ""),
            request(port, "PATCH", "/cam/whep/0123456789abcdef", ""),
            request(port, "GET", "/elsewhere", ""),
        )
    })
    .await
    .unwrap();
    eprintln!("bad requests: {bad:?}");
    // Before the stream's tracks are known the offer may get 503; after, 400.
    assert!(matches!(bad.0.0, 400 | 503), "garbage SDP: {:?}", bad.0);
    assert_eq!(bad.1.0, 404, "DELETE of an unknown session");
    assert_eq!(bad.2.0, 405, "PATCH: no trickle on an ICE-lite server");
    assert_eq!(bad.3.0, 404);

    // Chromium opens the player page and reports its getStats() once a second.
    let reports = test_support::chromium::ReportServer::start();
    let profile = test_support::temp_dir();
    let url = format!("http://127.0.0.1:{port}/cam?report={}", reports.url());
    let started = Instant::now();
    let mut chromium = test_support::chromium::launch(&url, profile.path(), &[]);
    let mut last = serde_json::Value::Null;
    let mut passed_at = None;
    let mut connected_at = None;
    while started.elapsed() < Duration::from_secs(30) {
        let Some(text) = reports.next(Duration::from_secs(2)) else {
            continue;
        };
        last = serde_json::from_str(&text).unwrap();
        eprintln!("page: {last}");
        if last["state"] == "connected" && connected_at.is_none() {
            connected_at = Some(started.elapsed());
        }
        if number(&last, "framesDecoded") > 100.0 && number(&last, "width") > 0.0 {
            passed_at = Some(started.elapsed());
            break;
        }
    }
    assert!(
        passed_at.is_some(),
        "more than 100 frames decoded in Chromium within 30 s: {last}"
    );
    // While it plays: bad requests get clear errors (the stream has started: 400), and a
    // flood of offers that never complete ICE leaves the viewer playing.
    let flood = tokio::task::spawn_blocking(move || {
        let garbage = request(port, "POST", "/cam/whep", "this is not SDP");
        let statuses: Vec<u16> = (0..100)
            .map(|_| request(port, "POST", "/cam/whep", CHROMIUM_OFFER).0)
            .collect();
        (garbage, statuses)
    })
    .await
    .unwrap();
    eprintln!("while playing: garbage {:?}, flood {:?}", flood.0, flood.1);
    assert_eq!(flood.0.0, 400, "garbage SDP: {:?}", flood.0);
    assert!(
        flood.1.iter().all(|s| matches!(s, 201 | 503)),
        "{:?}",
        flood.1
    );
    assert!(flood.1.contains(&503), "connecting sessions are bounded");
    let before = number(&last, "framesDecoded");
    let resumed = Instant::now();
    let mut latency = Vec::new();
    while resumed.elapsed() < Duration::from_secs(4) {
        if let Some(text) = reports.next(Duration::from_secs(1)) {
            last = serde_json::from_str(&text).unwrap();
            latency.push((
                last["captureToDisplay"].clone(),
                last["receiveToDisplay"].clone(),
            ));
        }
    }
    // Display time minus the last packet's arrival per frame (Chromium's jitter buffer,
    // decode and render), per second. (Its capture time stays empty: Chromium fills it
    // from the abs-capture-time header extension, which str0m does not send.)
    eprintln!("latency (write → display, receive → display), ms: {latency:?}");
    let steady = latency.last().map(|(_, r)| number(r, "median"));
    assert!(
        steady.is_some_and(|r| r > 0.0 && r < 1000.0),
        "frames shown within a second of their last packet: {latency:?}"
    );
    let after = number(&last, "framesDecoded");
    eprintln!("framesDecoded {before} -> {after} during and after the flood");
    assert!(
        after - before >= 30.0,
        "the viewer kept playing: {before} -> {after}"
    );
    chromium.stop();
    pipeline.close();
    let summary = tokio::time::timeout(Duration::from_secs(20), pipeline.wait())
        .await
        .expect("the pipeline ends when closed");
    eprintln!("last report: {last}; passed after {passed_at:?}; pipeline: {summary:?}");
    let passed_at = passed_at.expect("more than 100 frames decoded in Chromium within 30 s");
    assert_eq!(number(&last, "width"), 640.0, "{last}");
    assert_eq!(number(&last, "height"), 360.0, "{last}");
    assert_eq!(
        last["audioMime"], "audio/PCMA",
        "the camera's G.711: {last}"
    );
    assert!(number(&last, "audioSamples") > 0.0, "audio played: {last}");
    eprintln!(
        "framesDecoded > 100 after {:.1} s from Chromium's start (connected after {:?})",
        passed_at.as_secs_f64(),
        connected_at
    );
}

/// With transcoding (the `codec` feature; `if-needed`, the default), a camera's AAC, which
/// WebRTC cannot carry, reaches the browser as Opus: the camera's `/h264aac` mount →
/// `whep-listen://` → Chromium's player page, whose `getStats()` shows Opus samples played
/// next to the decoded video.
#[cfg(feature = "codec")]
#[tokio::test(flavor = "multi_thread")]
async fn camera_aac_is_heard_in_chromium_as_opus() {
    if !peers("camera_aac_is_heard_in_chromium_as_opus") {
        return;
    }
    let camera = RtspServer::start_default();
    let port = test_support::free_port();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(40));
    let input = Endpoint::parse(&camera.url("/h264aac"), Direction::Input).unwrap();
    let output = Endpoint::parse(
        &format!("whep-listen://127.0.0.1:{port}/cam"),
        Direction::Output,
    )
    .unwrap();
    let pipeline = Pipeline::new(input, output).with_options(options).spawn();
    let reports = test_support::chromium::ReportServer::start();
    let profile = test_support::temp_dir();
    let url = format!("http://127.0.0.1:{port}/cam?report={}", reports.url());
    // The page retries until the server listens and knows its tracks.
    let mut chromium = test_support::chromium::launch(&url, profile.path(), &[]);
    let started = Instant::now();
    let mut last = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(30) {
        let Some(text) = reports.next(Duration::from_secs(2)) else {
            continue;
        };
        last = serde_json::from_str(&text).unwrap();
        if number(&last, "framesDecoded") > 50.0 && number(&last, "audioSamples") > 48_000.0 {
            break;
        }
    }
    chromium.stop();
    pipeline.close();
    let _ = tokio::time::timeout(Duration::from_secs(20), pipeline.wait()).await;
    eprintln!("last report: {last}");
    assert_eq!(last["audioMime"], "audio/opus", "the AAC as Opus: {last}");
    assert!(
        number(&last, "audioSamples") > 48_000.0,
        "a second of Opus played: {last}"
    );
    assert!(number(&last, "framesDecoded") > 50.0, "video too: {last}");
}
