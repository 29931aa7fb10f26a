//! The clients against our own servers on 127.0.0.1: a `WhepPull` receives what a
//! `WhepServer` sends, a `WhipPush` reaches a `WhipServer`, and refusals (nobody
//! listening, 404, 401) fail `connect` with one clear line, without the token, in
//! bounded time.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use whip_whep::{
    AudioCodec, ClientSettings, Frame, Published, StreamCodecs, TrackKind, VideoCodec, WhepPull,
    WhepServer, WhepSettings, WhipPush, WhipServer, WhipSettings,
};

/// A made-up access unit: SPS, PPS and an IDR slice for key frames, a non-IDR slice
/// otherwise (str0m packetizes any NAL units; large enough for FU-A fragments).
fn access_unit(key: bool, n: u8) -> Vec<u8> {
    let mut au = Vec::new();
    if key {
        au.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
    }
    au.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }]);
    au.extend(std::iter::repeat_n(n | 0x80, 3000));
    au
}

fn settings() -> ClientSettings {
    let mut s = ClientSettings::default();
    s.timeout = Duration::from_secs(5);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn whep_pull_receives_what_the_server_sends() {
    let server = WhepServer::bind("127.0.0.1:0", "cam", WhepSettings::default()).unwrap();
    server.set_codecs(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c01e,
        }),
        Some(AudioCodec::Opus),
    ));
    server.send(Frame::new(
        TrackKind::Video,
        0,
        true,
        access_unit(true, 0).into(),
    ));
    let mut pull = WhepPull::connect(&server.endpoint_url(), settings())
        .await
        .unwrap();
    assert_eq!(pull.tracks(), (true, true));
    let sender = tokio::spawn(async move {
        for i in 1..60u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let key = i % 30 == 0;
            let au = access_unit(key, i as u8);
            server.send(Frame::new(TrackKind::Video, i * 3000, key, au.into()));
            let opus: Vec<u8> = vec![0xfc, 1, 2, 3];
            server.send(Frame::new(TrackKind::Audio, i * 960, true, opus.into()));
        }
        server
    });
    let (mut video, mut audio, mut keys) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (video < 50 || audio < 40) {
        let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(2), pull.next()).await else {
            break;
        };
        match f.track {
            TrackKind::Video => {
                video += 1;
                keys += usize::from(f.keyframe);
                assert!(f.data.len() > 3000, "{}", f.data.len());
            }
            _ => audio += 1,
        }
    }
    eprintln!("received {video} video frames ({keys} key), {audio} audio frames");
    assert!(video >= 50 && audio >= 40, "{video} {audio}");
    assert!(keys >= 2, "{keys}");
    let server = sender.await.unwrap();
    pull.close().await.unwrap();
    // The DELETE (or the DTLS close) ended the session on the server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().sessions > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn whip_push_reaches_the_server() {
    let mut server = WhipServer::bind("127.0.0.1:0", "pub", WhipSettings::default()).unwrap();
    let codecs = StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c01e,
        }),
        Some(AudioCodec::Opus),
    );
    let push = WhipPush::connect(&server.endpoint_url(), codecs, settings())
        .await
        .unwrap();
    let pusher = tokio::spawn(async move {
        for i in 0..60u64 {
            let key = i % 30 == 0;
            let au = access_unit(key, i as u8);
            push.send(Frame::new(TrackKind::Video, i * 3000, key, au.into()))
                .await
                .unwrap();
            let opus: Vec<u8> = vec![0xfc, 1, 2, 3];
            push.send(Frame::new(TrackKind::Audio, i * 960, true, opus.into()))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        push.close().await
    });
    let (mut started, mut video, mut audio, mut ended) = (false, 0, 0, false);
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(5), server.next()).await {
        match e {
            Published::Started => started = true,
            Published::Frame(f) if f.track == TrackKind::Video => video += 1,
            Published::Frame(_) => audio += 1,
            Published::Ended => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    pusher.await.unwrap().unwrap();
    eprintln!("the server got {video} video and {audio} audio frames");
    assert!(started && ended);
    assert!(video >= 55 && audio >= 55, "{video} {audio}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_one_clear_line_without_the_token() {
    let mut guarded = WhepSettings::default();
    guarded.token = Some("right-token".into());
    let server = WhepServer::bind("127.0.0.1:0", "cam", guarded).unwrap();
    // Audio only: the answer rejects the offer's video.
    server.set_codecs(StreamCodecs::new(None, Some(AudioCodec::Opus)));
    let port = server.local_addr().port();
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let mut wrong = settings();
    wrong.token = Some("wr0ng-token".into());
    for (url, token, expect) in [
        (
            format!("http://127.0.0.1:{closed_port}/cam/whep"),
            None,
            "connecting to",
        ),
        (
            format!("http://127.0.0.1:{port}/other/whep"),
            None,
            "answered 404",
        ),
        (
            format!("http://127.0.0.1:{port}/cam/whep"),
            None,
            "answered 401",
        ),
        (
            format!("http://127.0.0.1:{port}/cam/whep?token=q5"),
            Some(&wrong),
            "answered 401",
        ),
        (format!("https://127.0.0.1:{port}/cam/whep"), None, "TLS"),
    ] {
        let started = Instant::now();
        let s = token.cloned().unwrap_or_else(settings);
        let e = WhepPull::connect(&url, s).await.unwrap_err().to_string();
        eprintln!("{url}: {e} ({:?})", started.elapsed());
        assert!(e.contains(expect), "{e}");
        assert!(
            !e.contains("wr0ng") && !e.contains("q5") && !e.contains('\n'),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(6));
    }
    let mut right = settings();
    right.token = Some("right-token".into());
    let pull = WhepPull::connect(&server.endpoint_url(), right)
        .await
        .unwrap();
    assert_eq!(pull.tracks(), (false, true));
    pull.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_ends_soon_after_its_server_goes_away() {
    let server = WhepServer::bind("127.0.0.1:0", "cam", WhepSettings::default()).unwrap();
    server.set_codecs(StreamCodecs::new(None, Some(AudioCodec::Opus)));
    let mut pull = WhepPull::connect(&server.endpoint_url(), settings())
        .await
        .unwrap();
    server.send(Frame::new(TrackKind::Audio, 0, true, vec![0xfc, 1].into()));
    drop(server);
    let gone = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(40), async {
        while pull.next().await.is_some() {}
    })
    .await;
    eprintln!(
        "the pull ended {:?} after the server went away",
        gone.elapsed()
    );
    assert!(ended.is_ok(), "the pull did not end");
    assert!(gone.elapsed() < Duration::from_secs(15));
    let _ = pull.close().await;
}
