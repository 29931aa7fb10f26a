//! The `icecast://` sink beyond MP3 against a real icecast2: an Opus track goes out as Ogg
//! pages (`application/ogg`) whose packets a listener reads back with the `ogg` crate and
//! ffmpeg decodes; an AAC file goes to `icecasts://` with the server's self-signed
//! certificate trusted through `IcecastSettings::tls_ca`, and a listener on the plain port
//! hears its access units, decoded by ffmpeg.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icecast_source::adts::AdtsFrames;
use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::icecast::{Icecast, IcecastOptions, self_signed_certificate};
use test_support::{ffprobe, require_peer};

/// Connects to `mount` once it has a source (icecast answers 404 before), then reads what
/// a listener gets until the stream ends: the answer head (lower case) and the body.
fn listen(port: u16, mount: &str) -> std::thread::JoinHandle<(String, Vec<u8>)> {
    let request = format!("GET {mount} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            if all.starts_with(b"HTTP/1.0 200") || all.starts_with(b"HTTP/1.1 200") {
                let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
                return (head, all[end..].to_vec());
            }
            assert!(Instant::now() < deadline, "no source in 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

fn ffmpeg(args: &[&str], path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The packets of an Ogg stream, per logical stream (serial, packets), in order.
fn ogg_packets(data: &[u8]) -> Vec<(u32, Vec<Vec<u8>>)> {
    let mut reader = ogg::PacketReader::new(Cursor::new(data));
    let mut streams: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        let serial = packet.stream_serial();
        if packet.first_in_stream() {
            streams.push((serial, Vec::new()));
        }
        if let Some((_, packets)) = streams.iter_mut().find(|(s, _)| *s == serial) {
            packets.push(packet.data);
        }
    }
    streams
}

fn decoded_seconds(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    out.stdout.len() as f64 / 2.0 / 48_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opus_track_goes_out_as_ogg_pages_that_ffmpeg_decodes() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let song = dir.path().join("song.opus");
    ffmpeg(
        &[
            "sine=frequency=440:duration=2",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
        ],
        &song,
    );
    let server = Icecast::start(IcecastOptions::default());
    let input = Endpoint::parse(song.to_str().unwrap(), Direction::Input).unwrap();
    let url = format!("icecast://source:hackme@127.0.0.1:{}/opus", server.port());
    let output = Endpoint::parse(&url, Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    let listener = listen(server.port(), "/opus");
    handle.wait().await.unwrap();
    let (head, body) = listener.join().unwrap();
    assert!(head.contains("content-type: application/ogg"), "{head}");

    let heard = ogg_packets(&body);
    assert_eq!(heard.len(), 1, "one logical stream");
    let sent = ogg_packets(&std::fs::read(&song).unwrap());
    let (heard, sent) = (&heard[0].1, &sent[0].1);
    assert!(heard[0].starts_with(b"OpusHead") && heard[1].starts_with(b"OpusTags"));
    assert_eq!(heard[0], sent[0], "the track's OpusHead");
    assert!(
        heard[2..] == sent[2..],
        "every audio packet of the file, in order ({} of {})",
        heard.len() - 2,
        sent.len() - 2
    );
    let saved = dir.path().join("heard.opus");
    std::fs::write(&saved, &body).unwrap();
    assert_eq!(ffprobe::decode_errors(&saved), "", "ffmpeg decodes it");
    let seconds = decoded_seconds(&saved);
    assert!((seconds - 2.0).abs() < 0.05, "decoded {seconds:.2} s of 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_goes_to_icecasts_with_a_self_signed_certificate_trusted_by_tls_ca() {
    require_peer!("icecast2", "openssl", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let song = dir.path().join("song.aac");
    ffmpeg(
        &[
            "sine=frequency=440:duration=2",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "adts",
        ],
        &song,
    );
    let (server_pem, cert) = self_signed_certificate(dir.path());
    let server = Icecast::start(IcecastOptions {
        tls_certificate: Some(server_pem),
        ..IcecastOptions::default()
    });
    let url = format!(
        "icecasts://source:hackme@127.0.0.1:{}/aac",
        server.tls_port().unwrap()
    );
    let input = || Endpoint::parse(song.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(&url, Direction::Output).unwrap();

    // Not trusted: one line naming the certificate problem, no password.
    let err = Pipeline::new(input(), output.clone())
        .run()
        .await
        .unwrap_err();
    let line = err.to_string();
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(!line.contains("hackme") && !line.contains('\n'), "{line}");

    let mut options = Options::default();
    options.icecast.tls_ca = Some(cert);
    let handle = Pipeline::new(input(), output).with_options(options).spawn();
    let listener = listen(server.port(), "/aac");
    handle.wait().await.unwrap();
    let (head, body) = listener.join().unwrap();
    assert!(head.contains("content-type: audio/aac"), "{head}");
    // The access units of the file, in order, then the silent frames of the flush.
    let payload = |f: &Bytes| f.slice(7..);
    let sent: Vec<Bytes> = AdtsFrames::new(std::fs::read(&song).unwrap())
        .map(|f| payload(&f.unwrap().data))
        .collect();
    let got: Vec<Bytes> = AdtsFrames::new(body.clone())
        .map_while(Result::ok)
        .map(|f| payload(&f.data))
        .collect();
    assert!(
        got.len() >= sent.len(),
        "{} of {} frames",
        got.len(),
        sent.len()
    );
    assert!(
        got[..sent.len()] == sent[..],
        "the file's access units, in order"
    );
    let complete: usize = AdtsFrames::new(body.clone())
        .map_while(Result::ok)
        .map(|f| f.data.len())
        .sum();
    let saved = dir.path().join("heard.aac");
    std::fs::write(&saved, &body[..complete]).unwrap();
    assert_eq!(ffprobe::decode_errors(&saved), "", "ffmpeg decodes it");
}
