//! Ogg Opus to a real icecast2 (Debian's 2.4.4): three songs made by ffmpeg (libopus),
//! each pushed as a logical stream of its own, reach a listener page for page; ffmpeg
//! decodes the listener's stream without error, and it holds three logical streams in
//! song order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use icecast_source::ogg::{OggPages, song_frames};
use icecast_source::{ContentType, IcecastConfig, IcecastStream, StreamOptions};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ffprobe, require_peer};

fn opus_song(dir: &std::path::Path, name: &str, hz: u32) -> Bytes {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration=1.5"))
        .args(["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Bytes::from(std::fs::read(&path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_opus_songs_as_three_logical_streams_decode_at_a_listener() {
    require_peer!("icecast2", "ffmpeg");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    let songs: Vec<Vec<icecast_source::AudioFrame>> = [440, 660, 880]
        .iter()
        .enumerate()
        .map(|(i, hz)| {
            let data = opus_song(dir.path(), &format!("{i}.opus"), *hz);
            song_frames(&format!("{i}.opus"), data, 1000 + i as u32).unwrap()
        })
        .collect();
    let config = IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap()
    .with_content_type(ContentType::Ogg);
    let stream = IcecastStream::start(config, StreamOptions::default());
    let port = server.port();
    let mut listener = None;
    for (i, song) in songs.iter().enumerate() {
        for frame in song {
            stream.send(frame.clone()).await.unwrap();
        }
        if i == 0 {
            // The listener joins during the first song: icecast sends it that song's
            // header pages first.
            tokio::task::block_in_place(|| {
                server.wait_for_status(|s| s["icestats"].get("source").is_some())
            });
            listener = Some(std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                write!(s, "GET /stream HTTP/1.0\r\n\r\n").unwrap();
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                (
                    String::from_utf8_lossy(&all[..end]).into_owned(),
                    all[end..].to_vec(),
                )
            }));
        }
    }
    let status = tokio::task::block_in_place(|| server.status_json());
    assert_eq!(
        status["icestats"]["source"]["server_type"].as_str(),
        Some("application/ogg"),
        "{status}"
    );
    stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| listener.unwrap().join().unwrap());
    assert!(head.contains("application/ogg"), "{head}");

    // Page for page: every page heard is one we sent (the listener joined in song 1, and
    // icecast may keep back the very end), songs 2 whole.
    let heard: Vec<_> = OggPages::new(Bytes::from(body.clone()))
        .map_while(Result::ok)
        .collect();
    let sent: Vec<&Bytes> = songs.iter().flatten().map(|f| &f.data).collect();
    assert!(
        heard.iter().all(|p| sent.contains(&&p.data)),
        "only our pages reach the listener"
    );
    let firsts: Vec<u32> = heard.iter().filter(|p| p.first).map(|p| p.serial).collect();
    assert_eq!(
        firsts,
        [1000, 1001, 1002],
        "one logical stream per song, in order"
    );
    let song2: Vec<&Bytes> = heard
        .iter()
        .filter(|p| p.serial == 1001)
        .map(|p| &p.data)
        .collect();
    assert!(
        song2 == songs[1].iter().map(|f| &f.data).collect::<Vec<_>>(),
        "song 2 whole"
    );

    let out = dir.path().join("heard.ogg");
    std::fs::write(&out, &body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&out),
        "",
        "ffmpeg decodes the listener's stream"
    );
    // ffmpeg decodes the chain through all three links.
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    let seconds = decoded.stdout.len() as f64 / 2.0 / 48_000.0;
    println!("decoded {seconds:.2} s from {} pages", heard.len());
    assert!(
        seconds > 3.0,
        "decoded {seconds:.2} s: the chain was not followed"
    );
}
