//! SHOUTcast 1 servers answer a listener with `ICY 200 OK` instead of an HTTP status
//! line; hyper refuses it ("invalid HTTP version"), ffmpeg takes it. For such a server
//! the stream is read over a TCP connection of our own: a plain `GET` (HTTP/1.0, no
//! `Icy-MetaData`, so no metadata is interleaved), the header read up to its blank line
//! (at most 16 KiB), then the body forwarded as it comes until the server closes. The
//! same connect and per-read timeouts as the HTTP client's. `http://` only, no
//! credentials: what SHOUTcast 1 listeners use.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{CONNECT_TIMEOUT, Finite, READ_TIMEOUT};
use crate::{Error, SecretUrl};

/// Largest response header read.
const MAX_HEADER: usize = 16 * 1024;

/// Room made for each read.
const READ: usize = 64 * 1024;

/// Whether `e` is hyper refusing a status line that is not HTTP's.
pub(super) fn refused_status_line(e: &Error) -> bool {
    matches!(e, Error::Input { reason, .. } if reason.contains("invalid HTTP version"))
}

pub(super) async fn fetch(
    url: &SecretUrl,
    name: &str,
    out: &mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<Finite, Error> {
    let failed = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url.expose()).map_err(|e| failed(e.to_string()))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port().unwrap_or(80);
    let target = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let io = |what: &str, e: std::io::Error| failed(format!("{what}: {e}"));
    let mut stream = timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| failed("connecting timed out".into()))?
        .map_err(|e| io("connecting", e))?;
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: pipeline/{}\r\nAccept: */*\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| io("sending the request", e))?;
    // Each read lands in `buf` and is handed on as it is (split off, no copy).
    let mut buf = BytesMut::new();
    let body_start = loop {
        buf.reserve(READ);
        let n = timeout(READ_TIMEOUT, stream.read_buf(&mut buf))
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| io("reading the answer", e))?;
        if n == 0 {
            return Err(failed("the server closed before its answer's end".into()));
        }
        let head = &buf[..];
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEADER {
            return Err(failed(format!(
                "an answer header of over {MAX_HEADER} bytes"
            )));
        }
    };
    let head = buf.split_to(body_start);
    let status =
        String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)])
            .into_owned();
    let mut words = status.split_whitespace();
    if !matches!(
        (words.next(), words.next()),
        (Some("ICY" | "HTTP/1.0" | "HTTP/1.1"), Some("200"))
    ) {
        return Err(failed(format!("the server answered {status:?}")));
    }
    tracing::info!(input = %name, status, "reading the ICY stream");
    loop {
        // What came after the header's blank line goes first.
        if !buf.is_empty() && out.send(Ok(buf.split().freeze())).await.is_err() {
            return Ok(Finite(false));
        }
        buf.reserve(READ);
        let n = timeout(READ_TIMEOUT, stream.read_buf(&mut buf))
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| io("reading the stream", e))?;
        if n == 0 {
            return Ok(Finite(false));
        }
    }
}
