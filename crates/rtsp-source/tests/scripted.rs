//! Deterministic edge cases against an in-process scripted RTSP server (a tokio
//! `TcpListener` answering canned RTSP/1.0, RFC 2326, and sending interleaved RTP, section
//! 10.12): 401 and Basic auth, session ids that change between SETUPs, EOF mid-stream, a
//! server that stalls before answering or after PLAY, loss, keyframe waiting, and the
//! supervisor's backoff and give-up rules.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::mock::*;
use common::*;
use rtsp_source::{
    Codec, Error, Event, InitialTimestamp, ReconnectOptions, ReconnectingSource, RtspOptions,
    RtspSource, SessionIdPolicy,
};

const LIMIT: Duration = Duration::from_secs(10);

fn options(url: &str) -> RtspOptions {
    RtspOptions::new(url)
        .unwrap()
        .open_timeout(Duration::from_secs(2))
        .idle_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn unauthorized_then_basic_auth() {
    // "cam:pw" in Base64.
    let mock = Mock::start(Script {
        auth: Some("Basic Y2FtOnB3".into()),
        ..Script::audio(pcma(0, 1..=3), Then::Hang)
    })
    .await;

    let e = RtspSource::connect(options(&mock.url())).await.unwrap_err();
    match &e {
        Error::Unauthorized { method, detail, .. } => {
            assert_eq!(*method, "DESCRIBE");
            assert!(detail.contains("no credentials"), "{detail}");
        }
        other => panic!("{other}"),
    }

    let e = RtspSource::connect(options(&mock.url()).credentials("cam", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert!(!format!("{e}{e:?}").contains("nope"));

    let url = mock.url().replace("rtsp://", "rtsp://cam:pw@");
    let mut source = RtspSource::connect(options(&url)).await.unwrap();
    let events = collect_frames(&mut source, 0, 3, LIMIT).await;
    assert_eq!(frames(&events, 0).len(), 3);
    let requests = mock.requests();
    let describe = requests
        .iter()
        .rfind(|r| r.starts_with("DESCRIBE"))
        .unwrap();
    assert_eq!(header(describe, "Authorization"), Some("Basic Y2FtOnB3"));
    // The credentials travel only in Authorization, never in a request URI.
    for r in &requests {
        let line = r.lines().next().unwrap();
        assert!(!line.contains("cam:") && !line.contains("@"), "{line}");
    }
    assert_eq!(
        header(describe, "User-Agent"),
        Some(RtspOptions::DEFAULT_USER_AGENT)
    );
}

#[tokio::test]
async fn session_id_that_changes_between_setups() {
    let mut packets = vec![h264(0, 1, 0, true)];
    packets.extend(pcma(2, 1..=4));
    packets.push(h264(0, 2, 1, false));
    let script = Script {
        sdp: sdp(true, true),
        session_ids: vec!["AAAA1111", "BBBB2222"],
        ..Script::audio(packets, Then::Hang)
    };
    let mock = Mock::start(script).await;
    let opts = options(&mock.url()).initial_timestamp(InitialTimestamp::Ignore);

    let e = RtspSource::connect(opts.clone()).await.unwrap_err();
    match &e {
        Error::Rtsp { stage, .. } => assert_eq!(*stage, "SETUP", "{e}"),
        other => panic!("{other}"),
    }

    let mut source = RtspSource::connect(opts.session_id(SessionIdPolicy::UseFirst))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 1, 4, LIMIT).await;
    let t = tracks(&events);
    assert_eq!(t.tracks.len(), 2);
    assert_eq!(
        (t.tracks[0].codec, t.tracks[1].codec),
        (Codec::H264, Codec::Pcma)
    );
    let v = t.tracks[0].video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (64, 64));
    let play = mock
        .requests()
        .into_iter()
        .rfind(|r| r.starts_with("PLAY"))
        .unwrap();
    assert_eq!(header(&play, "Session"), Some("AAAA1111"));
}

#[tokio::test]
async fn eof_mid_stream_ends_the_session() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=5), Then::Close)).await;
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    let audio = frames(&events, 0);
    assert_eq!(audio.len(), 5);
    let ts: Vec<i64> = audio.iter().map(|f| f.timestamp).collect();
    assert_eq!(ts, vec![0, 160, 320, 480, 640]);
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::ServerClosed { frames, .. },
            frames: n,
        }) => assert_eq!((*frames, *n), (5, 5)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn supervisor_reconnects_after_eof_with_a_discontinuity() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=3), Then::Close)).await;
    let reconnect = ReconnectOptions {
        initial_delay: Duration::from_millis(20),
        ..Default::default()
    };
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
async fn stalled_server_hits_the_open_timeout() {
    let mock = Mock::start(Script {
        stall: true,
        ..Script::audio(vec![], Then::Hang)
    })
    .await;
    let timeout = Duration::from_millis(300);
    let e = RtspSource::connect(options(&mock.url()).open_timeout(timeout))
        .await
        .unwrap_err();
    match e {
        Error::OpenTimeout {
            timeout: t, stage, ..
        } => assert_eq!((t, stage), (timeout, "DESCRIBE")),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn silence_after_play_hits_the_idle_timeout() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=2), Then::Hang)).await;
    let idle = Duration::from_millis(300);
    let mut source = RtspSource::connect(options(&mock.url()).idle_timeout(idle))
        .await
        .unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::IdleTimeout {
                timeout, frames, ..
            },
            ..
        }) => assert_eq!((*timeout, *frames), (idle, 2)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn loss_is_counted_or_fatal() {
    let packets = pcma(0, [1, 2, 5, 6]);
    let mock = Mock::start(Script::audio(packets, Then::Hang)).await;
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    let events = collect_frames(&mut source, 0, 4, LIMIT).await;
    let loss: Vec<u16> = frames(&events, 0).iter().map(|f| f.loss).collect();
    assert_eq!(loss, vec![0, 0, 2, 0]);
    assert_eq!(source.lost_packets(), 2);

    let mut source = RtspSource::connect(options(&mock.url()).allow_loss(false))
        .await
        .unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    assert_eq!(frames(&events, 0).len(), 2);
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::PacketLoss { track, lost, .. },
            ..
        }) => assert_eq!((*track, *lost), (0, 2)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn video_waits_for_its_first_keyframe() {
    let mut packets = vec![h264(0, 1, 0, false)];
    packets.extend(pcma(2, 1..=2)); // audio before the keyframe is held back too
    packets.push(h264(0, 2, 1, true));
    packets.push(h264(0, 3, 2, false));
    packets.extend(pcma(2, 3..=4));
    let script = Script {
        sdp: sdp(true, true),
        ..Script::audio(packets, Then::Hang)
    };
    let mock = Mock::start(script).await;
    let opts = options(&mock.url()).initial_timestamp(InitialTimestamp::Ignore);

    let mut source = RtspSource::connect(opts.clone()).await.unwrap();
    let events = collect_frames(&mut source, 1, 2, LIMIT).await;
    let video = frames(&events, 0);
    assert_eq!(video.len(), 2);
    assert!(video[0].keyframe && !video[1].keyframe);
    assert_eq!(frames(&events, 1).len(), 2);
    assert_eq!(source.dropped_before_start(), 3);
    // MP4 framing: a 4-byte length, then the NAL.
    assert_eq!(
        &video[0].data[..],
        &[0, 0, 0, 6, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff]
    );

    let mut source = RtspSource::connect(opts.wait_for_keyframe(false))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 1, 4, LIMIT).await;
    let video = frames(&events, 0);
    assert_eq!(video.len(), 3);
    assert!(!video[0].keyframe);
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
    let port = test_support::free_port();
    let reconnect = ReconnectOptions {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
        jitter: 0.0,
        max_attempts: Some(4),
        ..Default::default()
    };
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
    assert_eq!(delays, vec![(1, 20), (2, 40), (3, 50)]);
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

#[tokio::test]
async fn stop_sends_teardown_and_waits_for_it() {
    let mock = Mock::start(Script::audio(pcma(0, 1..=3), Then::Hang)).await;
    let source = ReconnectingSource::new(options(&mock.url()), ReconnectOptions::default());
    let stop = source.stop_handle();
    let mut events = Box::pin(source.into_stream());
    collect_frames(&mut events, 0, 3, LIMIT).await;
    stop.stop();
    let end = collect_until(&mut events, LIMIT, |_| false).await;
    assert!(matches!(end.last(), Some(Event::Stopped { reason: None })));
    // By the time the stream ended, the server had the TEARDOWN for the session.
    let teardown = mock
        .requests()
        .into_iter()
        .find(|r| r.starts_with("TEARDOWN"))
        .unwrap_or_else(|| panic!("no TEARDOWN in {:?}", mock.requests()));
    assert_eq!(header(&teardown, "Session"), Some("12345678"));

    // The single session's close() does the same.
    let mock = Mock::start(Script::audio(pcma(0, 1..=3), Then::Hang)).await;
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    collect_frames(&mut source, 0, 3, LIMIT).await;
    source.close().await.unwrap();
    assert!(mock.requests().iter().any(|r| r.starts_with("TEARDOWN")));
}
