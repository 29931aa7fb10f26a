//! SRT endpoints: `srt://host:port` (caller) and `srt-listen://[addr]:port` (listener),
//! input or output, with MPEG-TS inside (the usual SRT payload; muxed and demuxed by
//! `mpeg_ts` in `source/ts` and `sink/ts`). The protocol (handshake, ARQ, latency,
//! AES encryption) is srt-tokio's; this module reads the URL and opens the connection.
//!
//! Query options: `streamid=ID` (caller: sent in the handshake), `passphrase=SECRET`
//! (10 to 79 characters, as libsrt; masked in every message), `pbkeylen=16|24|32` (AES
//! key length in bytes with a passphrase, default 16), `latency=MS` (receive and
//! peer latency in milliseconds; srt-tokio's default 120 ms otherwise). A listener
//! with no address listens on 127.0.0.1; give `0.0.0.0` to listen on every interface.
//! A listener takes one caller: the stream ends when that caller leaves.

use std::net::SocketAddr;
use std::time::Duration;

use media_core::SecretUrl;
use srt_tokio::options::{KeySize, Passphrase};
use srt_tokio::{SrtSocket, SrtSocketBuilder};

use crate::Error;

/// Whether we call or listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Caller,
    Listener,
}

/// An SRT endpoint read from its URL, checked before anything connects. Its `Debug`
/// shows the masked URL only (the passphrase is a secret).
#[derive(Clone)]
pub(crate) struct SrtConfig {
    pub(crate) url: SecretUrl,
    pub(crate) mode: Mode,
    /// `host:port` (caller: resolved when connecting; listener: an IP address).
    host_port: String,
    stream_id: Option<String>,
    passphrase: Option<String>,
    key_size: u16,
    /// Whether `pbkeylen` was given (a listener otherwise takes the caller's).
    key_size_given: bool,
    latency: Option<Duration>,
}

impl std::fmt::Debug for SrtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtConfig({})", self.url)
    }
}

impl SrtConfig {
    /// Reads `srt://host:port[?…]` or `srt-listen://[addr]:port[?…]`.
    pub(crate) fn parse(url: &str) -> Result<SrtConfig, Error> {
        let shown = SecretUrl::new(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown.to_string(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("no scheme".into()))?;
        let mode = match scheme.to_ascii_lowercase().as_str() {
            "srt" => Mode::Caller,
            "srt-listen" => Mode::Listener,
            other => return Err(invalid(format!("not an SRT scheme: {other}"))),
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(invalid("an SRT URL has no path (use ?streamid=…)".into()));
        }
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| invalid("no port".into()))?;
        port.parse::<u16>()
            .map_err(|_| invalid(format!("bad port {port:?}")))?;
        let host = match (mode, host) {
            (Mode::Caller, "") => return Err(invalid("no host to call".into())),
            (Mode::Listener, "") => "127.0.0.1",
            (_, h) => h,
        };
        if mode == Mode::Listener
            && host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
        {
            return Err(invalid(format!(
                "a listener needs an IP address, not {host:?}"
            )));
        }
        let mut config = SrtConfig {
            url: shown.clone(),
            mode,
            host_port: format!("{host}:{port}"),
            stream_id: None,
            passphrase: None,
            key_size: 16,
            key_size_given: false,
            latency: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| invalid(format!("{key}: not UTF-8")))?
                .into_owned();
            match key {
                "streamid" => config.stream_id = Some(value),
                "passphrase" => {
                    // srt-tokio panics outside 10..=79; libsrt refuses the same.
                    if !(10..=79).contains(&value.len()) {
                        return Err(invalid(format!(
                            "the passphrase has {} characters; SRT takes 10 to 79",
                            value.len()
                        )));
                    }
                    config.passphrase = Some(value);
                }
                "pbkeylen" => {
                    config.key_size = match value.as_str() {
                        "16" => 16,
                        "24" => 24,
                        "32" => 32,
                        _ => {
                            return Err(invalid(format!("pbkeylen {value:?}: takes 16, 24 or 32")));
                        }
                    };
                    config.key_size_given = true;
                }
                "latency" => {
                    let ms = value
                        .parse::<u64>()
                        .ok()
                        .filter(|&ms| ms <= 60_000)
                        .ok_or_else(|| {
                            invalid(format!("latency {value:?}: milliseconds, at most 60000"))
                        })?;
                    config.latency = Some(Duration::from_millis(ms));
                }
                other => {
                    return Err(invalid(format!(
                        "unknown option {other:?} (takes streamid, passphrase, pbkeylen, latency)"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// The latency asked for, else srt-tokio's default (120 ms). A peer takes the larger
    /// of its own and ours.
    pub(crate) fn latency(&self) -> Duration {
        self.latency.unwrap_or(Duration::from_millis(120))
    }

    /// srt-tokio's builder with our options. A listener leaves the key length to the
    /// caller unless `pbkeylen` was given: libsrt callers announce none by default, and
    /// srt-protocol 0.4.4 refuses a mismatch by panicking.
    fn builder(&self) -> SrtSocketBuilder {
        let mut builder = SrtSocket::builder();
        if let Some(latency) = self.latency {
            builder = builder.latency(latency);
        }
        if let Some(passphrase) = &self.passphrase {
            // Checked by `parse`, so these conversions cannot fail; no unwrap all the same.
            let key_size = match (self.mode, self.key_size_given) {
                (Mode::Listener, false) => KeySize::Unspecified,
                _ => KeySize::try_from(self.key_size).unwrap_or_default(),
            };
            let passphrase = Passphrase::try_from(passphrase.clone()).ok();
            builder = builder.set(|options| {
                options.encryption.key_size = key_size;
                options.encryption.passphrase = passphrase;
            });
        }
        builder
    }

    /// Connects (caller) or waits for one caller (listener).
    ///
    /// The handshake runs in a task of its own: srt-protocol 0.4.4 panics on some
    /// handshakes a peer can send (a key length or encryption that does not match ours),
    /// and a peer must not be able to end the pipeline that way. A caller gets an error;
    /// a listener logs the refused caller and listens again.
    pub(crate) async fn connect(&self) -> Result<SrtSocket, Error> {
        let failed = |what: &str, e: std::io::Error| Error::Srt {
            endpoint: self.url.to_string(),
            what: what.to_owned(),
            // srt-tokio's refusals carry no message: say their kind ("connection refused").
            source: if e.to_string().is_empty() {
                std::io::Error::new(e.kind(), e.kind().to_string())
            } else {
                e
            },
        };
        let panicked = |e: tokio::task::JoinError| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!(
                    "the handshake failed inside srt-protocol ({e}); the peer's encryption settings may not match"
                ),
            )
        };
        match self.mode {
            Mode::Caller => {
                let addr = tokio::net::lookup_host(&self.host_port)
                    .await
                    .map_err(|e| failed("resolving the host", e))?
                    .next()
                    .ok_or_else(|| {
                        failed("resolving the host", std::io::ErrorKind::NotFound.into())
                    })?;
                let what = if self.passphrase.is_some() {
                    "connecting (no listener, a refusal, or a passphrase that does not match)"
                } else {
                    "connecting (no listener, a refusal, or the listener wants a passphrase)"
                };
                let builder = self.builder();
                let stream_id = self.stream_id.clone();
                tokio::spawn(async move { builder.call(addr, stream_id.as_deref()).await })
                    .await
                    .map_err(|e| failed(what, panicked(e)))?
                    .map_err(|e| failed(what, e))
            }
            Mode::Listener => {
                let addr: SocketAddr = self
                    .host_port
                    .replace(['[', ']'], "")
                    .rsplit_once(':')
                    .and_then(|(ip, port)| {
                        Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
                    })
                    .ok_or_else(|| {
                        failed(
                            "reading the address",
                            std::io::ErrorKind::InvalidInput.into(),
                        )
                    })?;
                tracing::info!(endpoint = %self.url, "waiting for an SRT caller");
                loop {
                    let listen = self.builder().local(addr).listen();
                    match tokio::spawn(listen).await {
                        Ok(socket) => {
                            let socket = socket.map_err(|e| failed("listening", e))?;
                            tracing::info!(endpoint = %self.url, "SRT caller connected");
                            return Ok(socket);
                        }
                        Err(e) => {
                            tracing::warn!(endpoint = %self.url, "refused a caller: {}", panicked(e))
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_caller_and_listener_urls() {
        let c = SrtConfig::parse("srt://127.0.0.1:9000?streamid=cam1&latency=200").unwrap();
        assert_eq!(c.mode, Mode::Caller);
        assert_eq!(c.host_port, "127.0.0.1:9000");
        assert_eq!(c.stream_id.as_deref(), Some("cam1"));
        assert_eq!(c.latency, Some(Duration::from_millis(200)));
        let l = SrtConfig::parse("srt-listen://:9000").unwrap();
        assert_eq!(
            (l.mode, l.host_port.as_str()),
            (Mode::Listener, "127.0.0.1:9000")
        );
    }

    #[test]
    fn refuses_what_srt_cannot_take_and_hides_the_passphrase() {
        for (url, why) in [
            ("srt://h:1?passphrase=short", "10 to 79"),
            ("srt://h:1?pbkeylen=8", "16, 24 or 32"),
            ("srt://h:1?mode=listener", "unknown option"),
            ("srt://:1", "no host"),
            ("srt://h:1/path", "no path"),
            ("srt-listen://example.com:1", "IP address"),
        ] {
            let e = SrtConfig::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("short"), "{e}");
        }
        let c = SrtConfig::parse("srt://h:1?passphrase=0123456789abc").unwrap();
        assert!(!format!("{c:?} {}", c.url).contains("0123456789abc"));
    }
}
