//! A WebRTC relay in one pipeline, `whip-listen://` → `whep-listen://`: one headless
//! Chromium (fake camera) publishes VP8 (VP9, AV1) and Opus by WHIP, a second one
//! watches the WHEP player page. The viewer's `getStats()` must show frames of that codec
//! decoded (more than 50) at the fake camera's size: the frames went through as they
//! were, not transcoded. Late viewers get a key frame made for them by the publisher,
//! also through a second relay that pulls the first with `whep://`.
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they become #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};

fn number(report: &serde_json::Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn vp8_published_by_whip_plays_through_whep() {
    relay(
        "vp8_published_by_whip_plays_through_whep",
        "vp8",
        "video/VP8",
        Late::No,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vp9_published_by_whip_plays_through_whep() {
    relay(
        "vp9_published_by_whip_plays_through_whep",
        "vp9",
        "video/VP9",
        Late::No,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn av1_published_by_whip_plays_through_whep() {
    relay(
        "av1_published_by_whip_plays_through_whep",
        "av1",
        "video/AV1",
        Late::No,
    )
    .await;
}

/// A viewer that comes after the server stopped keeping frames for late joiners (more
/// than its 512 since the key frame; Chromium's encoder makes no key frame unasked): the
/// server asks the pipeline's source for one, which asks the publisher (PLI), and the
/// viewer starts at the new key frame.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_viewer_gets_a_key_frame_from_the_publisher() {
    relay(
        "a_late_viewer_gets_a_key_frame_from_the_publisher",
        "vp8",
        "video/VP8",
        Late::Direct,
    )
    .await;
}

/// The same through a second relay: pipeline B pulls pipeline A's `whep-listen://` with
/// `whep://` and serves it again; B's late viewer's request goes B's server → B's
/// `whep://` source (PLI to A) → A's server → A's `whip-listen://` source → publisher.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_viewer_of_a_whep_client_relay_gets_a_key_frame_from_the_publisher() {
    relay(
        "a_late_viewer_of_a_whep_client_relay_gets_a_key_frame_from_the_publisher",
        "vp8",
        "video/VP8",
        Late::ThroughWhepClient,
    )
    .await;
}

#[derive(Clone, Copy, PartialEq)]
enum Late {
    /// The viewer comes at once.
    No,
    /// The viewer comes after 620 frames were published.
    Direct,
    /// As `Direct`, watching a second pipeline that pulls the first with `whep://`.
    ThroughWhepClient,
}

/// Publishes `codec` (the page's `?codec=`) and watches it; the viewer's decoder must
/// be `mime`.
async fn relay(test: &str, codec: &str, mime: &str, late: Late) {
    if !test_support::peers_present(test, &["chromium"]) {
        return;
    }
    let whip_port = test_support::free_port();
    let whep_port = test_support::free_port();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(120));
    let input = Endpoint::parse(
        &format!("whip-listen://127.0.0.1:{whip_port}/pub"),
        Direction::Input,
    )
    .unwrap();
    let output = Endpoint::parse(
        &format!("whep-listen://127.0.0.1:{whep_port}/watch"),
        Direction::Output,
    )
    .unwrap();
    let pipeline = Pipeline::new(input, output)
        .with_options(options.clone())
        .spawn();
    // Pipeline B (the second relay), pulling from A once A's stream has tracks (503
    // before: tried again every 0.5 s).
    let relay_port = test_support::free_port();
    let b_closer: Arc<Mutex<Option<pipeline::Closer>>> = Arc::default();
    let second = (late == Late::ThroughWhepClient).then(|| {
        let from = format!("whep://127.0.0.1:{whep_port}/watch/whep");
        let to = format!("whep-listen://127.0.0.1:{relay_port}/again");
        let closer = b_closer.clone();
        tokio::spawn(async move {
            for _ in 0..120 {
                let b = Pipeline::new(
                    Endpoint::parse(&from, Direction::Input).unwrap(),
                    Endpoint::parse(&to, Direction::Output).unwrap(),
                )
                .with_options(options.clone())
                .spawn();
                *closer.lock().unwrap() = Some(b.closer());
                match b.wait().await {
                    Err(e) if e.to_string().contains("503") => {
                        tokio::time::sleep(Duration::from_millis(500)).await
                    }
                    other => return other,
                }
            }
            panic!("pipeline B never pulled from A");
        })
    });
    for port in [whip_port, whep_port] {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let published = test_support::chromium::ReportServer::start();
    let publisher_profile = test_support::temp_dir();
    let mut publisher = test_support::chromium::launch(
        &format!(
            "http://127.0.0.1:{whip_port}/pub?codec={codec}&report={}",
            published.url()
        ),
        publisher_profile.path(),
        &[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    );
    let mut key_frames_before = 0.0;
    if late != Late::No {
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(80) {
            let Some(text) = published.next(Duration::from_secs(2)) else {
                continue;
            };
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            key_frames_before = number(&report, "keyFramesEncoded");
            if number(&report, "framesEncoded") > 620.0 {
                eprintln!("publisher before the viewer: {report}");
                break;
            }
        }
    }
    // The viewer retries every 2 s until the stream's tracks are known (503 before).
    let watched = test_support::chromium::ReportServer::start();
    let viewer_profile = test_support::temp_dir();
    let watch = match late {
        Late::ThroughWhepClient => format!("127.0.0.1:{relay_port}/again"),
        _ => format!("127.0.0.1:{whep_port}/watch"),
    };
    let mut viewer = test_support::chromium::launch(
        &format!("http://{watch}?report={}", watched.url()),
        viewer_profile.path(),
        &[],
    );

    let started = Instant::now();
    let mut last = serde_json::Value::Null;
    let mut passed_at = None;
    while started.elapsed() < Duration::from_secs(40) {
        let Some(text) = watched.next(Duration::from_secs(2)) else {
            continue;
        };
        last = serde_json::from_str(&text).unwrap();
        eprintln!("viewer: {last}");
        if number(&last, "framesDecoded") > 50.0 && number(&last, "width") > 0.0 {
            passed_at = Some(started.elapsed());
            break;
        }
    }
    // The publisher reports once a second: let one more come.
    let mut publisher_last = serde_json::Value::Null;
    let reported = Instant::now();
    while reported.elapsed() < Duration::from_millis(1500) {
        if let Some(r) = published.next(Duration::from_millis(100)) {
            publisher_last = serde_json::from_str(&r).unwrap();
        }
    }
    eprintln!("publisher: {publisher_last}");
    viewer.stop();
    if let Some(b) = b_closer.lock().unwrap().take() {
        b.close();
    }
    if let Some(task) = second {
        let b = tokio::time::timeout(Duration::from_secs(20), task).await;
        eprintln!("pipeline B: {b:?}");
    }
    publisher.stop();
    pipeline.close();
    let summary = tokio::time::timeout(Duration::from_secs(20), pipeline.wait())
        .await
        .expect("the pipeline ends when closed");
    eprintln!("pipeline: {summary:?}");
    let passed_at = passed_at
        .unwrap_or_else(|| panic!("more than 50 frames decoded by the viewer within 40 s: {last}"));
    assert_eq!(last["videoMime"], mime, "{last}");
    if late != Late::No {
        assert!(
            key_frames_before >= 1.0
                && number(&publisher_last, "keyFramesEncoded") > key_frames_before,
            "a key frame was made for the late viewer: {key_frames_before} before, {publisher_last}"
        );
    }
    // The publisher page asks the fake camera for 640x360.
    assert_eq!(number(&last, "width"), 640.0, "{last}");
    assert_eq!(number(&last, "height"), 360.0, "{last}");
    eprintln!(
        "framesDecoded {} ({mime}) after {:.1} s from the Chromiums' start",
        number(&last, "framesDecoded"),
        passed_at.as_secs_f64()
    );
}
