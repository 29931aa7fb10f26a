//! Thin composition of the workspace's crates: endpoints and wiring.
//!
//! Built so far: [`Endpoint`] values and their parsing from strings. Not built yet:
//! [`Pipeline::run`] returns [`Error::NotBuilt`] until the leaf crates' recording paths are
//! wired (see the pipeline issue). The leaf crates (`bmff-writer`, `mp3-frames`,
//! `rtsp-source`, `data-stream`) are usable on their own.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod endpoint;
pub mod icecast;

pub use endpoint::{Direction, Endpoint, SecretUrl};

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named part of the pipeline is not built yet.
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
    /// An endpoint string that no endpoint accepts in this direction.
    #[error("unsupported {direction} endpoint {endpoint:?}")]
    UnsupportedEndpoint {
        /// The string, credentials masked.
        endpoint: String,
        /// Input or output.
        direction: Direction,
    },
    /// A URL that cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, credentials masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An Icecast server refused or dropped the source.
    #[error("icecast {target}: {refusal}")]
    Icecast {
        /// The server and mount, credentials masked.
        target: String,
        /// Why.
        refusal: icecast::IcecastRefusal,
    },
    /// Waiting for something took too long.
    #[error("timed out {what}")]
    Timeout {
        /// What we were waiting for.
        what: String,
    },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// A media stream from one endpoint to another.
#[derive(Debug, Default)]
pub struct Pipeline {}

impl Pipeline {
    /// Runs the pipeline from `input` to `output`.
    pub fn run(input: &Endpoint, output: &Endpoint) -> Result<(), Error> {
        let _ = (input, output);
        Err(Error::NotBuilt("Pipeline::run"))
    }
}
