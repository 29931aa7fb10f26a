//! Serves the packets of a generated track, and a client that prints what it receives.
//!
//! ```sh
//! # both in one process on 127.0.0.1 (a free port): 2 s of packets, then goodbye
//! cargo run -p media-toolkit-remote --example live_packets
//! # or in two terminals
//! cargo run -p media-toolkit-remote --example live_packets -- serve 127.0.0.1:9000 --seconds 30
//! cargo run -p media-toolkit-remote --example live_packets -- watch 127.0.0.1:9000
//! ```
//!
//! The generated track is 25 fps "video" (H.264 in name only: the payloads are counters,
//! not pictures), a key frame every second. `--token T` on both sides sets the shared
//! token (needed to serve off loopback).

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use media_core::{Codec, Packet, Track};
use media_remote::{Client, ClientEvent, RemoteSettings, Server};

type BoxError = Box<dyn Error + Send + Sync>;

const FPS: u32 = 25;
const TIMESCALE: u32 = 90_000;

fn track() -> Track {
    let config = Bytes::from_static(&[1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0]);
    Track::video(Codec::H264 { config }, TIMESCALE, 320, 240)
}

fn packet(n: u32) -> Packet {
    let data = Bytes::from(format!("frame {n:06}").repeat(64));
    let mut p = Packet::new(
        0,
        i64::from(n * TIMESCALE / FPS),
        n.is_multiple_of(FPS),
        data,
    );
    p.duration = Some(TIMESCALE / FPS);
    p
}

/// Serves `seconds` of the generated track, then says goodbye.
async fn serve(server: Server, seconds: u32) -> Result<(), BoxError> {
    println!("serving on {}", server.local_addr());
    let session = server.start_recording(vec![track()])?;
    println!("recording {session} started");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / FPS);
    for n in 0..seconds * FPS {
        tick.tick().await;
        server.write(&packet(n))?;
    }
    server.stop_recording();
    // The last packets are still on their way out of the queues.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for client in server.clients() {
        println!(
            "client {}: {} packets sent, {} dropped",
            client.peer, client.counters.sent, client.counters.dropped
        );
    }
    server.close();
    // Let the clients' writers deliver `goodbye` before the runtime ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Prints every event until the server says goodbye.
async fn watch(addr: String, settings: RemoteSettings) -> Result<(), BoxError> {
    let mut client = Client::connect(addr, settings);
    let mut packets = 0u64;
    while let Some(event) = client.next().await {
        match event? {
            ClientEvent::Tracks(tracks) => {
                for (i, t) in tracks.iter().enumerate() {
                    println!(
                        "track {i}: {:?} {} ({}x{})",
                        t.kind,
                        t.codec.name(),
                        t.width,
                        t.height
                    );
                }
            }
            ClientEvent::Packet(p) => {
                packets += 1;
                if p.keyframe {
                    println!(
                        "key frame: track {} dts {} ({:.2} s), {} bytes; {packets} packets so far",
                        p.track,
                        p.dts,
                        p.seconds(TIMESCALE),
                        p.data.len()
                    );
                }
            }
            ClientEvent::TrackUpdated { index, track } => {
                println!("track {index} updated: {}", track.codec.name());
            }
            ClientEvent::Discontinuity => println!("discontinuity"),
            ClientEvent::End => println!("the server said goodbye after {packets} packets"),
            ClientEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => println!("attempt {attempt} failed: {reason}; again in {delay:.1?}"),
            other => println!("{other:?}"),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let settings = {
        let mut settings = RemoteSettings::default();
        settings.token = value("--token");
        settings
    };
    let seconds = value("--seconds").map_or(Ok(2), |s| s.parse())?;
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("serve"), Some(addr)) => serve(Server::bind(addr, settings)?, seconds).await,
        (Some("watch"), Some(addr)) => watch(addr.clone(), settings).await,
        (None, _) => {
            let server = Server::bind("127.0.0.1:0", settings.clone())?;
            let watcher = tokio::spawn(watch(server.local_addr().to_string(), settings));
            while !server.clients().iter().any(|c| c.playing) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            serve(server, seconds).await?;
            watcher.await?
        }
        _ => Err("usage: live_packets [serve|watch ADDR] [--token T] [--seconds N]".into()),
    }
}
