//! Issue 18's latency added by the WHEP path, median and p99: in this process, a pipeline
//! with a raw packet input (`RawWriter`, a live source as far as the pipeline knows: no
//! pacing stage, packets go on as written) → `whep-listen://127.0.0.1:PORT/cam`, and
//! `WhepPull` viewers (1, then 8) on loopback. The video of a 720p25 H.264 4 Mbit/s file
//! (`Source720p`, read once into memory through a raw output) is written at 25 frames/s,
//! looped with times continuing; for each frame, the instant just before
//! `RawWriter::write` and the instant a viewer's `next()` gave the whole frame are paired
//! by RTP time (the sink's `pts × 90000 / timescale`). Frames written before the window
//! (2 s after the viewers connected, once none is catching up on the late-joiner GOP,
//! which is old on purpose) are left out.
//!
//! What is measured is an upper bound of what we add: the recorder thread, the WHEP
//! sink's copy, str0m's packetization and SRTP (on the recorder thread), loopback
//! UDP, then the client's SRTP, depacketization and channel, all on this machine's 2
//! shared cores (the viewers compete with the server for them).
//!
//! Group `whep-latency-720p`: `ours-viewers-NN-median` and `-p99` over all frames of all
//! viewers in a window of `PIPELINE_BENCH_SECONDS` (default 30 s; issue 18's goal: p99
//! ≤ 5 ms). Full run: `cargo bench -p media-toolkit-cli --bench whep_latency`. Under
//! `cargo test --benches` 1 and 2 viewers watch for 2 s, every frame matched and the
//! frame rate checked.
#![allow(clippy::unwrap_used)]

mod takes;

mod whep;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Packet, Pipeline, Track, raw};
use test_support::sources::Source720p;

use whep::{Viewer, assert_frame_rate};

const SETTLE: Duration = Duration::from_secs(2);

/// When each recent frame was written, by its 32-bit RTP time.
#[derive(Default)]
struct Written {
    at: HashMap<u32, Instant>,
    order: VecDeque<u32>,
}

impl Written {
    /// Keeps the last 500 frames (20 s): a frame that has not arrived by then is lost.
    fn insert(&mut self, rtp: u32, at: Instant) {
        self.at.insert(rtp, at);
        self.order.push_back(rtp);
        if self.order.len() > 500
            && let Some(old) = self.order.pop_front()
        {
            self.at.remove(&old);
        }
    }
}

/// The RTP time the WHEP sink gives a packet (as `sink/whep.rs` computes it).
fn rtp_time(p: &Packet, timescale: u32) -> u32 {
    let pts = i128::from(p.dts + i64::from(p.cts_offset));
    (pts * 90_000 / i128::from(timescale.max(1))) as u64 as u32
}

/// The video track and packets of `file`, read through a raw output.
async fn read_video(file: &std::path::Path) -> (Track, Vec<Packet>) {
    let (mut reader, output) = raw::output(256);
    let mut options = Options::default();
    options.audio = false;
    let input = Endpoint::parse(file.to_str().unwrap(), Direction::Input).unwrap();
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    let mut packets = Vec::new();
    while let Some(p) = reader.read().await {
        packets.push(p);
    }
    let tracks = reader.tracks().unwrap();
    handle.wait().await.unwrap();
    assert_eq!(tracks.len(), 1, "one video track: {tracks:?}");
    (tracks[0].clone(), packets)
}

/// Writes `packets` at their pace, again and again with times continuing, until `stop`.
async fn write_live(
    writer: raw::RawWriter,
    track: Track,
    packets: Vec<Packet>,
    written: Arc<Mutex<Written>>,
    stop: Arc<AtomicBool>,
) {
    let timescale = track.timescale.max(1);
    let first = packets[0].dts;
    let last = packets.last().unwrap();
    let pass = last.dts + i64::from(last.duration.unwrap_or(timescale / 25)) - first;
    let start = tokio::time::Instant::now();
    for round in 0i64.. {
        for p in &packets {
            let mut p = p.clone();
            p.dts += round * pass - first;
            let due = start + Duration::from_secs_f64(p.dts as f64 / f64::from(timescale));
            tokio::time::sleep_until(due).await;
            if stop.load(Ordering::Relaxed) {
                writer.close();
                return;
            }
            let rtp = rtp_time(&p, timescale);
            written.lock().unwrap().insert(rtp, Instant::now());
            if writer.write(p).await == raw::Flow::Finished {
                panic!("the pipeline finished while being written to");
            }
        }
    }
}

/// Median and p99 of `n` viewers' frames written within a window of `length`.
async fn window(
    url: &str,
    n: usize,
    length: Duration,
    written: &Arc<Mutex<Written>>,
) -> (Duration, Duration) {
    // (written, arrived) of every video frame, all viewers; unmatched frames counted.
    let pairs: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let unmatched = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut viewers = Vec::new();
    for _ in 0..n {
        let (pairs, unmatched, written) = (pairs.clone(), unmatched.clone(), written.clone());
        let seen = move |f: &whip_whep::ReceivedFrame, arrived: Instant| match written
            .lock()
            .unwrap()
            .at
            .get(&(f.rtp_time as u32))
        {
            Some(&at) => pairs.lock().unwrap().push((at, arrived)),
            None => {
                unmatched.fetch_add(1, Ordering::Relaxed);
            }
        };
        viewers.push(Viewer::connect(url, Duration::from_secs(20), seen).await);
    }
    whep::settle(&viewers, SETTLE).await;
    let before: Vec<_> = viewers.iter().map(Viewer::frames).collect();
    let from = Instant::now();
    tokio::time::sleep(length).await;
    let until = Instant::now();
    let after: Vec<_> = viewers.iter().map(Viewer::frames).collect();
    // The last frames of the window are on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut dropped = 0;
    for v in viewers {
        dropped += v.close().await;
    }
    let seconds = (until - from).as_secs_f64();
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_frame_rate(&format!("viewer {i} of {n}"), a.0 - b.0, seconds);
    }
    let gaps: u64 = after.iter().zip(&before).map(|(a, b)| a.1 - b.1).sum();
    let mut latencies: Vec<Duration> = pairs
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= from && *at < until)
        .map(|(at, arrived)| arrived.saturating_duration_since(*at))
        .collect();
    latencies.sort();
    let unmatched = unmatched.load(Ordering::Relaxed);
    assert!(
        latencies.len() as f64 >= 25.0 * seconds * n as f64 * 0.85,
        "{n} viewer(s): only {} frames matched by RTP time ({unmatched} not)",
        latencies.len()
    );
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let (median, p99) = (at(0.5), at(0.99));
    eprintln!(
        "{n} viewer(s): {} frames in {seconds:.1} s: latency median {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; {gaps} after a gap, {dropped} dropped by the clients, {unmatched} \
         not matched by RTP time",
        latencies.len(),
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    (median, p99)
}

fn main() {
    let full = takes::full_run();
    let mut c = takes::criterion();
    if !test_support::peers_present("whep_latency", &["ffmpeg"]) {
        return;
    }
    let (seconds, counts) = if full {
        let seconds = takes::env_u64("PIPELINE_BENCH_SECONDS", 30).max(2);
        (seconds, vec![1, 8])
    } else {
        (2, vec![1, 2])
    };
    let dir = test_support::temp_dir();
    let source = dir.path().join("source-720p.mp4");
    // Looped with times continuing: a few seconds are enough (fewer in smoke mode).
    Source720p::new(if full { 10 } else { 3 }).make(&source);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let figures = runtime.block_on(async {
        let (track, packets) = read_video(&source).await;
        let (writer, input) = raw::input(vec![track.clone()], 64);
        let port = test_support::free_port();
        let output = Endpoint::parse(
            &format!("whep-listen://127.0.0.1:{port}/cam"),
            Direction::Output,
        )
        .unwrap();
        let handle = Pipeline::new(input, output).spawn();
        let written: Arc<Mutex<Written>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writing = tokio::spawn(write_live(
            writer,
            track,
            packets,
            written.clone(),
            stop.clone(),
        ));
        let url = format!("http://127.0.0.1:{port}/cam/whep");
        let mut figures = Vec::new();
        for &n in &counts {
            let (median, p99) = window(&url, n, Duration::from_secs(seconds), &written).await;
            figures.push((n, median, p99));
        }
        stop.store(true, Ordering::Relaxed);
        writing.await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), handle.wait())
            .await
            .expect("the pipeline ends")
            .unwrap();
        figures
    });

    let rows = figures
        .into_iter()
        .flat_map(|(n, median, p99)| {
            [("median", median), ("p99", p99)]
                .map(|(what, figure)| (format!("ours-viewers-{n:02}-{what}"), vec![figure]))
        })
        .collect();
    takes::report(&mut c, "whep-latency-720p", None, rows);
    c.final_summary();
}
