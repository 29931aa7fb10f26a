//! The crate's one error type.
//!
//! Every variant names the camera by its redacted URL (`rtsp://user:***@host/path`), never
//! with the password. RTSP failures keep retina's error as the source: its message points
//! at the offending RTSP message or packet (connection, byte position, sequence number).
//! Our own line says what happened in one short sentence instead of repeating retina's
//! several-line text (context lines, a hex dump of what a non-RTSP server sent): see
//! [`describe`].

use std::time::Duration;

/// Errors of this crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse or is not `rtsp://`.
    #[error("invalid RTSP URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password removed.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// An option's text is not one of the accepted spellings.
    #[error("invalid {name} {value:?}: expected {expected}")]
    InvalidOption {
        /// The option's type.
        name: &'static str,
        /// The text given.
        value: String,
        /// The accepted spellings.
        expected: String,
    },

    /// The server answered 401 and the credentials were missing or refused.
    #[error("{url}: {method} was refused with 401 Unauthorized ({detail})")]
    Unauthorized {
        /// The URL, password removed.
        url: String,
        /// The RTSP method that was refused.
        method: &'static str,
        /// Why: no credentials supplied, or the credentials were refused.
        detail: String,
    },

    /// None of the selected streams can be depacketized (or none matched the selection).
    #[error("{url}: no selected stream is supported; the server offers: {offered}")]
    NoSupportedStream {
        /// The URL, password removed.
        url: String,
        /// The streams offered, e.g. `video/h264 (supported), audio/opus (no depacketizer)`.
        offered: String,
    },

    /// Connecting, DESCRIBE, SETUP and PLAY did not finish in time.
    #[error("{url}: opening did not finish within {timeout:?} (stuck in {stage})")]
    OpenTimeout {
        /// The URL, password removed.
        url: String,
        /// The limit.
        timeout: Duration,
        /// The step that was running: `DESCRIBE`, `SETUP` or `PLAY`.
        stage: &'static str,
    },

    /// No frame arrived for this long while playing.
    #[error(
        "{url}: no frame for {timeout:?} after {frames} frame(s); the server's source may have ended"
    )]
    IdleTimeout {
        /// The URL, password removed.
        url: String,
        /// The limit.
        timeout: Duration,
        /// Frames received in this session before the silence.
        frames: u64,
    },

    /// The server closed the connection (retina reports end of stream).
    #[error("{url}: the server closed the session after {frames} frame(s)")]
    ServerClosed {
        /// The URL, password removed.
        url: String,
        /// Frames received in this session.
        frames: u64,
    },

    /// Packets were lost and [`crate::RtspOptions::allow_loss`] is off.
    #[error("{url}: {lost} RTP packet(s) lost before a frame of track {track} (allow_loss is off)")]
    PacketLoss {
        /// The URL, password removed.
        url: String,
        /// Index of the track in [`crate::Tracks`].
        track: usize,
        /// Packets lost.
        lost: u16,
    },

    /// An RTSP request or the RTP stream failed.
    #[error("{url}: {stage} failed: {detail}")]
    Rtsp {
        /// The URL, password removed.
        url: String,
        /// What was being done: `DESCRIBE`, `SETUP`, `PLAY`, `streaming`, `TEARDOWN`.
        stage: &'static str,
        /// The RTSP status code when the server answered with an error.
        status: Option<u16>,
        /// What went wrong, in one line (from retina's description, URLs masked).
        detail: String,
        /// The RTSP library's full description, with the connection and message context.
        #[source]
        source: ProtocolError,
    },

    /// `TEARDOWN` did not finish in time.
    #[error("{url}: TEARDOWN did not finish within {timeout:?}")]
    TeardownTimeout {
        /// The URL, password removed.
        url: String,
        /// The limit.
        timeout: Duration,
    },
}

impl Error {
    /// Whether trying again cannot help without a change of configuration: bad URL or
    /// option, refused credentials, nothing supported. The reconnecting supervisor stops on
    /// these by default.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidUrl { .. }
            | Error::InvalidOption { .. }
            | Error::Unauthorized { .. }
            | Error::NoSupportedStream { .. } => true,
            Error::Rtsp { status, .. } => matches!(status, Some(403)),
            _ => false,
        }
    }

    /// Wraps a retina error from `stage`, recognising 401.
    pub(crate) fn from_retina(url: &str, stage: &'static str, source: retina::Error) -> Self {
        let status = source.status_code();
        let detail = describe(&source.to_string());
        if status == Some(401) {
            return Error::Unauthorized {
                url: url.to_owned(),
                method: stage,
                detail: unauthorized(&detail),
            };
        }
        Error::Rtsp {
            url: url.to_owned(),
            stage,
            status,
            detail,
            source: ProtocolError(source),
        }
    }
}

/// The RTSP library's own error, kept opaque so that upgrading it is not a breaking change
/// for users of this crate: its `Display` is the full description (connection, message
/// context, bytes received) and [`std::error::Error::source`] continues the chain.
#[derive(Clone)]
pub struct ProtocolError(retina::Error);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// At most this many received bytes are quoted when a server answers something else than
/// RTSP: enough to recognise an HTTP server, an SSH banner or a TLS alert.
const QUOTED_BYTES: usize = 32;

/// One line from retina's description: its first paragraph (the context lines after the
/// blank line are for Wireshark, and retina keeps them in the source), URLs masked, and a
/// hex dump of received bytes replaced by the bytes quoted briefly.
pub(crate) fn describe(retina_text: &str) -> String {
    let first = retina_text.split("\n\n").next().unwrap_or("");
    let line = match first.split_once("; buffered:") {
        // retina 0.4 (src/tokio.rs): "Invalid RTSP message: …; buffered:\n<hex dump>" and
        // "Incomplete RTSP message at EOF (…); buffered:\n<hex dump>".
        Some((what, dump)) => {
            let received = quote_dump(dump);
            if what.contains("Incomplete RTSP message at EOF") {
                format!("the server closed the connection in the middle of an answer ({received})")
            } else {
                format!("the server's answer is not RTSP ({received})")
            }
        }
        None => first.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    media_core::redact_text(&line)
}

/// `Length: N (0xN) bytes` and `pretty_hex` lines (`0000:   3c 21 44 4f  …   <!DOC…`)
/// → `N bytes: "<!DOCTYPE HTML>\n<html…"…`. The hex columns are read, not the ASCII
/// column, which shows line breaks and other controls as dots.
fn quote_dump(dump: &str) -> String {
    let mut lines = dump.lines().map(str::trim).filter(|l| !l.is_empty());
    let total = lines
        .next()
        .and_then(|l| l.strip_prefix("Length: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok());
    let Some(total) = total else {
        return "received bytes not shown".to_owned();
    };
    let wanted = total.min(QUOTED_BYTES);
    let mut bytes = Vec::with_capacity(wanted);
    for line in lines {
        let Some((offset, rest)) = line.split_once(':') else {
            break;
        };
        if offset.len() != 4 || !offset.bytes().all(|b| b.is_ascii_hexdigit()) {
            break;
        }
        // A line holds 16 bytes; the last holds the rest, followed by the ASCII column,
        // whose words could look like hex: read only as many as are due.
        let due = (wanted - bytes.len()).min(16);
        bytes.extend(
            rest.split_whitespace()
                .take(due)
                .map_while(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.len() == 2)),
        );
        if bytes.len() >= wanted {
            break;
        }
    }
    let more = if total > bytes.len() { "…" } else { "" };
    format!(
        "{total} byte{}: \"{}\"{more}",
        if total == 1 { "" } else { "s" },
        String::from_utf8_lossy(&bytes).escape_debug()
    )
}

/// retina says "after trying digest auth" whatever the scheme was (Basic too): say what
/// happened instead.
fn unauthorized(detail: &str) -> String {
    if detail.contains("after trying digest auth") {
        "the server refused the credentials".to_owned()
    } else if detail.contains("no credentials supplied") {
        "the server asks for credentials and no credentials were given".to_owned()
    } else if detail.contains("without WWW-Authenticate") {
        "the server gave no WWW-Authenticate header".to_owned()
    } else {
        // "401 Unauthorized response to DESCRIBE CSeq=2: …": the part after the colon.
        detail
            .split_once(": ")
            .map_or(detail, |(_, d)| d)
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// retina 0.4.21's text for an HTTP server's error page (src/tokio.rs, src/hex.rs).
    const HTML_ANSWER: &str = "RTSP framing error: Invalid RTSP message: byte 0: request-line > method; buffered:\n\
        Length: 364 (0x16c) bytes\n\
        0000:   3c 21 44 4f  43 54 59 50  45 20 48 54  4d 4c 3e 0a   <!DOCTYPE HTML>.\n\
        0010:   3c 68 74 6d  6c 20 6c 61  6e 67 3d 22  65 6e 22 3e   <html lang=\"en\">\n\
        0020:   0a 20 20 20  20 3c 68 65  61 64 3e 0a  20 20 20 20   .    <head>.    \n\
        ...236 (0xec) bytes not shown...\n\n\
        conn: 127.0.0.1:43910(me)->127.0.0.1:18765@2026-12-04T18:32:35Z\nmsg: 0@2026-12-04T18:32:35Z";

    #[test]
    fn a_hex_dump_becomes_a_short_quote() {
        assert_eq!(
            describe(HTML_ANSWER),
            "the server's answer is not RTSP (364 bytes: \"<!DOCTYPE HTML>\\n<html lang=\\\"en\\\">\"…)"
        );
        let short = "RTSP framing error: Incomplete RTSP message at EOF (x); buffered:\n\
            Length: 3 (0x3) bytes\n0000:   61 62 0a   ab.\n\nconn: c";
        assert_eq!(
            describe(short),
            "the server closed the connection in the middle of an answer (3 bytes: \"ab\\n\")"
        );
    }

    #[test]
    fn context_lines_go_and_urls_are_masked() {
        assert_eq!(
            describe("Invalid argument: Bad URL rtsp://h/x?token=t0k; no\n\nconn: c\nmsg: m"),
            "Invalid argument: Bad URL rtsp://h/x?token=***; no"
        );
    }

    #[test]
    fn odd_dumps_do_not_panic() {
        for text in [
            "; buffered:",
            "; buffered:\nLength: x",
            "; buffered:\nLength: 99999999999999999999 (0x0) bytes\n0000:   zz",
            "; buffered:\nLength: 2 (0x2) bytes\n0000:",
            "; buffered:\nLength: 40 (0x28) bytes\n0000:   41 42\n0010:   ff fe",
        ] {
            let _ = describe(text);
        }
    }

    #[test]
    fn refusals_are_named_for_what_happened() {
        let basic = "401 Unauthorized response to DESCRIBE CSeq=2: Received Unauthorized after trying digest auth";
        assert_eq!(unauthorized(basic), "the server refused the credentials");
        assert_eq!(
            unauthorized(
                "401 Unauthorized response to DESCRIBE CSeq=1: Authentication requested and no credentials supplied"
            ),
            "the server asks for credentials and no credentials were given"
        );
    }
}
