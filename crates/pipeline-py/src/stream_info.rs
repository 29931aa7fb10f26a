//! What the sending and receiving sides of data streams share in Python: the
//! `StreamInfo` class of a stream's header, and data-stream's errors as Python exceptions.

use std::collections::HashMap;

use data_stream::StreamKind;
use pyo3::prelude::*;

use crate::error::{PermanentError, TransientError};

/// The transport's failures (I/O, a closed connection, an inactive peer) may pass; a
/// stream refused by the protocol's rules and limits will not.
pub(crate) fn to_py(error: &data_stream::Error) -> PyErr {
    use data_stream::Error as E;
    match error {
        E::Io { kind, .. } if *kind != std::io::ErrorKind::InvalidInput => {
            TransientError::new_err(error.to_string())
        }
        E::TransportClosed { .. } | E::InactivityTimeout { .. } | E::AbnormalEnd { .. } => {
            TransientError::new_err(error.to_string())
        }
        _ => PermanentError::new_err(error.to_string()),
    }
}

/// The header of a data stream (after a normal end, with the trailer's attributes merged
/// in): id, topic, mime_type, total_length (None when not announced), attributes,
/// timestamp_ms (creation, Unix ms), name (byte streams; None for text) and kind
/// ("text" or "bytes").
#[pyclass(module = "media_toolkit", frozen, get_all)]
#[derive(Debug, Clone)]
pub(crate) struct StreamInfo {
    id: String,
    topic: String,
    mime_type: String,
    total_length: Option<u64>,
    attributes: HashMap<String, String>,
    timestamp_ms: i64,
    name: Option<String>,
    kind: &'static str,
}

impl From<&data_stream::StreamInfo> for StreamInfo {
    fn from(info: &data_stream::StreamInfo) -> Self {
        let (kind, name) = match &info.kind {
            StreamKind::Bytes { name } => ("bytes", Some(name.clone())),
            _ => ("text", None),
        };
        StreamInfo {
            id: info.id.clone(),
            topic: info.topic.clone(),
            mime_type: info.mime_type.clone(),
            total_length: info.total_length,
            attributes: info.attributes.clone(),
            timestamp_ms: info.timestamp_ms,
            name,
            kind,
        }
    }
}

#[pymethods]
impl StreamInfo {
    pub(crate) fn __repr__(&self) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| format!(", name={n:?}"))
            .unwrap_or_default();
        format!(
            "StreamInfo({} id={:?}, topic={:?}{name}, mime_type={:?}, total_length={:?})",
            self.kind, self.id, self.topic, self.mime_type, self.total_length
        )
    }
}
