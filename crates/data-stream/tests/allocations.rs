//! Issue 22: no allocation per chunk, on either path. A counting global allocator (its own
//! test binary, so nothing else runs beside it) counts the allocations of a whole byte
//! stream of `n` chunks, for a small and a ten times larger `n`: set-up, header and
//! trailer cost the same in both, so any difference is what the chunks cost.
//!
//! Before issue 22's fourth pass: 3.0 allocations per chunk on the sync path (the chunk's
//! head, its decoded stream id, ...) and 3.5 on the tokio path; now none on either.
//!
//! - sync: `ChunkHeads` → `Frame::write_framed` into a reused buffer → `FrameDecoder` →
//!   `Demultiplexer` → `Event::Chunk`.
//! - tokio: `Outgoing` → `ByteStreamWriter` → `write_frames` → `tokio::io::duplex` →
//!   `Receiver::run` → `StreamReader`, on a current-thread runtime.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::sync::Mutex;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use data_stream::{
    ChunkHeads, Demultiplexer, Envelope, Event, FrameDecoder, Header, Limits, Packet, StreamInfo,
    StreamKind, StreamType, Trailer,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counter is global: one measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const CHUNK: usize = 15_000;
const MAX_FRAME: usize = 1 << 20;
const ID: &str = "a1b2c3d4-stream";
const FEW: u64 = 300;
const MANY: u64 = 10_000;
/// One-off growths a longer run may reach (a queue's `Vec` or a spare block at its
/// high-water mark), and the few allocations of the test harness's own threads that the
/// process-wide counter also sees: bounded, not per chunk (one allocation per chunk
/// would add 9 700).
const ONE_OFF: usize = 8;

fn source() -> Bytes {
    Bytes::from(
        (0..CHUNK * 4)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn content(source: &Bytes, i: u64) -> Bytes {
    let start = (i as usize * 997) % (source.len() - CHUNK);
    source.slice(start..start + CHUNK)
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_stream_size = u64::MAX;
    limits
}

/// Allocations (new blocks and reallocations) made by `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let region = Region::new(GLOBAL);
    f();
    let change = region.change();
    change.allocations + change.reallocations
}

fn sync_path(chunks: u64, source: &Bytes) {
    let envelope = Envelope::default();
    let now = Instant::now();
    let mut demux = Demultiplexer::new(limits());
    demux.register(StreamType::Bytes, "media").unwrap();
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut wire = BytesMut::with_capacity(64 * 1024);
    let mut heads = ChunkHeads::default();
    let info = StreamInfo::new(ID, StreamKind::Bytes { name: "f".into() })
        .with_topic("media")
        .with_total_length(Some(chunks * CHUNK as u64));
    let mut received = 0;
    let mut read = |wire: &mut BytesMut, demux: &mut Demultiplexer| {
        while let Some(frame) = decoder.decode(wire).unwrap() {
            demux.handle_frame(frame, now).unwrap();
            while let Some(event) = demux.poll_event() {
                match event {
                    Event::Chunk { stream_id, content } => {
                        assert_eq!(&*stream_id, ID);
                        received += content.len() as u64;
                    }
                    Event::Opened(_) | Event::Finished(_) => {}
                    other => panic!("{other:?}"),
                }
            }
        }
    };
    Packet::Header(Box::new(Header::new(info)))
        .to_frame(&envelope)
        .write_framed(&mut wire, MAX_FRAME)
        .unwrap();
    read(&mut wire, &mut demux);
    for i in 0..chunks {
        let frame = heads.chunk(&envelope, ID, i, content(source, i));
        frame.write_framed(&mut wire, MAX_FRAME).unwrap();
        read(&mut wire, &mut demux);
    }
    Packet::Trailer(Trailer::new(ID))
        .to_frame(&envelope)
        .write_framed(&mut wire, MAX_FRAME)
        .unwrap();
    read(&mut wire, &mut demux);
    assert_eq!(received, chunks * CHUNK as u64);
}

#[cfg(feature = "tokio")]
fn tokio_path(rt: &tokio::runtime::Runtime, chunks: u64, source: &Bytes) {
    use data_stream::{Outgoing, StreamOptions};
    use futures::StreamExt;
    let received = rt.block_on(async {
        let receiver = data_stream::transport::Receiver::new(limits());
        let mut streams = receiver.byte_streams("media").unwrap();
        let (out, frames) = Outgoing::new(64);
        let (a, b) = tokio::io::duplex(256 * 1024);
        let write = tokio::spawn(data_stream::transport::write_frames(frames, a, MAX_FRAME));
        let run = tokio::spawn(async move { receiver.run(b).await });
        let source = source.clone();
        let send = tokio::spawn(async move {
            let mut options = StreamOptions::topic("media");
            options.total_length = Some(chunks * CHUNK as u64);
            let writer = out.stream_bytes("f", options).await.unwrap();
            for i in 0..chunks {
                writer.write(content(&source, i)).await.unwrap();
            }
            writer.close("", Default::default()).await.unwrap();
        });
        let mut reader = streams.next().await.unwrap();
        let mut received = 0;
        while let Some(chunk) = reader.next().await {
            received += chunk.unwrap().len() as u64;
        }
        send.await.unwrap();
        write.await.unwrap().unwrap();
        run.await.unwrap().unwrap();
        received
    });
    assert_eq!(received, chunks * CHUNK as u64);
}

/// Allocations per chunk: the difference between `MANY` and `FEW` chunks, per chunk.
fn per_chunk(mut run: impl FnMut(u64)) -> (usize, usize, f64) {
    run(FEW); // warm up (lazy statics, thread locals)
    let few = allocations(|| run(FEW));
    let many = allocations(|| run(MANY));
    let extra = many.saturating_sub(few);
    (few, many, extra as f64 / (MANY - FEW) as f64)
}

#[test]
fn the_sync_path_allocates_nothing_per_chunk() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let source = source();
    let (few, many, per) = per_chunk(|n| sync_path(n, &source));
    eprintln!("sync: {few} allocations for {FEW} chunks, {many} for {MANY}: {per:.3} per chunk");
    assert!(
        many <= few + ONE_OFF,
        "{many} allocations for {MANY} chunks, {few} for {FEW}"
    );
}

#[cfg(feature = "tokio")]
#[test]
fn the_tokio_path_allocates_nothing_per_chunk() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = source();
    let (few, many, per) = per_chunk(|n| tokio_path(&rt, n, &source));
    eprintln!("tokio: {few} allocations for {FEW} chunks, {many} for {MANY}: {per:.3} per chunk");
    assert!(
        many <= few + ONE_OFF,
        "{many} allocations for {MANY} chunks, {few} for {FEW}"
    );
}
