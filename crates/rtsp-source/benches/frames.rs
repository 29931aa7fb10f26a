//! The cost of this crate's layer over retina: one session receiving a burst of H.264
//! (FU-A fragmented, RFC 6184 section 5.8) from an in-process server on 127.0.0.1, as fast
//! as TCP carries it.
//!
//! - `peer-retina`: retina alone (DESCRIBE, SETUP, PLAY, `demuxed()`, count frames).
//! - `ours`: [`RtspSource`] (the same, plus selection, neutral tracks and frames, keyframe
//!   gate, idle timer).
//!
//! Both include connecting; throughput is the frame payload.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mock.rs"]
mod mock;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use mock::{Mock, Script, Then, rtp, sdp};
use retina::client::{PlayOptions, Session, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat};
use rtsp_source::{Event, RtspOptions, RtspSource, StreamSelection};

const FRAMES: u32 = 150; // 6 s at 25 fps
const FRAME_BYTES: usize = 20_000; // about 4 Mbit/s
const GOP: u32 = 25;
const MTU_PAYLOAD: usize = 1400;

/// The whole interleaved stream, one frame = one NAL in FU-A fragments.
fn burst() -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq: u16 = 1;
    for frame in 0..FRAMES {
        let header: u8 = if frame % GOP == 0 { 0x65 } else { 0x41 };
        let body: Vec<u8> = (0..FRAME_BYTES - 1)
            .map(|i| (i as u32 ^ frame) as u8 | 1)
            .collect();
        let chunks: Vec<&[u8]> = body.chunks(MTU_PAYLOAD).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let start = if i == 0 { 0x80 } else { 0 };
            let end = if i + 1 == chunks.len() { 0x40 } else { 0 };
            let mut payload = vec![(header & 0xe0) | 28, start | end | (header & 0x1f)];
            payload.extend_from_slice(chunk);
            out.extend(rtp(0, 96, seq, frame * 3600, end != 0, &payload));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

async fn peer_retina(url: &str) -> usize {
    let mut session = Session::describe(url.parse().unwrap(), SessionOptions::default())
        .await
        .unwrap();
    session
        .setup(0, SetupOptions::default().frame_format(FrameFormat::MP4))
        .await
        .unwrap();
    let mut demuxed = session
        .play(PlayOptions::default())
        .await
        .unwrap()
        .demuxed()
        .unwrap();
    let mut bytes = 0;
    while let Some(Ok(item)) = demuxed.next().await {
        if let CodecItem::VideoFrame(f) = item {
            bytes += black_box(f.into_data()).len();
        }
    }
    bytes
}

async fn ours(url: &str) -> usize {
    let options = RtspOptions::new(url)
        .unwrap()
        .select(StreamSelection::video_only());
    let mut source = RtspSource::connect(options).await.unwrap();
    let mut bytes = 0;
    while let Some(ev) = source.next().await {
        if let Event::Frame(f) = ev {
            bytes += black_box(f.data).len();
        }
    }
    bytes
}

fn session(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mock = rt.block_on(Mock::start(Script {
        sdp: sdp(true, false),
        ..Script::audio(vec![burst()], Then::Close)
    }));
    let url = mock.url();
    let expected = FRAMES as usize * (FRAME_BYTES + 4);
    assert_eq!(rt.block_on(peer_retina(&url)), expected);
    assert_eq!(rt.block_on(ours(&url)), expected);

    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Bytes(expected as u64));
    group.sample_size(20);
    group.bench_function("peer-retina", |b| b.iter(|| rt.block_on(peer_retina(&url))));
    group.bench_function("ours", |b| b.iter(|| rt.block_on(ours(&url))));
    group.finish();
}

criterion_group!(benches, session);
criterion_main!(benches);
