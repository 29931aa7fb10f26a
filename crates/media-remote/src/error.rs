//! The crate's one error type. Permanent errors (a wrong token, another protocol version,
//! a peer that does not speak this protocol at the handshake, a track or packet this
//! protocol cannot carry) would only repeat on another attempt; the others (network,
//! timeouts, a broken connection) are worth a reconnection. See [`Error::is_permanent`].

use crate::protocol::{ErrorCode, Message};

/// What went wrong serving or receiving live packets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// data-stream refused the bytes: not a frame, an oversize frame, a broken stream.
    #[error("{0}")]
    Stream(#[source] data_stream::Error),
    /// A message that this protocol does not allow here, after the handshake.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The peer's handshake is not this protocol's (another version in `welcome`, media
    /// before `welcome`, another first message).
    #[error("bad handshake: {0}")]
    Handshake(String),
    /// The server refused (or warned) with an `error` message.
    #[error("refused: {code}: {message}")]
    Refused {
        /// Why.
        code: ErrorCode,
        /// The server's words.
        message: String,
    },
    /// The peer took too long.
    #[error("timed out {0}")]
    Timeout(String),
    /// The peer closed the connection without saying `goodbye`.
    #[error("the {0} closed the connection")]
    Closed(&'static str),
    /// The connection (or binding, or resolving) failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Serving on an address other than loopback without a token.
    #[error("serving on the non-loopback address {0} needs a token (--token)")]
    NeedsToken(String),
    /// A codec this protocol version has no wire name for.
    #[error("track {track}: the {codec} codec has no name in protocol version {version}")]
    UnknownCodec {
        /// Track index.
        track: usize,
        /// The codec's name.
        codec: &'static str,
        /// This build's protocol version.
        version: u32,
    },
    /// A kind of track (neither video nor audio) this protocol version has no wire name
    /// for.
    #[error("track {track}: its kind of media has no name in protocol version {version}")]
    UnknownMediaKind {
        /// Track index.
        track: usize,
        /// This build's protocol version.
        version: u32,
    },
    /// A track whose stream header is bigger than clients accept.
    #[error(
        "track {track} ({codec}) needs a {size}-byte stream header, over the {max} bytes clients accept"
    )]
    TrackHeaderTooLarge {
        /// Track index.
        track: usize,
        /// The codec's name.
        codec: &'static str,
        /// The header's size.
        size: usize,
        /// The largest header clients accept.
        max: usize,
    },
    /// A client tried to connect for [`RemoteSettings::retry_for`](crate::RemoteSettings)
    /// without success and gave up.
    #[error("gave up after {} s and {attempts} attempts: {last}", .retry_for.as_secs_f32())]
    GaveUp {
        /// The bound that was reached.
        retry_for: std::time::Duration,
        /// Connection attempts made in this outage.
        attempts: u32,
        /// Why the last attempt failed.
        #[source]
        last: Box<Error>,
    },
    /// A packet bigger than the protocol carries.
    #[error("packet of {size} bytes on track {track} exceeds the protocol's {max} bytes")]
    PacketTooLarge {
        /// Track index.
        track: usize,
        /// Payload size.
        size: usize,
        /// Largest payload.
        max: usize,
    },
}

impl From<data_stream::Error> for Error {
    fn from(e: data_stream::Error) -> Self {
        Error::Stream(e)
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether another attempt would only repeat the error: a wrong or missing token,
    /// another protocol version, a bad handshake, a client that already gave up
    /// retrying, or a track, packet or address this protocol cannot serve. Network errors, timeouts, a busy server and a broken
    /// connection are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Refused { code, .. } => matches!(
                code,
                ErrorCode::Unauthorized | ErrorCode::UnsupportedVersion
            ),
            Error::Handshake(_)
            | Error::GaveUp { .. }
            | Error::NeedsToken(_)
            | Error::UnknownCodec { .. }
            | Error::UnknownMediaKind { .. }
            | Error::TrackHeaderTooLarge { .. }
            | Error::PacketTooLarge { .. } => true,
            Error::Stream(_)
            | Error::Protocol(_)
            | Error::Timeout(_)
            | Error::Closed(_)
            | Error::Io { .. } => false,
        }
    }

    /// The `error` message a server sends for this, when the peer may still read.
    pub(crate) fn answer(&self) -> Option<Message> {
        let (code, message) = match self {
            Error::Stream(e) => (ErrorCode::Protocol, e.to_string()),
            Error::Protocol(m) | Error::Handshake(m) => (ErrorCode::Protocol, m.clone()),
            Error::Refused { code, message } => (*code, message.clone()),
            Error::Timeout(m) => (ErrorCode::Timeout, format!("timed out {m}")),
            _ => return None,
        };
        Some(Message::Error { code, message })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn permanent_and_transient() {
        let refused = |code| Error::Refused {
            code,
            message: String::new(),
        };
        assert!(refused(ErrorCode::Unauthorized).is_permanent());
        assert!(refused(ErrorCode::UnsupportedVersion).is_permanent());
        assert!(!refused(ErrorCode::Busy).is_permanent());
        assert!(Error::Handshake("welcome version 2".into()).is_permanent());
        let io = Error::io("connecting", std::io::ErrorKind::ConnectionRefused.into());
        assert!(!io.is_permanent());
        assert!(
            io.source().is_some(),
            "the io error is carried as the source"
        );
        assert!(!Error::Closed("server").is_permanent());
    }
}
