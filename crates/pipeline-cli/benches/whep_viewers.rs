//! Issue 18's CPU per WHEP viewer: `pipeline -q --realtime --loop --no-audio src.mp4
//! whep-listen://127.0.0.1:PORT/cam` runs as its own process (a 720p25 H.264 4 Mbit/s
//! file, `Source720p`, paced in real time and looped, as a camera would send it), and
//! this process connects N `WhepPull` viewers (N = 0, 1, 8, 32; loopback UDP, DTLS-SRTP).
//! Once they have played for 2 s and none is catching up on the late-joiner GOP, the server
//! process's CPU time (user + system, every thread: `CpuReading`, the scheduler's run
//! time in nanoseconds) is read over a
//! window of `PIPELINE_BENCH_SECONDS` (default 20 s) while each viewer counts its video
//! frames; every viewer must have received about 25 frames a second, else the bench
//! fails (a broken run must not report a flattering figure). The viewers' own CPU (this
//! process: SRTP decryption, depacketization) is not counted.
//!
//! Two groups (the name says `cpu`, the throughput is the window in seconds, so `cargo
//! xtask bench --table` prints CPU seconds per minute):
//! - `whep-server-cpu-720p`: the server's CPU over the window with N viewers
//!   (`ours-viewers-00` is the file read, paced and handed to a server with nobody
//!   watching);
//! - `whep-viewer-cpu-720p`: (CPU with N − CPU with none) / N: CPU seconds per viewer-minute
//!   (issue 18's goal: ≤ 0.2).
//!
//! Rounds alternate the viewer counts (0, 1, 8, 32, 0, …; `PIPELINE_BENCH_TAKES` rounds,
//! default 1) in one server process; criterion is handed the recorded figures. Full run:
//! `cargo bench -p media-toolkit-cli --bench whep_viewers` (`PIPELINE_BENCH_VIEWERS=1,8`: other
//! counts than 1, 8 and 32). `PIPELINE_BENCH_SERVER=PATH`
//! runs another `pipeline` binary as the server (a copy of a build from before a change),
//! so before and after are measured with the same viewers in one window of time. Under `cargo test --benches`
//! (no `--bench` argument) 0 and 2 viewers watch for 2 s each, frame rates checked.
#![allow(clippy::unwrap_used)]

mod takes;

mod whep;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::process::{ChildGuard, CpuReading};
use test_support::sources::Source720p;

use whep::{Viewer, assert_frame_rate};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// How long viewers play before the window opens: the GOP a late joiner gets first has
/// gone through.
const SETTLE: Duration = Duration::from_secs(2);

fn make_source(dir: &Path, seconds: u64) -> PathBuf {
    let path = dir.join("source-720p.mp4");
    Source720p::new(seconds).make(&path);
    path
}

/// One window with `n` viewers: the server's CPU over it.
async fn window(url: &str, pid: u32, n: usize, length: Duration) -> Duration {
    let mut viewers = Vec::with_capacity(n);
    for _ in 0..n {
        viewers.push(Viewer::connect(url, Duration::from_secs(20), |_, _| {}).await);
    }
    whep::settle(&viewers, SETTLE).await;
    let before: Vec<_> = viewers.iter().map(Viewer::frames).collect();
    let cpu_before = CpuReading::of(pid);
    let started = std::time::Instant::now();
    tokio::time::sleep(length).await;
    let cpu = CpuReading::of(pid).since(&cpu_before);
    let seconds = started.elapsed().as_secs_f64();
    let after: Vec<_> = viewers.iter().map(Viewer::frames).collect();
    let mut dropped = 0;
    for v in viewers {
        dropped += v.close().await;
    }
    let gaps: u64 = after.iter().zip(&before).map(|(a, b)| a.1 - b.1).sum();
    let frames: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a.0 - b.0).collect();
    eprintln!(
        "{n} viewer(s): server {:.2} CPU s in {seconds:.1} s ({:.3} CPU s/min); frames per \
         viewer {:?}; {gaps} after a gap, {dropped} dropped by the clients",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / seconds * 60.0,
        frames
    );
    for (i, f) in frames.iter().enumerate() {
        assert_frame_rate(&format!("viewer {i} of {n}"), *f, seconds);
    }
    cpu
}

fn main() {
    let full = takes::full_run();
    let mut c = takes::criterion();
    if !test_support::peers_present("whep_viewers", &["ffmpeg"]) {
        return;
    }
    let (seconds, rounds, counts) = if full {
        let seconds = takes::env_u64("PIPELINE_BENCH_SECONDS", 20).max(2);
        let rounds = takes::env_u64("PIPELINE_BENCH_TAKES", 1).max(1);
        // `PIPELINE_BENCH_VIEWERS=0,1` measures those counts only (0 is always one).
        let counts = takes::env_counts("PIPELINE_BENCH_VIEWERS", &[1, 8, 32]);
        let counts = std::iter::once(0)
            .chain(counts.into_iter().filter(|&n| n > 0))
            .collect();
        (seconds, rounds, counts)
    } else {
        (2, 1, vec![0, 2])
    };
    let dir = test_support::temp_dir();
    // Looped: a few seconds are enough whatever the window (fewer to make in smoke mode).
    let source = make_source(dir.path(), if full { 10 } else { 3 });
    let port = test_support::free_port();
    // `PIPELINE_BENCH_SERVER` runs another build of the server (a copy kept from before a
    // change) against the same viewers, for a before/after in one window.
    let bin = std::env::var_os("PIPELINE_BENCH_SERVER").unwrap_or_else(|| BIN.into());
    let mut cmd = Command::new(bin);
    cmd.args(["-q", "--realtime", "--loop", "--no-audio"])
        .arg(&source)
        .arg(format!("whep-listen://127.0.0.1:{port}/cam"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut server = ChildGuard::new("pipeline whep-listen", cmd.spawn().unwrap());
    let pid = server.pid();
    let url = format!("http://127.0.0.1:{port}/cam/whep");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let length = Duration::from_secs(seconds);
    // Per viewer count, the server CPU of each round.
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); counts.len()];
    runtime.block_on(async {
        for _ in 0..rounds {
            for (i, &n) in counts.iter().enumerate() {
                cpu[i].push(window(&url, pid, n, length).await);
            }
        }
    });
    assert!(server.is_running(), "the server process ended early");
    server.stop();

    let name = |n: usize| format!("ours-viewers-{n:02}");
    takes::report(
        &mut c,
        "whep-server-cpu-720p",
        Some(seconds),
        counts
            .iter()
            .zip(&cpu)
            .map(|(&n, figures)| (name(n), figures.clone()))
            .collect(),
    );
    // Per viewer: each round's figure against the same round's idle server.
    let per_viewer = counts
        .iter()
        .zip(&cpu)
        .filter(|(n, _)| **n > 0)
        .map(|(&n, figures)| {
            let each = figures
                .iter()
                .zip(&cpu[0])
                .map(|(with, idle)| with.saturating_sub(*idle) / n as u32)
                .collect::<Vec<_>>();
            for d in &each {
                eprintln!(
                    "{n} viewer(s): {:.3} CPU s per viewer-minute",
                    d.as_secs_f64() / seconds as f64 * 60.0
                );
            }
            (name(n), each)
        })
        .collect();
    takes::report(&mut c, "whep-viewer-cpu-720p", Some(seconds), per_viewer);
    c.final_summary();
}
