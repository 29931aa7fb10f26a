//! Fan-out cost of the packet server: `PACKETS` packets of `SIZE` bytes
//! delivered to `CLIENTS` clients over 127.0.0.1, in one process.
//!
//! - `ours`: `Server::write` for each packet (encoded once, queued per client,
//!   written as data-stream chunks); each client reads and decodes with
//!   `Inbound` until it has every packet (nothing may be dropped).
//! - `floor-raw-tcp`: the same payload bytes written to each socket through the same
//!   buffering as ours (a 64 KiB tokio `BufWriter`, `write_all` per packet, one flush at
//!   the end, as ours flushes when its queue runs empty) over sockets set up as ours
//!   (TCP_NODELAY, the server's `send_buffer`), and read raw, without framing or
//!   protocol: the floor of any TCP fan-out on this machine, not a competing server.
//!   (Until 2026-12-04 it made one unbuffered 16 KiB `write` per packet per client,
//!   which is slower than buffering, so ours came out "faster than the floor".)
//!
//! Only the transfer is timed (connections and handshakes are set up before). The
//! throughput is payload bytes delivered (all clients), so `cargo xtask bench media-toolkit-remote`
//! prints bytes per second and the ours/peer ratio. Under `cargo test --benches` it runs
//! once as a smoke test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use media_core::{Codec, Packet, Track};
use media_remote::{Inbound, InboundEvent, Message, RemoteSettings, Server, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

const CLIENTS: usize = 4;
const PACKETS: usize = 300;
const SIZE: usize = 16 * 1024;

fn packets() -> Vec<Packet> {
    (0..PACKETS)
        .map(|n| {
            let data = Bytes::from(vec![n as u8; SIZE]);
            Packet::new(0, n as i64 * 3000, n % 30 == 0, data)
        })
        .collect()
}

async fn client(addr: std::net::SocketAddr) -> (TcpStream, Inbound) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut wire = BytesMut::new();
    Message::Hello {
        version: 1,
        token: None,
    }
    .write_framed("h", &mut wire);
    Message::StartedPlaying.write_framed("p", &mut wire);
    stream.write_all(&wire).await.unwrap();
    (stream, Inbound::new(Side::Client))
}

/// Reads until `PACKETS` packets arrived.
async fn receive(mut stream: TcpStream, mut inbound: Inbound) {
    let mut got = 0;
    while got < PACKETS {
        while let Some(event) = inbound.poll(std::time::Instant::now()).unwrap() {
            if let InboundEvent::Packet(_) = event {
                got += 1;
            }
        }
        if got == PACKETS {
            break;
        }
        assert!(stream.read_buf(inbound.buffer()).await.unwrap() > 0);
    }
}

async fn ours(packets: &[Packet]) -> Duration {
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.client_queue = PACKETS + 1;
        settings.client_queue_bytes = 2 * PACKETS * SIZE;
        settings
    };
    let server = Server::bind("127.0.0.1:0", settings).unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(client(server.local_addr()).await);
    }
    while server.clients().iter().filter(|c| c.playing).count() < CLIENTS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let video = Track::video(
        Codec::H264 {
            config: Bytes::from_static(&[1, 0x42, 0xc0, 0x1e]),
        },
        90_000,
        640,
        360,
    );
    server.start_recording(vec![video]).unwrap();
    let started = Instant::now();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(s, i)| tokio::spawn(receive(s, i)))
        .collect();
    for p in packets {
        server.write(p).unwrap();
    }
    for r in readers {
        r.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(server.clients().iter().all(|c| c.counters.dropped == 0));
    elapsed
}

async fn raw_tcp(packets: &[Packet]) -> Duration {
    // The server's socket setup: its send buffer size (accepted sockets inherit it).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = RemoteSettings::default().send_buffer {
        socket.set_send_buffer_size(size).unwrap();
    }
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(128).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..CLIENTS {
        // TCP_NODELAY on both ends, as the server and client set it: with Nagle on, the
        // tail of a 64 KiB write waits for the peer's delayed ACK.
        let reader = TcpStream::connect(addr).await.unwrap();
        reader.set_nodelay(true).unwrap();
        readers.push(reader);
        let writer = listener.accept().await.unwrap().0;
        writer.set_nodelay(true).unwrap();
        writers.push(writer);
    }
    let started = Instant::now();
    let total = PACKETS * SIZE;
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0;
                while got < total {
                    got += s.read(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    let writing: Vec<_> = writers
        .into_iter()
        .map(|mut s: TcpStream| {
            let data: Vec<Bytes> = packets.iter().map(|p| p.data.clone()).collect();
            tokio::spawn(async move {
                // The same buffering as the server's write loop (`connection.rs`).
                let mut out = BufWriter::with_capacity(64 * 1024, &mut s);
                for d in data {
                    out.write_all(&d).await.unwrap();
                }
                out.flush().await.unwrap();
            })
        })
        .collect();
    for t in writing.into_iter().chain(reading) {
        t.await.unwrap();
    }
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let packets = packets();
    let mut group = c.benchmark_group("remote-fanout");
    group.throughput(Throughput::Bytes((PACKETS * SIZE * CLIENTS) as u64));
    group.sample_size(10);
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| runtime.block_on(ours(&packets))).sum())
    });
    group.bench_function("floor-raw-tcp", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(raw_tcp(&packets)))
                .sum()
        })
    });
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
