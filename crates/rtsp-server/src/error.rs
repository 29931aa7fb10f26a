//! The crate's error.

/// What can go wrong starting the server (a client's bad request is answered, not an
/// error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Listening beyond loopback without a password: anyone could watch.
    #[error("{0} is not a loopback address: clients must authenticate, give a password")]
    NeedsPassword(String),
    /// The address resolves to nothing.
    #[error("{0} resolves to no address")]
    Resolve(String),
}

impl Error {
    pub(crate) fn io(what: String, source: std::io::Error) -> Error {
        Error::Io { what, source }
    }
}
