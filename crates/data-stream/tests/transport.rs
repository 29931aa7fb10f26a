//! End to end over tokio transports (in-memory duplex and TCP on 127.0.0.1): handlers,
//! readers, backpressure, timeouts, transport close.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use data_stream::transport::{Receiver, write_frames};
use data_stream::writer::DROPPED_REASON;
use data_stream::{Error, Event, Limits, Outgoing, StreamOptions, TextInfo};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

const MAX_FRAME: usize = 1 << 20;

/// An Outgoing whose frames go into `transport`, driven by a spawned task.
fn outgoing<W: tokio::io::AsyncWrite + Unpin + Send + 'static>(
    transport: W,
) -> (Outgoing, tokio::task::JoinHandle<data_stream::Result<()>>) {
    let (out, frames) = Outgoing::new(8);
    (
        out,
        tokio::spawn(write_frames(frames, transport, MAX_FRAME)),
    )
}

#[tokio::test]
async fn text_and_bytes_round_trip_over_a_duplex() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let receiver = Receiver::new(Limits::default());
    let mut texts = receiver.text_streams("chat").unwrap();
    let mut files = receiver.byte_streams("files").unwrap();
    let run = tokio::spawn({
        let receiver = receiver.clone();
        async move { receiver.run(b).await }
    });
    let (out, writer_task) = outgoing(a);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sent_text = out
        .send_text("héllo wörld", StreamOptions::topic("chat"))
        .await
        .unwrap();
    let sent_file = out
        .send_bytes("f.bin", data.clone(), StreamOptions::topic("files"))
        .await
        .unwrap();
    drop(out);

    let mut reader = texts.next().await.unwrap();
    assert_eq!(reader.info().id, sent_text.id);
    assert_eq!(reader.read_text().await.unwrap(), "héllo wörld");
    let mut reader = files.next().await.unwrap();
    assert_eq!(reader.info().total_length, Some(100_000));
    assert_eq!(reader.read_all().await.unwrap(), data);
    assert_eq!(reader.progress().received, 100_000);
    assert_eq!(reader.progress().fraction(), Some(1.0));
    assert_eq!(reader.info().id, sent_file.id);
    writer_task.await.unwrap().unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn trailer_attributes_override_the_header_s() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let receiver = Receiver::new(Limits::default());
    let mut texts = receiver.text_streams("t").unwrap();
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    let options = {
        let mut options = StreamOptions::topic("t");
        options.attributes =
            HashMap::from([("foo".into(), "header".into()), ("a".into(), "1".into())]);
        options
    };
    let w = out.stream_text(TextInfo::default(), options).await.unwrap();
    w.write("x").await.unwrap();
    w.close("", HashMap::from([("foo".into(), "trailer".into())]))
        .await
        .unwrap();
    let mut reader = texts.next().await.unwrap();
    assert_eq!(reader.info().attributes["foo"], "header");
    reader.read_all().await.unwrap();
    assert_eq!(reader.info().attributes["foo"], "trailer");
    assert_eq!(reader.info().attributes["a"], "1");
}

#[tokio::test]
async fn abnormal_ends_reach_the_reader() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let receiver = Receiver::new(Limits::default());
    let mut texts = receiver.text_streams("t").unwrap();
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    let w = out
        .stream_text(TextInfo::default(), StreamOptions::topic("t"))
        .await
        .unwrap();
    w.write("partial").await.unwrap();
    drop(w);
    let mut reader = texts.next().await.unwrap();
    let e = reader.read_all().await.unwrap_err();
    assert_eq!(
        e,
        Error::AbnormalEnd {
            stream_id: reader.info().id.clone(),
            reason: DROPPED_REASON.into()
        }
    );

    let w = out
        .stream_text(TextInfo::default(), StreamOptions::topic("t"))
        .await
        .unwrap();
    w.close("user cancelled", HashMap::new()).await.unwrap();
    let mut reader = texts.next().await.unwrap();
    assert!(
        matches!(reader.read_all().await, Err(Error::AbnormalEnd { reason, .. }) if reason == "user cancelled")
    );
}

#[tokio::test]
async fn transport_close_ends_open_streams_abnormally() {
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let receiver = Receiver::new(Limits::default());
    let mut files = receiver.byte_streams("f").unwrap();
    let run = tokio::spawn(async move { receiver.run(b).await });
    // Write a header and one chunk by hand, then close the transport.
    let (out, mut frames) = Outgoing::new(8);
    let w = out
        .stream_bytes("x", StreamOptions::topic("f"))
        .await
        .unwrap();
    w.write(&b"abc"[..]).await.unwrap();
    let mut wire = bytes::BytesMut::new();
    while let Ok(frame) = frames.try_recv() {
        frame.write_framed(&mut wire, MAX_FRAME).unwrap();
    }
    a.write_all(&wire).await.unwrap();
    drop(a);
    let mut reader = files.next().await.unwrap();
    assert_eq!(reader.next().await.unwrap().unwrap(), "abc");
    assert!(matches!(
        reader.next().await,
        Some(Err(Error::TransportClosed { .. }))
    ));
    assert!(reader.next().await.is_none());
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lost_trailer_times_out() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let limits = {
        let mut limits = Limits::default();
        limits.inactivity_timeout = Some(Duration::from_secs(5));
        limits
    };
    let receiver = Receiver::new(limits);
    let mut texts = receiver.text_streams("t").unwrap();
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    // Keep the writer alive and silent: no trailer ever comes.
    let w = out
        .stream_text(TextInfo::default(), StreamOptions::topic("t"))
        .await
        .unwrap();
    w.write("hello").await.unwrap();
    let mut reader = texts.next().await.unwrap();
    assert_eq!(reader.next().await.unwrap().unwrap(), "hello");
    let e = reader.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::InactivityTimeout {
                timeout_ms: 5000,
                ..
            }
        ),
        "{e}"
    );
    drop(w);
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_holds_the_sender_back() {
    // Small transport buffer and reader buffer: memory stays bounded, the writer waits.
    let (a, b) = tokio::io::duplex(16 * 1024);
    let limits = {
        let mut limits = Limits::default();
        limits.stream_buffer_chunks = 2;
        limits
    };
    let receiver = Receiver::new(limits);
    let mut files = receiver.byte_streams("f").unwrap();
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    let total = 200 * 15_000;
    let send = tokio::spawn(async move {
        out.send_bytes("big", vec![7u8; total], StreamOptions::topic("f"))
            .await
    });
    let mut reader = files.next().await.unwrap();
    // With paused time the runtime only advances the clock when every task is blocked.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !send.is_finished(),
        "the sender should be held back by the slow reader"
    );
    let data = reader.read_all().await.unwrap();
    assert_eq!(data.len(), total);
    send.await.unwrap().unwrap();
}

#[tokio::test]
async fn unhandled_streams_are_drained_and_reported_without_blocking_others() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let receiver = Receiver::new({
        let mut limits = Limits::default();
        limits.stream_buffer_chunks = 1;
        limits
    });
    let mut texts = receiver.text_streams("known").unwrap();
    let mut reports = receiver.reports();
    assert!(matches!(
        receiver.text_streams("known"),
        Err(Error::HandlerAlreadyRegistered { .. })
    ));
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    let big = "x".repeat(500_000);
    out.send_text(big, StreamOptions::topic("unknown"))
        .await
        .unwrap();
    out.send_text("after", StreamOptions::topic("known"))
        .await
        .unwrap();
    assert_eq!(
        texts.next().await.unwrap().read_text().await.unwrap(),
        "after"
    );
    match reports.next().await.unwrap() {
        Event::Unhandled(info) => assert_eq!(info.topic, "unknown"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn send_file_streams_from_disk_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, &data).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::new(Limits::default());
    let mut files = receiver.byte_streams("files").unwrap();
    let run = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        receiver.run(socket).await
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (out, task) = outgoing(socket);
    let sent = out
        .send_file(&path, StreamOptions::topic("files"))
        .await
        .unwrap();
    drop(out);
    let mut reader = files.next().await.unwrap();
    assert_eq!(reader.info().mime_type, "image/png");
    assert_eq!(
        reader.info().kind,
        data_stream::StreamKind::Bytes {
            name: "photo.png".into()
        }
    );
    assert_eq!(reader.info().total_length, Some(70_000));
    assert_eq!(reader.read_all().await.unwrap(), data);
    assert_eq!(reader.info().id, sent.id);
    task.await.unwrap().unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn oversized_frames_end_the_connection_with_an_error() {
    let (mut a, b) = tokio::io::duplex(1024);
    let receiver = Receiver::new({
        let mut limits = Limits::default();
        limits.max_frame_size = 100;
        limits
    });
    let run = tokio::spawn(async move { receiver.run(b).await });
    a.write_all(&[0, 0, 1, 0]).await.unwrap();
    let e = run.await.unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::FrameTooLarge {
                len: 256,
                max: 100,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_reader_is_dropped_and_other_streams_go_on() {
    let (a, b) = tokio::io::duplex(16 * 1024);
    let limits = {
        let mut limits = Limits::default();
        limits.stream_buffer_chunks = 1;
        limits.inactivity_timeout = Some(Duration::from_secs(5));
        limits
    };
    let receiver = Receiver::new(limits);
    let mut files = receiver.byte_streams("f").unwrap();
    let mut texts = receiver.text_streams("t").unwrap();
    tokio::spawn(async move { receiver.run(b).await });
    let (out, _task) = outgoing(a);
    let sender = out.clone();
    tokio::spawn(async move {
        let _ = sender
            .send_bytes("big", vec![1u8; 100 * 15_000], StreamOptions::topic("f"))
            .await;
    });
    let mut stalled = files.next().await.unwrap();
    // Nobody reads `stalled`; a later text stream must still arrive.
    let late =
        tokio::spawn(async move { out.send_text("still here", StreamOptions::topic("t")).await });
    let mut reader = texts.next().await.unwrap();
    assert_eq!(reader.read_text().await.unwrap(), "still here");
    late.await.unwrap().unwrap();
    let mut error = None;
    while let Some(item) = stalled.next().await {
        if let Err(e) = item {
            error = Some(e);
        }
    }
    assert!(
        matches!(
            error,
            Some(Error::ReaderStalled {
                timeout_ms: 5000,
                ..
            })
        ),
        "{error:?}"
    );
}

/// The README's example, verbatim.
async fn chat() -> Result<(), Box<dyn std::error::Error>> {
    let (client, server) = tokio::io::duplex(64 * 1024); // or a TcpStream, a UnixStream...

    // Receiving side: one handler per kind and topic; each incoming stream is a reader.
    let receiver = Receiver::new(Limits::default());
    let mut chats = receiver.text_streams("chat")?;
    let driver = receiver.clone();
    tokio::spawn(async move { driver.run(server).await });

    // Sending side: writers queue frames; a task writes them to the transport.
    let (outgoing, frames) = Outgoing::new(16);
    tokio::spawn(write_frames(frames, client, 1 << 20));
    outgoing
        .send_text("héllo 😊", StreamOptions::topic("chat"))
        .await?;

    let mut reader = chats.next().await.expect("a stream");
    assert_eq!(reader.read_text().await?, "héllo 😊");
    Ok(())
}

#[tokio::test]
async fn readme_example_runs() {
    chat().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn works_over_a_unix_socket() {
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let receiver = Receiver::new(Limits::default());
    let mut files = receiver.other_byte_streams().unwrap();
    let run = tokio::spawn(async move { receiver.run(b).await });
    let (out, task) = outgoing(a);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    out.send_bytes("u.bin", data.clone(), StreamOptions::topic("any"))
        .await
        .unwrap();
    drop(out);
    let mut reader = files.next().await.unwrap();
    assert_eq!(reader.read_all().await.unwrap(), data);
    task.await.unwrap().unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_undecodable_packet_ends_the_connection_with_its_offset() {
    let (mut a, b) = tokio::io::duplex(1024);
    let receiver = Receiver::new(Limits::default());
    let run = tokio::spawn(async move { receiver.run(b).await });
    // A valid empty frame, then a frame holding a truncated field.
    a.write_all(&[0, 0, 0, 0, 0, 0, 0, 2, 0x72, 0x05])
        .await
        .unwrap();
    let e = run.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Decode { offset: 4, .. }), "{e}");
}

/// A transport that takes at most 7 bytes per write (vectored or not), keeping them.
struct Trickle {
    vectored: bool,
    bytes: Vec<u8>,
    writes: usize,
}

impl tokio::io::AsyncWrite for Trickle {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let n = buf.len().min(7);
        self.bytes.extend_from_slice(&buf[..n]);
        self.writes += 1;
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(7 - n);
            self.bytes.extend_from_slice(&buf[..take]);
            n += take;
        }
        self.writes += 1;
        std::task::Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn partial_writes_of_gathered_heads_and_separate_contents_lose_nothing() {
    // Contents large enough to be written from their own buffer (≥ 4 KiB) and small ones
    // gathered with the heads, through writes of at most 7 bytes, vectored or not.
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    for vectored in [true, false] {
        let (out, frames) = Outgoing::new(8);
        let data = data.clone();
        let send = async move {
            out.send_bytes("big.bin", data, StreamOptions::topic("files"))
                .await
                .unwrap();
            out.send_text("small", StreamOptions::topic("chat"))
                .await
                .unwrap();
        };
        let mut trickle = Trickle {
            vectored,
            bytes: Vec::new(),
            writes: 0,
        };
        let write = write_frames(frames, &mut trickle, MAX_FRAME);
        let ((), written) = futures::future::join(send, write).await;
        written.unwrap();
        assert!(trickle.writes > 50_000 / 7, "{} writes", trickle.writes);
        let receiver = Receiver::new(Limits::default());
        let mut files = receiver.byte_streams("files").unwrap();
        let mut texts = receiver.text_streams("chat").unwrap();
        let wire = trickle.bytes;
        let run = tokio::spawn({
            let receiver = receiver.clone();
            async move { receiver.run(&wire[..]).await }
        });
        let file = files.next().await.unwrap().read_all().await.unwrap();
        assert_eq!(
            file,
            (0..50_000u32).map(|i| (i % 241) as u8).collect::<Vec<_>>()
        );
        let text = texts.next().await.unwrap().read_text().await.unwrap();
        assert_eq!(text, "small");
        run.await.unwrap().unwrap();
    }
}
