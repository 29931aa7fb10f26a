//! The WebSocket transport over 127.0.0.1 with tokio-tungstenite on both ends: one binary
//! message per `DataPacket`, v1 and v2, compressed and not; refusals.
#![cfg(feature = "websocket")]
#![allow(clippy::unwrap_used)]

use data_stream::transport::Receiver;
use data_stream::transport::websocket::{accept, connect, write_messages};
use data_stream::{Error, Limits, Outgoing, StreamOptions, V2Support};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn streams_round_trip_over_a_websocket_v1_and_v2() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/streams", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let socket = accept(tcp, &Limits::default()).await.unwrap();
        let receiver = Receiver::new(Limits::default());
        let mut texts = receiver.text_streams("chat").unwrap();
        let mut files = receiver.byte_streams("files").unwrap();
        let run = tokio::spawn({
            let receiver = receiver.clone();
            async move { receiver.run_websocket(socket).await }
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut text = texts.next().await.unwrap();
            let mut file = files.next().await.unwrap();
            got.push((
                text.read_text().await.unwrap(),
                file.read_all().await.unwrap(),
            ));
        }
        run.await.unwrap().unwrap();
        got
    });
    let socket = connect(&url, &Limits::default()).await.unwrap();
    let (out, frames) = Outgoing::new(16);
    let writer = tokio::spawn(write_messages(frames, socket, 1 << 20));
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i % 7 + i / 5000) as u8)
        .collect();
    for support in [V2Support::default(), V2Support::all()] {
        let out = out.clone().with_v2(support);
        out.send_text("héllo 😊", StreamOptions::topic("chat"))
            .await
            .unwrap();
        out.send_bytes("f.bin", data.clone(), StreamOptions::topic("files"))
            .await
            .unwrap();
    }
    drop(out);
    writer.await.unwrap().unwrap();
    let got = server.await.unwrap();
    for (text, file) in got {
        assert_eq!(text, "héllo 😊");
        assert_eq!(file, data);
    }
}

#[tokio::test]
async fn text_messages_and_oversized_messages_end_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let limits = {
        let mut limits = Limits::default();
        limits.max_frame_size = 1000;
        limits
    };
    let server = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let socket = accept(tcp, &limits).await.unwrap();
            let receiver = Receiver::new(limits.clone());
            outcomes.push(receiver.run_websocket(socket).await);
        }
        outcomes
    });
    let mut socket = connect(&url, &Limits::default()).await.unwrap();
    socket.send(Message::text("not a packet")).await.unwrap();
    let _ = socket.close(None).await;
    let mut socket = connect(&url, &Limits::default()).await.unwrap();
    let _ = socket.send(Message::binary(vec![0u8; 5000])).await;
    let _ = socket.close(None).await;
    let outcomes = server.await.unwrap();
    assert!(
        matches!(&outcomes[0], Err(Error::Decode { offset: 1, message }) if message.contains("text")),
        "{:?}",
        outcomes[0]
    );
    // tungstenite refuses the message over max_message_size before buffering it.
    assert!(outcomes[1].is_err(), "{:?}", outcomes[1]);
}
