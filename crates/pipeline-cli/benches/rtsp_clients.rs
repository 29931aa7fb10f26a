//! The RTSP server's CPU per client, ours against GStreamer's: the same 720p25 H.264 4 Mbit/s
//! file (`Source720p`, its video only) paced in real time to N clients over TCP
//! (interleaved), each server its own process:
//! - `ours`: `pipeline -q --realtime --loop --no-audio src.mp4 rtsp-listen://127.0.0.1:PORT/cam`
//!   (packets made once for all clients, a queue per client);
//! - `peer-gst-rtsp-server`: gst-rtsp-server's shared media (`/shared-file` of
//!   `test_support::rtsp`: `filesrc ! qtdemux ! h264parse ! rtph264pay`, one pipeline for all
//!   clients, started by the first and torn down when the last leaves).
//!
//! The clients are `rtsp-source` sessions (retina) in this process, N = 1, 8, 32; their own
//! CPU is not counted. Once every client has played for 2 s and plays steadily, the server
//! process's CPU time (user + system, every thread: `CpuReading`) is read over a window of
//! `PIPELINE_BENCH_SECONDS` (default 20 s) while each client counts its frames; every
//! client must get 25 frames a second ±15 %, else the bench fails. Windows alternate the
//! servers (ours, then GStreamer's, for each N; `PIPELINE_BENCH_TAKES` rounds, default 1),
//! so load from elsewhere falls on both alike.
//!
//! Groups `rtsp-server-cpu-720p-clients-NN` (the throughput is the window in seconds, so
//! `cargo xtask bench --table` prints CPU seconds per minute and ours as a share of
//! GStreamer's). With no client ours still reads and paces the file while GStreamer's
//! shared media is torn down, so the table compares whole servers; the idle figure and
//! what each further client costs (the slope from the fewest clients to the most, CPU
//! seconds per client-minute) go to stderr.
//! Full run: `cargo bench -p media-toolkit-cli --bench rtsp_clients`
//! (`PIPELINE_BENCH_CLIENTS=1,8`: other counts; `PIPELINE_BENCH_TRANSPORT=udp`: clients over
//! UDP, groups `rtsp-server-cpu-720p-udp-clients-NN`; `PIPELINE_BENCH_SERVER=PATH` adds
//! another `pipeline` binary, a copy from before a change, as the row `ours-other`). Under `cargo test --benches` one client
//! plays for 2 s from each server, frame rates checked.
#![allow(clippy::unwrap_used)]

mod takes;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rtsp_source::{Event, RtspOptions, RtspSource, Transport};
use test_support::process::{ChildGuard, CpuReading};
use test_support::rtsp::{RtspServer, RtspServerOptions};
use test_support::sources::Source720p;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// How long clients play before the window opens.
const SETTLE: Duration = Duration::from_secs(2);

/// TCP (interleaved) unless `PIPELINE_BENCH_TRANSPORT=udp`.
fn transport() -> Transport {
    match std::env::var("PIPELINE_BENCH_TRANSPORT").as_deref() {
        Ok("udp") => Transport::Udp,
        _ => Transport::Tcp,
    }
}

/// What UDP runs add to their groups' names (`rtsp-server-cpu-720p-udp-clients-08`).
fn udp_name() -> &'static str {
    match transport() {
        Transport::Udp => "udp-",
        _ => "",
    }
}

/// One RTSP session whose frames a task counts.
struct Client {
    frames: Arc<AtomicU64>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<RtspSource>,
}

impl Client {
    /// Connects to `url`, retrying for a few seconds while the server has no stream yet.
    async fn connect(url: &str) -> Client {
        let started = Instant::now();
        let mut source = loop {
            let options = RtspOptions::new(url).unwrap().transport(transport());
            match RtspSource::connect(options).await {
                Ok(s) => break s,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    eprintln!("waiting for the server: {e}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("no RTSP session within 20 s: {e}"),
            }
        };
        let frames = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(tokio::sync::Notify::new());
        let task = {
            let (frames, stop) = (frames.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        e = source.next() => e,
                        _ = stop.notified() => break,
                    };
                    match event {
                        Some(Event::Frame(_)) => {
                            frames.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Event::Disconnected { reason, .. }) => {
                            panic!("a client was disconnected: {reason}")
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
                source
            })
        };
        Client { frames, stop, task }
    }

    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// TEARDOWN, then the session is gone.
    async fn close(self) {
        self.stop.notify_one();
        let source = self.task.await.expect("the client task ends");
        if let Err(e) = source.close().await {
            eprintln!("closing a client: {e}");
        }
    }
}

/// Waits until the clients have played for `SETTLE` and each got 8 to 19 frames in each of
/// the last two half seconds (25 frames/s is 12.5); at most 20 s.
async fn settle(clients: &[Client]) {
    let started = Instant::now();
    let mut last: Vec<u64> = clients.iter().map(Client::frames).collect();
    let mut steady_before = false;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: Vec<u64> = clients.iter().map(Client::frames).collect();
        let steady = now
            .iter()
            .zip(&last)
            .all(|(n, l)| (8..=19).contains(&(n - l)));
        last = now;
        if (steady && steady_before && started.elapsed() >= SETTLE)
            || started.elapsed() > Duration::from_secs(20)
        {
            return;
        }
        steady_before = steady;
    }
}

/// One window with `n` clients of `url`: the CPU of the server process `pid` over it.
async fn window(who: &str, url: &str, pid: u32, n: usize, length: Duration) -> Duration {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Client::connect(url).await);
    }
    settle(&clients).await;
    let before: Vec<u64> = clients.iter().map(Client::frames).collect();
    let cpu_before = CpuReading::of(pid);
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let cpu = CpuReading::of(pid).since(&cpu_before);
    let seconds = started.elapsed().as_secs_f64();
    let frames: Vec<u64> = clients
        .iter()
        .zip(&before)
        .map(|(c, b)| c.frames() - b)
        .collect();
    for c in clients {
        c.close().await;
    }
    eprintln!(
        "{who}, {n} client(s): {:.2} CPU s in {seconds:.1} s ({:.3} CPU s/min); frames per \
         client {frames:?}",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / seconds * 60.0,
    );
    for (i, &f) in frames.iter().enumerate() {
        let expected = 25.0 * seconds;
        assert!(
            (f as f64 - expected).abs() <= (expected * 0.15).max(3.0),
            "{who}: client {i} of {n} got {f} frames in {seconds:.1} s, expected 25/s"
        );
    }
    cpu
}

fn ours_server(bin: &Path, source: &Path, port: u16) -> ChildGuard {
    let mut cmd = Command::new(bin);
    cmd.args(["-q", "--realtime", "--loop", "--no-audio"])
        .arg(source)
        .arg(format!("rtsp-listen://127.0.0.1:{port}/cam"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    ChildGuard::new("pipeline rtsp-listen", cmd.spawn().unwrap())
}

/// A server under test: a `pipeline` process or GStreamer's.
enum ServerProcess {
    Ours(ChildGuard),
    Peer(RtspServer),
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        match self {
            ServerProcess::Ours(p) => p.pid(),
            ServerProcess::Peer(p) => p.pid(),
        }
    }

    fn is_running(&mut self) -> bool {
        match self {
            ServerProcess::Ours(p) => p.is_running(),
            ServerProcess::Peer(p) => p.is_running(),
        }
    }

    fn stop(&mut self) {
        match self {
            ServerProcess::Ours(p) => p.stop(),
            ServerProcess::Peer(p) => p.stop(),
        }
    }
}

fn main() {
    let full = takes::full_run();
    let mut c = takes::criterion();
    let mut peers = vec!["ffmpeg"];
    peers.extend_from_slice(RtspServer::PEERS);
    if !test_support::peers_present("rtsp_clients", &peers) {
        return;
    }
    let (seconds, rounds, counts) = if full {
        let counts = takes::env_counts("PIPELINE_BENCH_CLIENTS", &[1, 8, 32]);
        (
            takes::env_u64("PIPELINE_BENCH_SECONDS", 20).max(2),
            takes::env_u64("PIPELINE_BENCH_TAKES", 1).max(1),
            counts,
        )
    } else {
        (2, 1, vec![1])
    };
    let dir = test_support::temp_dir();
    // GStreamer's shared media plays the file once per window (from the first client to
    // the last one leaving), so the file outlasts a window and its settling; ours loops it.
    let source = dir.path().join("source-720p.mp4");
    Source720p::new(if full { seconds + 25 } else { 10 }).make(&source);
    // The servers, alternated in each round: name, URL, process.
    let mut servers: Vec<(&str, String, ServerProcess)> = Vec::new();
    let port = test_support::free_port();
    servers.push((
        "ours",
        format!("rtsp://127.0.0.1:{port}/cam"),
        ServerProcess::Ours(ours_server(BIN.as_ref(), &source, port)),
    ));
    // `PIPELINE_BENCH_SERVER` adds another build of ours (a copy kept from before a
    // change) as `ours-other`: before and after with the same clients in one run.
    if let Some(other) = std::env::var_os("PIPELINE_BENCH_SERVER") {
        let port = test_support::free_port();
        servers.push((
            "ours-other",
            format!("rtsp://127.0.0.1:{port}/cam"),
            ServerProcess::Ours(ours_server(other.as_ref(), &source, port)),
        ));
    }
    let peer = RtspServer::start(RtspServerOptions {
        shared_file: Some(source.clone()),
        ..Default::default()
    });
    servers.push((
        "peer-gst-rtsp-server",
        peer.url("/shared-file"),
        ServerProcess::Peer(peer),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let length = Duration::from_secs(seconds);
    // cpu[count][server]: the CPU of each round.
    let mut cpu = vec![vec![Vec::new(); servers.len()]; counts.len()];
    let mut idle = Vec::new();
    runtime.block_on(async {
        for _ in 0..rounds {
            let (_, url, process) = &servers[0];
            idle.push(window("ours", url, process.pid(), 0, length).await);
            for (i, &n) in counts.iter().enumerate() {
                for (j, (name, url, process)) in servers.iter().enumerate() {
                    cpu[i][j].push(window(name, url, process.pid(), n, length).await);
                }
            }
        }
    });
    for (name, _, process) in &mut servers {
        assert!(
            process.is_running(),
            "{name}: the server process ended early"
        );
        process.stop();
    }

    let minute = |d: &Duration| d.as_secs_f64() / seconds as f64 * 60.0;
    for (round, i) in idle.iter().enumerate() {
        eprintln!(
            "round {round}: ours with no client {:.3} CPU s/min",
            minute(i)
        );
        for (&n, figures) in counts.iter().zip(&cpu) {
            let each: Vec<String> = servers
                .iter()
                .zip(figures)
                .map(|((name, ..), f)| format!("{name} {:.3}", minute(&f[round])))
                .collect();
            eprintln!(
                "round {round}, {n} client(s), CPU s/min: {}",
                each.join(", ")
            );
        }
        // What each further client costs: the slope from the fewest clients to the most.
        if let (Some(&a), Some(&b)) = (counts.first(), counts.last())
            && b > a
        {
            let each: Vec<String> = servers
                .iter()
                .enumerate()
                .map(|(j, (name, ..))| {
                    let (x, y) = (&cpu[0][j][round], &cpu[counts.len() - 1][j][round]);
                    format!("{name} {:.4}", (minute(y) - minute(x)) / (b - a) as f64)
                })
                .collect();
            eprintln!(
                "round {round}, each client from {a} to {b}, CPU s per client-minute: {}",
                each.join(", ")
            );
        }
    }
    for (&n, figures) in counts.iter().zip(cpu) {
        let rows = servers
            .iter()
            .zip(figures)
            .map(|((name, ..), f)| (name.to_string(), f))
            .collect();
        takes::report(
            &mut c,
            &format!("rtsp-server-cpu-720p-{}clients-{n:02}", udp_name()),
            Some(seconds),
            rows,
        );
    }
    c.final_summary();
}
