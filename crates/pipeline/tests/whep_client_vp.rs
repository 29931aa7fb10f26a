//! VP8, VP9 and AV1 through the WHEP client: headless Chromium (fake camera) publishes
//! that codec by WHIP into pipeline A (`whip-listen://` → `whep-listen://`), pipeline B
//! pulls it with `whep://` into MP4. ffprobe must find that codec at the fake camera's
//! 640x360 over the recorded seconds, and ffmpeg must decode it without a complaint: the
//! frames went publisher → relay → client → file as they were.
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they become #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

mod webrtc_common;

use std::time::Duration;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};
use webrtc_common::wait_listening;

const SECONDS: f64 = 4.0;

#[tokio::test(flavor = "multi_thread")]
async fn chromium_vp8_through_whep_listen_into_whep_client() {
    pull("chromium_vp8_through_whep_listen_into_whep_client", "vp8").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_vp9_through_whep_listen_into_whep_client() {
    pull("chromium_vp9_through_whep_listen_into_whep_client", "vp9").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_av1_through_whep_listen_into_whep_client() {
    pull("chromium_av1_through_whep_listen_into_whep_client", "av1").await;
}

/// ffmpeg's complaints when it decodes every frame (empty: clean).
/// Publishes `codec` (the page's `?codec=`) into the relay and pulls it into an MP4.
async fn pull(test: &str, codec: &str) {
    if !test_support::peers_present(test, &["chromium", "ffprobe", "ffmpeg"]) {
        return;
    }
    let whip_port = test_support::free_port();
    let whep_port = test_support::free_port();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(90));
    let a = Pipeline::new(
        Endpoint::parse(
            &format!("whip-listen://127.0.0.1:{whip_port}/pub"),
            Direction::Input,
        )
        .unwrap(),
        Endpoint::parse(
            &format!("whep-listen://127.0.0.1:{whep_port}/watch"),
            Direction::Output,
        )
        .unwrap(),
    )
    .with_options(options)
    .spawn();
    for port in [whip_port, whep_port] {
        wait_listening(port).await;
    }
    let profile = test_support::temp_dir();
    let mut publisher = test_support::chromium::launch(
        &format!("http://127.0.0.1:{whip_port}/pub?codec={codec}"),
        profile.path(),
        &[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    );

    let dir = test_support::temp_dir();
    let mp4 = dir.path().join("pulled.mp4");
    let input = format!("whep://127.0.0.1:{whep_port}/watch/whep");
    // Until the publish's tracks are known the server answers 503: try again.
    let result = webrtc_common::pull(&input, &mp4, SECONDS, Duration::from_secs(30)).await;
    publisher.stop();
    a.close();
    let _ = tokio::time::timeout(Duration::from_secs(20), a.wait()).await;
    result.unwrap();

    let (probe, frames) = webrtc_common::probe_video(&mp4, codec, (640.0, 360.0));
    let duration = num(&probe["format"]["duration"]);
    eprintln!("{codec}: {frames} frames in {duration} s");
    assert!(
        (SECONDS - 1.0..=SECONDS + 1.0).contains(&duration),
        "{duration}"
    );
    // Chromium's fake camera gives about 20 frames/s here (tests/whip.rs: 99-101 in 5 s).
    assert!(frames >= 10.0 * SECONDS, "{frames} frames");
    let errors = ffprobe::decode_errors_keeping_times(&mp4);
    assert!(errors.is_empty(), "{errors}");
}
