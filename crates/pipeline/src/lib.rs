//! Thin composition of the workspace's crates: endpoints and wiring.
//!
//! Not built yet: [`Pipeline::run`] returns [`Error::NotBuilt`]. The leaf crates
//! (`bmff-writer`, `mp3-frames`, `rtsp-source`, `data-stream`) are usable on their own.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named part of the pipeline is not built yet.
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
}

/// A media stream from one endpoint to another.
#[derive(Debug, Default)]
pub struct Pipeline {}

impl Pipeline {
    /// Runs the pipeline from `input` to `output` (endpoint strings).
    pub fn run(_input: &str, _output: &str) -> Result<(), Error> {
        Err(Error::NotBuilt("Pipeline::run"))
    }
}
