//! A browser's own WebM: headless Chromium records its fake camera and microphone with
//! MediaRecorder (VP8 + Opus and VP9 + Opus, 500 ms timeslices: the live form, clusters
//! of unknown size as a page uploading in pieces gets them) and uploads the file; we
//! read it into MP4: ffprobe finds the browser's codecs with 2–5 s of video and audio,
//! and ffmpeg decodes it without an error.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Pipeline};
use test_support::ffprobe::{self, num};

const PAGE: &str = r#"<!doctype html><script>
async function record(mime, name) {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 320, height: 240}, audio: true});
  const rec = new MediaRecorder(stream, {mimeType: mime});
  const parts = [];
  rec.ondataavailable = e => parts.push(e.data);
  const done = new Promise(r => rec.onstop = r);
  rec.start(500);
  await new Promise(r => setTimeout(r, 3000));
  rec.stop();
  await done;
  stream.getTracks().forEach(t => t.stop());
  await fetch('/upload?' + name, {method: 'POST', body: new Blob(parts)});
}
(async () => {
  try {
    await record('video/webm;codecs=vp8,opus', 'vp8.webm');
    await record('video/webm;codecs=vp9,opus', 'vp9.webm');
    await fetch('/upload?done', {method: 'POST', body: 'ok'});
  } catch (e) {
    await fetch('/upload?error', {method: 'POST', body: String(e)});
  }
})();
</script>"#;

/// Serves the page and takes uploads into `dir` until `done` or `error` comes (or 60 s).
fn serve(listener: TcpListener, dir: &Path) -> Result<(), String> {
    listener.set_nonblocking(false).unwrap();
    let started = Instant::now();
    for stream in listener.incoming() {
        let mut stream = stream.map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(|e| e.to_string())?;
            if header.trim().is_empty() {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let reply: &[u8] = if path == "/" { PAGE.as_bytes() } else { b"ok" };
        let kind = if path == "/" {
            "text/html"
        } else {
            "text/plain"
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            reply.len()
        );
        // A request the page gave up on (favicon) may find the socket closed.
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(reply);
        match path.strip_prefix("/upload?") {
            Some("done") => return Ok(()),
            Some("error") => return Err(String::from_utf8_lossy(&body).into_owned()),
            Some(name) => std::fs::write(dir.join(name), &body).unwrap(),
            None => {}
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("no upload within 60 s".into());
        }
    }
    Err("listener closed".into())
}

async fn to_mp4(input: &Path) -> PathBuf {
    let out = input.with_extension("mp4");
    let source = Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap();
    let sink = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    if let Err(e) = Pipeline::new(source, sink).run().await {
        panic!("{input:?}: {e}");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn chromiums_media_recorder_webm_becomes_mp4() {
    test_support::require_peer!("chromium", "ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let profile = test_support::temp_dir();
    let flags = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
    ];
    let mut chromium = test_support::chromium::launch(&url, profile.path(), &flags);
    let target = dir.path().to_owned();
    let served = tokio::task::spawn_blocking(move || serve(listener, &target))
        .await
        .unwrap();
    chromium.stop();
    served.unwrap();
    for (name, codec) in [("vp8.webm", "vp8"), ("vp9.webm", "vp9")] {
        let webm = dir.path().join(name);
        let mp4 = to_mp4(&webm).await;
        let probe = ffprobe::probe(&mp4);
        let streams = probe["streams"].as_array().unwrap();
        // Chromium lists its audio track first; the order is the file's.
        let mut names: Vec<&str> = streams
            .iter()
            .filter_map(|s| s["codec_name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["opus", codec], "{mp4:?}");
        for s in streams {
            let seconds = num(&s["duration"]);
            assert!(
                (2.0..5.0).contains(&seconds),
                "{name}: {} lasts {seconds} s",
                s["codec_name"]
            );
        }
        let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(320), Some(240))
        );
        // MediaRecorder stamps frames at capture time, irregular: with the null muxer's
        // default ticks of the guessed frame rate, two frames close together (a loaded
        // machine) met in one tick, an error of ffmpeg's own ("non monotonically
        // increasing dts … 1 >= 1", seen in a CI run; the MP4's own decode times always
        // increase, bmff-writer refuses anything else).
        let errors = ffprobe::decode_errors_keeping_times(&mp4);
        assert!(errors.is_empty(), "{mp4:?}: {errors}");
        eprintln!(
            "{name}: {} bytes → {codec}+opus MP4, video {:.2} s, audio {:.2} s",
            std::fs::metadata(&webm).unwrap().len(),
            num(&video["duration"]),
            num(&audio["duration"])
        );
    }
}
