//! ISO BMFF (ISO/IEC 14496-12) writer: plain MP4 and fragmented MP4 from encoded samples.
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
