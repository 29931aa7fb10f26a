//! MPEG-TS remux throughput, ours against ffmpeg, at the process level: a `.ts` file read
//! (demuxed) and written again (muxed), with a fresh process each iteration:
//! - `ours`: `pipeline -q in.ts out.ts` (mpeg-ts demuxer, contract packets, mpeg-ts muxer)
//! - `peer-ffmpeg`: `ffmpeg -i in.ts -c copy -f mpegts out.ts`
//!
//! The input is made once by ffmpeg: 720p25 H.264 4 Mbit/s (no B-frames) + AAC 48 kHz
//! stereo, `PIPELINE_BENCH_SECONDS` long (default 60). The measured "time" is the
//! process's CPU time (user + system, read from /proc/PID/stat once it has exited), not
//! wall time, so that the other loads of a shared machine count less; the throughput is
//! the input's bytes, so `cargo xtask bench media-toolkit-cli` prints bytes per CPU second and
//! the ours/peer ratio. Under `cargo test --benches` it remuxes a 2 s file once.
#![allow(clippy::unwrap_used)]

mod takes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{SamplingMode, Throughput};
use test_support::process::cpu_time_of;
use test_support::sources::Source720p;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p.ts");
    let mut source = Source720p::new(seconds);
    source.format = Some("mpegts");
    source.make(&path);
    path
}

fn main() {
    let full = takes::full_run();
    let mut c = takes::criterion();
    if !test_support::peers_present("ts_remux", &["ffmpeg"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let seconds = if full {
        takes::env_u64("PIPELINE_BENCH_SECONDS", 60)
    } else {
        2
    };
    let input = make_source(dir.path(), seconds);
    let bytes = std::fs::metadata(&input).unwrap().len();
    let out = dir.path().join("out.ts");
    let ours = |input: &Path, out: &Path| {
        let mut cmd = Command::new(BIN);
        cmd.arg("-q").arg(input).arg(out);
        cmd
    };
    let ffmpeg = |input: &Path, out: &Path| {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(input)
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(out);
        cmd
    };
    let mut group = c.benchmark_group(format!("ts-remux-720p-{seconds}s"));
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(bytes));
    for (name, command) in [
        ("ours", &ours as &dyn Fn(&Path, &Path) -> Command),
        ("peer-ffmpeg", &ffmpeg),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cpu = cpu_time_of(command(&input, &out));
                    eprintln!("{name}: {:.3} CPU s for {bytes} bytes", cpu.as_secs_f64());
                    total += cpu;
                }
                total
            });
        });
    }
    group.finish();
    c.final_summary();
}
