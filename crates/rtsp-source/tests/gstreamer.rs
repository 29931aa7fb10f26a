//! Against the real GStreamer RTSP server (test_support::rtsp): every codec mount, TCP
//! and UDP, Basic and Digest auth, clock rates, frame rate and GOP, kill + restart
//! reconnection, and a file mount that ends. Received frames are written as Annex B / ADTS
//! / WAV / JPEG and decoded by ffmpeg, so a real decoder checks what we hand out.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use futures::StreamExt;
use rtsp_source::{
    Codec, Error, Event, MediaKind, ParameterSets, ReconnectOptions, ReconnectingSource,
    RtspOptions, RtspSource, Transport,
};
use test_support::ffprobe;
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};

const LIMIT: Duration = Duration::from_secs(20);

fn options(url: &str) -> RtspOptions {
    RtspOptions::new(url)
        .unwrap()
        .open_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(10))
}

/// The mount's video: 640x360, 15 fps, keyframe every 30 frames (test server script).
const FPS: i64 = 15;
const GOP: usize = 30;

async fn h264_session(transport: Transport, frames_wanted: usize) {
    test_support::require_peer!("ffmpeg", "ffprobe");
    if !test_support::peers_present("h264", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let source = RtspSource::connect(options(&server.url("/h264")).transport(transport))
        .await
        .unwrap();
    let mut source = source;
    let events = collect_frames(&mut source, 0, frames_wanted, LIMIT).await;

    match &events[0] {
        Event::Connected {
            session,
            server_tool,
            url,
        } => {
            assert_eq!(*session, 1);
            assert_eq!(server_tool.as_deref(), Some("GStreamer"));
            assert_eq!(url, &server.url("/h264"));
        }
        other => panic!("first event {other:?}"),
    }
    let tracks = tracks(&events);
    assert_eq!(tracks.tracks.len(), 1);
    let t = &tracks.tracks[0];
    assert_eq!(
        (t.kind, t.codec, t.clock_rate),
        (MediaKind::Video, Codec::H264, 90_000)
    );
    assert!(t.codec_string.as_deref().unwrap().starts_with("avc1."));
    let v = t.video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (640, 360));
    assert_eq!(v.frame_rate, Some((15, 1)));
    let ParameterSets::H264 { sps, pps } = &v.parameter_sets else {
        panic!("{:?}", v.parameter_sets)
    };
    assert_eq!((sps[0] & 0x1f, pps[0] & 0x1f), (7, 8));
    // avcC: version 1, then profile, compatibility and level copied from the SPS.
    assert_eq!(v.decoder_config[0], 1);
    assert_eq!(&v.decoder_config[1..4], &sps[1..4]);
    let entry = bmff_box(t.sample_entry.as_ref().unwrap(), b"avc1");
    assert_eq!(&entry[24..28], &[0x02, 0x80, 0x01, 0x68]); // 640 x 360
    assert_eq!(
        child_box(entry, 78, b"avcC").unwrap(),
        &v.decoder_config[..]
    );

    let frames = frames(&events, 0);
    assert_eq!(frames.len(), frames_wanted);
    let keyframes: Vec<usize> = (0..frames.len()).filter(|i| frames[*i].keyframe).collect();
    assert_eq!(keyframes[0], 0, "the first frame is a keyframe");
    for w in keyframes.windows(2) {
        assert_eq!(w[1] - w[0], GOP, "keyframe interval: {keyframes:?}");
    }
    for f in &frames {
        let types: Vec<u8> = nals(&f.data).iter().map(|n| n[0] & 0x1f).collect();
        assert_eq!(
            types.contains(&5),
            f.keyframe,
            "IDR NAL iff keyframe: {types:?}"
        );
        assert!(!types.contains(&7), "no in-band SPS in MP4 framing");
        assert_eq!(f.clock_rate, 90_000);
        assert_eq!(f.loss, 0);
        let age = SystemTime::now().duration_since(f.received_wall).unwrap();
        assert!(age < LIMIT, "wall clock receive time {age:?} ago");
    }
    let ts: Vec<i64> = frames.iter().map(|f| f.timestamp).collect();
    assert!(ts.windows(2).all(|w| w[1] > w[0]), "increasing: {ts:?}");
    assert_eq!(
        median_delta(&ts),
        90_000 / FPS,
        "frame rate from timestamps: {ts:?}"
    );

    // A real decoder reads what we received.
    let dir = test_support::temp_dir();
    let path = write(dir.path(), "video.h264", &annex_b(t, &frames));
    let probe = ffprobe::probe_with(&path, &["-count_frames", "-show_streams"]);
    let s = &probe["streams"][0];
    assert_eq!(s["codec_name"], "h264");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(ffprobe::num(&s["nb_read_frames"]) as usize, frames_wanted);
    assert_eq!(ffprobe::decode_errors(&path), "");

    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_over_tcp_matches_the_server_rate_and_gop() {
    // 46 frames = 3 s: keyframes at 0 and 30.
    h264_session(Transport::Tcp, GOP + 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_over_udp() {
    h264_session(Transport::Udp, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_with_aac_in_sync() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    if !test_support::peers_present("h264aac", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url("/h264aac")))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 1, 60, LIMIT).await;
    let tracks = tracks(&events);
    assert_eq!(tracks.tracks.len(), 2);
    let a = tracks.audio().unwrap();
    assert_eq!((a.index, a.codec, a.clock_rate), (1, Codec::Aac, 48_000));
    assert_eq!(a.codec_string.as_deref(), Some("mp4a.40.2"));
    let info = a.audio.as_ref().unwrap();
    assert_eq!((info.sample_rate, info.channels), (48_000, 1));
    assert_eq!(info.samples_per_frame, Some(1024));
    let asc = info.audio_specific_config.as_ref().unwrap();
    assert_eq!(asc[0] >> 3, 2, "AAC-LC");
    let entry = bmff_box(a.sample_entry.as_ref().unwrap(), b"mp4a");
    assert!(child_box(entry, 28, b"esds").is_some());

    // Nothing before the first video keyframe, audio included.
    let first = events
        .iter()
        .find_map(|e| match e {
            Event::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((first.track, first.keyframe), (0, true));

    let audio = frames(&events, 1);
    let video = frames(&events, 0);
    let ts: Vec<i64> = audio.iter().map(|f| f.timestamp).collect();
    assert_eq!(median_delta(&ts), 1024);
    assert!(audio.iter().all(|f| f.duration == Some(1024) && f.keyframe));
    // Shared origin (RTP-Info): audio and video times agree within half a second.
    let v0 = video[0].seconds();
    let a0 = audio[0].seconds();
    assert!(
        (v0 - a0).abs() < 0.5,
        "video starts at {v0} s, audio at {a0} s"
    );

    let dir = test_support::temp_dir();
    let path = write(dir.path(), "audio.aac", &adts(asc, &audio));
    let probe = ffprobe::probe_with(&path, &["-count_frames", "-show_streams"]);
    let s = &probe["streams"][0];
    assert_eq!(s["codec_name"], "aac");
    assert_eq!(ffprobe::num(&s["sample_rate"]), 48_000.0);
    assert_eq!(s["channels"].as_u64(), Some(1));
    assert_eq!(ffprobe::num(&s["nb_read_frames"]) as usize, audio.len());
    assert_eq!(ffprobe::decode_errors(&path), "");
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265() {
    test_support::require_peer!("ffmpeg", "ffprobe", "gst-bad");
    if !test_support::peers_present("h265", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url("/h265")))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 0, 20, LIMIT).await;
    let t = &tracks(&events).tracks[0];
    assert_eq!(t.codec, Codec::H265);
    assert!(t.codec_string.as_deref().unwrap().starts_with("hvc1."));
    let v = t.video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (640, 360));
    assert!(matches!(v.parameter_sets, ParameterSets::H265 { .. }));
    let entry = bmff_box(t.sample_entry.as_ref().unwrap(), b"hvc1");
    assert_eq!(
        child_box(entry, 78, b"hvcC").unwrap(),
        &v.decoder_config[..]
    );
    let frames = frames(&events, 0);
    assert!(frames[0].keyframe);
    let ts: Vec<i64> = frames.iter().map(|f| f.timestamp).collect();
    assert_eq!(median_delta(&ts), 90_000 / FPS);

    let dir = test_support::temp_dir();
    let path = write(dir.path(), "video.h265", &annex_b(t, &frames));
    let probe = ffprobe::probe_with(&path, &["-count_frames", "-show_streams"]);
    assert_eq!(probe["streams"][0]["codec_name"], "hevc");
    assert_eq!(
        ffprobe::num(&probe["streams"][0]["nb_read_frames"]) as usize,
        20
    );
    assert_eq!(ffprobe::decode_errors(&path), "");
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mjpeg() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    if !test_support::peers_present("mjpeg", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url("/mjpeg")))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 0, 15, LIMIT).await;
    let t = &tracks(&events).tracks[0];
    assert_eq!((t.codec, t.clock_rate), (Codec::Jpeg, 90_000));
    let v = t.video.as_ref().unwrap();
    assert_eq!((v.width, v.height), (640, 360));
    assert_eq!(v.parameter_sets, ParameterSets::None);
    bmff_box(t.sample_entry.as_ref().unwrap(), b"mp4v");
    let frames = frames(&events, 0);
    assert!(frames.iter().all(|f| f.keyframe));
    let ts: Vec<i64> = frames.iter().map(|f| f.timestamp).collect();
    assert_eq!(median_delta(&ts), 90_000 / FPS);
    let dir = test_support::temp_dir();
    let path = write(dir.path(), "frame.jpg", &frames[3].data);
    let probe = ffprobe::probe(&path);
    assert_eq!(probe["streams"][0]["codec_name"], "mjpeg");
    assert_eq!(probe["streams"][0]["width"].as_u64(), Some(640));
    assert_eq!(ffprobe::decode_errors(&path), "");
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_with_pcma_has_frames_but_no_sample_entry() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    if !test_support::peers_present("h264pcma", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url("/h264pcma")))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 1, 40, LIMIT).await;
    let a = tracks(&events).audio().cloned().unwrap();
    assert_eq!((a.codec, a.clock_rate), (Codec::Pcma, 8_000));
    assert!(a.sample_entry.is_none());
    let why = a.sample_entry_missing.unwrap();
    assert!(why.contains("pcma"), "{why}");
    let audio = frames(&events, 1);
    // One byte per sample: the duration is the payload length.
    assert!(
        audio
            .iter()
            .all(|f| f.duration == Some(f.data.len() as u32))
    );
    for w in audio.windows(2) {
        assert_eq!(
            w[1].timestamp - w[0].timestamp,
            i64::from(w[0].duration.unwrap())
        );
    }
    let dir = test_support::temp_dir();
    let path = write(dir.path(), "audio.wav", &wav_alaw(8_000, 1, &audio));
    let probe = ffprobe::probe(&path);
    assert_eq!(probe["streams"][0]["codec_name"], "pcm_alaw");
    assert_eq!(ffprobe::decode_errors(&path), "");
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_is_skipped_with_a_message() {
    if !test_support::peers_present("h264opus", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url("/h264opus")))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 0, 5, LIMIT).await;
    let tracks = tracks(&events);
    assert_eq!(tracks.tracks.len(), 1);
    assert_eq!(tracks.tracks[0].codec, Codec::H264);
    assert_eq!(tracks.skipped.len(), 1);
    let skipped = &tracks.skipped[0];
    assert_eq!(
        (skipped.media.as_str(), skipped.encoding_name.as_str()),
        ("audio", "opus")
    );
    assert!(
        skipped.reason.contains("no depacketizer"),
        "{}",
        skipped.reason
    );
    assert!(!skipped.supported);
    source.close().await.unwrap();

    // Asking for audio only: nothing selected is supported, a clear error.
    let e = RtspSource::connect(
        options(&server.url("/h264opus")).select(rtsp_source::StreamSelection::audio_only()),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::NoSupportedStream { .. }), "{e}");
    assert!(e.to_string().contains("audio/opus"), "{e}");
}

fn auth_server(auth: RtspAuth) -> RtspServer {
    RtspServer::start(RtspServerOptions {
        auth: Some(auth),
        ..Default::default()
    })
}

async fn check_auth(server: &RtspServer, user: &str, password: &str, in_url: bool) {
    let plain = server.url("/h264");
    let url_with = plain.replace("rtsp://", &format!("rtsp://{user}:{password}@"));
    // Right credentials, in the URL or apart.
    let opts = if in_url {
        options(&url_with)
    } else {
        options(&plain).credentials(user, password)
    };
    let mut source = RtspSource::connect(opts).await.unwrap();
    let events = collect_frames(&mut source, 0, 3, LIMIT).await;
    let Event::Connected { url, .. } = &events[0] else {
        panic!("{:?}", summary(&events))
    };
    assert_eq!(url, &url_with.replace(password, "***"));
    source.close().await.unwrap();

    // None: a clear 401.
    let e = RtspSource::connect(options(&plain)).await.unwrap_err();
    let Error::Unauthorized { detail, method, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*method, "DESCRIBE");
    assert!(detail.contains("no credentials"), "{e}");
    assert!(e.is_permanent());

    // Wrong password: refused, and the message does not show it.
    let wrong = format!("{password}-wrong");
    let e = RtspSource::connect(options(&plain).credentials(user, &wrong))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains(&wrong) && !shown.contains(password),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    if !test_support::peers_present("basic_auth", RtspServer::PEERS) {
        return;
    }
    let server = auth_server(RtspAuth::Basic {
        user: "cam".into(),
        password: "b4sic-s3cret".into(),
    });
    check_auth(&server, "cam", "b4sic-s3cret", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_auth() {
    if !test_support::peers_present("digest_auth", RtspServer::PEERS) {
        return;
    }
    let server = auth_server(RtspAuth::Digest {
        user: "cam".into(),
        password: "d1gest-s3cret".into(),
    });
    check_auth(&server, "cam", "d1gest-s3cret", false).await;
}

async fn reconnects_after_kill(transport: Transport) {
    if !test_support::peers_present("reconnect", RtspServer::PEERS) {
        return;
    }
    let mut server = RtspServer::start_default();
    let reconnect = ReconnectOptions {
        initial_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        ..Default::default()
    };
    let source = ReconnectingSource::new(
        options(&server.url("/h264")).transport(transport),
        reconnect,
    );
    let stop = source.stop_handle();
    let mut events = Box::pin(source.into_stream());
    let before = collect_frames(&mut events, 0, 10, LIMIT).await;
    assert!(matches!(before[0], Event::Connected { session: 1, .. }));

    server.kill();
    let gap = collect_until(&mut events, LIMIT, |evs| {
        evs.iter().any(|e| matches!(e, Event::Reconnecting { .. }))
    })
    .await;
    let reason = gap
        .iter()
        .find_map(|e| match e {
            Event::Disconnected { reason, frames } => {
                assert!(*frames >= 10);
                Some(reason.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{:?}", summary(&gap)));
    assert!(!reason.is_permanent(), "{reason}");
    server.restart();

    let after = collect_frames(&mut events, 0, 5, LIMIT).await;
    let s = summary(&after);
    let pos = |want: &dyn Fn(&Event) -> bool| after.iter().position(want);
    let connected = pos(&|e| matches!(e, Event::Connected { session: 2, .. }))
        .unwrap_or_else(|| panic!("{s:?}"));
    let discontinuity = pos(&|e| matches!(e, Event::Discontinuity { session: 2 }))
        .unwrap_or_else(|| panic!("{s:?}"));
    let tracks_at = pos(&|e| matches!(e, Event::Tracks(_))).unwrap_or_else(|| panic!("{s:?}"));
    let first_frame = pos(&|e| matches!(e, Event::Frame(_))).unwrap();
    assert!(
        connected < discontinuity && discontinuity < tracks_at && tracks_at < first_frame,
        "{s:?}"
    );
    let Event::Frame(f) = &after[first_frame] else {
        unreachable!()
    };
    assert!(f.keyframe);
    // The new session's clock starts again near zero.
    assert!(f.seconds() < 2.0, "{}", f.seconds());

    stop.stop();
    let end = collect_until(&mut events, LIMIT, |_| false).await;
    assert!(
        matches!(end.last(), Some(Event::Stopped { reason: None })),
        "{:?}",
        summary(&end)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_is_killed_tcp() {
    reconnects_after_kill(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_is_killed_udp() {
    reconnects_after_kill(Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_mount_end_triggers_the_idle_timeout() {
    if !test_support::peers_present("file_idle", RtspServer::PEERS) {
        return;
    }
    let file = test_support::fixture("rtsp-file.mp4"); // 6 s, 90 frames, 15 fps
    let server = RtspServer::start(RtspServerOptions {
        file: Some(file),
        ..Default::default()
    });
    let idle = Duration::from_secs(2);
    let mut source = RtspSource::connect(options(&server.url("/file")).idle_timeout(idle))
        .await
        .unwrap();
    let events = collect_until(&mut source, LIMIT, |_| false).await;
    let video = frames(&events, 0);
    assert_eq!(video.len(), 90, "{:?}", summary(&events));
    match events.last() {
        Some(Event::Disconnected {
            reason: Error::IdleTimeout {
                timeout, frames, ..
            },
            ..
        }) => {
            assert_eq!(*timeout, idle);
            assert!(*frames >= 90);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_tears_down_and_ends_the_stream() {
    if !test_support::peers_present("stop", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let source =
        ReconnectingSource::new(options(&server.url("/h264")), ReconnectOptions::default());
    let stop = source.stop_handle();
    let mut events = Box::pin(source.into_stream());
    collect_frames(&mut events, 0, 3, LIMIT).await;
    stop.stop();
    assert!(stop.is_stopped());
    let end = collect_until(&mut events, LIMIT, |_| false).await;
    assert!(
        matches!(end.last(), Some(Event::Stopped { reason: None })),
        "{:?}",
        summary(&end)
    );
    assert!(events.next().await.is_none());
}

/// Collects until both tracks have `n` frames (or the session ends), then checks that the
/// session is still up and that no loss was reported: gst-rtsp-server's first packet of a
/// stream may come one sequence number after RTP-Info's, which is not loss.
async fn no_loss_at_start(who: &str, source: &mut RtspSource, n: usize) {
    let events = collect_until(source, LIMIT, |evs| {
        matches!(evs.last(), Some(Event::Disconnected { .. }))
            || (frames(evs, 0).len() >= n && frames(evs, 1).len() >= n)
    })
    .await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. })),
        "{who}: {:?}",
        summary(&events)
    );
    for track in [0, 1] {
        let got = frames(&events, track);
        assert!(
            got.len() >= n,
            "{who}, track {track}: {:?}",
            summary(&events)
        );
        assert!(got.iter().all(|f| f.loss == 0), "{who}, track {track}");
    }
    assert_eq!(source.lost_packets(), 0, "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_mount_plays_with_loss_not_allowed() {
    if !test_support::peers_present("file_no_loss", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start(RtspServerOptions {
        file: Some(test_support::fixture("rtsp-file.mp4")),
        ..Default::default()
    });
    let mut source = RtspSource::connect(options(&server.url("/file")).allow_loss(false))
        .await
        .unwrap();
    no_loss_at_start("file", &mut source, 20).await;
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_client_on_a_shared_mount_plays_with_loss_not_allowed() {
    if !test_support::peers_present("shared_no_loss", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let opts = options(&server.url("/h264aac"));
    let mut first = RtspSource::connect(opts.clone()).await.unwrap();
    collect_frames(&mut first, 1, 10, LIMIT).await;
    // The second client joins the running shared media while the first keeps playing.
    let mut second = RtspSource::connect(opts.allow_loss(false)).await.unwrap();
    let (_, running) = tokio::join!(
        no_loss_at_start("second", &mut second, 10),
        collect_until(&mut first, LIMIT, |evs| {
            matches!(evs.last(), Some(Event::Disconnected { .. })) || frames(evs, 1).len() >= 10
        })
    );
    // The first client (loss allowed) is still playing. gst-rtsp-server skips one sequence
    // number on its running streams when another client joins: that is loss after its
    // first frame, so it stays counted there.
    assert_eq!(frames(&running, 1).len(), 10, "{:?}", summary(&running));
    second.close().await.unwrap();
    first.close().await.unwrap();
}
