//! CPU cost of recording one RTSP stream, ours against ffmpeg, at the process level.
//!
//! Setup (as in reference/peer-baselines.md §2): a 720p25 H.264 4 Mbit/s + AAC 48 kHz
//! stereo MP4 is made once with ffmpeg and served by gst-rtsp-server's file-backed,
//! non-shared `/file` mount (no encoding on the server, paced in real time). Each
//! iteration records `SECONDS` of it over TCP with a fresh process:
//! - `ours`: `pipeline --allow-loss --duration SECONDS URL out.mp4` (packets handled in
//!   bursts of 50 ms, the default)
//! - `ours-burst-0`: the same with `--burst 0` (each packet as it arrives)
//! - `peer-ffmpeg`: `ffmpeg -rtsp_transport tcp -i URL -c copy -t SECONDS out.mp4`
//!
//! The measured "time" of an iteration is the recorder process's CPU time (user + system,
//! read from /proc/PID/stat once it has exited, before it is reaped), not wall time; the
//! throughput is media seconds, so `cargo xtask bench pipeline-cli` prints media seconds per
//! CPU second and the ours/peer ratio (2.0 = half of ffmpeg's CPU). CPU seconds per minute
//! of media are printed to stderr for each iteration.
//!
//! Full run: `cargo xtask bench pipeline-cli` (about 6 minutes with the default 10 s
//! recordings; `PIPELINE_BENCH_SECONDS` changes it). Under `cargo test --benches` (no
//! `--bench` argument) it records 1 s of the small committed fixture once, as a smoke test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use test_support::process::cpu_time_of;
use test_support::rtsp::{RtspServer, RtspServerOptions};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

fn ours(url: &str, out: &Path, seconds: u64) -> Command {
    let mut cmd = Command::new(BIN);
    // --allow-loss as ffmpeg does: gst-rtsp-server's first audio packet often comes one
    // sequence number after RTP-Info's, which rtsp-source counts as a lost packet.
    cmd.args([
        "-q",
        "--allow-loss",
        "--duration",
        &seconds.to_string(),
        url,
    ])
    .arg(out);
    cmd
}

/// Without bursts (`--burst 0`): a wake-up per packet, as ffmpeg.
fn ours_one_by_one(url: &str, out: &Path, seconds: u64) -> Command {
    let mut cmd = ours(url, out, seconds);
    cmd.args(["--burst", "0"]);
    cmd
}

fn ffmpeg(url: &str, out: &Path, seconds: u64) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-rtsp_transport",
        "tcp",
        "-i",
        url,
        "-c",
        "copy",
        "-t",
        &seconds.to_string(),
    ])
    .arg(out);
    cmd
}

/// The 720p25 source file of the baseline, `seconds` + 3 s long.
fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &(seconds + 3).to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-bf",
            "0",
            "-b:v",
            "4M",
            "-maxrate",
            "4M",
            "-bufsize",
            "8M",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "making the 720p source failed");
    path
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // Arguments first: criterion exits on bad ones, which would leave the server running
    // and the temporary directory behind.
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    let mut peers = RtspServer::PEERS.to_vec();
    peers.push("ffmpeg");
    if !test_support::peers_present("record_cpu", &peers) {
        return;
    }
    let dir = test_support::temp_dir();
    let (file, seconds) = if full {
        let seconds = std::env::var("PIPELINE_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        (make_source(dir.path(), seconds), seconds)
    } else {
        (test_support::fixture("rtsp-file.mp4"), 1)
    };
    let server = RtspServer::start(RtspServerOptions {
        file: Some(file),
        ..RtspServerOptions::default()
    });
    let url = server.url("/file");
    let out = dir.path().join("out.mp4");

    let mut group = c.benchmark_group("record-rtsp-720p");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(seconds));
    let per_minute = 60.0 / seconds as f64;
    for (name, command) in [
        ("ours", ours as fn(&str, &Path, u64) -> Command),
        ("ours-burst-0", ours_one_by_one),
        ("peer-ffmpeg", ffmpeg),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cpu = cpu_time_of(command(&url, &out, seconds));
                    eprintln!(
                        "{name}: {:.3} CPU s per minute of media",
                        cpu.as_secs_f64() * per_minute
                    );
                    total += cpu;
                }
                total
            });
        });
    }
    group.finish();
    c.final_summary();
}
