//! A 1 GiB byte stream (71,583 chunks of up to 15,000 bytes, LiveKit's chunk size) written
//! and read back in memory, end to end: header, chunks, trailer, each one a length-framed
//! `DataPacket`.
//!
//! - `ours`: the sans-I/O codec. `ChunkHeads::chunk` (content not copied, heads in reused blocks) → `write_framed`
//!   into a reused transport buffer (the one copy) → `FrameDecoder` → `Demultiplexer`
//!   (all checks on) → chunk content, a slice of the transport buffer.
//! - `ours-writer`: the same through `Outgoing`/`ByteStreamWriter` and its bounded queue.
//! - Group `byte-stream-1GiB-duplex` (its own group: the pipe's two copies are work the
//!   rows above and the peer do not do), `ours-tokio-duplex`: writer → `write_frames` →
//!   `tokio::io::duplex` → `Receiver` → `StreamReader` (a copy into and out of the pipe;
//!   each a task on 2 worker threads). `ours-tokio-duplex-current-thread`: the same on a
//!   current-thread runtime (one thread).
//!   `floor-tokio-duplex` (and `-current-thread`): the same 1 GiB through the same pipe and
//!   runtime with no data stream at all: 15 000-byte writes, reads of up to 128 KiB into a
//!   reused buffer. What the pipe itself costs; the framing's cost is the gap above it.
//! - `ours-tokio-in-memory`: writer → `Outgoing` → `Receiver::run_frames` → `StreamReader`
//!   on a current-thread runtime, the frames going through the sync path's transport (one
//!   copy into reused blocks, `FrameDecoder`): every tokio-side piece (queues, tasks,
//!   wake-ups, reader) and no copy the sync path does not make. Like with like for `ours`.
//! - Group `byte-stream-1GiB-socket`, `ours-sync` and `ours-tokio`: the same stream over a Unix socket pair,
//!   the like-with-like comparison of the two paths over a real transport. Sync: the
//!   sans-I/O codec on two threads (`write_framed` into a reused buffer written with
//!   `write_all` every 256 KiB; reads of 128 KiB into a `BytesMut`, `FrameDecoder`,
//!   `Demultiplexer`). Tokio: `Outgoing` → `write_frames` → socket → `Receiver::run` →
//!   `StreamReader`, each a task on the 2-worker runtime as in a server (`-current-thread`:
//!   the same on one thread). `floor-socket`: the bytes alone through the
//!   same socket pair (256 KiB writes, 128 KiB reads), what the kernel's copies cost.
//!   (std has no stable read into uninitialised memory, so the sync reader zeroes each
//!   read's room first: a memset of up to 128 KiB per read that tokio's `read_buf` skips.)
//! - `floor-memcpy`: each chunk's content copied into a reused buffer: the sync path's one
//!   copy with no framing, so `ours` − `floor-memcpy` is what the framing costs there.
//! - `peer-livekit-protocol`: the same packets with crates.io livekit-protocol's prost
//!   types: build the `DataPacket` (content copied into its `Vec`), `encode` into a reused
//!   buffer with the same 4-byte prefix, `DataPacket::decode` (content copied out).
//!
//! The content is cut from a 64 MiB source (larger than the caches, like real data).
//! Under `cargo test --benches` (one smoke iteration) the stream is 16 MiB.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use data_stream::{
    ChunkHeads, Demultiplexer, Envelope, Event, FrameDecoder, Header, Limits, Outgoing, Packet,
    StreamInfo, StreamKind, StreamOptions, StreamType, Trailer,
};
use futures::StreamExt;
use livekit_protocol as lk;
use prost::Message;

mod socket;

const CHUNK: usize = 15_000;
const MAX_FRAME: usize = 1 << 20;
const STREAM_ID: &str = "3f8e5a52-1c1e-4d5b-9c3a";

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn stream_len() -> u64 {
    if full_run() { 1 << 30 } else { 16 << 20 }
}

/// Source content, made once (cheap pattern, not compressible by accident).
fn source() -> &'static Bytes {
    static SOURCE: OnceLock<Bytes> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let len = if full_run() { 64 << 20 } else { 1 << 20 };
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        Bytes::from(v)
    })
}

/// The `i`-th chunk's content: a slice of the source (no copy).
fn content(i: u64, total: u64) -> Bytes {
    let src = source();
    let start = (i as usize * CHUNK) % (src.len() - CHUNK);
    let len = (total - i * CHUNK as u64).min(CHUNK as u64) as usize;
    src.slice(start..start + len)
}

fn info(total: u64) -> StreamInfo {
    StreamInfo::new(
        STREAM_ID,
        StreamKind::Bytes {
            name: "bench.bin".into(),
        },
    )
    .with_timestamp_ms(1_700_000_000_000)
    .with_topic("media")
    .with_mime_type("application/octet-stream")
    .with_total_length(Some(total))
}

/// Reads every complete frame of `transport` through the demultiplexer; returns content bytes.
fn read_back(
    decoder: &mut FrameDecoder,
    demux: &mut Demultiplexer,
    transport: &mut BytesMut,
    now: Instant,
) -> u64 {
    let mut n = 0;
    while let Some(frame) = decoder.decode(transport).unwrap() {
        demux.handle_frame(frame, now).unwrap();
        while let Some(event) = demux.poll_event() {
            match event {
                Event::Chunk { content, .. } => n += black_box(content).len() as u64,
                Event::Opened(_) | Event::Finished(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    n
}

fn ours(total: u64) -> u64 {
    let envelope = Envelope::default();
    let now = Instant::now();
    let mut demux = Demultiplexer::new({
        let mut limits = Limits::default();
        limits.max_stream_size = u64::MAX;
        limits
    });
    demux.register(StreamType::Bytes, "media").unwrap();
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut transport = BytesMut::with_capacity(64 * 1024);
    let header = Packet::Header(Box::new(Header::new(info(total))));
    header
        .to_frame(&envelope)
        .write_framed(&mut transport, MAX_FRAME)
        .unwrap();
    let mut received = read_back(&mut decoder, &mut demux, &mut transport, now);
    let chunks = total.div_ceil(CHUNK as u64);
    let mut heads = ChunkHeads::default();
    for i in 0..chunks {
        let frame = heads.chunk(&envelope, STREAM_ID, i, content(i, total));
        frame.write_framed(&mut transport, MAX_FRAME).unwrap();
        received += read_back(&mut decoder, &mut demux, &mut transport, now);
    }
    let trailer = Packet::Trailer(Trailer::new(STREAM_ID));
    trailer
        .to_frame(&envelope)
        .write_framed(&mut transport, MAX_FRAME)
        .unwrap();
    received += read_back(&mut decoder, &mut demux, &mut transport, now);
    assert_eq!(demux.open_streams(), 0);
    received
}

fn ours_writer(total: u64) -> u64 {
    let (out, mut frames) = Outgoing::new(64);
    let send = async move {
        let options = {
            let mut options = StreamOptions::topic("media");
            options.total_length = Some(total);
            options
        };
        let w = out.stream_bytes("bench.bin", options).await.unwrap();
        for i in 0..total.div_ceil(CHUNK as u64) {
            w.write(content(i, total)).await.unwrap();
        }
        w.close("", Default::default()).await.unwrap();
    };
    let receive = async move {
        let now = Instant::now();
        let mut demux = Demultiplexer::new({
            let mut limits = Limits::default();
            limits.max_stream_size = u64::MAX;
            limits
        });
        demux.register(StreamType::Bytes, "media").unwrap();
        let mut decoder = FrameDecoder::new(MAX_FRAME);
        let mut transport = BytesMut::with_capacity(64 * 1024);
        let mut received = 0;
        while let Some(frame) = frames.next().await {
            frame.write_framed(&mut transport, MAX_FRAME).unwrap();
            received += read_back(&mut decoder, &mut demux, &mut transport, now);
        }
        received
    };
    futures::executor::block_on(futures::future::join(send, receive)).1
}

/// Through the tokio adapters (built with the crate's `tokio` feature): `write_frames`
/// into an in-memory duplex pipe, `Receiver` on the other end, a `StreamReader` counting
/// its chunks.
#[cfg(feature = "tokio")]
fn ours_tokio(rt: &tokio::runtime::Runtime, total: u64) -> u64 {
    rt.block_on(async move {
        let (a, b) = tokio::io::duplex(256 * 1024);
        over_transport(a, b, total).await
    })
}

/// The whole stream written into `a` (`Outgoing` → `write_frames`) and read from `b`
/// (`Receiver::run` → `StreamReader`), each a task.
#[cfg(feature = "tokio")]
async fn over_transport<W, R>(a: W, b: R, total: u64) -> u64
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let (receiver, streams) = bench_receiver();
    let run = tokio::spawn(async move { receiver.run(b).await });
    let (out, frames) = Outgoing::new(64);
    let write = tokio::spawn(data_stream::transport::write_frames(frames, a, MAX_FRAME));
    let send = tokio::spawn(send_stream(out, total));
    // The reader is a task too, as in a server (not the thread blocked in `block_on`).
    let received = tokio::spawn(read_stream(streams)).await.unwrap();
    send.await.unwrap();
    write.await.unwrap().unwrap();
    run.await.unwrap().unwrap();
    received
}

/// Opens a byte stream on `out` and writes the whole bench stream through it.
#[cfg(feature = "tokio")]
async fn send_stream(out: Outgoing, total: u64) {
    let options = {
        let mut options = StreamOptions::topic("media");
        options.total_length = Some(total);
        options
    };
    let w = out.stream_bytes("bench.bin", options).await.unwrap();
    for i in 0..total.div_ceil(CHUNK as u64) {
        w.write(content(i, total)).await.unwrap();
    }
    w.close("", Default::default()).await.unwrap();
}

/// A receiver taking byte streams of any size on "media", and the stream of its readers.
#[cfg(feature = "tokio")]
fn bench_receiver() -> (
    data_stream::transport::Receiver,
    data_stream::transport::IncomingStreams,
) {
    let mut limits = Limits::default();
    limits.max_stream_size = u64::MAX;
    let receiver = data_stream::transport::Receiver::new(limits);
    let streams = receiver.byte_streams("media").unwrap();
    (receiver, streams)
}

/// The first stream's chunks, counted.
#[cfg(feature = "tokio")]
async fn read_stream(mut streams: data_stream::transport::IncomingStreams) -> u64 {
    let mut reader = streams.next().await.unwrap();
    let mut received = 0;
    while let Some(chunk) = reader.next().await {
        received += black_box(chunk.unwrap()).len() as u64;
    }
    received
}

/// `ours-tokio-in-memory`: the tokio-side path with the sync path's one-copy transport.
#[cfg(feature = "tokio")]
fn ours_tokio_in_memory(rt: &tokio::runtime::Runtime, total: u64) -> u64 {
    rt.block_on(async move {
        let (receiver, streams) = bench_receiver();
        let (out, frames) = Outgoing::new(64);
        let mut wire = MemoryWire::default();
        let frames = frames.map(move |frame| Ok(wire.pass(&frame)));
        let run = tokio::spawn(async move { receiver.run_frames(frames).await });
        let send = tokio::spawn(send_stream(out, total));
        let received = read_stream(streams).await;
        send.await.unwrap();
        run.await.unwrap().unwrap();
        received
    })
}

/// The in-memory transport of `ours-tokio-in-memory`: each frame copied with its prefix
/// into a block and decoded back out, as `Receiver::run` does with its reads. Queued
/// chunks hold their block, so the next block is one whose chunks are all dropped
/// (`try_reclaim`), as the receiver's own blocks are (`transport/blocks.rs`): growing one
/// `BytesMut` instead took a fresh 64 KiB block every 4 chunks, colder for the copy.
#[cfg(feature = "tokio")]
#[derive(Default)]
struct MemoryWire {
    buf: BytesMut,
    spare: std::collections::VecDeque<BytesMut>,
    decoder: Option<FrameDecoder>,
}

#[cfg(feature = "tokio")]
impl MemoryWire {
    fn pass(&mut self, frame: &data_stream::Frame) -> (Bytes, u64) {
        const BLOCK: usize = 128 * 1024;
        if self.buf.capacity() < 4 + frame.len() && !self.buf.try_reclaim(4 + frame.len()) {
            let free = self.spare.iter_mut().position(|b| b.try_reclaim(BLOCK));
            let block = match free.and_then(|i| self.spare.remove(i)) {
                Some(block) => block,
                None => BytesMut::with_capacity(BLOCK),
            };
            self.spare.truncate(7);
            self.spare
                .push_front(std::mem::replace(&mut self.buf, block));
        }
        frame.write_framed(&mut self.buf, MAX_FRAME).unwrap();
        let decoder = self
            .decoder
            .get_or_insert_with(|| FrameDecoder::new(MAX_FRAME));
        let offset = decoder.offset();
        (decoder.decode(&mut self.buf).unwrap().unwrap(), offset)
    }
}

/// `floor-tokio-duplex`: the bench's bytes through the same pipe and runtime, no framing.
#[cfg(feature = "tokio")]
fn floor_tokio(rt: &tokio::runtime::Runtime, total: u64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async move {
        let (mut a, mut b) = tokio::io::duplex(256 * 1024);
        let write = tokio::spawn(async move {
            for i in 0..total.div_ceil(CHUNK as u64) {
                a.write_all(&content(i, total)).await.unwrap();
            }
            a.shutdown().await.unwrap();
        });
        let read = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(128 * 1024);
            let mut received = 0;
            loop {
                buf.clear();
                match b.read_buf(&mut buf).await.unwrap() {
                    0 => break received,
                    n => received += black_box(&buf[..n]).len() as u64,
                }
            }
        });
        write.await.unwrap();
        read.await.unwrap()
    })
}

/// The runtimes of the tokio rows: two workers, and one thread.
#[cfg(feature = "tokio")]
fn runtimes() -> (tokio::runtime::Runtime, tokio::runtime::Runtime) {
    let two = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (two, one)
}

/// `floor-memcpy`: the sync path's one copy (each chunk into a reused buffer), no framing.
fn floor_memcpy(total: u64) -> u64 {
    let mut transport = BytesMut::with_capacity(64 * 1024);
    let mut received = 0;
    for i in 0..total.div_ceil(CHUNK as u64) {
        transport.extend_from_slice(&content(i, total));
        received += black_box(&transport[..]).len() as u64;
        transport.clear();
    }
    received
}

fn lk_packet(value: lk::data_packet::Value) -> lk::DataPacket {
    lk::DataPacket {
        value: Some(value),
        ..Default::default()
    }
}

/// Encodes with the 4-byte prefix into `wire`, then decodes it back.
fn lk_round_trip(packet: &lk::DataPacket, wire: &mut Vec<u8>) -> lk::DataPacket {
    wire.clear();
    wire.put_u32(packet.encoded_len() as u32);
    packet.encode(wire).unwrap();
    lk::DataPacket::decode(&wire[4..]).unwrap()
}

fn peer(total: u64) -> u64 {
    use lk::data_packet::Value;
    use lk::data_stream as ds;
    let mut wire = Vec::with_capacity(64 * 1024);
    let header = ds::Header {
        stream_id: STREAM_ID.into(),
        timestamp: 1_700_000_000_000,
        topic: "media".into(),
        mime_type: "application/octet-stream".into(),
        total_length: Some(total),
        content_header: Some(ds::header::ContentHeader::ByteHeader(ds::ByteHeader {
            name: "bench.bin".into(),
        })),
        ..Default::default()
    };
    black_box(lk_round_trip(
        &lk_packet(Value::StreamHeader(header)),
        &mut wire,
    ));
    let mut received = 0;
    for i in 0..total.div_ceil(CHUNK as u64) {
        let chunk = ds::Chunk {
            stream_id: STREAM_ID.into(),
            chunk_index: i,
            content: content(i, total).to_vec(),
            ..Default::default()
        };
        let decoded = lk_round_trip(&lk_packet(Value::StreamChunk(chunk)), &mut wire);
        if let Some(Value::StreamChunk(c)) = decoded.value {
            received += black_box(c.content).len() as u64;
        }
    }
    let trailer = ds::Trailer {
        stream_id: STREAM_ID.into(),
        ..Default::default()
    };
    black_box(lk_round_trip(
        &lk_packet(Value::StreamTrailer(trailer)),
        &mut wire,
    ));
    received
}

fn codec(c: &mut Criterion) {
    let total = stream_len();
    let mut group = c.benchmark_group(if full_run() {
        "byte-stream-1GiB"
    } else {
        "byte-stream-smoke"
    });
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    group.bench_function("ours", |b| b.iter(|| assert_eq!(ours(total), total)));
    group.bench_function("floor-memcpy", |b| {
        b.iter(|| assert_eq!(floor_memcpy(total), total))
    });
    group.bench_function("ours-writer", |b| {
        b.iter(|| assert_eq!(ours_writer(total), total))
    });
    #[cfg(feature = "tokio")]
    {
        let (_, one) = runtimes();
        group.bench_function("ours-tokio-in-memory", |b| {
            b.iter(|| assert_eq!(ours_tokio_in_memory(&one, total), total))
        });
    }
    group.bench_function("peer-livekit-protocol", |b| {
        b.iter(|| assert_eq!(peer(total), total))
    });
    group.finish();
}

/// The tokio adapters over an in-memory pipe (`tokio::io::duplex`) against the same bytes
/// through the same pipe with no data stream: a group of its own, because the pipe's two
/// copies are work the in-memory rows and the peer do not do.
#[cfg(feature = "tokio")]
fn duplex(c: &mut Criterion) {
    let total = stream_len();
    let mut group = c.benchmark_group(if full_run() {
        "byte-stream-1GiB-duplex"
    } else {
        "byte-stream-smoke-duplex"
    });
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    let (rt, one) = runtimes();
    group.bench_function("ours-tokio-duplex", |b| {
        b.iter(|| assert_eq!(ours_tokio(&rt, total), total))
    });
    group.bench_function("floor-tokio-duplex", |b| {
        b.iter(|| assert_eq!(floor_tokio(&rt, total), total))
    });
    group.bench_function("ours-tokio-duplex-current-thread", |b| {
        b.iter(|| assert_eq!(ours_tokio(&one, total), total))
    });
    group.bench_function("floor-tokio-duplex-current-thread", |b| {
        b.iter(|| assert_eq!(floor_tokio(&one, total), total))
    });
    group.finish();
}

#[cfg(not(feature = "tokio"))]
fn duplex(_: &mut Criterion) {}

criterion_group!(benches, codec, duplex, socket::socket);
criterion_main!(benches);
