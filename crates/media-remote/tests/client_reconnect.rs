//! The reconnecting [`Client`] against a real [`Server`] on 127.0.0.1: refused
//! connections and hang-ups retried with backoff, the end at `goodbye`; a wrong token
//! ends at once with a permanent error; a server gone quiet is left and the same
//! recording resumed without duplicates; a new recording after a stop is a
//! discontinuity; a client that cannot connect gives up after `retry_for`, with no
//! `Reconnecting` after it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, packet, server, tracks};
use media_remote::{Backoff, Client, ClientEvent, Error, ErrorCode, RemoteSettings, Server};

/// The next event, within 5 s.
async fn next(client: &mut Client) -> Option<Result<ClientEvent, Error>> {
    tokio::time::timeout(WAIT, client.next())
        .await
        .expect("no event within 5 s")
}

/// The next event other than `Reconnecting`.
async fn next_event(client: &mut Client) -> ClientEvent {
    loop {
        match next(client).await.expect("the client goes on").unwrap() {
            ClientEvent::Reconnecting { .. } => continue,
            other => return other,
        }
    }
}

async fn next_event_or_retry(client: &mut Client) -> ClientEvent {
    next(client).await.expect("the client goes on").unwrap()
}

async fn until_playing(server: &Server) -> std::net::SocketAddr {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(c) = server.clients().iter().find(|c| c.playing) {
            return c.peer;
        }
        assert!(Instant::now() < deadline, "the client never played");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quick_reconnect() -> RemoteSettings {
    {
        let mut settings = RemoteSettings::default();
        settings.reconnect = Backoff::new(Duration::from_millis(50), Duration::from_millis(200));
        settings
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_with_backoff_and_ends_at_goodbye() {
    let port = test_support::free_port();
    let mut client = Client::connect(format!("127.0.0.1:{port}"), quick_reconnect());
    // Nothing listens yet: refused, retried, each failure announced (no end).
    for attempt in 1..=2 {
        match next_event_or_retry(&mut client).await {
            ClientEvent::Reconnecting {
                attempt: n, reason, ..
            } => {
                assert_eq!(n, attempt);
                assert!(reason.contains("refused"), "{reason}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    // A server that hangs up at once: retried, twice.
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

    let server = Server::bind(&format!("127.0.0.1:{port}"), RemoteSettings::default()).unwrap();
    until_playing(&server).await;
    server.start_recording(tracks()).unwrap();
    for n in 0..25 {
        server.write(&packet(n)).unwrap();
    }
    assert_eq!(next_event(&mut client).await, ClientEvent::Tracks(tracks()));
    for n in 0..25 {
        assert_eq!(
            next_event(&mut client).await,
            ClientEvent::Packet(packet(n))
        );
    }
    // Closing ends the recording (a discontinuity), then goodbye: the last event.
    drop(server);
    assert_eq!(next_event(&mut client).await, ClientEvent::Discontinuity);
    assert_eq!(next_event(&mut client).await, ClientEvent::End);
    assert!(next(&mut client).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_a_permanent_error_at_once() {
    let server = server({
        let mut settings = RemoteSettings::default();
        settings.token = Some("s3cret".into());
        settings
    });
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.token = Some("guess".into());
        settings
    };
    let mut client = Client::connect(server.local_addr().to_string(), settings);
    let err = next(&mut client).await.unwrap().unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(
        matches!(
            err,
            Error::Refused {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("wrong token"), "{text}");
    assert!(
        !text.contains("s3cret") && !text.contains("guess"),
        "{text}"
    );
    assert!(next(&mut client).await.is_none(), "no retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn resumes_the_same_recording_when_the_server_goes_quiet() {
    let server = server(RemoteSettings::default());
    let settings = {
        let mut settings = quick_reconnect();
        settings.stall_timeout = Duration::from_millis(300);
        settings
    };
    let mut client = Client::connect(server.local_addr().to_string(), settings);
    let first = until_playing(&server).await;
    server.start_recording(tracks()).unwrap();
    for n in 0..3 {
        server.write(&packet(n)).unwrap();
    }
    assert_eq!(next_event(&mut client).await, ClientEvent::Tracks(tracks()));
    for n in 0..3 {
        assert_eq!(
            next_event(&mut client).await,
            ClientEvent::Packet(packet(n))
        );
    }
    // Silence past the stall timeout: the client comes back on a new socket.
    let deadline = Instant::now() + WAIT;
    while !server
        .clients()
        .iter()
        .any(|c| c.playing && c.peer != first)
    {
        assert!(Instant::now() < deadline, "the client did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Same recording: no discontinuity, no duplicate of the resent GOP (0..3).
    for n in 3..5 {
        server.write(&packet(n)).unwrap();
    }
    for n in 3..5 {
        assert_eq!(
            next_event(&mut client).await,
            ClientEvent::Packet(packet(n))
        );
    }

    // A new recording after a stop: a discontinuity, then its tracks.
    server.stop_recording();
    assert_eq!(next_event(&mut client).await, ClientEvent::Discontinuity);
    let mut video_only = tracks();
    video_only.truncate(1);
    server.start_recording(video_only.clone()).unwrap();
    server.write(&packet(10)).unwrap();
    assert_eq!(
        next_event(&mut client).await,
        ClientEvent::Tracks(video_only)
    );
    assert_eq!(
        next_event(&mut client).await,
        ClientEvent::Packet(packet(10))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gives_up_after_retry_for_and_says_no_more() {
    let refusing = test_support::refusing_port(); // nothing listens there
    let port = refusing.port();
    // Delays of 300 ms then 600 ms (±20 %): the second is cut to what is left of the
    // 400 ms, so that the last attempt is made at the bound.
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.retry_for = Some(Duration::from_millis(400));
        settings.reconnect = Backoff::new(Duration::from_millis(300), Duration::from_secs(10));
        settings
    };
    let mut client = Client::connect(format!("127.0.0.1:{port}"), settings);
    let mut retries = 0;
    let err = loop {
        match next(&mut client).await.expect("an end") {
            Ok(ClientEvent::Reconnecting { attempt, delay, .. }) => {
                retries += 1;
                assert_eq!(attempt, retries);
                // Unbounded, the second delay would be at least 480 ms; the first
                // took at least 240 ms of the 400.
                let most = if attempt == 1 { 360 } else { 160 };
                assert!(delay <= Duration::from_millis(most), "{attempt}: {delay:?}");
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    assert!(retries >= 1, "it retried ({retries})");
    assert!(err.is_permanent(), "{err:?}");
    let Error::GaveUp { attempts, .. } = &err else {
        panic!("expected GaveUp, got {err:?}");
    };
    assert_eq!(
        *attempts,
        retries + 1,
        "the failure that decided is counted"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("gave up after 0.4 s") && text.contains("refused"),
        "{text}"
    );
    assert!(next(&mut client).await.is_none(), "nothing after giving up");
}
