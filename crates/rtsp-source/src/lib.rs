//! RTSP camera capture on `retina`, yielding neutral frame types.
//!
//! This crate is a skeleton: its API is being built (see the project's issues). Every
//! entry point that is not built yet returns [`Error::NotBuilt`] naming what is missing,
//! so nothing pretends to work.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named part of the crate is not built yet.
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
