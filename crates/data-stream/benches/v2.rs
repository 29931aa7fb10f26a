//! Data streams v2 and the WebSocket transport, each with its peer in the same run.
//!
//! - `inflate/ours-demux`: a raw-deflate byte stream (header with `compression = 1`, chunks
//!   of 15 000 compressed bytes, trailer) through `Demultiplexer` (all checks on, inflated
//!   in pieces of `max_chunk_size`, 64 KiB); `inflate/floor-flate2` inflates the same
//!   compressed bytes with the `flate2::Decompress` ours is built on (the zlib-rs backend),
//!   fed the same 15 000-byte pieces, into a reused 64 KiB buffer (no checks, no packets):
//!   ours − floor is what the packets and checks cost. `inflate/peer-miniz_oxide`: the
//!   same with miniz_oxide's streaming inflater, the pure-Rust one most Rust code gets
//!   (flate2's default backend). Throughput is of inflated bytes.
//! - `transport/ours-tcp` and `transport/ours-websocket`: a byte stream written by
//!   `ByteStreamWriter` and read by a `StreamReader` over 127.0.0.1: length-delimited TCP
//!   (`write_frames` / `Receiver::run`) against WebSocket (`websocket::write_messages` /
//!   `Receiver::run_websocket`, tokio-tungstenite).
//!
//! Full run (`cargo bench`): 256 MiB of text-like content inflated, a 1 GiB stream over
//! the transports. Under `cargo test --benches` (one smoke iteration): 4 and 16 MiB.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use data_stream::compression::deflate_raw;
use data_stream::{
    Chunk, Demultiplexer, Envelope, Event, Header, Limits, Packet, StreamInfo, StreamKind,
    StreamType, Trailer,
};

const CHUNK: usize = 15_000;

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Text-like content: words from a small vocabulary in a pseudo-random order (deflates
/// to about 14 %).
fn text_like(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "stream ", "chunk ", "header ", "trailer ", "deflate ", "livekit ", "data ", "packet ",
        "index ", "length ", "reader ", "writer ", "topic ", "bytes ", "text ", "limit ",
    ];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(WORDS[(x & 15) as usize].as_bytes());
    }
    v.truncate(len);
    v
}

fn info(total: u64) -> StreamInfo {
    StreamInfo::new("z", StreamKind::Bytes { name: "z".into() })
        .with_topic("media")
        .with_mime_type("text/plain")
        .with_total_length(Some(total))
}

/// The serialized packets of a compressed stream of `data`.
fn compressed_frames(data: &[u8], compressed: &Bytes) -> Vec<Bytes> {
    let mut header = Header::new(info(data.len() as u64));
    header.compression = 1;
    let mut packets = vec![Packet::Header(Box::new(header))];
    for (i, start) in (0..compressed.len()).step_by(CHUNK).enumerate() {
        packets.push(Packet::Chunk(Chunk::new(
            "z",
            i as u64,
            compressed.slice(start..(start + CHUNK).min(compressed.len())),
        )));
    }
    packets.push(Packet::Trailer(Trailer::new("z")));
    packets
        .iter()
        .map(|p| {
            let frame = p.to_frame(&Envelope::default());
            let mut joined = BytesMut::with_capacity(frame.len());
            joined.extend_from_slice(&frame.head);
            joined.extend_from_slice(&frame.body);
            joined.freeze()
        })
        .collect()
}

fn ours_demux(frames: &[Bytes]) -> u64 {
    let mut demux = Demultiplexer::new({
        let mut limits = Limits::default();
        limits.max_stream_size = u64::MAX;
        limits
    });
    demux.register(StreamType::Bytes, "media").unwrap();
    let now = Instant::now();
    let mut n = 0;
    for frame in frames {
        demux.handle_frame(frame.clone(), now).unwrap();
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

fn floor_flate2(compressed: &[u8]) -> u64 {
    let mut inflate = flate2::Decompress::new(false);
    let mut out = vec![0u8; 64 * 1024];
    let mut n = 0;
    for mut piece in compressed.chunks(CHUNK) {
        loop {
            let (before_in, before_out) = (inflate.total_in(), inflate.total_out());
            inflate
                .decompress(piece, &mut out, flate2::FlushDecompress::None)
                .unwrap();
            let produced = (inflate.total_out() - before_out) as usize;
            piece = &piece[(inflate.total_in() - before_in) as usize..];
            n += black_box(&out[..produced]).len() as u64;
            if piece.is_empty() && produced < out.len() {
                break;
            }
        }
    }
    n
}

fn peer_miniz_oxide(compressed: &[u8]) -> u64 {
    use miniz_oxide::inflate::stream::{InflateState, inflate};
    use miniz_oxide::{DataFormat, MZFlush};
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = vec![0u8; 64 * 1024];
    let mut n = 0;
    for mut piece in compressed.chunks(CHUNK) {
        loop {
            let result = inflate(&mut state, piece, &mut out, MZFlush::None);
            result.status.unwrap();
            piece = &piece[result.bytes_consumed..];
            n += black_box(&out[..result.bytes_written]).len() as u64;
            if piece.is_empty() && result.bytes_written < out.len() {
                break;
            }
        }
    }
    n
}

fn inflate(c: &mut Criterion) {
    let len = if full_run() { 256 << 20 } else { 4 << 20 };
    let data = text_like(len);
    let compressed = deflate_raw(&data);
    let frames = compressed_frames(&data, &compressed);
    eprintln!(
        "inflate: {} bytes deflated to {} ({:.1} %), {} packets",
        data.len(),
        compressed.len(),
        100.0 * compressed.len() as f64 / data.len() as f64,
        frames.len()
    );
    let mut group = c.benchmark_group("inflate");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    group.bench_function("ours-demux", |b| {
        b.iter(|| assert_eq!(ours_demux(&frames), len as u64))
    });
    group.bench_function("floor-flate2", |b| {
        b.iter(|| assert_eq!(floor_flate2(&compressed), len as u64))
    });
    group.bench_function("peer-miniz_oxide", |b| {
        b.iter(|| assert_eq!(peer_miniz_oxide(&compressed), len as u64))
    });
    group.finish();
}

#[cfg(feature = "websocket")]
mod transport {
    use super::*;
    use data_stream::transport::websocket::{accept, connect, write_messages};
    use data_stream::transport::{Receiver, write_frames};
    use data_stream::{Outgoing, StreamOptions};
    use futures::StreamExt;
    use tokio::net::{TcpListener, TcpStream};

    const MAX_FRAME: usize = 1 << 20;

    fn limits() -> Limits {
        {
            let mut limits = Limits::default();
            limits.max_stream_size = u64::MAX;
            limits
        }
    }

    /// Writes `total` bytes (15 000-byte slices of `source`) as one byte stream.
    async fn send(out: Outgoing, source: Bytes, total: u64) {
        let options = {
            let mut options = StreamOptions::topic("media");
            options.total_length = Some(total);
            options
        };
        let w = out.stream_bytes("bench.bin", options).await.unwrap();
        let mut sent = 0u64;
        while sent < total {
            let start = (sent as usize) % (source.len() - CHUNK);
            let len = (total - sent).min(CHUNK as u64) as usize;
            w.write(source.slice(start..start + len)).await.unwrap();
            sent += len as u64;
        }
        w.close("", Default::default()).await.unwrap();
    }

    /// Counts the content of the first stream; registered before the connection is read.
    async fn count(mut streams: data_stream::transport::IncomingStreams) -> u64 {
        let mut reader = streams.next().await.unwrap();
        let mut received = 0;
        while let Some(chunk) = reader.next().await {
            received += black_box(chunk.unwrap()).len() as u64;
        }
        received
    }

    pub fn tcp(rt: &tokio::runtime::Runtime, source: &Bytes, total: u64) -> u64 {
        let source = source.clone();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let receiver = Receiver::new(limits());
            let counted = tokio::spawn(count(receiver.byte_streams("media").unwrap()));
            let run = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                receiver.run(tcp).await
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (out, frames) = Outgoing::new(64);
            let write = tokio::spawn(write_frames(frames, tcp, MAX_FRAME));
            send(out, source, total).await;
            write.await.unwrap().unwrap();
            run.await.unwrap().unwrap();
            counted.await.unwrap()
        })
    }

    pub fn websocket(rt: &tokio::runtime::Runtime, source: &Bytes, total: u64) -> u64 {
        let source = source.clone();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}/", listener.local_addr().unwrap());
            let receiver = Receiver::new(limits());
            let counted = tokio::spawn(count(receiver.byte_streams("media").unwrap()));
            let run = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let socket = accept(tcp, &limits()).await.unwrap();
                receiver.run_websocket(socket).await
            });
            let socket = connect(&url, &limits()).await.unwrap();
            let (out, frames) = Outgoing::new(64);
            let write = tokio::spawn(write_messages(frames, socket, MAX_FRAME));
            send(out, source, total).await;
            write.await.unwrap().unwrap();
            run.await.unwrap().unwrap();
            counted.await.unwrap()
        })
    }
}

#[cfg(feature = "websocket")]
fn transports(c: &mut Criterion) {
    let total: u64 = if full_run() { 1 << 30 } else { 16 << 20 };
    let source = Bytes::from(text_like(if full_run() { 64 << 20 } else { 1 << 20 }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    group.bench_function("ours-tcp", |b| {
        b.iter(|| assert_eq!(transport::tcp(&rt, &source, total), total))
    });
    group.bench_function("ours-websocket", |b| {
        b.iter(|| assert_eq!(transport::websocket(&rt, &source, total), total))
    });
    group.finish();
}

#[cfg(not(feature = "websocket"))]
fn transports(_: &mut Criterion) {}

criterion_group!(benches, inflate, transports);
criterion_main!(benches);
