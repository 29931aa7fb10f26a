//! Thin composition of the workspace's crates: endpoints and wiring.
//!
//! Built so far: [`Endpoint`] values and their parsing from strings. Not built yet:
//! [`Pipeline::run`] returns [`Error::NotBuilt`] until the leaf crates' recording paths are
//! wired (see the pipeline issue). The leaf crates (`bmff-writer`, `mp3-frames`,
//! `rtsp-source`, `data-stream`) are usable on their own.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod endpoint;

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
