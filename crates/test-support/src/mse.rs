//! Fragmented MP4 played by headless Chromium through Media Source Extensions (W3C Media
//! Source Extensions, ISO BMFF byte stream format): a page appends an init segment and
//! media segments to one SourceBuffer, in the order given, then plays; it reports `ok ...`
//! only when the video element's `currentTime` passes a given time with no SourceBuffer
//! or media error, and `fail ...` (one line) otherwise.
//!
//! The files are served from memory by a small HTTP server on 127.0.0.1, which stops when
//! [`play`] returns; Chromium is stopped by PID.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// How long the page may take to report, from Chromium's start.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

const PAGE: &str = r#"<!doctype html><html><body><script>
const report = (m) => fetch('/result?' + encodeURIComponent(m));
let failed = false;
const fail = (m) => { if (!failed) { failed = true; report('fail ' + m); } };
(async () => {
  try {
    const mime = MIME_TYPE;
    if (!MediaSource.isTypeSupported(mime)) return fail('isTypeSupported false for ' + mime);
    const video = document.createElement('video');
    video.muted = true;
    document.body.appendChild(video);
    video.addEventListener('error', () => fail('media error ' + (video.error && video.error.code) + ' ' + (video.error && video.error.message)));
    const ms = new MediaSource();
    video.src = URL.createObjectURL(ms);
    await new Promise(r => ms.addEventListener('sourceopen', r, { once: true }));
    const sb = ms.addSourceBuffer(mime);
    sb.addEventListener('error', () => fail('SourceBuffer error'));
    for (const url of URLS) {
      const data = await (await fetch(url)).arrayBuffer();
      await new Promise((resolve) => { sb.addEventListener('updateend', resolve, { once: true }); sb.appendBuffer(data); });
      if (failed) return;
    }
    ms.endOfStream();
    await video.play();
    const start = performance.now();
    const tick = () => {
      if (failed) return;
      if (video.currentTime > MIN_TIME) {
        report('ok currentTime=' + video.currentTime + ' width=' + video.videoWidth + ' buffered=' + video.buffered.end(0));
      } else if (performance.now() - start > 20000) {
        fail('timeout currentTime=' + video.currentTime + ' readyState=' + video.readyState);
      } else {
        setTimeout(tick, 50);
      }
    };
    tick();
  } catch (e) {
    fail('exception ' + e);
  }
})();
</script></body></html>"#;

/// Serves `files` (URL path such as `/init.mp4`, bytes) and a page appending them in this
/// order to a SourceBuffer of type `mime` (e.g. `video/mp4; codecs="vp09.00.10.08"`);
/// returns the page's report, `ok currentTime=.. width=.. buffered=..` when the video
/// played past `min_time` seconds, else a line starting with `fail`.
pub fn play(files: Vec<(String, Vec<u8>)>, mime: &str, min_time: f64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // JSON string literals are JavaScript string literals: no path or MIME type can break
    // out of the page's script.
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let urls: Vec<String> = files.iter().map(|(p, _)| quote(p)).collect();
    let page = PAGE
        .replace("MIME_TYPE", &quote(mime))
        .replace("URLS", &format!("[{}]", urls.join(",")))
        .replace("MIN_TIME", &min_time.to_string());
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        // Non-blocking accepts polled against `stop`, so the server ends with the call.
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        respond(stream, &files, &page, &tx);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
        })
    };
    let profile = crate::temp_dir();
    let mut chromium =
        crate::chromium::launch(&format!("http://127.0.0.1:{port}/"), profile.path(), &[]);
    let result = rx.recv_timeout(REPORT_TIMEOUT).unwrap_or_else(|_| {
        format!(
            "fail: no report from the page within {} s",
            REPORT_TIMEOUT.as_secs()
        )
    });
    chromium.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    eprintln!("Chromium page reported: {result}");
    result
}

/// Answers one request: the page, a report (`/result?...`, sent to `results`), or a file.
fn respond(
    mut stream: TcpStream,
    files: &[(String, Vec<u8>)],
    page: &str,
    results: &mpsc::Sender<String>,
) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Drain the headers (bounded by the read timeout and the line count).
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        if !reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body): (&str, &str, &[u8]) = if path == "/" {
        ("200 OK", "text/html", page.as_bytes())
    } else if let Some(q) = path.strip_prefix("/result?") {
        let _ = results.send(crate::chromium::percent_decode(q));
        ("200 OK", "text/plain", b"ok")
    } else if let Some((_, b)) = files.iter().find(|(p, _)| p == path) {
        ("200 OK", "video/mp4", b)
    } else {
        ("404 Not Found", "text/plain", b"")
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// An HLS media playlist's files in playlist order, each init segment (`EXT-X-MAP`, RFC
/// 8216 §4.3.2.5) before the media segments that need it, as `(/name, bytes)` for
/// [`play`]. URIs are taken relative to the playlist's directory.
pub fn hls_files(playlist: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = playlist.parent().unwrap();
    let text = std::fs::read_to_string(playlist)
        .unwrap_or_else(|e| panic!("read {}: {e}", playlist.display()));
    let mut files = Vec::new();
    for line in text.lines().map(str::trim) {
        let uri = if let Some(map) = line.strip_prefix("#EXT-X-MAP:") {
            let Some(uri) = map
                .split(',')
                .find_map(|attr| attr.strip_prefix("URI="))
                .map(|v| v.trim_matches('"'))
            else {
                panic!("{}: EXT-X-MAP without URI: {line}", playlist.display());
            };
            uri
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else {
            line
        };
        let bytes = std::fs::read(dir.join(uri))
            .unwrap_or_else(|e| panic!("read {uri} of {}: {e}", playlist.display()));
        files.push((format!("/{uri}"), bytes));
    }
    files
}
