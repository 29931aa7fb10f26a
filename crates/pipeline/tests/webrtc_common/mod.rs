//! Helpers shared by the WebRTC tests (`whep_client.rs`, `whep_client_vp.rs`,
//! `aiortc.rs`, `glass_to_glass.rs`, `whep_viewers.rs`): a camera served on
//! `whep-listen://`, waiting for a server to listen, pulling a `whep://` stream into a file while the
//! server still waits for its source's tracks, and reading ffprobe's streams.
#![allow(dead_code, clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they are #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline, PipelineHandle, Summary};

/// Serves `input` (a camera's URL) on `whep-listen://127.0.0.1:{port}/cam` for at most
/// 60 s (close it sooner); its WHEP endpoint is `http://127.0.0.1:{port}/cam/whep`.
pub fn serve_on_whep(input: &str, port: u16) -> PipelineHandle {
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(60));
    Pipeline::new(
        Endpoint::parse(input, Direction::Input).unwrap(),
        Endpoint::parse(
            &format!("whep-listen://127.0.0.1:{port}/cam"),
            Direction::Output,
        )
        .unwrap(),
    )
    .with_options(options)
    .spawn()
}

/// Waits (at most 10 s) until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// Pulls `input` (a `whep://` URL) into `file` for `seconds`. Until the server's stream
/// has tracks it answers 503: the pull is tried again every 0.5 s for up to `retry_for`.
pub async fn pull(
    input: &str,
    file: &Path,
    seconds: f64,
    retry_for: Duration,
) -> Result<Summary, pipeline::Error> {
    let started = Instant::now();
    let result = loop {
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs_f64(seconds));
        let b = Pipeline::new(
            Endpoint::parse(input, Direction::Input).unwrap(),
            Endpoint::parse(file.to_str().unwrap(), Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn();
        let result = tokio::time::timeout(Duration::from_secs(40), b.wait())
            .await
            .expect("pipeline B ends");
        match result {
            Err(e) if e.to_string().contains("503") && started.elapsed() < retry_for => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            other => break other,
        }
    };
    eprintln!("B: {result:?} after {:?}", started.elapsed());
    result
}

/// A recording's video as ffprobe sees it: `codec` at `size` (asserted); returns the
/// whole probe and the number of video packets.
pub fn probe_video(file: &Path, codec: &str, size: (f64, f64)) -> (serde_json::Value, f64) {
    let probe = test_support::ffprobe::probe(file);
    let video = stream(&probe, "video");
    assert_eq!(video["codec_name"], codec, "{probe}");
    let num = test_support::ffprobe::num;
    assert_eq!(
        (num(&video["width"]), num(&video["height"])),
        size,
        "{probe}"
    );
    let frames = test_support::ffprobe::packets(file, "v:0").len() as f64;
    (probe, frames)
}

/// The first stream of `kind` ("video", "audio") in ffprobe's output.
pub fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream: {probe}"))
}
