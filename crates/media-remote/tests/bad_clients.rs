//! Bad clients of the packet server, on 127.0.0.1: wrong or missing token, wrong
//! version, garbage, oversize frame, silence, a client that stops reading, one that sends
//! requests without reading, too many clients — each answered with a clear error while
//! the other clients go on being served. And no serving off loopback without a token.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{TestClient, WAIT, packet, server, still_served, tracks, watcher};
use media_remote::{ErrorCode, InboundEvent, Message, RemoteSettings, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

#[tokio::test(flavor = "multi_thread")]
async fn bad_clients_get_clear_errors_and_the_others_go_on() {
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings.hello_timeout = Duration::from_millis(500);
        settings
    };
    let server = server(settings);
    server.start_recording(tracks()).unwrap();
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
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.max_clients = 1;
        settings
    });
    let _first = TestClient::hello(&server, None).await;
    // Refused once it said hello: before that, a connection takes no client's slot.
    let mut second = TestClient::connect(&server).await;
    second
        .send(Message::Hello {
            version: 1,
            token: None,
        })
        .await;
    let (code, message) = second.refused().await;
    assert_eq!(code, ErrorCode::Busy);
    assert!(message.contains("maximum of 1"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_dropped_and_disconnected() {
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.client_queue = 8;
        settings.send_buffer = Some(4096);
        settings.stall_timeout = Duration::from_millis(800);
        settings
    });
    server.start_recording(tracks()).unwrap();
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
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.send_buffer = Some(4096);
        settings
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
