//! The reconnecting supervisor against the in-process scripted RTSP server (see
//! scripted.rs): reconnects after EOF and idle timeouts with a discontinuity, backoff and
//! give-up rules, refused credentials, stale sessions, and cancel safety of next_event.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::mock::*;
use common::*;
use rtsp_source::{Error, Event, ReconnectOptions, ReconnectingSource, RtspOptions};

const LIMIT: Duration = Duration::from_secs(10);

fn options(url: &str) -> RtspOptions {
    RtspOptions::new(url)
        .unwrap()
        .open_timeout(Duration::from_secs(2))
        .idle_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn supervisor_reconnects_after_eof_with_a_discontinuity() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=3), Then::Close)).await;
    let reconnect = ReconnectOptions::default().initial_delay(Duration::from_millis(20));
    let source = ReconnectingSource::new(options(&mock.url()), reconnect);
    let stop = source.stop_handle();
    let mut events = Box::pin(source.into_stream());
    let evs = collect_until(&mut events, LIMIT, |evs| {
        evs.iter()
            .filter(|e| matches!(e, Event::Discontinuity { .. }))
            .count()
            == 2
    })
    .await;
    let kinds: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Connected { .. } => Some("connected"),
            Event::Tracks(_) => Some("tracks"),
            Event::Disconnected { .. } => Some("disconnected"),
            Event::Reconnecting { .. } => Some("reconnecting"),
            Event::Discontinuity { .. } => Some("discontinuity"),
            _ => None,
        })
        .collect();
    let session = ["disconnected", "reconnecting", "connected", "discontinuity"];
    let mut want = vec!["connected", "tracks"];
    want.extend(session);
    want.push("tracks");
    want.extend(session);
    assert_eq!(kinds, want, "{:?}", summary(&evs));
    // Each session's timestamps start again from zero.
    let ts: Vec<i64> = frames(&evs, 0).iter().map(|f| f.timestamp).collect();
    assert_eq!(ts, vec![0, 160, 320, 0, 160, 320]);
    stop.stop();
    let end = collect_until(&mut events, LIMIT, |_| false).await;
    assert!(matches!(end.last(), Some(Event::Stopped { reason: None })));
}

#[tokio::test]
async fn supervisor_gives_up_on_refused_credentials() {
    let mock = Mock::start(Script {
        auth: Some("Basic Y2FtOnB3".into()),
        ..Script::audio(vec![], Then::Hang)
    })
    .await;
    let source = ReconnectingSource::new(
        options(&mock.url()).credentials("cam", "wrong"),
        ReconnectOptions::default(),
    );
    let mut events = Box::pin(source.into_stream());
    let evs = collect_until(&mut events, LIMIT, |_| false).await;
    assert!(
        matches!(evs[0], Event::ConnectFailed { attempt: 1, .. }),
        "{:?}",
        summary(&evs)
    );
    match evs.last() {
        Some(Event::Stopped {
            reason: Some(Error::Unauthorized { .. }),
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn supervisor_backs_off_then_gives_up_after_max_attempts() {
    // Nothing listens on this port: every connection is refused.
    let refusing = test_support::refusing_port();
    let port = refusing.port();
    let reconnect = ReconnectOptions::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(50))
        .jitter(0.0)
        .max_attempts(Some(4));
    let source = ReconnectingSource::new(options(&format!("rtsp://127.0.0.1:{port}/x")), reconnect);
    let mut events = Box::pin(source.into_stream());
    let evs = collect_until(&mut events, LIMIT, |_| false).await;
    let delays: Vec<(u32, u128)> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { attempt, delay } => Some((*attempt, delay.as_millis())),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        vec![(1, 20), (2, 40), (3, 50)],
        "{:?}",
        summary(&evs)
    );
    let failed = evs
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { .. }))
        .count();
    assert_eq!(failed, 4);
    match evs.last() {
        Some(Event::Stopped { reason: Some(e) }) => {
            assert!(
                matches!(
                    e,
                    Error::Rtsp {
                        stage: "DESCRIBE",
                        ..
                    }
                ),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// After a session ends, the supervisor does not connect again while the old session's
/// TEARDOWN is still pending: no pile of sessions on cameras that allow only a few.
#[tokio::test]
async fn supervisor_waits_out_the_stale_session_before_reconnecting() {
    let mock = Mock::start(Script {
        teardown_delay: Duration::from_millis(300),
        ..Script::audio(pcma(0, 1..=2), Then::Close)
    })
    .await;
    let reconnect = ReconnectOptions::default().initial_delay(Duration::from_millis(1));
    let options = options(&mock.url()).teardown(rtsp_source::Teardown::Always);
    let source = ReconnectingSource::new(options, reconnect);
    let stop = source.stop_handle();
    let mut events = Box::pin(source.into_stream());
    let evs = collect_until(&mut events, LIMIT, |evs| {
        evs.iter()
            .any(|e| matches!(e, Event::Connected { session: 2, .. }))
    })
    .await;
    let waiting = evs
        .iter()
        .find_map(|e| match e {
            Event::WaitingForStaleSessions { sessions, at_most } => Some((*sessions, *at_most)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", summary(&evs)));
    assert_eq!(waiting.0, 1);
    // The server's session timeout (60 s) bounds the wait.
    assert!(waiting.1.unwrap() <= Duration::from_secs(60));
    stop.stop();
    collect_until(&mut events, LIMIT, |_| false).await;
    let log: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.split(' ').next().unwrap_or("").to_owned())
        .collect();
    let describes: Vec<usize> = (0..log.len()).filter(|i| log[*i] == "DESCRIBE").collect();
    let answered = log.iter().position(|r| r == "TEARDOWN").unwrap();
    let answered_at = mock
        .requests()
        .iter()
        .position(|r| r == "TEARDOWN answered")
        .unwrap();
    assert!(answered < answered_at);
    assert!(describes.len() >= 2, "{log:?}");
    assert!(
        describes[1] > answered_at,
        "reconnected before TEARDOWN finished: {log:?}"
    );
}

/// The supervisor treats silence (idle timeout) and stream errors like a closed
/// connection: disconnect, back off, reconnect, discontinuity.
#[tokio::test]
async fn supervisor_reconnects_after_idle_timeout_and_stream_errors() {
    let reconnect = ReconnectOptions::default().initial_delay(Duration::from_millis(1));
    // Silence after two frames.
    let silent = Mock::start(Script::audio(pcma(0, 1..=2), Then::Hang)).await;
    // A truncated RTP packet: retina fails the stream. (Not an unknown SSRC: retina takes
    // that for an old live555 server's stale session and the supervisor would rightly wait
    // 65 s for it to expire.)
    let mut packets = pcma(0, 1..=2);
    packets.push(vec![b'$', 0, 0, 3, 0x80, 0x08, 0x00]);
    let failing = Mock::start(Script::audio(packets, Then::Hang)).await;

    for (mock, broken) in [(silent, false), (failing, true)] {
        let opts = options(&mock.url()).idle_timeout(Duration::from_millis(200));
        let source = ReconnectingSource::new(opts, reconnect.clone());
        let stop = source.stop_handle();
        let mut events = Box::pin(source.into_stream());
        let evs = collect_until(&mut events, LIMIT, |evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Discontinuity { session: 2 }))
        })
        .await;
        let reason = evs
            .iter()
            .find_map(|e| match e {
                Event::Disconnected { reason, frames } => {
                    assert_eq!(*frames, 2);
                    Some(reason.clone())
                }
                _ => None,
            })
            .unwrap();
        if broken {
            assert!(
                matches!(
                    reason,
                    Error::Rtsp {
                        stage: "streaming",
                        ..
                    }
                ),
                "{reason}"
            );
        } else {
            assert!(matches!(reason, Error::IdleTimeout { .. }), "{reason}");
        }
        stop.stop();
        collect_until(&mut events, LIMIT, |_| false).await;
    }
}

/// `next_event` may be dropped at any await (a `select!` with a timer or a stop signal)
/// without losing frames or the session.
#[tokio::test]
async fn supervisor_next_event_is_cancel_safe() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=20), Then::Close)).await;
    let mut source = ReconnectingSource::new(options(&mock.url()), ReconnectOptions::default());
    let mut events = Vec::new();
    let mut cancelled = 0;
    while !events
        .iter()
        .any(|e| matches!(e, Event::Disconnected { .. }))
    {
        assert!(cancelled < 100_000, "{:?}", summary(&events));
        // Cancel only once playing: an interrupted connection attempt starts over.
        let playing = events.iter().any(|e| matches!(e, Event::Connected { .. }));
        let timer = Duration::from_micros(if playing { 300 } else { 2_000_000 });
        tokio::select! {
            ev = source.next_event() => events.push(ev.unwrap()),
            () = tokio::time::sleep(timer) => cancelled += 1,
        }
    }
    assert!(cancelled > 0, "the test cancelled nothing");
    let ts: Vec<i64> = frames(&events, 0).iter().map(|f| f.timestamp).collect();
    assert_eq!(ts, (0..20).map(|i| i * 160).collect::<Vec<i64>>());
}
