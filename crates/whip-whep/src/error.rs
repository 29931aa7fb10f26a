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
        /// str0m's SDP parser error.
        #[source]
        source: str0m::error::SdpError,
    },
    /// The offer and the stream share no codec.
    #[error("no common codec: the offer has none of {ours}")]
    NoCommonCodec {
        /// What we could have sent or taken.
        ours: String,
    },
    /// The WebRTC stack refused the offer or failed during the session.
    #[error("webrtc: {source}")]
    Rtc {
        /// str0m's error.
        #[source]
        source: str0m::RtcError,
    },
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
        !matches!(self, Error::Io { .. })
    }
}

impl From<str0m::RtcError> for Error {
    fn from(source: str0m::RtcError) -> Self {
        Error::Rtc { source }
    }
}
