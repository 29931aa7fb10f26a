//! RTSP test camera (gst-rtsp-server, H.264 + AAC) → pipeline → `tcp-listen://`, served
//! to two clients on 127.0.0.1: a `tcp://` pipeline recording to MP4, and a deliberately
//! slow client (small socket buffer, stops reading for 3 s) that gets drops, counted by
//! the server, but only decodable data. Both recordings are checked by ffprobe and
//! decoded by ffmpeg.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pipeline::remote::{Inbound, InboundEvent, Message, Side};
use pipeline::{Direction, Endpoint, Options, Packet, Pipeline, Track, raw};
use test_support::ffprobe::{self, Value, num};
use test_support::rtsp::RtspServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn peers(test: &str) -> bool {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.extend(["ffprobe", "ffmpeg"]);
    test_support::peers_present(test, &names)
}

/// What the slow client got.
struct SlowRecording {
    tracks: Vec<Track>,
    packets: Vec<Packet>,
    /// The server's count of packets dropped for it (from `stopped_recording`).
    dropped: u64,
    /// The server's count of packets sent to it.
    sent: u64,
}

async fn connect_small_buffer(port: u16) -> TcpStream {
    for _ in 0..100 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        if let Ok(stream) = socket.connect(([127, 0, 0, 1], port).into()).await {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the packet server never listened on port {port}");
}

/// Plays, reads a little, stops reading for 3 s, then reads everything until goodbye.
async fn slow_client(port: u16) -> SlowRecording {
    let mut stream = connect_small_buffer(port).await;
    let mut wire = BytesMut::new();
    Message::Hello {
        version: 1,
        token: None,
    }
    .write_framed("h", &mut wire);
    Message::StartedPlaying.write_framed("p", &mut wire);
    stream.write_all(&wire).await.unwrap();
    let mut inbound = Inbound::new(Side::Client);
    let mut rec = SlowRecording {
        tracks: Vec::new(),
        packets: Vec::new(),
        dropped: 0,
        sent: 0,
    };
    let mut paused = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        while let Some(event) = inbound.poll(Instant::now()).unwrap() {
            match event {
                InboundEvent::TrackOpened { index, track } => {
                    assert_eq!(index, rec.tracks.len(), "one recording, tracks in order");
                    rec.tracks.push(track);
                }
                InboundEvent::Packet(p) => rec.packets.push(p),
                InboundEvent::Control(Message::StoppedRecording { sent, dropped, .. }) => {
                    (rec.sent, rec.dropped) = (sent, dropped);
                }
                InboundEvent::Control(Message::Goodbye) => return rec,
                InboundEvent::Control(Message::Error { code, message }) => {
                    panic!("slow client refused: {code}: {message}")
                }
                _ => {}
            }
        }
        if !paused && rec.packets.len() >= 10 {
            paused = true;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let n = tokio::time::timeout_at(deadline, stream.read_buf(inbound.buffer()))
            .await
            .expect("the slow client got goodbye within 40 s")
            .unwrap();
        assert!(n > 0, "the server closed without goodbye");
    }
}

/// Records packets to MP4 through a raw input (the slow client's recording).
async fn record_packets(tracks: Vec<Track>, packets: Vec<Packet>, out: &Path) {
    let (writer, input) = raw::input(tracks, 64);
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    for p in packets {
        assert_eq!(writer.write(p).await, raw::Flow::Continue);
    }
    writer.close();
    handle.wait().await.unwrap();
}

fn stream<'a>(probe: &'a Value, kind: &str, file: &Path) -> &'a Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("{}: no {kind} stream in {probe}", file.display()))
}

/// H.264 and AAC, at least `min_seconds` of video, and a clean ffmpeg decode.
fn check_recording(file: &Path, min_seconds: f64) -> usize {
    let probe = ffprobe::probe(file);
    let video = stream(&probe, "video", file);
    assert_eq!(video["codec_name"], "h264", "{}", file.display());
    assert_eq!(stream(&probe, "audio", file)["codec_name"], "aac");
    let d = num(&video["duration"]);
    assert!(d >= min_seconds, "{}: video lasts {d} s", file.display());
    let errors = ffprobe::decode_errors(file);
    assert!(
        errors.is_empty(),
        "{}: ffmpeg decode errors: {errors}",
        file.display()
    );
    ffprobe::packets(file, "v:0").len()
}

#[tokio::test(flavor = "multi_thread")]
async fn camera_served_to_a_recording_client_and_a_slow_one() {
    if !peers("camera_served_to_a_recording_client_and_a_slow_one") {
        return;
    }
    let camera = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();

    let mut options = {
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs(6));
        options
    };
    // A short queue and small socket buffers, so that 3 s without reading overflow.
    options.remote.client_queue = 24;
    options.remote.send_buffer = Some(16 * 1024);
    let input = Endpoint::parse(&camera.url("/h264aac"), Direction::Input).unwrap();
    let listen = format!("tcp-listen://127.0.0.1:{port}");
    let output = Endpoint::parse(&listen, Direction::Output).unwrap();
    let server = Pipeline::new(input, output).with_options(options).spawn();

    let fast_file = dir.path().join("fast.mp4");
    let remote = Endpoint::parse(&format!("tcp://127.0.0.1:{port}"), Direction::Input).unwrap();
    let file = Endpoint::parse(fast_file.to_str().unwrap(), Direction::Output).unwrap();
    let fast = Pipeline::new(remote, file).spawn();
    let slow = tokio::spawn(slow_client(port));

    let served = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("the camera pipeline ends after 6 s of media")
        .unwrap();
    assert!(served.files.is_empty(), "a packet server writes no file");
    let fast = tokio::time::timeout(Duration::from_secs(20), fast.wait())
        .await
        .expect("the tcp:// input ends at the server's goodbye")
        .unwrap();
    assert_eq!(fast.files, vec![fast_file.clone()]);
    let slow = slow.await.unwrap();

    // The recording client: a clean MP4 of most of the 6 s.
    let fast_frames = check_recording(&fast_file, 4.0);
    assert!(
        fast.status.packets > 100,
        "fast client packets: {:?}",
        fast.status
    );

    // The slow client: drops counted by the server, only decodable data received.
    assert!(
        slow.dropped > 0,
        "the slow client had drops: {} sent",
        slow.sent
    );
    assert_eq!(slow.sent as usize, slow.packets.len(), "the server's count");
    let video = slow
        .tracks
        .iter()
        .position(|t| t.kind == pipeline::MediaKind::Video)
        .unwrap();
    let first_video = slow.packets.iter().find(|p| p.track == video).unwrap();
    assert!(first_video.keyframe, "video starts at a key frame");
    let slow_file = dir.path().join("slow.mp4");
    record_packets(slow.tracks, slow.packets, &slow_file).await;
    let slow_frames = check_recording(&slow_file, 1.0);
    eprintln!(
        "fast: {fast_frames} video frames; slow: {slow_frames} video frames, {} packets sent, {} dropped",
        slow.sent, slow.dropped
    );
    assert!(
        slow_frames < fast_frames,
        "slow {slow_frames} video frames, fast {fast_frames}"
    );
}
