//! The Icecast source protocol against a real icecast2 (Debian's 2.4.4): connect with PUT,
//! a listener receives our bytes, clear errors for a wrong password and a busy mount, and
//! UTF-8 title updates that arrive intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use icecast_source::{Error, IcecastConfig, IcecastRefusal, IcecastSource, update_title};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::require_peer;

const TIMEOUT: Duration = Duration::from_secs(5);

fn config(server: &Icecast, password: &str) -> IcecastConfig {
    IcecastConfig::from_url(&format!(
        "icecast://source:{password}@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap()
}

/// Opens a listener on the mount and returns the stream after the answer head.
fn listen(server: &Icecast) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "listener answer cut short: {head:?}"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.0 200"), "listener answer: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: audio/mpeg"),
        "{head}"
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_bytes_reach_a_listener() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mut source = IcecastSource::connect(&config(&server, "hackme"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(source.method(), "PUT");
    let mp3 = std::fs::read(test_support::fixture("sine-44100-cbr128.mp3")).unwrap();
    // One second of 128 kbit/s audio first, so the listener's burst has data.
    source.send(&mp3[..16_000]).await.unwrap();
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    assert_eq!(
        status["icestats"]["source"]["listenurl"]
            .as_str()
            .map(|u| u.ends_with("/stream")),
        Some(true),
        "{status}"
    );

    let mut l = tokio::task::block_in_place(|| listen(&server));
    source.send(&mp3[16_000..32_000]).await.unwrap();
    let mut got = vec![0u8; 4096];
    tokio::task::block_in_place(|| l.read_exact(&mut got)).unwrap();
    // What the listener gets is a slice of what we sent (burst from the server's queue).
    let at = mp3
        .windows(64)
        .position(|w| w == &got[..64])
        .expect("listener bytes come from our stream");
    assert_eq!(
        &mp3[at..at + got.len()],
        &got[..],
        "listener bytes differ from the source bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_error_after_one_attempt() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let err = IcecastSource::connect(&config(&server, "wrong"), TIMEOUT)
        .await
        .unwrap_err();
    match &err {
        Error::Refused {
            refusal: IcecastRefusal::WrongCredentials,
            target,
        } => {
            assert!(!target.contains("wrong"), "password shown: {target}");
        }
        other => panic!("expected wrong credentials, got {other:?}"),
    }
    assert!(!err.to_string().contains("wrong@"), "{err}");
    // One attempt: exactly one source request reached the server.
    // icecast2 writes its access log when the request ends; give it a moment.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.access_log();
        if log.contains("/stream") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        log.matches("/stream").count(),
        1,
        "one source request expected; access.log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_source_on_the_mount_gets_mount_in_use() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mut first = IcecastSource::connect(&config(&server, "hackme"), TIMEOUT)
        .await
        .unwrap();
    first.send(&[0xFF, 0xFB, 0x90, 0x64]).await.unwrap();
    let err = IcecastSource::connect(&config(&server, "hackme"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                refusal: IcecastRefusal::MountInUse,
                ..
            }
        ),
        "expected mount in use, got {err:?}"
    );
    assert!(err.to_string().contains("mount in use"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_title_round_trips_through_status_json() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let cfg = config(&server, "hackme");
    let mut source = IcecastSource::connect(&cfg, TIMEOUT).await.unwrap();
    let mp3 = std::fs::read(test_support::fixture("sine-44100-cbr128.mp3")).unwrap();
    source.send(&mp3[..8_000]).await.unwrap();
    let title = "Ärtist – Títle 🎵 & more";
    update_title(&cfg, title, TIMEOUT).await.unwrap();
    // Icecast applies a new title at the next data it relays: keep the stream flowing.
    let mut status = serde_json::Value::Null;
    for chunk in mp3[8_000..].chunks(4_000) {
        source.send(chunk).await.unwrap();
        status = server.status_json();
        if status["icestats"]["source"]["title"].as_str().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status["icestats"]["source"]["title"].as_str(),
        Some(title),
        "{status}"
    );

    let err = update_title(&config(&server, "wrong"), "x", TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                refusal: IcecastRefusal::WrongCredentials,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A pre-2.4 server that knows only SOURCE (scripted: no such icecast2 is packaged here).
#[tokio::test]
async fn old_server_without_put_gets_source() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                sock.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            if head.starts_with("PUT ") {
                sock.write_all(b"HTTP/1.0 405 Method Not Allowed\r\n\r\n")
                    .await
                    .unwrap();
            } else {
                sock.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await.unwrap();
                let mut body = [0u8; 4];
                sock.read_exact(&mut body).await.unwrap();
                requests.push((head, body.to_vec()));
                return requests;
            }
            requests.push((head, Vec::new()));
        }
        requests
    });
    let cfg =
        IcecastConfig::from_url(&format!("icecast://source:pw@127.0.0.1:{port}/old")).unwrap();
    let mut source = IcecastSource::connect(&cfg, TIMEOUT).await.unwrap();
    assert_eq!(source.method(), "SOURCE");
    source.send(b"\xFF\xFB\x90\x64").await.unwrap();
    let requests = server.await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].0.starts_with("PUT /old HTTP/1.1\r\n"),
        "{}",
        requests[0].0
    );
    assert!(
        requests[1].0.starts_with("SOURCE /old HTTP/1.0\r\n"),
        "{}",
        requests[1].0
    );
    assert!(
        requests[1]
            .0
            .contains("Authorization: Basic c291cmNlOnB3\r\n"),
        "{}",
        requests[1].0
    );
    assert_eq!(requests[1].1, b"\xFF\xFB\x90\x64");
}
