//! What the format tests share: songs made by ffmpeg, a radio played against icecast2 with
//! a listener, and ffmpeg/`ogg`-crate readings of what the listener got.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use std::io::{Cursor, Read, Write};
pub use std::net::TcpStream;
pub use std::path::{Path, PathBuf};
pub use std::process::Command as Process;
pub use std::time::Duration;

pub use bytes::Bytes;
pub use futures::StreamExt;
pub use icecast_source::adts::AdtsFrames;
pub use icecast_source::ogg::OggPages;
pub use icecast_source::{
    Command, Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions,
};
pub use test_support::icecast::{Icecast, IcecastOptions};
pub use test_support::{ffprobe, require_peer};

/// A song of a sine at `hz`, `secs` long, made by ffmpeg with `codec` arguments.
pub fn song(dir: &Path, name: &str, hz: u32, secs: f64, codec: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .args(codec)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

pub const AAC: &[&str] = &[
    "-ac", "2", "-ar", "44100", "-c:a", "aac", "-b:a", "96k", "-f", "adts",
];
pub const OPUS: &[&str] = &["-ac", "2", "-c:a", "libopus", "-b:a", "64k", "-f", "ogg"];
pub const VORBIS: &[&str] = &[
    "-ac",
    "2",
    "-ar",
    "44100",
    "-c:a",
    "libvorbis",
    "-q:a",
    "2",
    "-f",
    "ogg",
];

pub async fn wait_event(events: &mut EventStream, want: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.next().await.expect("event stream open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

/// Listens on /stream until the source ends: the answer head and the body.
pub fn listen(port: u16) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    write!(s, "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    (
        String::from_utf8_lossy(&all[..end]).into_owned(),
        all[end..].to_vec(),
    )
}

/// Plays `first` as a queue, queues `later` while the first song plays, and returns the
/// events seen until the end, the listener's answer head and body, and the server's
/// content type for the mount.
pub async fn play(
    first: &Path,
    later: &[&Path],
    during: impl AsyncFnOnce(&IcecastStream, &mut EventStream),
) -> (Vec<Event>, String, Vec<u8>, String) {
    let server = Icecast::start(IcecastOptions::default());
    let config = IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap();
    let mut options = StreamOptions::default();
    options.stop_when_empty = false;
    let mut stream = IcecastStream::spawn(config, options, vec![Mp3Input::File(first.into())]);
    let mut events = stream.events().unwrap();
    wait_event(&mut events, |e| {
        matches!(e, Event::TrackStarted { index: 0, .. })
    })
    .await;
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    let content_type = status["icestats"]["source"]["server_type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let port = server.port();
    let listener = std::thread::spawn(move || listen(port));
    for path in later {
        stream.enqueue(Mp3Input::File(path.into())).unwrap();
    }
    during(&stream, &mut events).await;
    stream
        .commands()
        .send(Command::StopWhenEmpty)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        let end = event == Event::Finished;
        seen.push(event);
        if end {
            break;
        }
    }
    stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| listener.join().unwrap());
    (seen, head, body, content_type)
}

pub fn finished(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFinished {
                index, completed, ..
            } => Some((*index, *completed)),
            _ => None,
        })
        .collect()
}

/// Writes `body` to `dir/name` and has ffmpeg decode it: no error, and the seconds decoded.
pub fn decode(dir: &Path, name: &str, body: &[u8]) -> f64 {
    let out = dir.join(name);
    std::fs::write(&out, body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&out),
        "",
        "ffmpeg decodes the listener's stream"
    );
    let decoded = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    decoded.stdout.len() as f64 / 2.0 / 48_000.0
}

pub fn adts(path: &Path) -> Vec<Bytes> {
    AdtsFrames::new(std::fs::read(path).unwrap())
        .map(|f| f.unwrap().data)
        .collect()
}

/// The logical streams of an Ogg stream as the `ogg` crate reads them: per stream, its
/// serial and packet count, in the order the streams begin.
pub fn logical_streams(body: &[u8]) -> Vec<(u32, usize)> {
    let mut reader = ogg::PacketReader::new(Cursor::new(body));
    let mut streams: Vec<(u32, usize)> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        let serial = packet.stream_serial();
        if packet.first_in_stream() {
            assert!(
                streams.iter().all(|(s, _)| *s != serial),
                "serial {serial} reused"
            );
            streams.push((serial, 0));
        }
        if let Some(stream) = streams.iter_mut().find(|(s, _)| *s == serial) {
            stream.1 += 1;
        }
    }
    streams
}

pub fn packet_count(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap();
    let streams = logical_streams(&data);
    assert_eq!(streams.len(), 1);
    streams[0].1
}

/// Decodes `file` with ffmpeg to mono 48 kHz samples.
pub fn pcm(file: &Path) -> Vec<i16> {
    let out = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The loudest sample between `from` and `to` seconds.
pub fn peak(samples: &[i16], from: f64, to: f64) -> i32 {
    let at = |t: f64| ((t * 48_000.0) as usize).min(samples.len());
    samples[at(from)..at(to)]
        .iter()
        .map(|s| i32::from(*s).abs())
        .max()
        .unwrap_or(0)
}

/// Mutes once `frames` frames of the song went out, for about a second, then unmutes.
pub async fn mute_for_a_second(stream: &IcecastStream, events: &mut EventStream, frames: u64) {
    wait_event(
        events,
        |e| matches!(e, Event::FrameSent { index, .. } if *index >= frames),
    )
    .await;
    stream.mute().await.unwrap();
    wait_event(events, |e| *e == Event::Muted).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stream.unmute().await;
    wait_event(events, |e| *e == Event::Unmuted).await;
}

/// The packets of an Ogg stream, per logical stream in the order they begin (`ogg` crate).
pub fn packets_per_link(body: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut reader = ogg::PacketReader::new(Cursor::new(body));
    let mut links: Vec<Vec<Vec<u8>>> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        if packet.first_in_stream() {
            links.push(Vec::new());
        }
        if let Some(last) = links.last_mut() {
            last.push(packet.data);
        }
    }
    links
}
