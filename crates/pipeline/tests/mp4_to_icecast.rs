//! An M4A file (AAC made by ffmpeg) to a real icecast2 through the pipeline: a listener
//! hears the file's access units, each in its ADTS frame, in order, at least 90 % of
//! them (compared with the source's packets from `ffprobe -show_packets`), and ffmpeg decodes what it heard.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icecast_source::adts::{AdtsFrames, AdtsHeader};
use pipeline::{Direction, Endpoint, Pipeline};
use test_support::ffprobe::{self, num};
use test_support::icecast::{Icecast, IcecastOptions};

/// What a listener of `mount` gets, once the mount has a source, until the stream ends.
fn listen(port: u16, mount: &str) -> std::thread::JoinHandle<Vec<u8>> {
    let request = format!("GET {mount} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
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
            assert!(Instant::now() < deadline, "no source in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m4a_aac_reaches_a_listener_frame_for_frame() {
    test_support::require_peer!("icecast2", "ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let m4a = dir.path().join("tone.m4a");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .args([
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "2",
            "-c:a",
            "aac",
        ])
        .arg(&m4a)
        .status()
        .unwrap();
    assert!(made.success());
    let sizes: Vec<usize> = ffprobe::packets(&m4a, "a:0")
        .iter()
        .map(|p| num(&p["size"]) as usize)
        .collect();

    let server = Icecast::start(IcecastOptions::default());
    let input = Endpoint::parse(m4a.to_str().unwrap(), Direction::Input).unwrap();
    let url = format!("icecast://source:hackme@127.0.0.1:{}/m4a", server.port());
    let output = Endpoint::parse(&url, Direction::Output).unwrap();
    let listener = listen(server.port(), "/m4a");
    let summary = Pipeline::new(input, output).run().await.unwrap();
    assert_eq!(summary.status.packets, sizes.len() as u64);
    let heard = listener.join().unwrap();
    let end = heard.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&heard[..end]).to_lowercase();
    assert!(head.contains("content-type: audio/aac"), "{head}");
    let body = &heard[end + 4..];
    // The listener may join after the first frames: find where the heard frames start.
    let start = (0..body.len().min(4096))
        .find(|&i| {
            AdtsHeader::parse(&body[i..])
                .is_ok_and(|h| AdtsHeader::parse(&body[i + h.frame_length..]).is_ok())
        })
        .expect("an ADTS frame near the start");
    let heard: Vec<Bytes> = AdtsFrames::new(Bytes::copy_from_slice(&body[start..]))
        .map_while(Result::ok)
        .map(|f| f.data)
        .collect();
    // The stream ends with silent frames, all alike, that flush icecast's last block.
    let silent = heard
        .iter()
        .rev()
        .take_while(|f| **f == heard[heard.len() - 1])
        .count();
    assert!(silent > 0, "no flush");
    let heard_sizes: Vec<usize> = heard[..heard.len() - silent]
        .iter()
        .map(|f| f.len() - 7)
        .collect();
    assert!(
        heard_sizes.len() * 10 >= sizes.len() * 9,
        "heard {} of {} frames",
        heard_sizes.len(),
        sizes.len()
    );
    // A listener joins at one of icecast's queue blocks; then it hears the file's frames
    // in order, to the last.
    assert!(
        sizes.ends_with(&heard_sizes),
        "heard frames {heard_sizes:?}, file {sizes:?}"
    );
    let saved = dir.path().join("heard.aac");
    // Only the whole frames: the end of the stream may cut the last one.
    let whole: usize = heard.iter().map(Bytes::len).sum();
    std::fs::write(&saved, &body[start..start + whole]).unwrap();
    let errors = ffprobe::decode_errors(&saved);
    assert!(errors.is_empty(), "{errors}");
}
