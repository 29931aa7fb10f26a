//! Connections that never become clients (issue 14, point 4), on 127.0.0.1: silent
//! sockets wait for their `hello` in a bounded pool of their own (in all and per
//! address), where a newcomer displaces the oldest; they never take a client's slot. A
//! good client gets in however many there are, even one displaced right after it said
//! `hello`, and a client with the token is welcomed at its first attempt through 200
//! silent peers that reconnect at once; the slots still bound the clients that said
//! `hello`.
//! (A whole recording under 200 silent sockets, slow-hello and garbage senders and a
//! reconnect loop: `pipeline`'s `tests/remote_hostile.rs`, checked by ffprobe.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{TestClient, WAIT, packet, server, still_served, tracks, watcher};
use media_remote::{Client, ClientEvent, ErrorCode, InboundEvent, Message, RemoteSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

fn settings() -> RemoteSettings {
    {
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings.max_clients = 2;
        settings.max_pending = 8;
        settings.max_pending_per_address = 4; // Long: what keeps the silent out of the way here is the pool, not the deadline.
        settings.hello_timeout = Duration::from_secs(30);
        settings
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
    let server = server({
        let mut settings = settings();
        settings.max_pending = 1;
        settings.max_pending_per_address = 1;
        settings
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

/// Connects and says nothing, again as soon as the server lets go, until `stop`.
async fn silent_peer(
    addr: std::net::SocketAddr,
    stop: watch::Receiver<bool>,
    opened: Arc<AtomicUsize>,
) {
    let mut stop = stop;
    while !*stop.borrow() {
        let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr));
        if let Ok(Ok(mut stream)) = connect.await {
            opened.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 256];
            loop {
                tokio::select! {
                    read = stream.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_with_the_token_is_never_refused_under_a_flood() {
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings
    });
    let max_waiting = RemoteSettings::default().max_pending_per_address;
    server.start_recording(tracks()).unwrap();
    let (stop, stopped) = watch::channel(false);
    let opened = Arc::new(AtomicUsize::new(0));
    let mut flood = JoinSet::new();
    for _ in 0..200 {
        flood.spawn(silent_peer(
            server.local_addr(),
            stopped.clone(),
            opened.clone(),
        ));
    }
    let flood_began = Instant::now();
    let deadline = Instant::now() + WAIT;
    while opened.load(Ordering::SeqCst) < 400 {
        assert!(Instant::now() < deadline, "the flood never got going");
        assert!(server.pending() <= max_waiting);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ten clients in turn, each through the flood: welcomed at the first attempt (a
    // refusal would show as `Reconnecting` before the tracks), and served.
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings
    };
    for n in 0..10 {
        let mut client = Client::connect(server.local_addr().to_string(), settings.clone());
        let mut first = None;
        while first.is_none() {
            assert!(server.pending() <= max_waiting);
            first = tokio::time::timeout(Duration::from_millis(10), client.next())
                .await
                .ok();
        }
        let first = first.flatten().expect("an event").unwrap();
        assert_eq!(first, ClientEvent::Tracks(tracks()), "client {n}");
        server.write(&packet(n * 10)).unwrap();
        // The GOP cache's packets first (the earlier key frames), then the new one.
        loop {
            let got = tokio::time::timeout(WAIT, client.next()).await.unwrap();
            let ClientEvent::Packet(p) = got.unwrap().unwrap() else {
                panic!("client {n}: a packet expected");
            };
            if p == packet(n * 10) {
                break;
            }
            assert!(p.dts < packet(n * 10).dts, "client {n}: {p:?}");
        }
        drop(client);
    }
    let attacks = opened.load(Ordering::SeqCst);
    let lasted = flood_began.elapsed();
    stop.send_replace(true);
    let joined = tokio::time::timeout(WAIT, async { while flood.join_next().await.is_some() {} });
    assert!(joined.await.is_ok(), "the flood stopped");
    eprintln!(
        "{attacks} silent connections in {lasted:.2?} ({:.0}/s)",
        attacks as f64 / lasted.as_secs_f64()
    );
}
