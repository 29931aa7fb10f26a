//! The crate's one error type, and why a server refused a source.
//!
//! Icecast 2.4.4 answers 403 "Forbidden" for several causes and puts the cause in the body
//! (`client_send_40x` in `src/connection.c`), so the body is read, not the reason phrase;
//! Icecast 2.5 (`src/errors.c`) uses distinct codes (409, 415, 503). Both map to one
//! [`IcecastRefusal`].

/// Errors of the Icecast source client. Every URL shown has its password masked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL that cannot be used as an Icecast target.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, credentials masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused or dropped the source, or answered something else than HTTP.
    #[error("icecast {target}: {refusal}")]
    Refused {
        /// The server and mount, credentials masked.
        target: String,
        /// Why.
        #[source]
        refusal: IcecastRefusal,
    },
    /// Waiting for something took too long.
    #[error("timed out {what}")]
    Timeout {
        /// What we were waiting for (the target named with its password masked).
        what: String,
    },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An input is not MP3 (or holds no MPEG audio frames), or a pushed frame is not what
    /// the stream's content type says.
    #[error("{input}: not MP3 ({found})")]
    NotMp3 {
        /// The input's name.
        input: String,
        /// What was found instead.
        found: String,
    },
    /// A pushed frame of an `audio/aac` stream is not an ADTS frame.
    #[error("{input}: not ADTS AAC ({found})")]
    NotAdts {
        /// The input's name.
        input: String,
        /// What was found instead.
        found: String,
    },
    /// An input or pushed frame of an `application/ogg` stream is not Ogg Opus/Vorbis
    /// pages.
    #[error("{input}: not Ogg Opus or Vorbis ({found})")]
    NotOgg {
        /// The input's name.
        input: String,
        /// What was found instead.
        found: String,
    },
    /// An input has another format than the stream (listeners' decoders were set up for
    /// the first one).
    #[error("{input}: format change at byte {offset}: stream is {from}, this is {to}")]
    FormatChange {
        /// The input's name.
        input: String,
        /// Offset of the first frame of the new format (frame index for pushed frames).
        offset: u64,
        /// The stream's format.
        from: String,
        /// The input's format.
        to: String,
    },
    /// An MP3 parsing error.
    #[error("{context}: {source}")]
    Mp3 {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: mp3_frames::Error,
    },
    /// Mute needs silence of the stream's format, which this crate writes for MP3, ADTS
    /// AAC (Main, LC or LTP, channel configuration in the header), Ogg Opus (mono or
    /// stereo) and Ogg Vorbis (from the stream's setup header, when it can be read). A
    /// refused mute's `Event::CommandRefused` reason is this error's text followed by the
    /// cause.
    #[error("mute is not possible on this {content_type} stream")]
    MuteUnsupported {
        /// The stream's content type.
        content_type: &'static str,
    },
    /// The stream has ended (see [`IcecastStream::wait`](crate::IcecastStream) for why), so
    /// it takes no more frames.
    #[error("the icecast stream has ended")]
    Closed,
}

impl Error {
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying again cannot help: wrong credentials, a mount in use, an unsupported
    /// content type, a bad URL or input. Network errors, timeouts and a restarting server
    /// are transient.
    ///
    /// A stream that lost its connection still retries "mount in use" for a while: right
    /// after a drop, the mount is usually held by our own dead connection until the server
    /// notices (DSheirer/sdrtrunk#132).
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Refused { refusal, .. } => refusal.is_permanent(),
            Error::Timeout { .. } | Error::Io { .. } | Error::Closed => false,
            Error::InvalidUrl { .. }
            | Error::NotMp3 { .. }
            | Error::NotAdts { .. }
            | Error::NotOgg { .. }
            | Error::FormatChange { .. }
            | Error::Mp3 { .. }
            | Error::MuteUnsupported { .. } => true,
        }
    }

    /// The refusal, when the server refused.
    pub fn refusal(&self) -> Option<&IcecastRefusal> {
        match self {
            Error::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}

/// Why an Icecast server refused or dropped a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IcecastRefusal {
    /// 401: wrong or missing source credentials.
    #[error("wrong credentials (401)")]
    WrongCredentials,
    /// The mount already has a source (403 "Mountpoint in use", or 409).
    #[error("mount in use")]
    MountInUse,
    /// The server does not accept this content type (403 "Content-type not supported",
    /// 403 "No Content-type given", or 415).
    #[error("unsupported content type: {0}")]
    UnsupportedContentType(String),
    /// The server's source limit is reached (403 "too many sources connected", or 503).
    #[error("too many sources connected")]
    TooManySources,
    /// The mount does not exist (metadata update for a mount without a source).
    #[error("no source on this mount")]
    NoSuchMount,
    /// Any other status, with the server's text.
    #[error("HTTP {status}: {text}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Body (or reason phrase), trimmed.
        text: String,
    },
    /// The server's answer was not HTTP as expected.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl IcecastRefusal {
    /// Classifies a non-2xx answer by its status and body (Icecast 2.4 puts the cause in
    /// the body of a plain 403).
    pub fn from_answer(status: u16, body: &str) -> Self {
        let lower = body.to_ascii_lowercase();
        match status {
            401 => IcecastRefusal::WrongCredentials,
            409 => IcecastRefusal::MountInUse,
            415 => IcecastRefusal::UnsupportedContentType(body.trim().to_owned()),
            503 if lower.contains("too many") => IcecastRefusal::TooManySources,
            _ if lower.contains("mountpoint in use") => IcecastRefusal::MountInUse,
            _ if lower.contains("content-type") || lower.contains("content type") => {
                IcecastRefusal::UnsupportedContentType(body.trim().to_owned())
            }
            _ if lower.contains("too many sources") => IcecastRefusal::TooManySources,
            _ if lower.contains("source does not exist") => IcecastRefusal::NoSuchMount,
            _ => IcecastRefusal::Status {
                status,
                text: body.trim().chars().take(200).collect(),
            },
        }
    }

    /// Whether asking again cannot help: wrong credentials, a mount in use, an unsupported
    /// content type, a missing mount, and other 4xx answers. The source limit, 5xx and
    /// garbled answers (a server restarting) are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            IcecastRefusal::WrongCredentials
            | IcecastRefusal::MountInUse
            | IcecastRefusal::UnsupportedContentType(_)
            | IcecastRefusal::NoSuchMount => true,
            IcecastRefusal::Status { status, .. } => (400..500).contains(status),
            IcecastRefusal::TooManySources | IcecastRefusal::Protocol(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IcecastRefusal as R;
    use super::*;

    #[test]
    fn icecast_2_4_and_2_5_answers_are_told_apart() {
        assert_eq!(
            R::from_answer(401, "You need to authenticate\n"),
            R::WrongCredentials
        );
        assert_eq!(R::from_answer(403, "Mountpoint in use"), R::MountInUse);
        assert_eq!(R::from_answer(409, ""), R::MountInUse);
        assert!(matches!(
            R::from_answer(403, "Content-type not supported"),
            R::UnsupportedContentType(_)
        ));
        assert!(matches!(
            R::from_answer(403, "No Content-type given"),
            R::UnsupportedContentType(_)
        ));
        assert!(matches!(
            R::from_answer(415, ""),
            R::UnsupportedContentType(_)
        ));
        assert_eq!(
            R::from_answer(403, "too many sources connected"),
            R::TooManySources
        );
        assert_eq!(R::from_answer(400, "Source does not exist"), R::NoSuchMount);
        assert_eq!(
            R::from_answer(500, "boom"),
            R::Status {
                status: 500,
                text: "boom".into()
            }
        );
    }

    #[test]
    fn permanent_and_transient_are_told_apart() {
        let refused = |refusal| Error::Refused {
            target: "icecast://source:***@h:8000/m".into(),
            refusal,
        };
        for permanent in [
            R::WrongCredentials,
            R::MountInUse,
            R::UnsupportedContentType("x".into()),
        ] {
            assert!(refused(permanent).is_permanent());
        }
        for transient in [
            R::TooManySources,
            R::Protocol("cut short".into()),
            R::Status {
                status: 503,
                text: String::new(),
            },
        ] {
            assert!(!refused(transient).is_permanent());
        }
        let reset = Error::io(
            "sending",
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert!(!reset.is_permanent());
        assert!(
            std::error::Error::source(&refused(R::MountInUse)).is_some(),
            "the refusal is the source"
        );
    }
}
