//! A raw TCP test client that speaks the protocol through `Inbound` and `Message`, and
//! the tracks and packets the server tests send.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use media_core::{Codec, Packet, Track};
use media_remote::{ErrorCode, Inbound, InboundEvent, Message, RemoteSettings, Server, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestClient {
    pub stream: TcpStream,
    pub inbound: Inbound,
    pub ids: u32,
    /// Packets passed over by [`TestClient::control`].
    pub skipped: Vec<Packet>,
}

impl TestClient {
    pub async fn connect(server: &Server) -> TestClient {
        TestClient::with_stream(TcpStream::connect(server.local_addr()).await.unwrap())
    }

    pub fn with_stream(stream: TcpStream) -> TestClient {
        TestClient {
            stream,
            inbound: Inbound::new(Side::Client),
            ids: 0,
            skipped: Vec::new(),
        }
    }

    pub async fn send(&mut self, message: Message) {
        self.ids += 1;
        let mut wire = BytesMut::new();
        message.write_framed(&format!("test{}", self.ids), &mut wire);
        self.stream.write_all(&wire).await.unwrap();
    }

    pub async fn hello(server: &Server, token: Option<&str>) -> TestClient {
        let mut client = TestClient::connect(server).await;
        client
            .send(Message::Hello {
                version: 1,
                token: token.map(str::to_owned),
            })
            .await;
        assert_eq!(
            client.next().await,
            Some(InboundEvent::Control(Message::Welcome { version: 1 }))
        );
        client
    }

    /// The next event; `None` at the end of the connection. Fails after 5 s.
    pub async fn next(&mut self) -> Option<InboundEvent> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(event) = self.inbound.poll(Instant::now()).unwrap() {
                return Some(event);
            }
            let read = self.stream.read_buf(self.inbound.buffer());
            let n = tokio::time::timeout_at(deadline, read)
                .await
                .expect("no event within 5 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// The next control message, skipping media (packets kept in `skipped`).
    pub async fn control(&mut self) -> Message {
        loop {
            match self.next().await {
                Some(InboundEvent::Control(m)) => return m,
                Some(InboundEvent::Packet(p)) => self.skipped.push(p),
                Some(_) => continue,
                None => panic!("connection closed while waiting for a control message"),
            }
        }
    }

    /// Expects an `error` message then the end of the connection.
    pub async fn refused(&mut self) -> (ErrorCode, String) {
        let Some(InboundEvent::Control(Message::Error { code, message })) = self.next().await
        else {
            panic!("expected an error message");
        };
        assert_eq!(self.next().await, None, "the connection ends after {code}");
        (code, message)
    }
}

pub fn tracks() -> Vec<Track> {
    let video = Track::video(
        Codec::H264 {
            config: Bytes::from_static(&[1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0]),
        },
        90_000,
        320,
        240,
    );
    vec![video, Track::audio(Codec::Mp3, 44_100, 2)]
}

pub fn packet(n: u32) -> Packet {
    let keyframe = n.is_multiple_of(10);
    let data = Bytes::from(format!("packet {n}").into_bytes());
    Packet::new(0, i64::from(n) * 3000, keyframe, data)
}

pub fn server(settings: RemoteSettings) -> Server {
    Server::bind("127.0.0.1:0", settings).unwrap()
}

/// A client that reads everything and counts packets, to show the server keeps serving.
pub async fn watcher(server: &Server) -> TestClient {
    let mut good = TestClient::hello(server, Some("s3cret")).await;
    good.send(Message::StartedPlaying).await;
    assert!(matches!(
        good.control().await,
        Message::StartedRecording { .. }
    ));
    good
}

pub async fn still_served(server: &Server, good: &mut TestClient, n: u32) {
    server.write(&packet(n)).unwrap();
    loop {
        match good.next().await {
            Some(InboundEvent::Packet(p)) if p == packet(n) => return,
            Some(_) => continue,
            None => panic!("the good client was disconnected"),
        }
    }
}
