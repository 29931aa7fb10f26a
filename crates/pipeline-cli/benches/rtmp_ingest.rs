//! RTMP ingest to MP4, CPU per minute of media, ours against ffmpeg at the process level:
//! ffmpeg publishes a 720p25 H.264 4 Mbit/s + AAC file (`ffmpeg -i src.mp4 -c copy -f flv
//! rtmp://…`, as fast as the receiver takes it) to
//! - `ours`: `pipeline -q rtmp-listen://127.0.0.1:PORT/live/key out.mp4`
//! - `peer-ffmpeg`: `ffmpeg -listen 1 -i rtmp://127.0.0.1:PORT/live/key -c copy out.mp4`
//!
//! and the receiver's CPU time (user + system, from /proc when it has exited) is measured;
//! the publisher's is not. Both receivers end when the publisher does. The throughput is
//! media seconds and the group name says `cpu`, so `cargo xtask bench media-toolkit-cli` prints
//! CPU seconds per media minute and ours as a share of ffmpeg's (issue 19's goal: ≤ 0.5×).
//! `PIPELINE_BENCH_SECONDS` sets the length (default 60); under `cargo test --benches` a
//! 2 s file is ingested once by each.
#![allow(clippy::unwrap_used)]

mod takes;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{SamplingMode, Throughput};
use test_support::process::cpu_time_of;
use test_support::sources::Source720p;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p.mp4");
    Source720p::new(seconds).make(&path);
    path
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `receiver` (listening on `port`) while ffmpeg publishes `input` to it; the
/// receiver's CPU time.
fn ingest(receiver: Command, input: &Path, port: u16) -> Duration {
    let input = input.to_owned();
    let publisher = std::thread::spawn(move || {
        // The receiver listens within this: a probe connection would be taken for the
        // publisher by `ffmpeg -listen 1`.
        std::thread::sleep(Duration::from_millis(700));
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&input)
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!("rtmp://127.0.0.1:{port}/live/key"))
            .status()
            .unwrap()
    });
    let cpu = cpu_time_of(receiver);
    let status = publisher.join().unwrap();
    assert!(status.success(), "the publisher failed: {status}");
    cpu
}

fn main() {
    let full = takes::full_run();
    let mut c = takes::criterion();
    if !test_support::peers_present("rtmp_ingest", &["ffmpeg"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let seconds = if full {
        takes::env_u64("PIPELINE_BENCH_SECONDS", 60)
    } else {
        2
    };
    let input = make_source(dir.path(), seconds);
    let out = dir.path().join("out.mp4");
    let ours = |port: u16| {
        let mut cmd = Command::new(BIN);
        cmd.arg("-q")
            .arg(format!("rtmp-listen://127.0.0.1:{port}/live/key"))
            .arg(&out);
        cmd
    };
    let ffmpeg = |port: u16| {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-y", "-listen", "1", "-i"])
            .arg(format!("rtmp://127.0.0.1:{port}/live/key"))
            .args(["-c", "copy"])
            .arg(&out);
        cmd
    };
    let mut group = c.benchmark_group(format!("rtmp-ingest-cpu-720p-{seconds}s"));
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(seconds));
    for (name, receiver) in [
        ("ours", &ours as &dyn Fn(u16) -> Command),
        ("peer-ffmpeg", &ffmpeg),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let _ = std::fs::remove_file(&out);
                    let port = free_port();
                    let cpu = ingest(receiver(port), &input, port);
                    eprintln!(
                        "{name}: {:.3} CPU s for {seconds} s of media",
                        cpu.as_secs_f64()
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
