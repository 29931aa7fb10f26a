//! Streaming writers, as LiveKit's Python `ByteStreamWriter` / `TextStreamWriter`:
//! opened by `DataStreamSender.stream_bytes()` / `stream_text()` (the header is queued at
//! once), written chunk by chunk with `write()`, ended with `close()` (the trailer), over
//! data-stream's writers. Each `write` is cut into chunks of at most 15 000 bytes (text on
//! code-point boundaries) and waits, with the GIL released, while the connection's queue
//! is full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::runtime;
use crate::stream_info::{StreamInfo, to_py};

/// The writer, or PermanentError once closed.
fn writer<W>(slot: &Mutex<Option<Arc<W>>>) -> PyResult<Arc<W>> {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or_else(|| crate::error::PermanentError::new_err("this stream writer is closed"))
}

/// The trailer's reason when a `with` block is left by an exception.
fn exit_reason(exc: &Bound<'_, pyo3::types::PyTuple>) -> String {
    match exc.get_item(1) {
        Ok(value) if !value.is_none() => value
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "error".to_owned()),
        _ => String::new(),
    }
}

/// An outgoing byte stream: write(data) sends bytes (not copied) in chunks, close(reason="",
/// attributes=None) sends the trailer and returns the final StreamInfo. Leaving a `with`
/// block closes it (with the exception's text as reason, when one was raised).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct ByteStreamWriter {
    /// Taken by close(): the writer's handle on the connection's queue goes with it, so
    /// DataStreamSender.close() does not wait for this object to be collected.
    pub(crate) inner: Mutex<Option<Arc<data_stream::ByteStreamWriter>>>,
    pub(crate) info: StreamInfo,
}

#[pymethods]
impl ByteStreamWriter {
    /// The stream's header as sent (StreamInfo).
    #[getter]
    fn info(&self) -> StreamInfo {
        self.info.clone()
    }

    /// Sends data as the next chunk(s), waiting while the connection is busy. Writing
    /// more than an announced total_length, or after close(), raises PermanentError.
    fn write(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let runtime = runtime()?;
        let writer = writer(&self.inner)?;
        let data = Bytes::from_owner(data);
        py.detach(|| runtime.block_on(writer.write(data)))
            .map_err(|e| to_py(&e))
    }

    /// Ends the stream: reason "" is a normal end; attributes are merged into the
    /// header's by the receiver. Returns the final StreamInfo.
    #[pyo3(signature = (reason=String::new(), attributes=None))]
    fn close(
        &self,
        py: Python<'_>,
        reason: String,
        attributes: Option<HashMap<String, String>>,
    ) -> PyResult<StreamInfo> {
        let runtime = runtime()?;
        let writer = writer(&self.inner)?;
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let info = py
            .detach(|| runtime.block_on(writer.close(&reason, attributes.unwrap_or_default())))
            .map_err(|e| to_py(&e))?;
        Ok(StreamInfo::from(&info))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*exc))]
    fn __exit__(&self, py: Python<'_>, exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        let open = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if open {
            self.close(py, exit_reason(exc), None)?;
        }
        Ok(false)
    }
}

/// An outgoing text stream: write(text) sends str in chunks cut on code-point
/// boundaries, close(reason="", attributes=None) sends the trailer and returns the final
/// StreamInfo. Leaving a `with` block closes it.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct TextStreamWriter {
    /// Taken by close(): the writer's handle on the connection's queue goes with it, so
    /// DataStreamSender.close() does not wait for this object to be collected.
    pub(crate) inner: Mutex<Option<Arc<data_stream::TextStreamWriter>>>,
    pub(crate) info: StreamInfo,
}

#[pymethods]
impl TextStreamWriter {
    /// The stream's header as sent (StreamInfo).
    #[getter]
    fn info(&self) -> StreamInfo {
        self.info.clone()
    }

    /// Sends text as the next chunk(s), waiting while the connection is busy.
    fn write(&self, py: Python<'_>, text: String) -> PyResult<()> {
        let runtime = runtime()?;
        let writer = writer(&self.inner)?;
        py.detach(|| runtime.block_on(writer.write(text)))
            .map_err(|e| to_py(&e))
    }

    /// Ends the stream (see ByteStreamWriter.close).
    #[pyo3(signature = (reason=String::new(), attributes=None))]
    fn close(
        &self,
        py: Python<'_>,
        reason: String,
        attributes: Option<HashMap<String, String>>,
    ) -> PyResult<StreamInfo> {
        let runtime = runtime()?;
        let writer = writer(&self.inner)?;
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let info = py
            .detach(|| runtime.block_on(writer.close(&reason, attributes.unwrap_or_default())))
            .map_err(|e| to_py(&e))?;
        Ok(StreamInfo::from(&info))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*exc))]
    fn __exit__(&self, py: Python<'_>, exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        let open = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if open {
            self.close(py, exit_reason(exc), None)?;
        }
        Ok(false)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<ByteStreamWriter>()?;
    module.add_class::<TextStreamWriter>()?;
    Ok(())
}
