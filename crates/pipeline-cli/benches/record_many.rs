//! The cost per camera of `pipeline record`: N cameras (default 64) recorded by one
//! process for S seconds (default 60) from one gst-rtsp-server process serving its
//! file-backed, non-shared `/file` mount (no encoding on the server, paced in real time;
//! every client gets its own copy). The source is 720p25 H.264 at 2 Mbit/s + AAC, made
//! once with ffmpeg.
//!
//! Printed (stderr and stdout), for the crate READMEs' sizing sections:
//! - CPU seconds per camera per minute: the recorder's user + system time (from
//!   /proc/PID/stat) over the measured window, after every camera started;
//! - RSS per camera: the process's largest VmRSS during the window, divided by N;
//! - disk bandwidth per camera: bytes written (segments + the `.partial` ones) per second;
//! - loss: per camera frames and lost packets from the process's own metrics endpoint,
//!   and the frames expected (25 per second), so "no loss" is checked, not assumed.
//!
//! Full run: `cargo xtask bench media-toolkit-cli` or `cargo bench -p media-toolkit-cli --bench
//! record_many` (`PIPELINE_BENCH_CAMERAS`, `PIPELINE_BENCH_SECONDS` change N and S).
//! Under `cargo test --benches` (no `--bench` argument) it records 2 cameras of the
//! small committed fixture for 2 s, as a smoke test. Not a timed test: nothing asserts a
//! speed; the loss figures are asserted in the full run only (a loaded CI machine may not
//! keep up with 64 real-time streams).
#![allow(clippy::unwrap_used)]

mod takes;

#[path = "../tests/common/record.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use test_support::icecast::http_get;
use test_support::process::CpuReading;
use test_support::rtsp::{RtspServer, RtspServerOptions};
use test_support::sources::Source720p;

/// The 720p25 2 Mbit/s source (64 kbit/s mono audio), `seconds` long.
fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p-2M.mp4");
    let mut source = Source720p::new(seconds);
    source.video_bitrate = 2;
    source.audio = (64, 1);
    source.make(&path);
    path
}

/// VmRSS of a running process, in bytes.
fn rss(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes of every file below `dir`.
fn bytes_below(dir: &Path) -> u64 {
    let mut total = 0;
    for suffix in [".mp4", ".partial"] {
        for f in common::files(dir, suffix) {
            total += std::fs::metadata(f).map_or(0, |m| m.len());
        }
    }
    total
}

/// `name{camera="c"} value` samples of one metric.
fn samples(text: &str, name: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
        .collect()
}

fn main() {
    let full = takes::full_run();
    let mut peers = RtspServer::PEERS.to_vec();
    peers.push("ffmpeg");
    if !test_support::peers_present("record_many", &peers) {
        return;
    }
    let (cameras, seconds) = if full {
        (
            takes::env_u64("PIPELINE_BENCH_CAMERAS", 64),
            takes::env_u64("PIPELINE_BENCH_SECONDS", 60),
        )
    } else {
        (2, 2)
    };
    let dir = test_support::temp_dir();
    // Enough for the start-up of every camera, the window and the stop.
    let file = if full {
        make_source(dir.path(), seconds + 30)
    } else {
        test_support::fixture("rtsp-file.mp4")
    };
    let server = RtspServer::start(RtspServerOptions {
        file: Some(file),
        ..RtspServerOptions::default()
    });
    let port = test_support::free_port();
    let mut config =
        format!("[store]\nroot = \"rec\"\n\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n");
    for i in 0..cameras {
        config.push_str(&format!(
            "[[camera]]\nname = \"cam{i:03}\"\nurl = \"{}\"\nsegment_seconds = 10\n\n",
            server.url("/file")
        ));
    }
    let config_path = dir.path().join("cameras.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = dir.path().join("record.log");
    let mut child = common::record(&config_path, &log);
    let pid = child.pid();
    let root = dir.path().join("rec");
    let names: Vec<String> = (0..cameras).map(|i| format!("cam{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    common::wait_recording(&root, &refs);

    let (cpu0, bytes0, t0) = (CpuReading::of(pid), bytes_below(&root), Instant::now());
    let mut peak_rss = 0;
    while t0.elapsed() < Duration::from_secs(seconds) {
        peak_rss = peak_rss.max(rss(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let (cpu1, bytes1, window) = (
        CpuReading::of(pid),
        bytes_below(&root),
        t0.elapsed().as_secs_f64(),
    );
    let metrics = http_get(port, "/metrics")
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    common::stop(&mut child, &log);

    let n = cameras as f64;
    let source = if full {
        "720p25 H.264 2 Mbit/s + AAC"
    } else {
        "the rtsp-file.mp4 fixture"
    };
    let cpu = cpu1.since(&cpu0).as_secs_f64();
    let cpu_per_camera_minute = cpu / n * 60.0 / window;
    let rss_per_camera = peak_rss as f64 / n / (1024.0 * 1024.0);
    let disk_per_camera = (bytes1.saturating_sub(bytes0)) as f64 / n / window;
    let frames = samples(&metrics, "pipeline_camera_frames_total");
    let lost: f64 = samples(&metrics, "pipeline_camera_lost_packets_total")
        .iter()
        .sum();
    let gaps: f64 = samples(&metrics, "pipeline_camera_gaps_total").iter().sum();
    let fewest = frames.iter().copied().fold(f64::INFINITY, f64::min);
    let report = format!(
        "record_many: {cameras} cameras x {window:.0} s ({source}, one process):\n  \
         CPU {cpu_per_camera_minute:.2} s per camera per minute ({:.2} s total per minute)\n  \
         RSS {rss_per_camera:.2} MiB per camera (peak {:.1} MiB in all)\n  \
         disk {:.0} kB/s per camera\n  \
         frames per camera (video + audio, whole run): fewest {fewest:.0}; lost packets {lost:.0}; gaps {gaps:.0}\n",
        cpu * 60.0 / window,
        peak_rss as f64 / (1024.0 * 1024.0),
        disk_per_camera / 1000.0,
    );
    print!("{report}");
    eprint!("{report}");
    assert_eq!(frames.len() as u64, cameras, "every camera in the metrics");
    if full {
        assert_eq!(lost, 0.0, "no loss");
        assert_eq!(gaps, 0.0, "no gaps");
    }
}
