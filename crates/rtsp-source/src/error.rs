//! The crate's one error type.
//!
//! Every variant names the camera by its redacted URL (`rtsp://user:***@host/path`), never
//! with the password. RTSP failures keep retina's error as the source: its message points
//! at the offending RTSP message or packet (connection, byte position, sequence number).

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
    #[error("{url}: {stage} failed: {source}")]
    Rtsp {
        /// The URL, password removed.
        url: String,
        /// What was being done: `DESCRIBE`, `SETUP`, `PLAY`, `streaming`, `TEARDOWN`.
        stage: &'static str,
        /// The RTSP status code when the server answered with an error.
        status: Option<u16>,
        /// retina's description.
        #[source]
        source: retina::Error,
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
        if status == Some(401) {
            let text = source.to_string();
            // retina's description is the line after "401 ... CSeq=N: ".
            let detail = text
                .lines()
                .next()
                .and_then(|l| l.split_once(": ").map(|(_, d)| d.to_owned()))
                .unwrap_or_else(|| "authentication failed".to_owned());
            return Error::Unauthorized {
                url: url.to_owned(),
                method: stage,
                detail,
            };
        }
        Error::Rtsp {
            url: url.to_owned(),
            stage,
            status,
            source,
        }
    }
}
