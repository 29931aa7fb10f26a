//! The metrics endpoint: `GET /metrics` (OpenMetrics text) and `GET /healthz`, over a
//! minimal HTTP/1.1 handler on tokio. Two read-only paths for a scraper do not need a
//! framework: hyper or axum would add some thirty crates for what is a request line, one
//! header and a response. Each connection: one request, a 5 s deadline to send it, at
//! most 8 KiB of head, then closed. With a token configured (required off loopback),
//! `/metrics` needs `Authorization: Bearer TOKEN` (compared in constant time); `/healthz`
//! never does, as probes send none.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

const MAX_HEAD: usize = 8 * 1024;
const DEADLINE: Duration = Duration::from_secs(5);

/// Serves `metrics` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, token: Option<String>) {
    let token = token.map(Arc::new);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let metrics = metrics.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        DEADLINE,
                        answer(stream, &metrics, token.as_deref().map(String::as_str)),
                    )
                    .await;
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("metrics endpoint: accepting failed: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn answer(
    mut stream: TcpStream,
    metrics: &Metrics,
    token: Option<&str>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "bad request\n",
            )
            .await;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    // Health says nothing secret, and probes (systemd, Kubernetes) send no token.
    if let Some(token) = token.filter(|_| path != "/healthz") {
        let given = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.trim().strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return respond(
                &mut stream,
                "401 Unauthorized",
                "text/plain",
                "a bearer token is required\n",
            )
            .await;
        }
    }
    match (method, path) {
        ("GET", "/metrics") => {
            let body = metrics.encode();
            respond(
                &mut stream,
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                &body,
            )
            .await
        }
        ("GET", "/healthz") => {
            if metrics.store_below_floor() {
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "store below its free-space floor\n",
                )
                .await
            } else {
                respond(&mut stream, "200 OK", "text/plain", "ok\n").await
            }
        }
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Equal without a timing side channel on the token's content.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
