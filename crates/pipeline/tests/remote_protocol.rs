//! The packet server's handshake and state machine, driven by raw TCP clients on
//! 127.0.0.1 that speak the protocol through `remote::Inbound` and `Message` (and some
//! that do not speak it at all): started_playing before and after recording starts, a
//! duplicate started_playing, stopped_playing acknowledged, stopped_recording, goodbye;
//! wrong or missing token, wrong version, garbage, oversize frame, silence, a client
//! that stops reading, too many clients — each answered with a clear error while the
//! other clients go on being served.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pipeline::remote::{ErrorCode, Inbound, InboundEvent, Message, RemoteSettings, Server, Side};
use pipeline::{Codec, Direction, Endpoint, Options, Packet, Pipeline, Track, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(5);

struct TestClient {
    stream: TcpStream,
    inbound: Inbound,
    ids: u32,
    /// Packets passed over by [`TestClient::control`].
    skipped: Vec<Packet>,
}

impl TestClient {
    async fn connect(server: &Server) -> TestClient {
        TestClient::with_stream(TcpStream::connect(server.local_addr()).await.unwrap())
    }

    fn with_stream(stream: TcpStream) -> TestClient {
        TestClient {
            stream,
            inbound: Inbound::new(Side::Client),
            ids: 0,
            skipped: Vec::new(),
        }
    }

    async fn send(&mut self, message: Message) {
        self.ids += 1;
        let mut wire = BytesMut::new();
        message.write_framed(&format!("test{}", self.ids), &mut wire);
        self.stream.write_all(&wire).await.unwrap();
    }

    async fn hello(server: &Server, token: Option<&str>) -> TestClient {
        let mut client = TestClient::connect(server).await;
        client
            .send(Message::Hello {
                version: 1,
                token: token.map(str::to_owned),
            })
            .await;
        assert_eq!(
            client.next().await,
            Some(InboundEvent::Control(Message::Welcome { version: 1 }))
        );
        client
    }

    /// The next event; `None` at the end of the connection. Fails after 5 s.
    async fn next(&mut self) -> Option<InboundEvent> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(event) = self.inbound.poll(Instant::now()).unwrap() {
                return Some(event);
            }
            let read = self.stream.read_buf(self.inbound.buffer());
            let n = tokio::time::timeout_at(deadline, read)
                .await
                .expect("no event within 5 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// The next control message, skipping media (packets kept in `skipped`).
    async fn control(&mut self) -> Message {
        loop {
            match self.next().await {
                Some(InboundEvent::Control(m)) => return m,
                Some(InboundEvent::Packet(p)) => self.skipped.push(p),
                Some(_) => continue,
                None => panic!("connection closed while waiting for a control message"),
            }
        }
    }

    /// Expects an `error` message then the end of the connection.
    async fn refused(&mut self) -> (ErrorCode, String) {
        let Some(InboundEvent::Control(Message::Error { code, message })) = self.next().await
        else {
            panic!("expected an error message");
        };
        assert_eq!(self.next().await, None, "the connection ends after {code}");
        (code, message)
    }
}

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
async fn started_playing_before_and_after_recording_starts() {
    let server = server(RemoteSettings::default());
    // A asks to play before the recording starts: nothing yet, then started_recording.
    let mut a = TestClient::hello(&server, None).await;
    a.send(Message::StartedPlaying).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let session = server.start_recording(tracks());
    assert_eq!(
        a.next().await,
        Some(InboundEvent::Control(Message::StartedRecording {
            session,
            tracks: 2
        }))
    );
    for index in 0..2 {
        assert_eq!(
            a.next().await,
            Some(InboundEvent::TrackOpened {
                index,
                track: tracks()[index].clone()
            })
        );
    }
    // A joined before any key frame: media starts at the first one.
    for n in 5..12 {
        server.write(&packet(n)).unwrap();
    }
    for n in 10..12 {
        assert_eq!(a.next().await, Some(InboundEvent::Packet(packet(n))));
    }

    // B asks while recording: started_recording at once, and the packets since the last
    // key frame (10, 11), so that its video starts without waiting for the next one.
    let mut b = TestClient::hello(&server, None).await;
    b.send(Message::StartedPlaying).await;
    assert_eq!(
        b.control().await,
        Message::StartedRecording { session, tracks: 2 }
    );
    // A duplicate started_playing is answered with an error; B stays connected.
    b.send(Message::StartedPlaying).await;
    let Message::Error { code, message } = b.control().await else {
        panic!("expected an error")
    };
    assert_eq!(code, ErrorCode::AlreadyPlaying, "{message}");
    for n in 20..22 {
        server.write(&packet(n)).unwrap();
    }
    for n in 20..22 {
        assert_eq!(a.next().await, Some(InboundEvent::Packet(packet(n))));
    }
    let mut b_packets = std::mem::take(&mut b.skipped);
    while b_packets.len() < 4 {
        if let Some(InboundEvent::Packet(p)) = b.next().await {
            b_packets.push(p);
        }
    }
    assert_eq!(b_packets, [packet(10), packet(11), packet(20), packet(21)]);

    // A stops playing: its track streams end, then the acknowledgement with its counters.
    a.send(Message::StoppedPlaying {
        sent: 0,
        dropped: 0,
    })
    .await;
    for index in 0..2 {
        let Some(InboundEvent::TrackEnded {
            index: i,
            stop,
            error,
            dropped,
        }) = a.next().await
        else {
            panic!("expected the end of track {index}");
        };
        assert_eq!(
            (i, stop.as_deref(), error, dropped),
            (index, Some("stopped_playing"), None, Some(0))
        );
    }
    assert_eq!(
        a.next().await,
        Some(InboundEvent::Control(Message::StoppedPlaying {
            sent: 4,
            dropped: 0
        }))
    );
    // A second stopped_playing is an error too (not playing).
    a.send(Message::StoppedPlaying {
        sent: 0,
        dropped: 0,
    })
    .await;
    assert!(matches!(
        a.control().await,
        Message::Error {
            code: ErrorCode::NotPlaying,
            ..
        }
    ));

    // The recording stops: B (playing) gets stopped_recording; A (stopped) does not.
    server.write(&packet(30)).unwrap();
    server.stop_recording();
    let mut b_ends = 0;
    let stopped = loop {
        match b.next().await.unwrap() {
            InboundEvent::TrackEnded { stop, .. } => {
                assert_eq!(stop.as_deref(), Some("stopped_recording"));
                b_ends += 1;
            }
            InboundEvent::Control(m) => break m,
            InboundEvent::Packet(p) => assert_eq!(p, packet(30)),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(b_ends, 2);
    assert_eq!(
        stopped,
        Message::StoppedRecording {
            session,
            sent: 5,
            dropped: 0
        }
    );
    let stats = server.clients();
    assert_eq!(stats.len(), 2);
    // The server closes: goodbye to everyone, then the end of the connection.
    drop(server);
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.next().await,
            Some(InboundEvent::Control(Message::Goodbye))
        );
        assert_eq!(c.next().await, None);
    }
}

/// A client that reads everything and counts packets, to show the server keeps serving.
async fn watcher(server: &Server) -> TestClient {
    let mut good = TestClient::hello(server, Some("s3cret")).await;
    good.send(Message::StartedPlaying).await;
    assert!(matches!(
        good.control().await,
        Message::StartedRecording { .. }
    ));
    good
}

async fn still_served(server: &Server, good: &mut TestClient, n: u32) {
    server.write(&packet(n)).unwrap();
    loop {
        match good.next().await {
            Some(InboundEvent::Packet(p)) if p == packet(n) => return,
            Some(_) => continue,
            None => panic!("the good client was disconnected"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_clients_get_clear_errors_and_the_others_go_on() {
    let settings = RemoteSettings {
        token: Some("s3cret".into()),
        handshake_timeout: Duration::from_millis(500),
        ..RemoteSettings::default()
    };
    let server = server(settings);
    server.start_recording(tracks());
    let mut good = watcher(&server).await;
    still_served(&server, &mut good, 0).await;

    // Wrong token, missing token.
    for (token, n) in [(Some("guess".to_owned()), 10), (None, 11)] {
        let mut bad = TestClient::connect(&server).await;
        let missing = token.is_none();
        bad.send(Message::Hello { version: 1, token }).await;
        let (code, message) = bad.refused().await;
        assert_eq!(code, ErrorCode::Unauthorized);
        let expected = if missing {
            "missing token"
        } else {
            "wrong token"
        };
        assert!(message.contains(expected), "{message}");
        still_served(&server, &mut good, n).await;
    }

    // Another protocol version.
    let mut bad = TestClient::connect(&server).await;
    bad.send(Message::Hello {
        version: 2,
        token: Some("s3cret".into()),
    })
    .await;
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::UnsupportedVersion);
    assert!(message.contains("version 2"), "{message}");

    // A message before hello.
    let mut bad = TestClient::connect(&server).await;
    bad.send(Message::StartedPlaying).await;
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(message.contains("expected hello first"), "{message}");
    still_served(&server, &mut good, 20).await;

    // Garbage: an HTTP request (its first bytes read as a 1.2 GB frame).
    let mut bad = TestClient::connect(&server).await;
    bad.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(
        message.contains("exceeds the maximum frame size"),
        "{message}"
    );

    // Garbage inside a well-formed frame.
    let mut bad = TestClient::connect(&server).await;
    bad.stream
        .write_all(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(message.contains("not a valid DataPacket"), "{message}");
    still_served(&server, &mut good, 30).await;

    // An oversize frame after a good hello: refused from its length prefix alone.
    let mut bad = TestClient::hello(&server, Some("s3cret")).await;
    bad.stream
        .write_all(&(1u32 << 20).to_be_bytes())
        .await
        .unwrap();
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(
        message.contains("1048576 bytes") && message.contains("maximum frame size 16384"),
        "{message}"
    );

    // Silence: no hello within the handshake timeout.
    let mut bad = TestClient::connect(&server).await;
    let (code, message) = bad.refused().await;
    assert_eq!(code, ErrorCode::Timeout);
    assert!(message.contains("hello"), "{message}");
    still_served(&server, &mut good, 40).await;

    // Every bad client is gone; the good one is still there, with nothing dropped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let clients = server.clients();
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(clients[0].counters.sent, 6);
    assert_eq!(clients[0].counters.dropped, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_clients_are_refused_as_busy() {
    let server = server(RemoteSettings {
        max_clients: 1,
        ..RemoteSettings::default()
    });
    let _first = TestClient::hello(&server, None).await;
    let mut second = TestClient::connect(&server).await;
    let (code, message) = second.refused().await;
    assert_eq!(code, ErrorCode::Busy);
    assert!(message.contains("maximum of 1"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_dropped_and_disconnected() {
    let server = server(RemoteSettings {
        client_queue: 8,
        send_buffer: Some(4096),
        stall_timeout: Duration::from_millis(800),
        ..RemoteSettings::default()
    });
    server.start_recording(tracks());
    let mut good = TestClient::hello(&server, None).await;
    good.send(Message::StartedPlaying).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.local_addr()).await.unwrap();
    let mut stalled = TestClient::with_stream(stream);
    stalled
        .send(Message::Hello {
            version: 1,
            token: None,
        })
        .await;
    stalled.send(Message::StartedPlaying).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 16 KiB packets: a few fill the stalled client's socket buffers.
    let big = |n: u32| {
        let mut p = packet(n);
        p.data = Bytes::from(vec![n as u8; 16 * 1024]);
        p
    };
    let mut seen = 0;
    let started = Instant::now();
    let mut n = 0;
    // Until the stalled client is gone (bounded: 200 packets, a few seconds).
    while server.clients().len() == 2 && n < 200 {
        server.write(&big(n)).unwrap();
        n += 1;
        while seen < n {
            if let InboundEvent::Packet(p) = good.next().await.unwrap() {
                assert_eq!(p, big(seen));
                seen += 1;
            }
        }
        if n > 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let clients = server.clients();
    assert_eq!(
        clients.len(),
        1,
        "the stalled client was disconnected: {clients:?}"
    );
    assert_eq!(
        clients[0].counters.dropped, 0,
        "the good client lost nothing"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_input_reconnects_with_backoff_and_ends_at_goodbye() {
    let port = test_support::free_port();
    let mut options = Options::default();
    options.remote.reconnect_delay = Duration::from_millis(50);
    options.remote.max_reconnect_delay = Duration::from_millis(200);
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
    server.start_recording(tracks());
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
    let server = server(RemoteSettings {
        token: Some("s3cret".into()),
        ..RemoteSettings::default()
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
async fn serving_off_loopback_needs_a_token() {
    // Refused before anything is bound (tests stay on 127.0.0.1).
    let err = Server::bind("0.0.0.0:0", RemoteSettings::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs a token"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_requests_without_reading_is_disconnected() {
    let server = server(RemoteSettings {
        send_buffer: Some(4096),
        ..RemoteSettings::default()
    });
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut spammer = socket.connect(server.local_addr()).await.unwrap();
    let mut wire = BytesMut::new();
    Message::Hello {
        version: 1,
        token: None,
    }
    .write_framed("h", &mut wire);
    // Each duplicate started_playing is answered with an error that nobody reads.
    for i in 0..20_000 {
        Message::StartedPlaying.write_framed(&format!("p{i}"), &mut wire);
    }
    // The server hangs up before reading it all: the write may fail, that is the point.
    let _ = tokio::time::timeout(WAIT, spammer.write_all(&wire)).await;
    let deadline = Instant::now() + WAIT;
    while !server.clients().is_empty() {
        assert!(Instant::now() < deadline, "the spammer is still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
async fn tcp_input_resumes_the_same_recording_when_the_server_goes_quiet() {
    let server = server(RemoteSettings::default());
    let mut options = Options::default();
    options.remote.stall_timeout = Duration::from_millis(300);
    options.remote.reconnect_delay = Duration::from_millis(50);
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
    server.start_recording(tracks());
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
