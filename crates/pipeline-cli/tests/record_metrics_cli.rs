//! `pipeline record`'s metrics endpoint, read by the Prometheus project's own Python
//! client (`prometheus_client.openmetrics.parser`), and `/healthz`.
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use test_support::ChildGuard;
use test_support::icecast::http_get;
use test_support::rtsp::RtspServer;

/// Scrapes `/metrics` with urllib and parses it with prometheus_client's OpenMetrics
/// parser; prints one `name{labels} value` line per sample.
const SCRAPE: &str = r#"
import sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
text = urllib.request.urlopen(req, timeout=5).read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;

fn scrape(port: u16, token: &str) -> HashMap<String, f64> {
    let out = Command::new("python3")
        .args([
            "-c",
            SCRAPE,
            &format!("http://127.0.0.1:{port}/metrics"),
            token,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "parser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

#[test]
fn metrics_parse_with_prometheus_client_and_show_each_camera() {
    let mut peers = peers();
    peers.push("prometheus-client-py");
    if !test_support::peers_present("metrics", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let dead_port = test_support::free_port();
    let config = dir.path().join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nroot = \"rec\"\nmin_free_bytes = 1\n\n[metrics]\nlisten = \"127.0.0.1:{port}\"\ntoken_env = \"NVR_METRICS_TOKEN\"\n\n\
             [[camera]]\nname = \"live\"\nurl = \"{}\"\nsegment_seconds = 2\n\n\
             [[camera]]\nname = \"dead\"\nurl = \"rtsp://127.0.0.1:{dead_port}/x\"\nsegment_seconds = 2\n",
            server.url("/h264aac")
        ),
    )
    .unwrap();
    let log = dir.path().join("record.log");
    let child = Command::new(BIN)
        .arg("record")
        .arg(&config)
        .env("NVR_METRICS_TOKEN", "s3cret-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline record", child);
    // Wait (bounded) until the live camera finished two segments, per its own metrics.
    let started = Instant::now();
    let metrics = loop {
        if let Ok((200, _)) = http_get(port, "/healthz") {
            let m = scrape(port, "s3cret-token");
            if m.get("pipeline_camera_segments_written_total{camera=live}")
                .copied()
                .unwrap_or(0.0)
                >= 2.0
            {
                break m;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no segments in the metrics"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "ok\n")
    );
    // Without the token: refused, and the token never appears in the logs.
    let (status, _) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 401);
    stop(&mut child, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("s3cret-token"), "{text}");

    let get = |k: &str| {
        *metrics
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {metrics:?}"))
    };
    assert!(get("pipeline_camera_frames_total{camera=live}") > 15.0);
    assert!(get("pipeline_camera_bytes_total{camera=live}") > 1000.0);
    assert_eq!(
        get("pipeline_camera_state{camera=live,state=recording}"),
        1.0
    );
    assert!(get("pipeline_camera_seconds_since_last_frame{camera=live}") < 2.0);
    assert_eq!(get("pipeline_camera_frames_total{camera=dead}"), 0.0);
    assert_eq!(
        get("pipeline_camera_segments_written_total{camera=dead}"),
        0.0
    );
    assert_eq!(
        get("pipeline_camera_state{camera=dead,state=no_media}"),
        1.0
    );
    // Waiting for the first media is no gap in a recording.
    assert_eq!(get("pipeline_camera_gaps_total{camera=dead}"), 0.0);
    assert!(get("pipeline_camera_seconds_since_last_frame{camera=dead}") > 2.0);
    assert_eq!(
        get("pipeline_camera_segments_deleted_total{camera=live}"),
        0.0
    );
    assert!(get("pipeline_store_free_bytes{}") > 0.0);
    assert_eq!(get("pipeline_store_below_floor{}"), 0.0);
    // What the segments on disk say matches the counter.
    let written = files(&dir.path().join("rec/live"), ".mp4").len() as f64;
    assert!(written >= get("pipeline_camera_segments_written_total{camera=live}"));
}
