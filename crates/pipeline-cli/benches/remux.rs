//! Remuxing a file with a fresh process, ours against ffmpeg: wall time and peak RSS.
//!
//! Setup: a 720p25 H.264 4 Mbit/s + AAC 48 kHz stereo MP4 (`SECONDS`, default 120 s) is
//! made once with ffmpeg and read once before measuring, so the page cache is warm. Each
//! iteration runs one process under GNU time (`/usr/bin/time -f %M`, the peak RSS):
//! - `ours-mp4` / `peer-ffmpeg-mp4`: `pipeline -q in.mp4 out.mp4` against
//!   `ffmpeg -i in.mp4 -c copy out.mp4`
//! - `ours-mp4-fsync-1`, `ours-hls-fsync-1`: the same with `--fsync 1`, the policy of live
//!   inputs (a sync at most once a second, and of the finished file before its rename).
//!   A file input is not synced by default, as ffmpeg syncs nothing: the input is the
//!   copy a power cut cannot take
//! - `ours-hls` / `peer-ffmpeg-hls`: `pipeline -q in.mp4 hls/` against ffmpeg's HLS muxer
//!   with fMP4 segments of 2 s (`-c copy -f hls -hls_segment_type fmp4 -hls_time 2
//!   -hls_playlist_type vod`)
//! - `ours-mkv` / `peer-ffmpeg-mkv`: the MP4 to Matroska (`out.mkv`; ffmpeg `-c copy`)
//! - `ours-mkv-in` / `peer-ffmpeg-mkv-in`: Matroska (ffmpeg's `-c copy` of the source,
//!   made once) back to MP4
//!
//! The commands alternate round by round (ten rounds); criterion is handed the recorded
//! figures. The measured time is the wall time of the process; the throughput is media seconds,
//! so `cargo xtask bench media-toolkit-cli` prints media seconds per wall second and the
//! ours/peer ratio (3.0 = three times faster). The peak RSS of each iteration goes to
//! stderr (`... MiB peak RSS`).
//!
//! Full run: `cargo bench -p media-toolkit-cli --bench remux` (`PIPELINE_BENCH_SECONDS`
//! changes the length). Under `cargo test --benches` (no `--bench` argument) it remuxes
//! the small committed fixture once per command, as a smoke test.
#![allow(clippy::unwrap_used)]

mod takes;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::sources::Source720p;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// Runs `cmd` under GNU time; its wall time and peak RSS in KiB.
fn run_measured(cmd: &Command, rss_file: &Path) -> (Duration, u64) {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let status = timed.status().unwrap();
    let wall = started.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    let text = std::fs::read_to_string(rss_file).unwrap();
    let kib = text.lines().last().and_then(|l| l.trim().parse().ok());
    (
        wall,
        kib.unwrap_or_else(|| panic!("no peak RSS in {text:?}")),
    )
}

fn ours(input: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("-q").arg(input).arg(out);
    cmd
}

/// With `--fsync 1`, as a live input's recording: synced once a second and when finished.
fn ours_fsync(input: &Path, out: &Path) -> Command {
    let mut cmd = ours(input, out);
    cmd.args(["--fsync", "1"]);
    cmd
}

fn ffmpeg_mp4(input: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-c", "copy"])
        .arg(out);
    cmd
}

fn ffmpeg_hls(input: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4"])
        .args(["-hls_time", "2", "-hls_playlist_type", "vod"])
        .arg(out.join("index.m3u8"));
    cmd
}

/// The 720p25 source, `seconds` long.
fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p.mp4");
    Source720p::new(seconds).make(&path);
    path
}

type Make = fn(&Path, &Path) -> Command;

fn main() {
    let full = takes::full_run();
    // Arguments first: criterion exits on bad ones, which would leave the directory behind.
    let mut c = takes::criterion();
    if !test_support::peers_present("remux", &["ffmpeg", "time"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let (input, seconds) = if full {
        let seconds = takes::env_u64("PIPELINE_BENCH_SECONDS", 120);
        (make_source(dir.path(), seconds), seconds)
    } else {
        (test_support::fixture("rtsp-file.mp4"), 1)
    };
    // ffmpeg's Matroska of the source: the input of the `mkv-in` rows.
    let mkv = dir.path().join("source.mkv");
    let mut make_mkv = ffmpeg_mp4(&input, &mkv);
    assert!(make_mkv.status().unwrap().success(), "{make_mkv:?}");
    // Warm the page cache.
    std::fs::read(&input).unwrap();
    std::fs::read(&mkv).unwrap();
    let rss_file = dir.path().join("rss.txt");
    let hls_dir = dir.path().join("hls");

    let out_mp4 = dir.path().join("out.mp4");
    let out_mkv = dir.path().join("out.mkv");
    let cases: [(&str, &str, Make, &PathBuf, &PathBuf); 10] = [
        ("mp4", "ours-mp4", ours, &input, &out_mp4),
        ("mp4", "ours-mp4-fsync-1", ours_fsync, &input, &out_mp4),
        ("mp4", "peer-ffmpeg-mp4", ffmpeg_mp4, &input, &out_mp4),
        ("hls", "ours-hls", ours, &input, &hls_dir),
        ("hls", "ours-hls-fsync-1", ours_fsync, &input, &hls_dir),
        ("hls", "peer-ffmpeg-hls", ffmpeg_hls, &input, &hls_dir),
        ("mkv", "ours-mkv", ours, &input, &out_mkv),
        ("mkv", "peer-ffmpeg-mkv", ffmpeg_mp4, &input, &out_mkv),
        ("mkv-in", "ours-mkv-in", ours, &mkv, &out_mp4),
        ("mkv-in", "peer-ffmpeg-mkv-in", ffmpeg_mp4, &mkv, &out_mp4),
    ];
    // The commands alternate, round after round, so that the load of the shared machine
    // falls on all alike; criterion is then handed the recorded wall times.
    let rounds = if full { 10 } else { 1 };
    let mut walls = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for ((_, name, make, from, out), walls) in cases.iter().zip(&mut walls) {
            // A fresh output each time (a file, or an empty directory).
            let _ = std::fs::remove_dir_all(&hls_dir);
            let _ = std::fs::remove_file(&out_mp4);
            let _ = std::fs::remove_file(&out_mkv);
            if *out == &hls_dir {
                std::fs::create_dir_all(&hls_dir).unwrap();
            }
            let (wall, kib) = run_measured(&make(from, out), &rss_file);
            eprintln!(
                "{name}: {:.3} s wall, {:.1} MiB peak RSS",
                wall.as_secs_f64(),
                kib as f64 / 1024.0
            );
            walls.push(wall);
        }
    }
    for group_name in ["mp4", "hls", "mkv", "mkv-in"] {
        let rows = cases
            .iter()
            .zip(&walls)
            .filter(|(c, _)| c.0 == group_name)
            .map(|((_, name, ..), walls)| (name.to_string(), walls.clone()))
            .collect();
        let group = format!("remux-720p-{group_name}");
        takes::report(&mut c, &group, Some(seconds), rows);
    }
    c.final_summary();
}
