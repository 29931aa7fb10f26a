//! A file into a live output is paced by default (issue 15): `in.mp4 → tcp-listen://`
//! without `realtime` set, a media-remote client records when each packet arrives, and
//! every arrival follows the packet's media time within 100 ms; a second client,
//! `tcp:// → out.mp4` through another pipeline, records a file that ffprobe reads with
//! every packet of the source.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use media_remote::{Client, ClientEvent, RemoteSettings};
use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe;

const WAIT: Duration = Duration::from_secs(15);

fn make_source(path: &Path) {
    // No B-frames: presentation and decode times are the same, so "media time" is one.
    // The audio starts 50 ms in, so the video key frame is the first packet: a client
    // that joins a few ms after the start gets everything from the server's cache, which
    // begins at a key frame (AAC priming at -21 ms would come before it and be missed).
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args([
            "-itsoffset",
            "0.05",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
        ])
        .args(["-t", "4", "-c:v", "libx264", "-bf", "0", "-g", "50"])
        .args(["-c:a", "aac"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn quick_reconnect() -> RemoteSettings {
    let mut settings = RemoteSettings::default();
    settings.reconnect.initial_delay = Duration::from_millis(5);
    settings.reconnect.max_delay = Duration::from_millis(20);
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_into_tcp_listen_arrives_at_its_media_pace() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("in.mp4");
    make_source(&source);
    let source_video = ffprobe::packets(&source, "v:0").len();
    let source_audio = ffprobe::packets(&source, "a:0").len();
    assert!(source_video >= 100 && source_audio >= 180);

    let port = test_support::free_port();
    let addr = format!("127.0.0.1:{port}");
    // The clients retry every few ms until the server is bound; a client that joins
    // after the first key frame still gets the packets since it (the server's cache).
    let mut client = Client::connect(addr.clone(), quick_reconnect());
    let recording = dir.path().join("out.mp4");
    let recorder = Pipeline::new(
        Endpoint::parse(&format!("tcp://{addr}"), Direction::Input).unwrap(),
        Endpoint::parse(recording.to_str().unwrap(), Direction::Output).unwrap(),
    )
    .with_options({
        let mut options = Options::default();
        options.remote = quick_reconnect();
        options
    })
    .spawn();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Default options: no `realtime`, the live output turns pacing on.
    let server = Pipeline::new(
        Endpoint::parse(source.to_str().unwrap(), Direction::Input).unwrap(),
        Endpoint::parse(&format!("tcp-listen://{addr}"), Direction::Output).unwrap(),
    )
    .spawn();

    let mut timescales = Vec::new();
    // (arrival, media seconds, track)
    let mut arrivals: Vec<(Instant, f64, usize)> = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("the server goes on or says goodbye");
        match event {
            Some(Ok(ClientEvent::Tracks(tracks))) => {
                timescales = tracks.iter().map(|t| t.timescale).collect();
            }
            Some(Ok(ClientEvent::Packet(p))) => {
                let scale = f64::from(timescales[p.track]);
                arrivals.push((Instant::now(), p.dts as f64 / scale, p.track));
            }
            Some(Ok(ClientEvent::End)) | None => break,
            Some(Ok(ClientEvent::Reconnecting { .. })) if arrivals.is_empty() => {}
            // The recording stopped at the end of the file; `goodbye` follows.
            Some(Ok(ClientEvent::Discontinuity)) if !arrivals.is_empty() => {}
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    tokio::time::timeout(WAIT, server.wait())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, recorder.wait())
        .await
        .unwrap()
        .unwrap();

    let count = |track| arrivals.iter().filter(|a| a.2 == track).count();
    assert_eq!((count(0), count(1)), (source_video, source_audio));
    let (first_arrival, first_time, _) = arrivals[0];
    let mut worst = 0.0f64;
    for &(arrival, time, track) in &arrivals {
        let wall = arrival.duration_since(first_arrival).as_secs_f64();
        let error = wall - (time - first_time);
        worst = worst.max(error.abs());
        assert!(
            error.abs() <= 0.1,
            "track {track} packet at {time:.3} s arrived {wall:.3} s after the first"
        );
    }
    let span = arrivals.last().unwrap().0.duration_since(first_arrival);
    eprintln!("worst arrival error {:.1} ms over {span:?}", worst * 1000.0);

    // The recorded file, read by ffprobe: every packet, decodable.
    assert_eq!(ffprobe::packets(&recording, "v:0").len(), source_video);
    assert_eq!(ffprobe::packets(&recording, "a:0").len(), source_audio);
    let errors = ffprobe::decode_errors(&recording);
    assert!(errors.is_empty(), "{errors}");
}
