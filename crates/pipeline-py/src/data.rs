//! `DataStreamSender`: LiveKit-compatible byte and text streams (the `data-stream` crate)
//! sent from Python over TCP (4-byte length-prefixed `DataPacket`s) or a WebSocket (one
//! binary message per packet), with topics, attributes and progress, as LiveKit's Python
//! `send_text` / `send_file` and `ByteStreamWriter` take them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use data_stream::transport::write_frames;
use data_stream::{Limits, OnProgress, Outgoing, StreamInfo, StreamKind, StreamOptions};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyDict;

use crate::error::{PermanentError, TransientError};
use crate::runtime;
use crate::stream_info::{StreamInfo as PyStreamInfo, to_py};
use crate::stream_writer::{ByteStreamWriter, TextStreamWriter};

/// Frames queued between the senders and the transport.
const QUEUE: usize = 64;

type WriterTask = tokio::task::JoinHandle<Result<(), data_stream::Error>>;

/// Sends data streams on one connection.
///
/// DataStreamSender(url): url is "tcp://host:port" (length-prefixed DataPackets) or
/// "ws://host:port/path" (one binary WebSocket message per DataPacket). send_text() and
/// send_bytes() send one whole stream each and return its header as a dict (id, topic,
/// mime_type, total_length, attributes); stream_bytes() and stream_text() open writers
/// to send chunk by chunk; close() flushes and closes the connection (after the writers
/// still open are closed or collected).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct DataStreamSender {
    outgoing: Mutex<Option<Outgoing>>,
    writer: Mutex<Option<WriterTask>>,
}

/// Stream options from the keyword arguments; progress calls `on_progress(sent, total)`
/// with the GIL taken for the call.
// Default then fields: StreamOptions may become #[non_exhaustive] (no struct literal).
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn options(
    topic: String,
    attributes: Option<HashMap<String, String>>,
    mime_type: Option<String>,
    on_progress: Option<Py<PyAny>>,
) -> StreamOptions {
    let mut options = StreamOptions::default();
    options.topic = topic;
    options.attributes = attributes.unwrap_or_default();
    options.mime_type = mime_type;
    options.on_progress = on_progress.map(|callback| {
        OnProgress::new(move |progress| {
            Python::attach(|py| {
                if let Err(error) = callback.call1(py, (progress.sent, progress.total)) {
                    error.write_unraisable(py, None);
                }
            });
        })
    });
    options
}

fn header<'py>(py: Python<'py>, info: &StreamInfo) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("id", &info.id)?;
    dict.set_item("topic", &info.topic)?;
    dict.set_item("mime_type", &info.mime_type)?;
    dict.set_item("total_length", info.total_length)?;
    dict.set_item("attributes", info.attributes.clone())?;
    dict.set_item("timestamp_ms", info.timestamp_ms)?;
    if let StreamKind::Bytes { name } = &info.kind {
        dict.set_item("name", name)?;
    }
    Ok(dict)
}

impl DataStreamSender {
    fn outgoing(&self) -> PyResult<Outgoing> {
        self.outgoing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| PermanentError::new_err("this DataStreamSender is closed"))
    }
}

#[pymethods]
impl DataStreamSender {
    #[new]
    fn new(py: Python<'_>, url: &str) -> PyResult<DataStreamSender> {
        let runtime = runtime()?;
        let limits = Limits::default();
        let max_frame = limits.max_frame_size;
        let (outgoing, frames) = Outgoing::new(QUEUE);
        let url = url.to_owned();
        let task: WriterTask = py
            .detach(move || {
                runtime.block_on(async move {
                    if let Some(address) = url.strip_prefix("tcp://") {
                        let tcp = tokio::net::TcpStream::connect(address).await.map_err(|e| {
                            data_stream::Error::io("connecting the data stream transport", &e)
                        })?;
                        let _ = tcp.set_nodelay(true);
                        Ok(tokio::spawn(write_frames(frames, tcp, max_frame)))
                    } else if url.starts_with("ws://") || url.starts_with("wss://") {
                        let socket =
                            data_stream::transport::websocket::connect(&url, &limits).await?;
                        Ok(tokio::spawn(
                            data_stream::transport::websocket::write_messages(
                                frames, socket, max_frame,
                            ),
                        ))
                    } else {
                        Err(data_stream::Error::io(
                            "a data stream URL is tcp://host:port or ws://host:port/path",
                            &std::io::Error::from(std::io::ErrorKind::InvalidInput),
                        ))
                    }
                })
            })
            .map_err(|e| to_py(&e))?;
        Ok(DataStreamSender {
            outgoing: Mutex::new(Some(outgoing)),
            writer: Mutex::new(Some(task)),
        })
    }

    /// Sends text as one text stream on topic, with attributes; on_progress(sent, total)
    /// is called as chunks are queued. Returns the stream's header as a dict.
    #[pyo3(signature = (text, topic=String::new(), attributes=None, on_progress=None))]
    fn send_text<'py>(
        &self,
        py: Python<'py>,
        text: String,
        topic: String,
        attributes: Option<HashMap<String, String>>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let outgoing = self.outgoing()?;
        let runtime = runtime()?;
        let options = options(topic, attributes, None, on_progress);
        let info = py
            .detach(|| runtime.block_on(outgoing.send_text(text, options)))
            .map_err(|e| to_py(&e))?;
        header(py, &info)
    }

    /// Sends data (bytes, not copied) as one byte stream named name on topic, with
    /// attributes and a MIME type (default application/octet-stream); on_progress(sent,
    /// total) is called as chunks are queued. Returns the stream's header as a dict.
    #[pyo3(signature = (data, name, topic=String::new(), attributes=None, mime_type=None, on_progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn send_bytes<'py>(
        &self,
        py: Python<'py>,
        data: PyBackedBytes,
        name: String,
        topic: String,
        attributes: Option<HashMap<String, String>>,
        mime_type: Option<String>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let outgoing = self.outgoing()?;
        let runtime = runtime()?;
        let options = options(topic, attributes, mime_type, on_progress);
        let data = Bytes::from_owner(data);
        let info = py
            .detach(|| runtime.block_on(outgoing.send_bytes(name, data, options)))
            .map_err(|e| to_py(&e))?;
        header(py, &info)
    }

    /// Opens a byte stream named name to write chunk by chunk, as LiveKit's
    /// stream_bytes(): returns a ByteStreamWriter (write(data), close()). total_length,
    /// when given, is announced in the header and the writer refuses more.
    #[pyo3(signature = (name, topic=String::new(), attributes=None, mime_type=None, total_length=None, on_progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream_bytes(
        &self,
        py: Python<'_>,
        name: String,
        topic: String,
        attributes: Option<HashMap<String, String>>,
        mime_type: Option<String>,
        total_length: Option<u64>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<ByteStreamWriter> {
        let outgoing = self.outgoing()?;
        let runtime = runtime()?;
        let mut options = options(topic, attributes, mime_type, on_progress);
        options.total_length = total_length;
        let writer = py
            .detach(|| runtime.block_on(outgoing.stream_bytes(name, options)))
            .map_err(|e| to_py(&e))?;
        Ok(ByteStreamWriter {
            info: PyStreamInfo::from(writer.info()),
            inner: Mutex::new(Some(std::sync::Arc::new(writer))),
        })
    }

    /// Opens a text stream to write piece by piece, as LiveKit's stream_text(): returns a
    /// TextStreamWriter (write(text), close()).
    #[pyo3(signature = (topic=String::new(), attributes=None, total_length=None, on_progress=None))]
    fn stream_text(
        &self,
        py: Python<'_>,
        topic: String,
        attributes: Option<HashMap<String, String>>,
        total_length: Option<u64>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<TextStreamWriter> {
        let outgoing = self.outgoing()?;
        let runtime = runtime()?;
        let mut options = options(topic, attributes, None, on_progress);
        options.total_length = total_length;
        let writer = py
            .detach(|| {
                runtime.block_on(outgoing.stream_text(data_stream::TextInfo::default(), options))
            })
            .map_err(|e| to_py(&e))?;
        Ok(TextStreamWriter {
            info: PyStreamInfo::from(writer.info()),
            inner: Mutex::new(Some(std::sync::Arc::new(writer))),
        })
    }

    /// Flushes what is queued and closes the connection (the peer sees the end).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.outgoing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let task = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(task) = task else {
            return Ok(());
        };
        let runtime = runtime()?;
        match py.detach(|| runtime.block_on(task)) {
            Ok(result) => result.map_err(|e| to_py(&e)),
            Err(e) => Err(TransientError::new_err(format!(
                "data stream writer failed: {e}"
            ))),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<DataStreamSender>()
}
