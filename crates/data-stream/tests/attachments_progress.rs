//! Texts with attachments end to end (our sender → tokio duplex with a small window →
//! `Receiver::text_messages`), and send progress in each of the three send forms.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use data_stream::transport::{Receiver, write_frames};
use data_stream::{
    Attachment, Limits, OnProgress, Outgoing, Packet, SendProgress, StreamKind, StreamOptions,
    V2Support,
};
use futures::executor::block_on;

fn recorder() -> (OnProgress, Arc<Mutex<Vec<SendProgress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let on = OnProgress::new(move |p| sink.lock().unwrap().push(p));
    (on, seen)
}

fn with_progress(on: &OnProgress) -> StreamOptions {
    {
        let mut options = StreamOptions::topic("t");
        options.on_progress = Some(on.clone());
        options
    }
}

#[test]
fn progress_counts_bytes_before_compression_in_every_form() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for (support, data, expected_steps) in [
        // v1: one report per 15 000-byte chunk.
        (
            V2Support::default(),
            vec![7u8; 40_000],
            vec![15_000, 30_000, 40_000],
        ),
        // Single packet: one report, everything.
        (V2Support::all(), vec![7u8; 40_000], vec![40_000]),
        // Compressed chunks: one report per 15 000 bytes of content fed to deflate.
        (
            V2Support::all(),
            noise.clone(),
            vec![
                15_000, 30_000, 45_000, 60_000, 75_000, 90_000, 100_000, 100_000,
            ],
        ),
    ] {
        let (out, mut frames) = Outgoing::new(1024);
        let out = out.with_v2(support);
        let (on, seen) = recorder();
        block_on(out.send_bytes("b", data.clone(), with_progress(&on))).unwrap();
        let seen = seen.lock().unwrap().clone();
        let sent: Vec<u64> = seen.iter().map(|p| p.sent).collect();
        assert_eq!(sent, expected_steps, "{support:?}");
        assert!(seen.iter().all(|p| p.total == Some(data.len() as u64)));
        assert_eq!(seen.last().unwrap().fraction(), Some(1.0));
        drop(out);
        assert!(!common::drain_now(&mut frames).is_empty());
    }
}

#[test]
fn attachments_are_linked_sent_after_the_text_and_counted_in_progress() {
    let (out, mut frames) = Outgoing::new(1024);
    let out = out.with_v2(V2Support::all());
    let (on, seen) = recorder();
    let attachments = vec![
        Attachment::new("a.txt", &b"first"[..]),
        Attachment::new("b.png", vec![1u8; 20_000]),
    ];
    let info =
        block_on(out.send_text_with_attachments("hello", attachments, with_progress(&on))).unwrap();
    drop(out);
    let StreamKind::Text(text) = &info.kind else {
        panic!("not text")
    };
    assert_eq!(text.attached_stream_ids.len(), 2);
    let headers: Vec<_> = common::packets(&common::drain_now(&mut frames))
        .into_iter()
        .filter_map(|p| match p {
            Packet::Header(h) => Some(h),
            _ => None,
        })
        .collect();
    // Text first (not single-packet: it has attachments), then each attachment by id.
    assert_eq!(headers[0].info.id, info.id);
    assert!(headers[0].inline_content.is_none());
    assert_eq!(headers[1].info.id, text.attached_stream_ids[0]);
    assert_eq!(headers[2].info.id, text.attached_stream_ids[1]);
    assert_eq!(headers[2].info.mime_type, "image/png");
    assert!(headers.iter().all(|h| h.info.topic == "t"));
    let seen = seen.lock().unwrap().clone();
    let last = seen.last().unwrap();
    assert_eq!(last.sent, 5 + 5 + 20_000);
    assert_eq!(last.total, Some(20_010));
    assert!(seen.windows(2).all(|w| w[0].sent <= w[1].sent));
}

#[tokio::test]
async fn text_messages_come_with_their_attachments() {
    // A small pipe: the attachments must be read while the text is, or the transport stalls.
    let (a, b) = tokio::io::duplex(4096);
    let receiver = Receiver::new({
        let mut limits = Limits::default();
        limits.stream_buffer_chunks = 1;
        limits
    });
    let mut messages = receiver.text_messages("chat").unwrap();
    let run = tokio::spawn({
        let receiver = receiver.clone();
        async move { receiver.run(b).await }
    });
    let (out, frames) = Outgoing::new(4);
    let writer = tokio::spawn(write_frames(frames, a, 1 << 20));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    for support in [V2Support::default(), V2Support::all()] {
        let out = out.clone().with_v2(support);
        let attachments = vec![
            Attachment::new("big.bin", big.clone()),
            Attachment::new("note.txt", &b"note"[..]),
        ];
        // Sent from another task: the sender waits for the receiver (backpressure).
        let sending = tokio::spawn(async move {
            let chat = || StreamOptions::topic("chat");
            let sent = out
                .send_text_with_attachments("see files", attachments, chat())
                .await
                .unwrap();
            // A plain text without attachments after it.
            out.send_text("plain", chat()).await.unwrap();
            sent
        });
        let message = messages.next().await.unwrap().unwrap();
        let sent = sending.await.unwrap();
        assert_eq!(message.info.id, sent.id);
        assert_eq!(message.text, "see files");
        assert_eq!(message.attachments.len(), 2);
        assert_eq!(message.attachments[0].data, big);
        assert_eq!(
            message.attachments[0].info.kind,
            StreamKind::Bytes {
                name: "big.bin".into()
            }
        );
        assert_eq!(message.attachments[1].data, &b"note"[..]);
        let plain = messages.next().await.unwrap().unwrap();
        assert_eq!(plain.text, "plain");
        assert!(plain.attachments.is_empty());
    }
    drop(out);
    writer.await.unwrap().unwrap();
    run.await.unwrap().unwrap();
    // The handlers end with the receiver.
    drop(receiver);
    assert!(messages.next().await.is_none());
}
