//! `tcp-listen://` under hostile peers (issue 14, point 4), on 127.0.0.1: the RTSP test
//! camera is served with a token while 200 silent sockets, slow-hello senders, garbage
//! senders, a wrong-token client and a peer that reconnects in a loop are held against
//! the server (every one of them reconnecting as soon as the server lets go). A good
//! `tcp://` client with the token still gets in and records a clean MP4, checked by
//! ffprobe and decoded by ffmpeg. Every loop is bounded; every socket is closed at the end.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pipeline::remote::Message;
use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

const TOKEN: &str = "t0ken";
const SILENT: usize = 200;

/// What the attackers share: the stop flag and their figures.
struct Attack {
    stop: watch::Sender<bool>,
    /// Sockets open right now.
    open: AtomicUsize,
    /// Connections made in all.
    connections: AtomicUsize,
}

/// An attacker's socket, counted while open.
struct Held<'a> {
    stream: TcpStream,
    attack: &'a Attack,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.attack.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Attack {
    fn new() -> Attack {
        Attack {
            stop: watch::Sender::new(false),
            open: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// A connection (bounded: 2 s), or `None` when refused or stopped.
    async fn connect(&self, port: u16) -> Option<Held<'_>> {
        if self.stopped() {
            return None;
        }
        let connect = TcpStream::connect(("127.0.0.1", port));
        let stream = tokio::time::timeout(Duration::from_secs(2), connect)
            .await
            .ok()?
            .ok()?;
        self.open.fetch_add(1, Ordering::SeqCst);
        self.connections.fetch_add(1, Ordering::SeqCst);
        Some(Held {
            stream,
            attack: self,
        })
    }

    /// Holds the socket until the server closes it or the attack stops.
    async fn hold(&self, held: &mut Held<'_>) {
        let mut buf = [0u8; 256];
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                read = held.stream.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        return;
                    }
                }
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

fn hello(token: &str) -> BytesMut {
    let mut wire = BytesMut::new();
    Message::Hello {
        version: 1,
        token: Some(token.into()),
    }
    .write_framed("h", &mut wire);
    wire
}

/// Connects and sends nothing; again when the server lets go.
async fn silent(attack: Arc<Attack>, port: u16) {
    while !attack.stopped() {
        if let Some(mut held) = attack.connect(port).await {
            attack.hold(&mut held).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Sends a good hello (with the right token) one byte every 300 ms: never done in time.
async fn slow_hello(attack: Arc<Attack>, port: u16) {
    let wire = hello(TOKEN);
    while !attack.stopped() {
        if let Some(mut held) = attack.connect(port).await {
            for byte in wire.iter().take(wire.len() - 1) {
                if attack.stopped() || held.stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends garbage (an HTTP request, bytes that are no frame) and waits to be thrown out.
async fn garbage(attack: Arc<Attack>, port: u16) {
    let mut n = 0u32;
    while !attack.stopped() {
        if let Some(mut held) = attack.connect(port).await {
            n += 1;
            let junk: &[u8] = if n.is_multiple_of(2) {
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            } else {
                &[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]
            };
            if held.stream.write_all(junk).await.is_ok() {
                attack.hold(&mut held).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Says hello with a wrong token, again and again.
async fn wrong_token(attack: Arc<Attack>, port: u16) {
    let wire = hello("guess");
    while !attack.stopped() {
        if let Some(mut held) = attack.connect(port).await
            && held.stream.write_all(&wire).await.is_ok()
        {
            attack.hold(&mut held).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Connects and hangs up at once, in a tight loop.
async fn reconnect_loop(attack: Arc<Attack>, port: u16) {
    while !attack.stopped() {
        drop(attack.connect(port).await);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_client_records_while_hostile_peers_hold_the_server() {
    let mut peers: Vec<&str> = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present(
        "a_good_client_records_while_hostile_peers_hold_the_server",
        &peers,
    ) {
        return;
    }
    let camera = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();

    // The camera served with a token, with the default limits.
    let mut options = Options::default();
    options.remote.token = Some(TOKEN.into());
    let input = Endpoint::parse(&camera.url("/h264aac"), Direction::Input).unwrap();
    let listen = format!("tcp-listen://127.0.0.1:{port}");
    let output = Endpoint::parse(&listen, Direction::Output).unwrap();
    let server = Pipeline::new(input, output).with_options(options).spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The attack, before the good client comes.
    let attack = Arc::new(Attack::new());
    let mut attackers = JoinSet::new();
    for _ in 0..SILENT {
        attackers.spawn(silent(attack.clone(), port));
    }
    for _ in 0..8 {
        attackers.spawn(slow_hello(attack.clone(), port));
    }
    for _ in 0..4 {
        attackers.spawn(garbage(attack.clone(), port));
    }
    attackers.spawn(wrong_token(attack.clone(), port));
    attackers.spawn(reconnect_loop(attack.clone(), port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while attack.connections.load(Ordering::SeqCst) < SILENT {
        assert!(Instant::now() < deadline, "the attackers never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open_at_start = attack.open.load(Ordering::SeqCst);

    // The good client: 3 s of the camera into an MP4.
    let file = dir.path().join("good.mp4");
    let mut options = {
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs(3));
        options
    };
    options.remote.token = Some(TOKEN.into());
    let remote = Endpoint::parse(&format!("tcp://127.0.0.1:{port}"), Direction::Input).unwrap();
    let output = Endpoint::parse(file.to_str().unwrap(), Direction::Output).unwrap();
    let started = Instant::now();
    let good = Pipeline::new(remote, output).with_options(options).run();
    let recorded = tokio::time::timeout(Duration::from_secs(25), good).await;
    let took = started.elapsed();

    // Stop the attack (bounded) before judging, so that a failure leaves nothing behind.
    let connections = attack.connections.load(Ordering::SeqCst);
    let open_at_end = attack.open.load(Ordering::SeqCst);
    attack.stop.send_replace(true);
    let joined = tokio::time::timeout(Duration::from_secs(10), async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    attackers.abort_all();
    server.close();
    let served = tokio::time::timeout(Duration::from_secs(15), server.wait()).await;
    eprintln!(
        "attack: {connections} connections, {open_at_start} sockets open when the good client \
         came, {open_at_end} when it was done; recording took {took:?}"
    );
    assert!(joined.is_ok(), "the attackers stopped within 10 s");
    assert_eq!(attack.open.load(Ordering::SeqCst), 0, "every socket closed");

    let summary = recorded
        .expect("the good client recorded within 25 s despite the attack")
        .expect("the good client's pipeline succeeded");
    assert_eq!(summary.files, vec![file.clone()]);
    served
        .expect("the server pipeline stops within 15 s")
        .unwrap();

    let probe = ffprobe::probe(&file);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    let duration = num(&probe["format"]["duration"]);
    assert!((2.5..=4.0).contains(&duration), "duration {duration}");
    let errors = ffprobe::decode_errors(&file);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}
