//! Headless Chromium for tests: one launch with the flags every test needs, and a small
//! report server that a page sends its results to (`GET /result?<percent-encoded text>`,
//! which a page of any origin can do with `fetch(..., {mode: 'no-cors'})`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::process::ChildGuard;

/// Starts headless Chromium on `url` with its own profile (in `profile`), autoplay
/// allowed, audio muted, and `extra` flags (e.g. `--use-fake-device-for-media-stream`).
/// Stopped by PID when the guard drops.
pub fn launch(url: &str, profile: &std::path::Path, extra: &[&str]) -> ChildGuard {
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    ChildGuard::new("chromium", child)
}

/// A listener on 127.0.0.1 collecting what pages send to `/result?...`.
pub struct ReportServer {
    url: String,
    reports: mpsc::Receiver<String>,
}

impl ReportServer {
    /// Binds a free port and serves in a thread (for the life of the test process).
    pub fn start() -> ReportServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/result", listener.local_addr().unwrap());
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                if let Some(q) = path.strip_prefix("/result?") {
                    let _ = tx.send(percent_decode(q));
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        ReportServer { url, reports }
    }

    /// The URL pages report to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next report, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.reports.recv_timeout(timeout).ok()
    }
}

/// Decodes `%XX` escapes (what `encodeURIComponent` makes).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let (b'%', Some(Ok(v))) = (b[i], hex.map(|h| u8::from_str_radix(h, 16))) {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
