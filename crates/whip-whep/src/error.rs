//! The crate's one error type.

/// What can go wrong in WHEP/WHIP signalling and sessions.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket could not be bound, read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (address included).
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A server bound off loopback needs a bearer token.
    #[error("{0}: a WHEP/WHIP server bound off loopback needs a bearer token")]
    NeedsToken(String),
    /// The request body is not an SDP offer we can read.
    #[error("the SDP offer cannot be parsed: {source}")]
    BadOffer {
        /// The SDP parser's error.
        #[source]
        source: StackError,
    },
    /// The offer and the stream share no codec.
    #[error("no common codec: the offer has none of {ours}")]
    NoCommonCodec {
        /// What we could have sent or taken.
        ours: String,
    },
    /// The server's SDP answer cannot be used (a client's error).
    #[error("the SDP answer {reason}")]
    BadAnswer {
        /// What is wrong with it.
        reason: String,
        /// The SDP parser's or WebRTC stack's error, if it gave one.
        #[source]
        source: Option<StackError>,
    },
    /// The server answered the offer (or the DELETE) with another status than asked
    /// for (a client's error): its one-line body says why.
    #[error("{url}: the server answered {status}: {reason}")]
    Refused {
        /// The endpoint URL, without its query.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The first line of the server's body (a bearer token masked).
        reason: String,
    },
    /// The server's HTTP response cannot be read, or it took too long (a client's error).
    #[error("{url}: {reason}")]
    Signalling {
        /// The endpoint URL, without its query.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The WebRTC stack refused the offer or failed during the session.
    #[error("webrtc: {source}")]
    Rtc {
        /// The WebRTC stack's error.
        #[source]
        source: StackError,
    },
}

/// An error of the WebRTC stack (str0m), kept opaque so that upgrading it is not a
/// breaking change for users of this crate: its `Display` is the stack's description and
/// [`std::error::Error::source`] continues the chain.
pub struct StackError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl StackError {
    pub(crate) fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StackError(Box::new(error))
    }
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying cannot help (a bad offer, a missing token).
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Signalling { .. } => false,
            Error::Refused { status, .. } => !matches!(status, 408 | 429 | 500..),
            _ => true,
        }
    }
}

impl Error {
    /// The stack's error (no `From`: that would put str0m's type in this crate's API).
    pub(crate) fn rtc(source: impl Into<str0m::RtcError>) -> Self {
        Error::Rtc {
            source: StackError::new(source.into()),
        }
    }
}
