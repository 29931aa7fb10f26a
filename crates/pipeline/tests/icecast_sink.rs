//! `icecast://` as a sink of any source, through `Pipeline::run`, against a real icecast2
//! and a listener whose bytes ffprobe decodes: raw MP3 packets from code, and an RTSP
//! camera's AAC track (sent as ADTS). A video track fails at once with one line.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icecast_source::adts::{AdtsFrames, AdtsHeader};
use pipeline::{Codec, Direction, Endpoint, Error, Options, Packet, Pipeline, Track, raw};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::rtsp::RtspServer;
use test_support::{ffprobe, require_peer};

/// Connects to `mount` once it has a source (icecast answers 404 before), then reads what
/// a listener gets until the stream ends or 30 s pass.
fn listen(port: u16, mount: &str) -> std::thread::JoinHandle<Vec<u8>> {
    let request = format!("GET {mount} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mount = mount.to_owned();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            if all.starts_with(b"HTTP/1.0 200") || all.starts_with(b"HTTP/1.1 200") {
                return all;
            }
            assert!(Instant::now() < deadline, "no source on {mount} in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// The body after the HTTP head.
fn body(response: &[u8]) -> &[u8] {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &response[end + 4..]
}

fn head(response: &[u8]) -> String {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    String::from_utf8_lossy(&response[..end]).to_lowercase()
}

fn decoded_stream(path: &Path) -> ffprobe::Value {
    let probe = ffprobe::probe(path);
    probe["streams"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_mp3_packets_reach_a_listener() {
    require_peer!("icecast2", "ffprobe");
    let server = Icecast::start(IcecastOptions::default());
    let mp3 = std::fs::read(test_support::fixture("mp3-44100.mp3")).unwrap();
    let frames: Vec<Bytes> = mp3_frames::Frames::new(&mp3)
        .map(|f| Bytes::copy_from_slice(f.data))
        .collect();
    assert!(frames.len() > 60, "{} frames", frames.len());
    let header = mp3_frames::header_at(&frames[0], 0).unwrap();
    let track = Track::audio(
        Codec::Mp3,
        header.sample_rate(),
        u16::from(header.mode().channels()),
    );
    let (writer, input) = raw::input(vec![track], 8);
    let url = format!("icecast://source:hackme@127.0.0.1:{}/raw", server.port());
    let output = Endpoint::parse(&url, Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    let listener = listen(server.port(), "/raw");
    let samples = i64::from(header.samples());
    for (i, frame) in frames.iter().enumerate() {
        let packet = Packet::new(0, i as i64 * samples, true, frame.clone())
            .with_duration(Some(header.samples()));
        assert_eq!(writer.write(packet).await, raw::Flow::Continue);
    }
    writer.close();
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.status.packets, frames.len() as u64);
    let heard = listener.join().unwrap();
    assert!(
        head(&heard).contains("content-type: audio/mpeg"),
        "{}",
        head(&heard)
    );
    // The listener joined a moment after the start; from its first frame on, it hears our
    // frames in order, to the last.
    let body = body(&heard);
    let first = frames
        .iter()
        .position(|f| {
            body.starts_with(f) || body.windows(f.len()).take(1 << 16).any(|w| w == &f[..])
        })
        .expect("the listener hears our frames");
    let ours: Vec<u8> = frames[first..].concat();
    let start = body
        .windows(frames[first].len())
        .position(|w| w == &frames[first][..])
        .unwrap();
    assert!(
        body[start..].starts_with(&ours),
        "the frames after the listener's first are ours, in order, to the last"
    );
    let dir = test_support::temp_dir();
    let saved = dir.path().join("heard.mp3");
    std::fs::write(&saved, body).unwrap();
    let stream = decoded_stream(&saved);
    assert_eq!(stream["codec_name"].as_str(), Some("mp3"), "{stream}");
    assert_eq!(stream["sample_rate"].as_str(), Some("44100"), "{stream}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_camera_aac_reaches_a_listener() {
    let mut needed = RtspServer::PEERS.to_vec();
    needed.extend(["icecast2", "ffprobe"]);
    if !test_support::peers_present("rtsp_camera_aac_reaches_a_listener", &needed) {
        return;
    }
    let camera = RtspServer::start_default();
    let server = Icecast::start(IcecastOptions::default());
    let input = Endpoint::parse(&camera.url("/h264aac"), Direction::Input).unwrap();
    let url = format!("icecast://source:hackme@127.0.0.1:{}/cam", server.port());
    let output = Endpoint::parse(&url, Direction::Output).unwrap();
    let options = {
        let mut options = Options::default();
        options.video = false;
        options.duration = Some(Duration::from_secs(3));
        options
    };
    let listener = listen(server.port(), "/cam");
    let summary = Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
    assert!(summary.status.packets > 100, "{:?}", summary.status);
    let heard = listener.join().unwrap();
    assert!(
        head(&heard).contains("content-type: audio/aac"),
        "{}",
        head(&heard)
    );
    // A listener joins at one of icecast's queue blocks, not at a frame, and the stream's
    // end may cut its last frame (AAC has no silence to flush with): between the two, every
    // byte is a whole ADTS frame.
    let body = body(&heard);
    let start = (0..body.len().min(8192))
        .find(|&i| {
            AdtsHeader::parse(&body[i..])
                .is_ok_and(|h| AdtsHeader::parse(&body[i + h.frame_length..]).is_ok())
        })
        .expect("an ADTS frame near the start");
    let mut whole = 0;
    for frame in AdtsFrames::new(Bytes::copy_from_slice(&body[start..])) {
        let Ok(frame) = frame else { break };
        whole += frame.data.len();
    }
    let rest = body.len() - start - whole;
    assert!(
        start < 2048 && rest < 2048,
        "{start} bytes before the first whole frame, {rest} after the last"
    );
    assert!(whole > 10_000, "{whole} bytes of whole frames");
    let dir = test_support::temp_dir();
    let saved = dir.path().join("heard.aac");
    std::fs::write(&saved, &body[start..start + whole]).unwrap();
    let stream = decoded_stream(&saved);
    assert_eq!(stream["codec_name"].as_str(), Some("aac"), "{stream}");
    assert_eq!(stream["sample_rate"].as_str(), Some("48000"), "{stream}");
    // ffmpeg decodes every whole frame the listener got without an error.
    let decode = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&saved)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_track_fails_at_once_with_one_line() {
    let mut needed = RtspServer::PEERS.to_vec();
    needed.push("icecast2");
    if !test_support::peers_present("a_video_track_fails_at_once_with_one_line", &needed) {
        return;
    }
    let camera = RtspServer::start_default();
    let server = Icecast::start(IcecastOptions::default());
    let input = Endpoint::parse(&camera.url("/h264aac"), Direction::Input).unwrap();
    let url = format!(
        "icecast://source:hackme@127.0.0.1:{}/cam?token=s3cretq",
        server.port()
    );
    let output = Endpoint::parse(&url, Direction::Output).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), pipeline::run(input, output))
        .await
        .expect("fails before any media is streamed")
        .unwrap_err();
    assert!(matches!(err, Error::Misfit { .. }), "{err:?}");
    assert!(err.is_permanent());
    let line = err.to_string();
    assert!(
        line.ends_with(
            "takes one MP3, AAC or Opus audio track; track 0 is H.264 video, use --no-video"
        ),
        "{line}"
    );
    assert!(
        !line.contains("hackme") && !line.contains("s3cretq") && !line.contains('\n'),
        "{line}"
    );
    assert!(
        server.status_json()["icestats"].get("source").is_none(),
        "nothing reached the server"
    );
}
