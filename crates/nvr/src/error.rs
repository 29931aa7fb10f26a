//! The crate's one error type: what a person needs to fix a configuration or a store.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// 1-based column (0: the file as a whole).
    pub column: usize,
    /// What is wrong, without secrets.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Errors of the NVR layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration has problems (all of them are listed, one per line).
    #[error("{path}: {}", first_and_count(.problems))]
    Invalid {
        /// The file (or `<config>` for text given directly).
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
    /// A `.partial` that cannot be recovered (left untouched).
    #[error("cannot recover {}: {reason}", path.display())]
    Recovery {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file system operation on the recording store failed.
    #[error("{context}: {source}")]
    Store {
        /// What was being done, naming the file or directory.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn first_and_count(problems: &[Problem]) -> String {
    match problems {
        [] => "invalid".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

impl Error {
    pub(crate) fn store(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Store {
            context: context.into(),
            source,
        }
    }
}
