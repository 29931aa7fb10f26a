//! Icecast source client: the wire protocol of Icecast 2.4 (and older servers' SOURCE method).
//!
//! - Stream: `PUT /mount HTTP/1.1` with `Expect: 100-continue`, Basic auth, `Content-Type:
//!   audio/mpeg`, `ice-*` headers; no Content-Length and no chunked encoding (Icecast's PUT
//!   does not support chunked). The server answers `100 Continue` then `200 OK` (or a bare
//!   `200`), and raw MP3 bytes follow for as long as the source streams. Servers older than
//!   2.4 do not know PUT: on 405/501/400 or a dropped connection we retry once with
//!   `SOURCE /mount HTTP/1.0`.
//! - Errors are read from the body as well as the status: Icecast 2.4 answers 403 for
//!   several causes ("Mountpoint in use", "Content-type not supported", "too many sources
//!   connected"); 2.5 uses distinct codes (409, 415, 503). Each gets its own
//!   [`IcecastRefusal`].
//! - Title: `GET /admin/metadata?mode=updinfo&charset=UTF-8&mount=…&song=…` on a separate
//!   connection with the source credentials, so UTF-8 titles arrive intact.

mod config;
mod console;
mod handle;
mod metadata;
mod pacer;
mod playlist;
mod source;
mod streamer;

pub use config::{IcecastConfig, StreamInfo};
pub use console::{forward_commands, parse_command};
pub use handle::{EventStream, IcecastStream};
pub use metadata::update_title;
pub use pacer::Pacer;
pub use playlist::Mp3Input;
pub use source::IcecastSource;
pub use streamer::{Command, Event, StreamOptions, WireFrame, stream_playlist};

/// Why an Icecast server refused or dropped a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IcecastRefusal {
    /// 401: wrong or missing source credentials. Not worth retrying.
    #[error("wrong credentials (401)")]
    WrongCredentials,
    /// The mount already has a source (403 "Mountpoint in use", or 409).
    #[error("mount in use")]
    MountInUse,
    /// The server does not accept this content type.
    #[error("unsupported content type: {0}")]
    UnsupportedContentType(String),
    /// The server's source limit is reached.
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
    pub(crate) fn from_answer(status: u16, body: &str) -> Self {
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

    /// Whether trying again later can help (a mount still held by our dropped connection
    /// frees itself; wrong credentials never do).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IcecastRefusal::MountInUse
                | IcecastRefusal::TooManySources
                | IcecastRefusal::Status { status: 500.., .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::IcecastRefusal as R;

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
        assert!(!R::WrongCredentials.is_retryable());
        assert!(R::MountInUse.is_retryable());
    }
}
