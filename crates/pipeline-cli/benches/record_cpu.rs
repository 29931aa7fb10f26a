//! CPU cost of recording one RTSP stream, ours against ffmpeg, at the process level.
//!
//! Setup (as in reference/peer-baselines.md §2): a 720p25 H.264 4 Mbit/s + AAC 48 kHz
//! stereo MP4 is made once with ffmpeg and served by gst-rtsp-server's file-backed,
//! non-shared `/file` mount (no encoding on the server, paced in real time). Each take
//! records `SECONDS` (default 60) of it over TCP with a fresh process:
//! - `ours`: `pipeline --allow-loss --duration SECONDS URL out.mp4` (packets handled in
//!   bursts of 200 ms, plain MP4 written chunk by chunk and synced once a second: the
//!   defaults)
//! - `ours-burst-50`: the same with `--burst 50` (the default until 2026-12-04)
//! - `ours-fragmented`: the same with `--fragmented` (fragmented MP4, 2 s fragments,
//!   synced once a second)
//! - `peer-ffmpeg`: `ffmpeg -rtsp_transport tcp -i URL -c copy -t SECONDS out.mp4`
//!
//! The takes alternate (ours, ours-burst-50, ours-fragmented, ffmpeg, ours, …, `PIPELINE_BENCH_TAKES`
//! rounds, default 3) so that the load of the shared machine falls on all alike; criterion
//! is then handed the recorded figures (each of its ten samples one take, cycling). For
//! every take the recorder's CPU time (user + system, from `/proc/PID/stat`) is read twice:
//! 10 s after the start and once it has exited (before it is reaped). Two groups:
//! - `record-rtsp-720p-cpu`: CPU seconds of the whole take per media second (start-up
//!   included), so `cargo xtask bench --table` prints CPU seconds per media minute and
//!   ours/ffmpeg as a share of ffmpeg's CPU;
//! - `record-rtsp-720p-steady-cpu`: CPU seconds from 10 s to the end per wall second of
//!   that window: the steady per-minute cost without the start-up. The start-up cost
//!   (whole take minus the steady rate times its length) goes to stderr.
//!
//! Full run: `cargo bench -p media-toolkit-cli --bench record_cpu` (about 13 minutes with the
//! defaults; `PIPELINE_BENCH_SECONDS`, `PIPELINE_BENCH_TAKES` change them). Under `cargo
//! test --benches` (no `--bench` argument) it records 1 s of the small committed fixture
//! once per recorder, as a smoke test.
#![allow(clippy::unwrap_used)]

mod takes;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::rtsp::{RtspServer, RtspServerOptions};
use test_support::sources::Source720p;

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

/// The default before 2026-12-04: bursts of 50 ms.
fn ours_burst_50(url: &str, out: &Path, seconds: u64) -> Command {
    let mut cmd = ours(url, out, seconds);
    cmd.args(["--burst", "50"]);
    cmd
}

/// Fragmented MP4 (`--fragmented`), synced once a second likewise.
fn ours_fragmented(url: &str, out: &Path, seconds: u64) -> Command {
    let mut cmd = ours(url, out, seconds);
    cmd.arg("--fragmented");
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
    Source720p::new(seconds + 3).make(&path);
    path
}

/// Makes a recorder's command: URL, output file, seconds.
type Recorder = fn(&str, &Path, u64) -> Command;

/// One take's CPU figures.
#[derive(Clone, Copy, Default)]
struct Take {
    /// CPU time of the whole process.
    cpu: Duration,
    /// Wall time from the spawn to the exit.
    wall: Duration,
    /// CPU time at `STARTUP` after the spawn (None when it exited before).
    cpu_at_mark: Option<Duration>,
}

/// Where the steady state is taken to begin (probing, connecting, first key frame).
const STARTUP: Duration = Duration::from_secs(10);

impl Take {
    /// CPU seconds per wall second after the start-up window.
    fn steady_rate(&self) -> Option<f64> {
        let window = self.wall.checked_sub(STARTUP)?.as_secs_f64();
        let cpu = self.cpu.checked_sub(self.cpu_at_mark?)?.as_secs_f64();
        (window > 1.0).then_some(cpu / window)
    }
}

/// Runs `cmd` to its end, reading its CPU time at `STARTUP` and at the exit.
fn take(mut cmd: Command) -> Take {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let stat = PathBuf::from(format!("/proc/{}/stat", child.id()));
    let mut cpu_at_mark = None;
    let cpu = loop {
        std::thread::sleep(Duration::from_millis(5));
        let Some((zombie, ticks)) = cpu_ticks(&stat) else {
            continue;
        };
        if zombie {
            break ticks;
        }
        if cpu_at_mark.is_none() && started.elapsed() >= STARTUP {
            cpu_at_mark = Some(ticks);
        }
    };
    let wall = started.elapsed();
    let status = child.wait().unwrap_or_else(|e| panic!("wait {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    Take {
        cpu,
        wall,
        cpu_at_mark,
    }
}

/// Whether the process has exited (not reaped: state `Z`), and its user + system time.
fn cpu_ticks(stat: &Path) -> Option<(bool, Duration)> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: the
    // state is field 3, utime and stime are fields 14 and 15 (in USER_HZ = 100 ticks/s).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((
        fields.first() == Some(&"Z"),
        Duration::from_secs_f64(ticks / 100.0),
    ))
}

fn main() {
    let full = takes::full_run();
    // Arguments first: criterion exits on bad ones, which would leave the server running
    // and the temporary directory behind.
    let mut c = takes::criterion();
    let mut peers = RtspServer::PEERS.to_vec();
    peers.push("ffmpeg");
    if !test_support::peers_present("record_cpu", &peers) {
        return;
    }
    let dir = test_support::temp_dir();
    let (file, seconds, rounds) = if full {
        let seconds = takes::env_u64("PIPELINE_BENCH_SECONDS", 60);
        let rounds = takes::env_u64("PIPELINE_BENCH_TAKES", 3).max(1);
        (make_source(dir.path(), seconds), seconds, rounds)
    } else {
        (test_support::fixture("rtsp-file.mp4"), 1, 1)
    };
    let server = RtspServer::start(RtspServerOptions {
        file: Some(file),
        ..RtspServerOptions::default()
    });
    let url = server.url("/file");
    let recorders: [(&str, &str, Recorder); 4] = [
        ("ours", "out.mp4", ours),
        ("ours-burst-50", "out.mp4", ours_burst_50),
        ("ours-fragmented", "out-fragmented.mp4", ours_fragmented),
        ("peer-ffmpeg", "out.mp4", ffmpeg),
    ];
    let mut takes = vec![Vec::new(); recorders.len()];
    for _ in 0..rounds {
        for ((name, out, command), takes) in recorders.iter().zip(&mut takes) {
            let out = dir.path().join(out);
            let t = take(command(&url, &out, seconds));
            let per_minute = |cpu: f64| cpu * 60.0 / seconds as f64;
            match t.steady_rate() {
                Some(rate) => eprintln!(
                    "{name}: {:.3} CPU s per minute of media over the take ({:.2} s CPU, \
                     {:.1} s wall); steady {:.3} CPU s/min after {STARTUP:?}; start-up \
                     {:.3} CPU s",
                    per_minute(t.cpu.as_secs_f64()),
                    t.cpu.as_secs_f64(),
                    t.wall.as_secs_f64(),
                    rate * 60.0,
                    t.cpu.as_secs_f64() - rate * t.wall.as_secs_f64(),
                ),
                None => eprintln!(
                    "{name}: {:.3} CPU s per minute of media ({:.2} s CPU, take too short \
                     for a steady-state figure)",
                    per_minute(t.cpu.as_secs_f64()),
                    t.cpu.as_secs_f64()
                ),
            }
            takes.push(t);
        }
    }

    let rows = |figure: &dyn Fn(&Take) -> Option<Duration>| {
        recorders
            .iter()
            .zip(&takes)
            .map(|((name, ..), takes)| {
                (name.to_string(), takes.iter().filter_map(figure).collect())
            })
            .collect()
    };
    // CPU per `seconds` of media.
    takes::report(
        &mut c,
        "record-rtsp-720p-cpu",
        Some(seconds),
        rows(&|t| Some(t.cpu)),
    );
    // Steady CPU per 60 s, counted as 60 media seconds.
    let steady = rows(&|t| Some(Duration::from_secs_f64(t.steady_rate()? * 60.0)));
    takes::report(&mut c, "record-rtsp-720p-steady-cpu", Some(60), steady);
    c.final_summary();
}
