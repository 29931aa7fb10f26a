//! Connections that never become clients (issue 14, point 4), on 127.0.0.1: silent
//! sockets wait for their `hello` in a bounded pool of their own (in all and per
//! address), where a newcomer displaces the oldest; they never take a client's slot. A
//! good client gets in however many there are, even one displaced right after it said
//! `hello`; the slots still bound the clients that did say it.
//! (A whole recording under 200 silent sockets, slow-hello and garbage senders and a
//! reconnect loop: `pipeline`'s `tests/remote_hostile.rs`, checked by ffprobe.)
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::{TestClient, server, still_served, tracks, watcher};
use media_remote::{ErrorCode, InboundEvent, Message, RemoteSettings};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn settings() -> RemoteSettings {
    RemoteSettings {
        token: Some("s3cret".into()),
        max_clients: 2,
        max_pending: 8,
        max_pending_per_address: 4,
        // Long: what keeps the silent out of the way here is the pool, not the deadline.
        hello_timeout: Duration::from_secs(30),
        ..RemoteSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_sockets_wait_in_a_bounded_pool_and_never_take_a_slot() {
    let server = server(settings());
    server.start_recording(tracks()).unwrap();
    let mut silent = Vec::new();
    for n in 0..50 {
        silent.push(TestClient::connect(&server).await);
        // All of them share 127.0.0.1: at most 4 wait at once (poll until the server
        // has seen this one, bounded).
        for _ in 0..100 {
            if server.pending() == (n + 1).min(4) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.pending(), (n + 1).min(4), "after {} sockets", n + 1);
    }
    // The 46 oldest were displaced: told `busy`, then closed.
    for bad in &mut silent[..46] {
        let (code, message) = bad.refused().await;
        assert_eq!(code, ErrorCode::Busy);
        assert!(message.contains("waiting to say hello"), "{message}");
    }
    assert!(server.clients().is_empty(), "no silent socket is a client");

    // Good clients get in while 4 silent sockets still wait; the slots bound them.
    let mut first = watcher(&server).await;
    still_served(&server, &mut first, 0).await;
    let mut second = watcher(&server).await;
    still_served(&server, &mut second, 1).await;
    let mut third = TestClient::connect(&server).await;
    third
        .send(Message::Hello {
            version: 1,
            token: Some("s3cret".into()),
        })
        .await;
    let (code, message) = third.refused().await;
    assert_eq!(code, ErrorCode::Busy);
    assert!(message.contains("maximum of 2 clients"), "{message}");
    assert_eq!(server.clients().len(), 2);
    // The first good connection displaced the oldest silent one; the later ones found
    // room, and none of them waits any more.
    assert_eq!(server.pending(), 3);

    // Closing the server closes the waiting sockets too.
    server.close();
    for bad in &mut silent[46..] {
        let (code, _) = bad.refused().await;
        assert_eq!(code, ErrorCode::Busy);
    }
    assert_eq!(server.pending(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_displaced_right_after_its_hello_still_gets_in() {
    let server = server(RemoteSettings {
        max_pending: 1,
        max_pending_per_address: 1,
        ..settings()
    });
    let mut hello = BytesMut::new();
    Message::Hello {
        version: 1,
        token: Some("s3cret".into()),
    }
    .write_framed("h", &mut hello);
    for _ in 0..20 {
        // The hello is in the server's socket buffer before the next connection
        // displaces this one: the server's last read finds it.
        let mut good = TcpStream::connect(server.local_addr()).await.unwrap();
        good.write_all(&hello).await.unwrap();
        let silent = TcpStream::connect(server.local_addr()).await.unwrap();
        let mut good = TestClient::with_stream(good);
        assert_eq!(
            good.next().await,
            Some(InboundEvent::Control(Message::Welcome { version: 1 }))
        );
        drop(good);
        drop(silent);
        // Wait (bounded) until both are gone before the next round.
        for _ in 0..200 {
            if server.clients().is_empty() && server.pending() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(server.clients().is_empty() && server.pending() == 0);
    }
}
