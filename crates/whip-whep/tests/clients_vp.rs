//! VP8, VP9 and AV1 through the clients, against our own servers on 127.0.0.1: a
//! `WhipPush` of each codec reaches a `WhipServer` (the publisher's receiving side), and a
//! `WhepPull` receives it from a `WhepServer` (the client's receiving side); frames arrive
//! byte for byte, with that codec and their key frames told apart.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use whip_whep::{
    ClientSettings, Frame, Published, PublishedCodec, ReceivedFrame, StreamCodecs, TrackKind,
    VideoCodec, WhepPull, WhepServer, WhepSettings, WhipPush, WhipServer, WhipSettings,
};

const FRAMES: u64 = 40;

/// Frame `n` of a made-up stream: the header bytes that tell a key frame in each codec,
/// then filler (large enough to be split across packets).
fn frame(codec: VideoCodec, n: u64) -> Vec<u8> {
    let key = n.is_multiple_of(20);
    let filler = std::iter::repeat_n(n as u8 | 0x40, 2500);
    match codec {
        // VP8 frame tag: bit 0 clear for a key frame (RFC 6386 §9.1).
        VideoCodec::Vp8 => {
            let mut f = vec![if key { 0x10 } else { 0x11 }, 0, 0];
            f.extend(filler);
            f
        }
        // VP9 profile 0: frame_marker 2, show_existing 0, frame_type 0 for a key frame.
        VideoCodec::Vp9 => {
            let mut f = vec![if key { 0b1000_0010 } else { 0b1000_0110 }];
            f.extend(filler);
            f
        }
        // AV1: a sequence header OBU before key frames, then a frame OBU, each with
        // its size field (leb128).
        _ => {
            let mut f = Vec::new();
            if key {
                f.extend_from_slice(&[0x0a, 3, 0, 0, 0]);
            }
            f.extend_from_slice(&[0x32, 0xc4, 0x13]); // 2500 = 0x9c4
            f.extend(filler);
            f
        }
    }
}

fn published(codec: VideoCodec) -> PublishedCodec {
    match codec {
        VideoCodec::Vp8 => PublishedCodec::Vp8,
        VideoCodec::Vp9 => PublishedCodec::Vp9,
        _ => PublishedCodec::Av1,
    }
}

fn settings() -> ClientSettings {
    let mut s = ClientSettings::default();
    s.timeout = Duration::from_secs(5);
    s
}

/// Checks what arrived: nearly every frame, each the one sent (by its filler byte), of
/// that codec, key frames where they were sent.
fn check(codec: VideoCodec, received: &[ReceivedFrame]) {
    eprintln!("{codec:?}: {} of {FRAMES} frames", received.len());
    assert!(received.len() as u64 >= FRAMES - 4, "{}", received.len());
    let mut keys = 0;
    for f in received {
        assert_eq!(f.codec, published(codec));
        let n = u64::from(f.data[f.data.len() - 1] & !0x40);
        assert_eq!(f.data.as_ref(), frame(codec, n), "{codec:?} frame {n}");
        assert_eq!(f.keyframe, n.is_multiple_of(20), "{codec:?} frame {n}");
        keys += usize::from(f.keyframe);
    }
    assert!(keys >= 1, "{codec:?}: no key frame");
}

async fn push(codec: VideoCodec) {
    let mut server = WhipServer::bind("127.0.0.1:0", "pub", WhipSettings::default()).unwrap();
    let codecs = StreamCodecs::new(Some(codec), None);
    let push = WhipPush::connect(&server.endpoint_url(), codecs, settings())
        .await
        .unwrap();
    let pusher = tokio::spawn(async move {
        for n in 0..FRAMES {
            let data = frame(codec, n);
            push.send(Frame::new(
                TrackKind::Video,
                n * 3000,
                n.is_multiple_of(20),
                data.into(),
            ))
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        push.close().await
    });
    let mut received = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(5), server.next()).await {
        match e {
            Published::Frame(f) => received.push(f),
            Published::Ended => break,
            _ => {}
        }
    }
    pusher.await.unwrap().unwrap();
    check(codec, &received);
}

async fn pull(codec: VideoCodec) {
    let server = WhepServer::bind("127.0.0.1:0", "cam", WhepSettings::default()).unwrap();
    server.set_codecs(StreamCodecs::new(Some(codec), None));
    let mut pull = WhepPull::connect(&server.endpoint_url(), settings())
        .await
        .unwrap();
    assert_eq!(pull.tracks(), (true, false));
    let sender = tokio::spawn(async move {
        for n in 0..FRAMES {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let data = frame(codec, n);
            server.send(Frame::new(
                TrackKind::Video,
                n * 3000,
                n.is_multiple_of(20),
                data.into(),
            ));
        }
        server
    });
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (received.len() as u64) < FRAMES {
        let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(2), pull.next()).await else {
            break;
        };
        received.push(f);
    }
    let _server = sender.await.unwrap();
    pull.close().await.unwrap();
    check(codec, &received);
}

#[tokio::test(flavor = "multi_thread")]
async fn whip_push_of_vp8_vp9_av1_reaches_the_server() {
    for codec in [VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::Av1] {
        push(codec).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whep_pull_of_vp8_vp9_av1_from_the_server() {
    for codec in [VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::Av1] {
        pull(codec).await;
    }
}
