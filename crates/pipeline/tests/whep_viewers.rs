//! Issue 18's "four viewers at once, one of them throttled: the others keep their frame
//! rate": the RTSP test camera (H.264 640x360 at 15 fps) → `whep-listen://` (a pipeline),
//! watched by three `WhepPull` clients and one viewer whose UDP socket has a tiny
//! receive buffer and is read slowly (a few datagrams every 200 ms), so the kernel
//! drops its packets, its depacketizer sees gaps (str0m NACKs them) and it asks for key
//! frames (PLI). The three others must each receive about 15 frames a second.
#![allow(clippy::unwrap_used)]
#![allow(clippy::field_reassign_with_default)]

mod webrtc_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use test_support::rtsp::RtspServer;
use tokio::net::UdpSocket;
use whip_whep::signalling::{self, EndpointUrl};
use whip_whep::{ClientOutput, ClientSettings, TrackKind, WhepClient, WhepPull};

const WINDOW: Duration = Duration::from_secs(8);

/// What the throttled viewer saw.
#[derive(Default)]
struct Throttled {
    frames: AtomicU64,
    gaps: AtomicU64,
    keyframe_requests: AtomicU64,
    datagrams: AtomicU64,
}

/// A viewer that reads 3 datagrams every 200 ms from a socket with a 2 KiB receive
/// buffer, until `stop`.
async fn throttled_viewer(url: String, seen: Arc<Throttled>, stop: Arc<AtomicBool>) {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    let socket = UdpSocket::from_std(socket.into()).unwrap();
    let local = socket.local_addr().unwrap();
    let (mut client, offer) = WhepClient::offer(local, Instant::now()).unwrap();
    let url = EndpointUrl::parse(&url).unwrap();
    let (answer, session) =
        signalling::post_offer(&url, None, None, &offer, Duration::from_secs(10))
            .await
            .unwrap();
    client.accept_answer(&answer).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut next_read = tokio::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let wake_at = loop {
            match client.poll().unwrap() {
                ClientOutput::Transmit {
                    destination,
                    contents,
                } => {
                    let _ = socket.send_to(&contents, destination).await;
                }
                ClientOutput::Timeout(t) => break t,
                ClientOutput::Frame(f) => {
                    if f.track == TrackKind::Video {
                        seen.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    if f.after_loss {
                        seen.gaps.fetch_add(1, Ordering::Relaxed);
                        seen.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                        client.request_keyframe();
                    }
                }
                ClientOutput::Closed => return,
                _ => {}
            }
        };
        let now = tokio::time::Instant::now();
        if now >= next_read {
            // The slow reader: a few datagrams, then nothing for 200 ms.
            for _ in 0..3 {
                match socket.try_recv_from(&mut buf) {
                    Ok((n, from)) => {
                        seen.datagrams.fetch_add(1, Ordering::Relaxed);
                        client
                            .handle_datagram(Instant::now(), from, &buf[..n])
                            .unwrap();
                    }
                    Err(_) => break,
                }
            }
            next_read = now + Duration::from_millis(200);
        }
        let until = tokio::time::Instant::from_std(wake_at).min(next_read);
        tokio::time::sleep_until(until).await;
        client.handle_timeout(Instant::now()).unwrap();
    }
    client.close();
    let _ = signalling::delete(&session, None, None, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_viewers_keep_their_frame_rate_beside_a_throttled_one() {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.push("ffprobe");
    if !test_support::peers_present(
        "three_viewers_keep_their_frame_rate_beside_a_throttled_one",
        &names,
    ) {
        return;
    }
    let camera = RtspServer::start_default();
    let port = test_support::free_port();
    let a = webrtc_common::serve_on_whep(&camera.url("/h264"), port);
    let url = format!("http://127.0.0.1:{port}/cam/whep");
    // The first pull waits for the camera's tracks (503 until then).
    let started = Instant::now();
    let first = loop {
        match WhepPull::connect(&url, ClientSettings::default()).await {
            Ok(p) => break p,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("waiting: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    let seen = Arc::new(Throttled::default());
    let stop = Arc::new(AtomicBool::new(false));
    let slow = tokio::spawn(throttled_viewer(url.clone(), seen.clone(), stop.clone()));
    let mut pulls = vec![first];
    for _ in 0..2 {
        pulls.push(
            WhepPull::connect(&url, ClientSettings::default())
                .await
                .unwrap(),
        );
    }
    // Each of the three counts its video frames in the same window, after its GOP.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counters: Vec<_> = pulls
        .into_iter()
        .map(|mut pull| {
            tokio::spawn(async move {
                // What was queued before the window (the late-joiner GOP) goes first.
                while let Ok(Some(_)) =
                    tokio::time::timeout(Duration::from_millis(1), pull.next()).await
                {
                }
                let begin = Instant::now();
                let (mut frames, mut gaps) = (0u64, 0u64);
                while begin.elapsed() < WINDOW {
                    let left = WINDOW.saturating_sub(begin.elapsed());
                    match tokio::time::timeout(left, pull.next()).await {
                        Ok(Some(f)) if f.track == TrackKind::Video => {
                            frames += 1;
                            gaps += u64::from(f.after_loss);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
                let dropped = pull.dropped();
                pull.close().await.unwrap();
                (frames, gaps, dropped)
            })
        })
        .collect();
    let throttled_before = seen.frames.load(Ordering::Relaxed);
    let mut results = Vec::new();
    for c in counters {
        results.push(c.await.unwrap());
    }
    let throttled_frames = seen.frames.load(Ordering::Relaxed) - throttled_before;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(10), slow).await;
    a.close();
    let summary = tokio::time::timeout(Duration::from_secs(20), a.wait())
        .await
        .expect("pipeline A ends");
    let seconds = WINDOW.as_secs_f64();
    for (i, (frames, gaps, dropped)) in results.iter().enumerate() {
        eprintln!(
            "viewer {i}: {frames} video frames in {seconds} s ({:.1}/s), {gaps} after a gap, {dropped} dropped",
            *frames as f64 / seconds
        );
    }
    eprintln!(
        "throttled viewer: {throttled_frames} video frames in the window ({:.1}/s), {} datagrams read in all, {} frames after a gap, {} key frame requests (PLI); pipeline A: {summary:?}",
        throttled_frames as f64 / seconds,
        seen.datagrams.load(Ordering::Relaxed),
        seen.gaps.load(Ordering::Relaxed),
        seen.keyframe_requests.load(Ordering::Relaxed),
    );
    for (frames, gaps, _) in &results {
        let rate = *frames as f64 / seconds;
        assert!((13.0..=17.0).contains(&rate), "{rate} frames/s");
        assert_eq!(*gaps, 0);
    }
    // The throttled one really lost packets and asked for key frames.
    assert!(
        seen.gaps.load(Ordering::Relaxed) > 0,
        "the throttled viewer lost nothing"
    );
    assert!((throttled_frames as f64) < 15.0 * seconds * 0.8);
}
