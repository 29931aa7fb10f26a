//! Group `byte-stream-1GiB-socket` of the `codec` bench: the same 1 GiB stream over a Unix
//! socket pair, the sync path against the tokio transport (issue 22's like with like over
//! a real transport), and the socket's own floor. See the bench's top comment.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use data_stream::{
    ChunkHeads, Demultiplexer, Envelope, FrameDecoder, Header, Limits, Packet, StreamType, Trailer,
};

use crate::{CHUNK, MAX_FRAME, STREAM_ID, content, full_run, info, read_back, stream_len};
#[cfg(feature = "tokio")]
use crate::{over_transport, runtimes};

/// `ours-socket-sync`: the sans-I/O codec on two threads over a Unix socket pair.
fn ours_socket_sync(total: u64) -> u64 {
    use std::io::{Read, Write};
    let (mut tx, mut rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        let envelope = Envelope::default();
        let mut out = BytesMut::with_capacity(SOCKET_WRITE + CHUNK + 1024);
        let mut flush = |out: &mut BytesMut, all: bool| {
            if all || out.len() >= SOCKET_WRITE {
                tx.write_all(out).unwrap();
                out.clear();
            }
        };
        let header = Packet::Header(Box::new(Header::new(info(total))));
        let frame = header.to_frame(&envelope);
        frame.write_framed(&mut out, MAX_FRAME).unwrap();
        let mut heads = ChunkHeads::default();
        for i in 0..total.div_ceil(CHUNK as u64) {
            let frame = heads.chunk(&envelope, STREAM_ID, i, content(i, total));
            frame.write_framed(&mut out, MAX_FRAME).unwrap();
            flush(&mut out, false);
        }
        let trailer = Packet::Trailer(Trailer::new(STREAM_ID));
        let frame = trailer.to_frame(&envelope);
        frame.write_framed(&mut out, MAX_FRAME).unwrap();
        flush(&mut out, true);
    });
    let now = Instant::now();
    let mut demux = Demultiplexer::new({
        let mut limits = Limits::default();
        limits.max_stream_size = u64::MAX;
        limits
    });
    demux.register(StreamType::Bytes, "media").unwrap();
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut transport = BytesMut::with_capacity(SOCKET_READ);
    let mut received = 0;
    loop {
        if transport.capacity() - transport.len() < SOCKET_READ / 2 {
            transport.reserve(SOCKET_READ);
        }
        let start = transport.len();
        let room = transport.capacity() - start;
        transport.resize(start + room, 0);
        let n = rx.read(&mut transport[start..]).unwrap();
        transport.truncate(start + n);
        if n == 0 {
            break;
        }
        received += read_back(&mut decoder, &mut demux, &mut transport, now);
    }
    writer.join().unwrap();
    assert_eq!(demux.open_streams(), 0);
    received
}

/// `ours-socket-tokio`: the tokio adapters over a Unix socket pair.
#[cfg(feature = "tokio")]
fn ours_socket_tokio(rt: &tokio::runtime::Runtime, total: u64) -> u64 {
    rt.block_on(async move {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        over_transport(a, b, total).await
    })
}

/// `floor-socket`: the bench's bytes alone through a Unix socket pair on two threads.
fn floor_socket(total: u64) -> u64 {
    use std::io::{Read, Write};
    let (mut tx, mut rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        let mut out = BytesMut::with_capacity(SOCKET_WRITE + CHUNK);
        for i in 0..total.div_ceil(CHUNK as u64) {
            out.extend_from_slice(&content(i, total));
            if out.len() >= SOCKET_WRITE {
                tx.write_all(&out).unwrap();
                out.clear();
            }
        }
        tx.write_all(&out).unwrap();
    });
    let mut buf = vec![0u8; SOCKET_READ];
    let mut received = 0;
    loop {
        match rx.read(&mut buf).unwrap() {
            0 => break,
            n => received += black_box(&buf[..n]).len() as u64,
        }
    }
    writer.join().unwrap();
    received
}

/// The socket rows' write batch and read size (as the tokio adapters use).
const SOCKET_WRITE: usize = 256 * 1024;
const SOCKET_READ: usize = 128 * 1024;

/// The tokio transport against the sync path over the same Unix socket pair (issue 22's
/// like with like), and the socket's own floor.
pub(crate) fn socket(c: &mut Criterion) {
    let total = stream_len();
    let mut group = c.benchmark_group(if full_run() {
        "byte-stream-1GiB-socket"
    } else {
        "byte-stream-smoke-socket"
    });
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    group.bench_function("ours-sync", |b| {
        b.iter(|| assert_eq!(ours_socket_sync(total), total))
    });
    #[cfg(feature = "tokio")]
    {
        let (rt, one) = runtimes();
        group.bench_function("ours-tokio", |b| {
            b.iter(|| assert_eq!(ours_socket_tokio(&rt, total), total))
        });
        group.bench_function("ours-tokio-current-thread", |b| {
            b.iter(|| assert_eq!(ours_socket_tokio(&one, total), total))
        });
    }
    group.bench_function("floor-socket", |b| {
        b.iter(|| assert_eq!(floor_socket(total), total))
    });
    group.finish();
}
