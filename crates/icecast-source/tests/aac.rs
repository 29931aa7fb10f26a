//! ADTS AAC pushed from code: a real icecast2 (Debian's 2.4.4) relays it as `audio/aac`
//! and ffmpeg decodes what a listener got (to the last frame: silent AAC frames flush the
//! server's queue); a scripted server shows the request, and a non-ADTS frame ending the
//! stream with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use icecast_source::adts::AdtsFrames;
use icecast_source::{
    AudioFrame, ContentType, Error, Event, EventStream, IcecastConfig, IcecastStream, StreamOptions,
};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ffprobe, require_peer};

/// Makes `seconds` of a 440 Hz sine as ADTS AAC LC, 44.1 kHz stereo, with ffmpeg.
fn make_adts(path: &Path, seconds: u32) {
    let out = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=44100")
        .args([
            "-t",
            &seconds.to_string(),
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
        ])
        .args(["-f", "adts", "-y"])
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn adts_frames(data: &[u8]) -> Vec<AudioFrame> {
    AdtsFrames::new(Bytes::copy_from_slice(data))
        .map(|f| f.unwrap())
        .collect()
}

async fn wait_event(events: &mut EventStream, want: impl Fn(&Event) -> bool) -> Event {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_adts_reaches_a_listener_that_ffmpeg_decodes() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let aac = dir.path().join("sine.aac");
    make_adts(&aac, 4);
    let original = std::fs::read(&aac).unwrap();
    let sent = adts_frames(&original);
    assert!(sent.len() > 150, "{} frames", sent.len());

    let server = Icecast::start(IcecastOptions::default());
    let config = IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap()
    .with_content_type(ContentType::Aac);
    let mut stream = IcecastStream::start(config, StreamOptions::default());
    let mut events = stream.events().unwrap();
    let mut frames = sent.clone().into_iter();
    // A title given before the first frame is set once connected (ICY works for AAC too).
    let title = "AAC – Títle ♫";
    stream.set_title(title).await;
    // The stream connects at its first frame.
    stream.send(frames.next().unwrap()).await.unwrap();
    wait_event(&mut events, |e| {
        matches!(e, Event::Connected { method: "PUT" })
    })
    .await;
    let outcome = wait_event(&mut events, |e| {
        matches!(e, Event::TitleSet(_) | Event::TitleFailed { .. })
    })
    .await;
    assert_eq!(outcome, Event::TitleSet(title.into()));
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    let source = &status["icestats"]["source"];
    assert_eq!(
        source["server_type"].as_str(),
        Some("audio/aac"),
        "{status}"
    );
    let info = source["audio_info"].as_str().unwrap_or("");
    assert!(
        info.contains("samplerate=44100") && info.contains("channels=2"),
        "audio_info {info:?}"
    );
    let port = server.port();
    let listener = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        all
    });
    // Backpressure: `send` takes frames at the pace of real time.
    let started = std::time::Instant::now();
    for frame in frames.by_ref().take(50) {
        stream.send(frame).await.unwrap();
    }
    // Icecast applies a title at the next data it relays; the queued frames keep flowing.
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"]["source"]["title"].as_str() == Some(title))
    });
    assert_eq!(
        status["icestats"]["source"]["title"].as_str(),
        Some(title),
        "{status}"
    );
    for frame in frames {
        stream.send(frame).await.unwrap();
    }
    let pushed_for = started.elapsed();
    stream.wait().await.unwrap();
    let media = Duration::from_secs_f64(sent.len() as f64 * 1024.0 / 44_100.0);
    assert!(
        pushed_for + Duration::from_secs(1) > media,
        "{} frames ({media:?}) pushed in {pushed_for:?}",
        sent.len()
    );

    let all = tokio::task::block_in_place(|| listener.join().unwrap());
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(head.contains("content-type: audio/aac"), "{head}");
    let body = &all[end..];
    // Icecast relays the bytes as they came; its burst starts at a block boundary, so
    // find the first whole frame of ours, then every frame after it must be ours in order.
    let (first, at) = sent
        .iter()
        .enumerate()
        .find_map(|(i, f)| {
            body.windows(f.data.len())
                .position(|w| w == &f.data[..])
                .map(|at| (i, at))
        })
        .expect("the listener got a frame of ours");
    let got: Vec<AudioFrame> = AdtsFrames::new(Bytes::copy_from_slice(&body[at..]))
        .map_while(Result::ok)
        .collect();
    // Every frame of ours from the first heard, then the silent frames that flush the
    // server's last queue block.
    let ours = sent.len() - first;
    assert!(got.len() >= ours, "{} frames of {ours}", got.len());
    assert!(
        got[..ours] == sent[first..],
        "the listener's frames are ours, in order, to the last"
    );
    assert!(
        got[ours..]
            .iter()
            .all(|f| f.data == got[got.len() - 1].data),
        "then only silent frames, all alike"
    );
    let heard = dir.path().join("heard.aac");
    let complete: usize = got.iter().map(|f| f.data.len()).sum();
    std::fs::write(&heard, &body[at..at + complete]).unwrap();
    assert_eq!(ffprobe::decode_errors(&heard), "", "decodes cleanly");
    let probe = ffprobe::probe(&heard);
    let stream0 = &probe["streams"][0];
    assert_eq!(stream0["codec_name"].as_str(), Some("aac"), "{probe}");
    assert_eq!(stream0["sample_rate"].as_str(), Some("44100"), "{probe}");
    assert_eq!(stream0["channels"].as_u64(), Some(2), "{probe}");
    assert_eq!(
        ffprobe::packets(&heard, "a:0").len(),
        got.len(),
        "ffprobe counts the same frames"
    );
}

/// A scripted server: answers 100 then 200 like Icecast 2.4.4, returns the request head
/// and every byte the source sent.
async fn scripted_server() -> (u16, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            sock.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        sock.write_all(
            b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
        )
        .await
        .unwrap();
        let mut body = Vec::new();
        let _ = sock.read_to_end(&mut body).await;
        (String::from_utf8(head).unwrap(), body)
    });
    (port, task)
}

#[tokio::test]
async fn aac_request_and_a_non_adts_frame_end_the_stream_clearly() {
    let (port, server) = scripted_server().await;
    let config = IcecastConfig::from_url(&format!("icecast://source:pw@127.0.0.1:{port}/aac"))
        .unwrap()
        .with_content_type(ContentType::Aac);
    let stream = IcecastStream::start(config, StreamOptions::default());
    // Three tiny ADTS frames (AAC LC, 44.1 kHz, stereo), then an MP3 frame.
    let mut adts = vec![0xFF, 0xF1, 0x50, 0x80, 0x01, 0x5F, 0xFC];
    adts.extend_from_slice(&[0x21, 0x10, 0x04]);
    let frame = AudioFrame::adts(Bytes::from(adts.clone())).unwrap();
    assert_eq!((frame.samples, frame.sample_rate), (1024, 44_100));
    for _ in 0..3 {
        stream.send(frame.clone()).await.unwrap();
    }
    let mp3 = AudioFrame::new(Bytes::from_static(&[0xFF, 0xFB, 0x90, 0x64]), 1152, 44_100);
    // The stream may end before or after taking this frame; either way `wait` says why.
    let _ = stream.send(mp3).await;
    let err = stream.wait().await.unwrap_err();
    assert!(
        matches!(err, Error::NotAdts { .. }) && err.is_permanent(),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("pushed frame 3: not ADTS"),
        "{err}"
    );
    let (head, body) = server.await.unwrap();
    assert!(head.starts_with("PUT /aac HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("Content-Type: audio/aac\r\n"), "{head}");
    assert!(
        head.contains("ice-audio-info: samplerate=44100;channels=2\r\n"),
        "{head}"
    );
    assert_eq!(body, adts.repeat(3), "the frames, byte for byte");
}

#[tokio::test]
async fn pushed_mp3_frames_arrive_byte_for_byte_then_flush_silence_at_the_end() {
    let (port, server) = scripted_server().await;
    let config =
        IcecastConfig::from_url(&format!("icecast://source:pw@127.0.0.1:{port}/mp3")).unwrap();
    let options = {
        let mut options = StreamOptions::default();
        options.flush_bytes = 1;
        options
    };
    let stream = IcecastStream::start(config, options);
    let file = std::fs::read(test_support::fixture("sine-44100-cbr128.mp3")).unwrap();
    let frames: Vec<_> = mp3_frames::Frames::new(&file).take(20).collect();
    let mut sent = Vec::new();
    for f in &frames {
        sent.extend_from_slice(f.data);
        stream
            .send(AudioFrame::mp3(Bytes::copy_from_slice(f.data)).unwrap())
            .await
            .unwrap();
    }
    stream.wait().await.unwrap();
    let (head, body) = server.await.unwrap();
    assert!(head.contains("Content-Type: audio/mpeg\r\n"), "{head}");
    assert!(
        head.contains("bitrate=128;samplerate=44100;channels=2"),
        "{head}"
    );
    assert!(body.starts_with(&sent), "pushed frames first, unchanged");
    let silence = mp3_frames::silent_frame(&frames[0].header.with_padding(false)).unwrap();
    assert!(
        !body[sent.len()..].is_empty()
            && body[sent.len()..]
                .chunks(silence.len())
                .all(|c| c == &silence[..]),
        "then silence of the same format"
    );
}
