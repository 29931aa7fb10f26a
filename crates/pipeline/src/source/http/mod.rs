//! HTTP(S) input (`http://…`, `https://…`): a progressive stream (an Icecast or SHOUTcast
//! mount's MP3 or AAC, MPEG-TS over HTTP as IPTV servers and `ffmpeg -listen 1` send it,
//! fragmented MP4) or an HLS playlist ([`hls`]: told by its Content-Type, a `.m3u8` path, or `#EXTM3U` first).
//!
//! The bytes go to the byte-stream reader ([`super::byte_stream`], a blocking reader on
//! its own thread) through a bounded channel, so memory stays bounded whatever the server
//! sends. The HTTP side is reqwest (hyper): redirects, chunked bodies, a connect timeout
//! and a per-read timeout (a server that stops sending ends the input with one line); TLS
//! is rustls with ring and the webpki roots, as the rest of the workspace. URLs in
//! messages are redacted (passwords and secret query values masked).

mod hls;
mod icy;

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::byte_stream;
use super::{ChannelReader, FileSender};
use crate::contract::InputEvent;
use crate::{Error, Options, SecretUrl};

/// Chunks (as the server sent them, typically 4–16 KiB) between the HTTP side and the
/// reader.
const CHUNKS: usize = 64;
/// How long a connection may take, and a read may wait for bytes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A playlist larger than this is refused (a live one is a few KiB).
const MAX_PLAYLIST: usize = 1 << 20;

/// Waits before reconnecting: the first, and the most (doubled in between; reset once a
/// session has run for [`STEADY`]).
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);
const STEADY: Duration = Duration::from_secs(30);

/// Reads `url`. Without rotation one session is read and its end ends the input; with
/// rotation (`--segment`, a radio or camera archive) a stream that ends or fails is
/// fetched again after a growing delay, each new session an
/// [`InputEvent::Discontinuity`] (a new file), as for RTSP.
pub(crate) async fn run(
    url: &SecretUrl,
    options: &Options,
    tx: mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = url.to_string();
    let client = client(&name, options.tls_ca.as_deref())?;
    let mut delay = FIRST_DELAY;
    loop {
        let started = tokio::time::Instant::now();
        let result = session(&client, url, &name, tx.clone(), stop.clone()).await;
        let finished = matches!(result, Ok(Finite(true)));
        if finished || options.segment.is_none() || *stop.borrow() || tx.is_closed() {
            return result.map(|_| ());
        }
        if started.elapsed() >= STEADY {
            delay = FIRST_DELAY;
        }
        match &result {
            Err(e) => tracing::warn!("{e}; reconnecting in {} s", delay.as_secs()),
            Ok(_) => {
                tracing::warn!(input = %name, "the stream ended; reconnecting in {} s", delay.as_secs())
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        delay = (delay * 2).min(MAX_DELAY);
        if tx.send(InputEvent::Discontinuity).await.is_err() {
            return Ok(());
        }
    }
}

/// One GET of `url`, read to its end (or the reader's, or the stop).
async fn session(
    client: &reqwest::Client,
    url: &SecretUrl,
    name: &str,
    tx: mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<Finite, Error> {
    let (bytes_tx, bytes_rx) = mpsc::channel(CHUNKS);
    let reader = {
        let (reader_name, stop) = (name.to_owned(), stop.clone());
        super::on_reader_thread(name.to_owned(), move || {
            byte_stream::read(
                &reader_name,
                ChannelReader::new(bytes_rx),
                FileSender::unbatched(tx),
                &stop,
            )
        })
    };
    // The fetch may be waiting for a live playlist when the reader is done: its end (the
    // channel closed) ends the fetch at once, as the pipeline's stop does.
    let reader_gone = bytes_tx.clone();
    let fetched = tokio::select! {
        fetched = fetch(client, url, name, bytes_tx) => fetched,
        _ = reader_gone.closed() => Ok(Finite(false)),
        _ = stop.wait_for(|s| *s) => Ok(Finite(false)),
    };
    drop(reader_gone);
    let read = reader.await;
    // A failed fetch explains an empty or cut stream better than the reader can.
    let finite = fetched?;
    read.map(|()| finite)
}

/// Whether what was read is all there is (a file, a finished playlist, read to its
/// end): no reconnection reads it again.
struct Finite(bool);

/// Fetches `url` and sends its media bytes to `out` until the end, or until the reader
/// is gone.
async fn fetch(
    client: &reqwest::Client,
    url: &SecretUrl,
    name: &str,
    out: mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<Finite, Error> {
    let response = match get(client, url.expose(), name).await {
        Err(e) if icy::refused_status_line(&e) && url.expose().starts_with("http://") => {
            return icy::fetch(url, name, &out).await;
        }
        other => other?,
    };
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let location = response.url().clone();
    let mut response = response;
    // The first bytes too: a server may send a playlist as `text/plain`.
    let first = response
        .chunk()
        .await
        .map_err(|e| failed(name, e))?
        .unwrap_or_default();
    if content_type.contains("mpegurl")
        || location.path().ends_with(".m3u8")
        || first.starts_with(b"#EXTM3U")
    {
        let text = playlist_text(first, response, name).await?;
        return hls::run(client, location, text, name, &out).await;
    }
    tracing::info!(input = %name, content_type, "reading the HTTP stream");
    // A body of known length is a file; a live stream has none (chunked or to the close).
    let finite = response.content_length().is_some();
    if !first.is_empty() && out.send(Ok(first)).await.is_err() {
        return Ok(Finite(false));
    }
    forward(response, name, &out)
        .await
        .map(|ended| Finite(finite && ended))
}

/// Sends the body's chunks to `out`: `Ok(true)` at its end, `Ok(false)` once the reader
/// is gone.
async fn forward(
    mut response: reqwest::Response,
    name: &str,
    out: &mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<bool, Error> {
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if out.send(Ok(chunk)).await.is_err() {
                    return Ok(false);
                }
            }
            Ok(None) => return Ok(true),
            Err(e) => return Err(failed(name, e)),
        }
    }
}

/// GET `url`; a status other than 2xx is an error naming it.
async fn get(client: &reqwest::Client, url: &str, name: &str) -> Result<reqwest::Response, Error> {
    let response = client.get(url).send().await.map_err(|e| failed(name, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Input {
            input: name.to_owned(),
            reason: format!("the server answered {status}"),
        });
    }
    Ok(response)
}

/// A playlist's text (`first`, the bytes already read of it, then the rest), at most
/// [`MAX_PLAYLIST`] bytes.
async fn playlist_text(
    first: Bytes,
    mut response: reqwest::Response,
    name: &str,
) -> Result<String, Error> {
    let mut text = first.to_vec();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(name, e))? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_PLAYLIST {
            return Err(Error::Input {
                input: name.to_owned(),
                reason: format!("a playlist of over {MAX_PLAYLIST} bytes"),
            });
        }
    }
    String::from_utf8(text).map_err(|_| Error::Input {
        input: name.to_owned(),
        reason: "the playlist is not UTF-8 text".into(),
    })
}

/// One line for a failed request, its URLs redacted.
fn failed(name: &str, e: reqwest::Error) -> Error {
    use std::error::Error as _;
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut reason = if timed_out {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Input {
        input: name.to_owned(),
        reason: media_core::redact_text(&reason),
    }
}

/// The HTTP client: our rustls configuration (ring, the webpki roots and the CA file
/// given), timeouts, our name.
fn client(name: &str, tls_ca: Option<&std::path::Path>) -> Result<reqwest::Client, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = tls_ca {
        let unreadable = |e: &dyn std::fmt::Display| Error::Input {
            input: name.to_owned(),
            reason: format!("the CA file {}: {e}", path.display()),
        };
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
            let certificate = certificate.map_err(|e| unreadable(&e))?;
            roots.add(certificate).map_err(|e| unreadable(&e))?;
        }
    }
    // The provider is named, not taken from the process default: another crate enabling
    // a second provider must not change (or break) ours.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Input {
            input: name.to_owned(),
            reason: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("pipeline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(name, e))
}
