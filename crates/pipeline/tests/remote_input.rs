//! The `tcp://` input and the `tcp-listen://` output through a pipeline, on 127.0.0.1:
//! reconnection with backoff (refused, hang-ups) and the end at `goodbye`; a wrong token
//! that fails at once; resumption of the same recording after the server went quiet,
//! without duplicates; `tcp-listen://` defaults; a track the clients could not take.
//! (The protocol itself is tested in media-remote.)
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use pipeline::remote::{RemoteSettings, Server};
use pipeline::{Codec, Direction, Endpoint, Options, Packet, Pipeline, Track, raw};

const WAIT: Duration = Duration::from_secs(5);

fn tracks() -> Vec<Track> {
    let video = Track::video(
        Codec::H264 {
            config: Bytes::from_static(&[1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0]),
        },
        90_000,
        320,
        240,
    );
    vec![video, Track::audio(Codec::Mp3, 44_100, 2)]
}

fn packet(n: u32) -> Packet {
    let keyframe = n.is_multiple_of(10);
    let data = Bytes::from(format!("packet {n}").into_bytes());
    Packet::new(0, i64::from(n) * 3000, keyframe, data)
}

fn server(settings: RemoteSettings) -> Server {
    Server::bind("127.0.0.1:0", settings).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_input_reconnects_with_backoff_and_ends_at_goodbye() {
    let port = test_support::free_port();
    let mut options = Options::default();
    options.remote.reconnect.initial_delay = Duration::from_millis(50);
    options.remote.reconnect.max_delay = Duration::from_millis(200);
    let url = format!("tcp://127.0.0.1:{port}");
    let input = Endpoint::parse(&url, Direction::Input).unwrap();
    let (mut reader, output) = raw::output(64);
    let handle = Pipeline::new(input, output).with_options(options).spawn();

    // Nothing listens yet: refused, retried.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handle.is_finished(), "a refused connection is retried");
    // A server that hangs up at once (a crash): retried, twice.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    for _ in 0..2 {
        let (hang_up, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the client comes back")
            .unwrap();
        drop(hang_up);
    }
    drop(listener);

    // The real server on the same port: the client plays and records.
    let server = Server::bind(&format!("127.0.0.1:{port}"), RemoteSettings::default()).unwrap();
    let deadline = Instant::now() + WAIT;
    while !server.clients().iter().any(|c| c.playing) {
        assert!(Instant::now() < deadline, "the client never played");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_recording(tracks()).unwrap();
    let sent: Vec<Packet> = (0..25).map(packet).collect();
    for p in &sent {
        server.write(p).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let p = tokio::time::timeout(WAIT, reader.read()).await.unwrap();
        got.push(p.expect("the pipeline goes on"));
    }
    assert_eq!(got, sent);
    assert_eq!(reader.tracks(), Some(tracks()));
    // Goodbye ends the input, and the pipeline with it.
    drop(server);
    tokio::time::timeout(WAIT, handle.wait())
        .await
        .expect("goodbye ends the pipeline")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_input_with_a_wrong_token_fails_at_once() {
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings
    });
    let mut options = Options::default();
    options.remote.token = Some("guess".into());
    let url = format!("tcp://{}", server.local_addr());
    let input = Endpoint::parse(&url, Direction::Input).unwrap();
    let (_reader, output) = raw::output(4);
    let result = tokio::time::timeout(
        WAIT,
        Pipeline::new(input, output).with_options(options).run(),
    )
    .await
    .expect("no retry after unauthorized");
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&url) && err.contains("unauthorized") && err.contains("wrong token"),
        "{err}"
    );
    assert!(!err.contains("s3cret") && !err.contains("guess"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_input_resumes_the_same_recording_when_the_server_goes_quiet() {
    let server = server(RemoteSettings::default());
    let mut options = Options::default();
    options.remote.stall_timeout = Duration::from_millis(300);
    options.remote.reconnect.initial_delay = Duration::from_millis(50);
    let url = format!("tcp://{}", server.local_addr());
    let input = Endpoint::parse(&url, Direction::Input).unwrap();
    let (mut reader, output) = raw::output(64);
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    let playing = || {
        let clients = server.clients();
        clients.iter().find(|c| c.playing).map(|c| c.peer)
    };
    let deadline = Instant::now() + WAIT;
    let first = loop {
        if let Some(peer) = playing() {
            break peer;
        }
        assert!(Instant::now() < deadline, "the client never played");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.start_recording(tracks()).unwrap();
    for n in 0..3 {
        server.write(&packet(n)).unwrap();
    }
    for n in 0..3 {
        let p = tokio::time::timeout(WAIT, reader.read()).await.unwrap();
        assert_eq!(p, Some(packet(n)));
    }
    // Nothing for longer than the stall timeout: the client takes the server for gone and
    // comes back on a new socket.
    let deadline = Instant::now() + WAIT;
    loop {
        if playing().is_some_and(|peer| peer != first) {
            break;
        }
        assert!(Instant::now() < deadline, "the client did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Same recording: the same output goes on (a raw output takes a single stream, so a
    // discontinuity would fail the pipeline); the resent GOP (0..3) is skipped.
    for n in 3..5 {
        server.write(&packet(n)).unwrap();
    }
    for n in 3..5 {
        let p = tokio::time::timeout(WAIT, reader.read()).await.unwrap();
        assert_eq!(p, Some(packet(n)), "no duplicate after the reconnection");
    }
    drop(server);
    tokio::time::timeout(WAIT, handle.wait())
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn tcp_listen_binds_loopback_by_default() {
    assert_eq!(
        Endpoint::parse("tcp-listen://:9000", Direction::Output).unwrap(),
        Endpoint::TcpListen("127.0.0.1:9000".into())
    );
    assert_eq!(
        Endpoint::parse("tcp-listen://[::1]:9000", Direction::Output).unwrap(),
        Endpoint::TcpListen("[::1]:9000".into())
    );
    assert!(Endpoint::parse("tcp-listen://:9000", Direction::Input).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_track_header_over_the_clients_limit_is_refused() {
    // A 40 KB sample entry is 80 KB of hex in the track header: over 64 KiB.
    let entry = Bytes::from(vec![7u8; 40_000]);
    let track = Track::video(Codec::SampleEntry { entry }, 90_000, 64, 64);
    let (writer, input) = raw::input(vec![track], 4);
    let port = test_support::free_port();
    let output =
        Endpoint::parse(&format!("tcp-listen://127.0.0.1:{port}"), Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    let _ = writer.write(packet(0)).await;
    drop(writer);
    let err = tokio::time::timeout(WAIT, handle.wait())
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("track 0 (sample entry)") && err.contains("over the 65536 bytes"),
        "{err}"
    );
}
