//! The pipeline's errors as Python exceptions: `MediaToolkitError`, and below it
//! `PermanentError` (retrying cannot help: bad credentials, a missing file, a codec the
//! output cannot take, invalid options) and `TransientError` (network failures, servers
//! that restart, timeouts), as `pipeline::Error::is_permanent` tells them apart.
//!
//! The message is the pipeline's one line, whose URLs are already masked by
//! `media_core::SecretUrl`; nothing else is added to it.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    media_toolkit,
    MediaToolkitError,
    PyException,
    "Base class of the toolkit's errors: one line, secrets masked."
);
create_exception!(
    media_toolkit,
    PermanentError,
    MediaToolkitError,
    "A failure that retrying cannot fix: bad credentials, a missing or unsupported input, \
     a codec the output cannot take, invalid options, a killed pipeline."
);
create_exception!(
    media_toolkit,
    TransientError,
    MediaToolkitError,
    "A failure that may pass: the network, a server restarting, a timeout."
);

/// A pipeline failure kept without the GIL (a handle's outcome is stored when the
/// pipeline ends, and raised at every `wait()`).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) permanent: bool,
    /// `kill()` ended it: `close(kill=True)` does not raise this.
    pub(crate) killed: bool,
}

impl From<&pipeline::Error> for Failure {
    fn from(error: &pipeline::Error) -> Self {
        Failure {
            message: error.to_string(),
            permanent: error.is_permanent(),
            killed: matches!(error, pipeline::Error::Killed),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        if failure.permanent {
            PermanentError::new_err(failure.message)
        } else {
            TransientError::new_err(failure.message)
        }
    }
}

/// The pipeline's error as the matching Python exception.
pub(crate) fn to_py(error: &pipeline::Error) -> PyErr {
    Failure::from(error).into()
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("MediaToolkitError", py.get_type::<MediaToolkitError>())?;
    module.add("PermanentError", py.get_type::<PermanentError>())?;
    module.add("TransientError", py.get_type::<TransientError>())?;
    Ok(())
}
