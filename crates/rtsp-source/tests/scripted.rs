//! Deterministic edge cases against an in-process scripted RTSP server (a tokio
//! `TcpListener` answering canned RTSP/1.0, RFC 2326, and sending interleaved RTP, section
//! 10.12): 401 and Basic auth, session ids that change between SETUPs, EOF mid-stream, a
//! server that stalls before answering or after PLAY, loss, keyframe waiting, TEARDOWN,
//! in-band parameters and RTCP. The supervisor's rules are in scripted_supervisor.rs.
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
        Error::Rtsp { stage, source, .. } => {
            assert_eq!(*stage, "SETUP", "{e}");
            // The RTSP library's error stays reachable as an opaque source (not a retina
            // type in this crate's API), with its full text.
            let full = std::error::Error::source(&e).map(ToString::to_string);
            assert_eq!(full, Some(source.to_string()));
            assert!(source.to_string().contains("ession"), "{source}");
        }
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
async fn a_gap_before_the_first_packet_is_not_loss() {
    // RTP-Info announces 100, the server starts at 101 (as gst-rtsp-server does); a gap
    // after the first frame is still loss.
    let script = Script {
        rtp_info: Some("url={base}stream=1;seq=100;rtptime=16000".into()),
        ..Script::audio(pcma(0, [101, 102, 103, 105]), Then::Hang)
    };
    let mock = Mock::start(script).await;
    let mut source = RtspSource::connect(options(&mock.url()).allow_loss(false))
        .await
        .unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    let got = frames(&events, 0);
    let loss: Vec<u16> = got.iter().map(|f| f.loss).collect();
    assert_eq!(loss, vec![0, 0, 0], "{:?}", summary(&events));
    assert_eq!(source.lost_packets(), 1, "only the gap at 104");
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::PacketLoss { track, lost, .. },
            ..
        }) => assert_eq!((*track, *lost), (0, 1)),
        other => panic!("{other:?}"),
    }

    // Loss allowed: the first frame carries no loss, the later gap is counted.
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    let events = collect_frames(&mut source, 0, 4, LIMIT).await;
    let loss: Vec<u16> = frames(&events, 0).iter().map(|f| f.loss).collect();
    assert_eq!(loss, vec![0, 0, 0, 1]);
    assert_eq!(source.lost_packets(), 1);
}

#[tokio::test]
async fn packets_numbered_before_the_play_answer_start_the_session() {
    // RTP-Info announces 100 but packets 97..99 were still queued for this client (a
    // shared gst-rtsp-server mount): they start the sequence, and the session plays on
    // with no loss counted.
    let script = Script {
        rtp_info: Some("url={base}stream=1;seq=100;rtptime=16000".into()),
        ..Script::audio(pcma(0, 97..=103), Then::Hang)
    };
    let mock = Mock::start(script).await;
    let mut source = RtspSource::connect(options(&mock.url()).allow_loss(false))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 0, 7, LIMIT).await;
    let loss: Vec<u16> = frames(&events, 0).iter().map(|f| f.loss).collect();
    assert_eq!(loss, vec![0; 7], "{:?}", summary(&events));
    assert_eq!(source.lost_packets(), 0);
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

const SPS_64X64: &[u8] = &[
    0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x04, 0x26, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00,
    0x03, 0x00, 0x08, 0x3c, 0x48, 0x99, 0x20,
];
const SPS_128X96: &[u8] = &[
    0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x02, 0x0d, 0xb0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
    0x03, 0x00, 0x02, 0x0f, 0x12, 0x26, 0x48,
];
const PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33, 0xff];
const NON_IDR: &[u8] = &[0x41, 0x9a, 0x02, 0x04, 0x00, 0x10];

/// Like VLC: no `sprop-parameter-sets` in the SDP, parameters only in-band; then the
/// camera changes resolution mid-stream.
#[tokio::test]
async fn in_band_parameters_and_a_change_mid_stream() {
    let mut packets = h264_nals(0, 1, 0, &[SPS_64X64, PPS, IDR]);
    packets.extend(h264_nals(0, 4, 1, &[NON_IDR]));
    packets.extend(h264_nals(0, 5, 2, &[SPS_128X96, PPS, IDR]));
    packets.extend(h264_nals(0, 8, 3, &[NON_IDR]));
    let script = Script {
        sdp: sdp(true, false).replace(&format!(";sprop-parameter-sets={SPROP}"), ""),
        ..Script::audio(packets, Then::Hang)
    };
    assert!(!script.sdp.contains("sprop"));
    let mock = Mock::start(script).await;
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    // Before the first frame retina knows no parameters.
    assert!(source.tracks().tracks[0].video.is_none());
    assert!(source.tracks().tracks[0].sample_entry.is_none());
    let events = collect_frames(&mut source, 0, 4, LIMIT).await;

    let t = tracks(&events);
    let v = t.tracks[0].video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (64, 64));
    assert!(t.tracks[0].sample_entry.is_some());
    let updated: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TrackUpdated(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(updated.len(), 1, "{:?}", summary(&events));
    let v2 = updated[0].video.as_ref().unwrap();
    assert_eq!((v2.width, v2.height), (128, 96));
    let rtsp_source::ParameterSets::H264 { sps, .. } = &v2.parameter_sets else {
        panic!()
    };
    assert_eq!(&sps[..], SPS_128X96);
    // TrackUpdated comes right before the frame that carries the change.
    let at = events
        .iter()
        .position(|e| matches!(e, Event::TrackUpdated(_)))
        .unwrap();
    let Event::Frame(f) = &events[at + 1] else {
        panic!("{:?}", summary(&events))
    };
    assert!(f.new_parameters && f.keyframe);
    let video = frames(&events, 0);
    let flags: Vec<(bool, bool)> = video
        .iter()
        .map(|f| (f.keyframe, f.new_parameters))
        .collect();
    assert_eq!(
        flags,
        vec![(true, true), (false, false), (true, true), (false, false)]
    );
    // MP4 framing: parameter sets travel in the track description, not in the frames.
    for f in &video {
        let types: Vec<u8> = nals(&f.data).iter().map(|n| n[0] & 0x1f).collect();
        assert!(types == [5] || types == [1], "{types:?}");
    }
}

#[tokio::test]
async fn unknown_rtcp_ssrc_policy() {
    let mut packets = pcma(0, 1..=2);
    packets.push(rtcp_sr(1, 0xdead_beef, 320));
    packets.extend(pcma(0, 3..=4));
    let mock = Mock::start(Script::audio(packets, Then::Hang)).await;

    // Default: dropped, the stream goes on.
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    let events = collect_frames(&mut source, 0, 4, LIMIT).await;
    assert_eq!(frames(&events, 0).len(), 4);

    let mut source = RtspSource::connect(
        options(&mock.url()).unknown_rtcp_ssrc(rtsp_source::UnknownRtcpSsrc::AbortSession),
    )
    .await
    .unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::Rtsp { stage, .. },
            ..
        }) => assert_eq!(*stage, "streaming"),
        other => panic!("{other:?}"),
    }
}

/// RTP timestamps are 32-bit and wrap (RFC 3550 section 5.1); frame timestamps are 64-bit
/// and keep counting.
#[tokio::test]
async fn timestamps_do_not_wrap() {
    let start = u32::MAX - 300;
    let packets: Vec<Vec<u8>> = (0..6u16)
        .map(|i| {
            let ts = start.wrapping_add(u32::from(i) * 160);
            rtp(0, 8, 100 + i, ts, true, &[0xd5; 160])
        })
        .collect();
    let mock = Mock::start(Script::audio(packets, Then::Hang)).await;
    let mut source = RtspSource::connect(options(&mock.url())).await.unwrap();
    let events = collect_frames(&mut source, 0, 6, LIMIT).await;
    let ts: Vec<i64> = frames(&events, 0).iter().map(|f| f.timestamp).collect();
    assert_eq!(ts, vec![0, 160, 320, 480, 640, 800]);
}
