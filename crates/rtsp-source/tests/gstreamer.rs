//! Against the real GStreamer RTSP server (test_support::rtsp): every codec mount, TCP
//! and UDP, clock rates, frame rate and GOP (auth, reconnection, teardown and loss are in
//! gstreamer_session.rs). Received frames are written as Annex B / ADTS / WAV / JPEG and
//! decoded by ffmpeg, so a real decoder checks what we hand out.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use rtsp_source::{
    Codec, Error, Event, MediaKind, ParameterSets, RtspOptions, RtspSource, Transport,
};
use test_support::ffprobe;
use test_support::rtsp::RtspServer;

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

/// B-frames (/h264b, /h265b: bframes=2): RTP timestamps are presentation times in decode
/// order; decode times strictly increase, never pass presentation, and every frame of the
/// run is there once; ffmpeg decodes the frames in the order received.
async fn b_frames(mount: &str, codec: &str, extension: &str) {
    let server = RtspServer::start_default();
    let mut source = RtspSource::connect(options(&server.url(mount)))
        .await
        .unwrap();
    let events = collect_frames(&mut source, 0, 45, LIMIT).await;
    let t = &tracks(&events).tracks[0];
    let frames = frames(&events, 0);
    assert!(frames[0].keyframe);
    let step = 90_000 / FPS;
    for w in frames.windows(2) {
        assert!(
            w[1].decode_timestamp > w[0].decode_timestamp,
            "{mount}: decode times {} then {}",
            w[0].decode_timestamp,
            w[1].decode_timestamp
        );
    }
    for f in &frames {
        let offset = f.composition_offset();
        // A P-frame after two B-frames: three frames ahead, decoded one frame late.
        assert!((0..=4 * step).contains(&offset), "{mount}: offset {offset}");
    }
    assert!(
        frames.windows(2).any(|w| w[1].timestamp < w[0].timestamp),
        "{mount}: presentation order is not decode order"
    );
    // Every presentation time of the first 40 frames' span, once.
    let mut pts: Vec<i64> = frames
        .iter()
        .map(|f| f.timestamp - frames[0].timestamp)
        .collect();
    pts.sort_unstable();
    let expected: Vec<i64> = (0..40).map(|i| i * step).collect();
    assert_eq!(&pts[..40], &expected[..], "{mount}");

    let dir = test_support::temp_dir();
    let path = write(
        dir.path(),
        &format!("video.{extension}"),
        &annex_b(t, &frames),
    );
    let probe = ffprobe::probe_with(&path, &["-count_frames", "-show_streams"]);
    assert_eq!(probe["streams"][0]["codec_name"], codec);
    assert_eq!(
        ffprobe::num(&probe["streams"][0]["nb_read_frames"]) as usize,
        45
    );
    assert_eq!(ffprobe::decode_errors(&path), "");
    source.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_b_frames_get_decode_times() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    if !test_support::peers_present("h264_b_frames", RtspServer::PEERS) {
        return;
    }
    b_frames("/h264b", "h264", "h264").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_b_frames_get_decode_times() {
    test_support::require_peer!("ffmpeg", "ffprobe", "gst-bad");
    if !test_support::peers_present("h265_b_frames", RtspServer::PEERS) {
        return;
    }
    b_frames("/h265b", "hevc", "h265").await;
}

/// Clients joining a shared mount together: gst-rtsp-server's PLAY answer names a next
/// sequence number (RTP-Info) that packets already queued for the mount precede, so a
/// client that trusted it saw its first packet as "out of order" and lost the session
/// (a one-off recording ended before it began). Every client must play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_joining_a_shared_mount_together_all_play() {
    if !test_support::peers_present("shared mount", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let url = server.url("/h264aac");
    for round in 0..3 {
        let sessions = (0..8).map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut source = RtspSource::connect(options(&url)).await.unwrap();
                let events = collect_frames(&mut source, 0, 10, LIMIT).await;
                let _ = source.close().await;
                events
            })
        });
        for (i, session) in futures::future::join_all(sessions)
            .await
            .into_iter()
            .enumerate()
        {
            let events = session.unwrap();
            assert!(
                frames(&events, 0).len() >= 10,
                "round {round} client {i}: {:?}",
                summary(&events)
            );
        }
    }
}
