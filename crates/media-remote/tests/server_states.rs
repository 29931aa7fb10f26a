//! The packet server's started/stopped state machine, driven by raw TCP clients on
//! 127.0.0.1 that speak the protocol through `Inbound` and `Message`: started_playing
//! before and after recording starts, a duplicate started_playing, stopped_playing
//! acknowledged, stopped_recording, goodbye.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{TestClient, packet, server, tracks};
use media_remote::{ErrorCode, InboundEvent, Message, RemoteSettings};

#[tokio::test(flavor = "multi_thread")]
async fn started_playing_before_and_after_recording_starts() {
    let server = server(RemoteSettings::default());
    // A asks to play before the recording starts: nothing yet, then started_recording.
    let mut a = TestClient::hello(&server, None).await;
    a.send(Message::StartedPlaying).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let session = server.start_recording(tracks()).unwrap();
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
