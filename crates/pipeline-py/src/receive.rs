//! Receiving data streams in Python, as LiveKit's Python SDK reads them: a
//! `DataStreamReceiver` on one connection (TCP with 4-byte length-prefixed `DataPacket`s,
//! or a WebSocket with one binary message per packet) yields each incoming stream as a
//! `TextStreamReader` or `ByteStreamReader` with its `info` (a `StreamInfo`) and reading
//! methods, over data-stream's `transport::Receiver` and `StreamReader`.
//!
//! Every wait releases the GIL and wakes each 100 ms so Python handles signals (Ctrl-C
//! raises `KeyboardInterrupt` in the waiting call); `timeout=` bounds a wait
//! (`TimeoutError`). data-stream checks what arrives (indexes, lengths, UTF-8 of text,
//! `Limits`) and applies backpressure: a reader that does not read slows the sender down,
//! and one that takes nothing for 30 s while its buffer is full is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use data_stream::transport::{IncomingStreams, Receiver};
use data_stream::{Limits, StreamReader};
use futures::stream::{Select, Stream, StreamExt};
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::{PermanentError, TransientError};
use crate::runtime;
use crate::stream_info::{StreamInfo, to_py};

/// How often a blocked wait lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// When a wait of `timeout` seconds ends (None: never); a negative or NaN timeout is a
/// `ValueError`.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    timeout
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds)
                .map(|d| Instant::now() + d)
                .map_err(|_| PyValueError::new_err(format!("timeout {seconds} is not >= 0")))
        })
        .transpose()
}

/// The next item of the stream in `slot`, waiting with the GIL released in slices of
/// 100 ms between which Python handles signals, until `deadline` (`TimeoutError` naming
/// `what`). `None` once the stream has ended or `slot` was emptied (closed).
pub(crate) fn next_item<S>(
    py: Python<'_>,
    slot: &Arc<Mutex<Option<S>>>,
    deadline: Option<Instant>,
    what: &str,
) -> PyResult<Option<S::Item>>
where
    S: Stream + Unpin + Send + 'static,
    S::Item: Send,
{
    let runtime = runtime()?;
    loop {
        let slice = deadline.map_or(SIGNAL_CHECK, |d| {
            d.saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK)
        });
        let slot = slot.clone();
        let next = py.detach(move || {
            let mut stream = slot.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(stream) = stream.as_mut() else {
                return Some(None);
            };
            // The timer is made inside the runtime (tokio's timers need its context).
            runtime
                .block_on(async { tokio::time::timeout(slice, stream.next()).await })
                .ok()
        });
        match next {
            Some(item) => return Ok(item),
            None => {
                py.check_signals()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(PyTimeoutError::new_err(format!("no {what} in time")));
                }
            }
        }
    }
}

/// What text and byte stream readers share: the stream, its info (updated at the end)
/// and, for text read chunk by chunk, the bytes of a code point cut by a chunk boundary.
struct ReaderCore {
    reader: Arc<Mutex<Option<StreamReader>>>,
    info: Mutex<data_stream::StreamInfo>,
    partial: Mutex<Vec<u8>>,
}

impl ReaderCore {
    fn new(reader: StreamReader) -> Self {
        ReaderCore {
            info: Mutex::new(reader.info().clone()),
            reader: Arc::new(Mutex::new(Some(reader))),
            partial: Mutex::new(Vec::new()),
        }
    }

    fn info(&self) -> StreamInfo {
        StreamInfo::from(&*self.info.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The next chunk, or None at the normal end (the info then has the trailer's
    /// attributes); an abnormal end raises.
    fn next_chunk(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<Option<Bytes>> {
        match next_item(py, &self.reader, deadline, "chunk")? {
            Some(chunk) => chunk.map(Some).map_err(|e| to_py(&e)),
            None => {
                let ended = self
                    .reader
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(reader) = ended {
                    *self.info.lock().unwrap_or_else(PoisonError::into_inner) =
                        reader.info().clone();
                }
                Ok(None)
            }
        }
    }

    fn read_all(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Vec<u8>> {
        let deadline = deadline(timeout)?;
        let mut all =
            std::mem::take(&mut *self.partial.lock().unwrap_or_else(PoisonError::into_inner));
        while let Some(chunk) = self.next_chunk(py, deadline)? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    /// Stops reading: the rest of the stream is dropped.
    fn close(&self) {
        self.reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// An incoming text stream, as LiveKit's TextStreamReader: info (a StreamInfo),
/// read_all(timeout=None) → the whole text, or iteration → str chunks (whole code points)
/// as they arrive. A stream that ends abnormally raises (TransientError when the
/// connection went away, PermanentError when the sender broke the protocol).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct TextStreamReader {
    core: ReaderCore,
}

#[pymethods]
impl TextStreamReader {
    /// The stream's header (StreamInfo); after the end, with the trailer's attributes.
    #[getter]
    fn info(&self) -> StreamInfo {
        self.core.info()
    }

    /// Reads the rest of the stream and returns it as one str; waits at most timeout
    /// seconds in all (TimeoutError), Ctrl-C raises KeyboardInterrupt.
    #[pyo3(signature = (timeout=None))]
    fn read_all(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<String> {
        let all = self.core.read_all(py, timeout)?;
        String::from_utf8(all)
            .map_err(|e| PermanentError::new_err(format!("text stream is not UTF-8: {e}")))
    }

    /// The next chunk of text (None at the end), waiting at most timeout seconds.
    #[pyo3(signature = (timeout=None))]
    fn read_chunk(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let deadline = deadline(timeout)?;
        loop {
            let Some(chunk) = self.core.next_chunk(py, deadline)? else {
                let rest = std::mem::take(
                    &mut *self
                        .core
                        .partial
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner),
                );
                return if rest.is_empty() {
                    Ok(None)
                } else {
                    Err(PermanentError::new_err(
                        "text stream ends inside a UTF-8 sequence",
                    ))
                };
            };
            let mut partial = self
                .core
                .partial
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            partial.extend_from_slice(&chunk);
            let valid = match std::str::from_utf8(&partial) {
                Ok(_) => partial.len(),
                // An incomplete sequence at the end waits for the next chunk.
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(e) => {
                    return Err(PermanentError::new_err(format!(
                        "text stream is not UTF-8: {e}"
                    )));
                }
            };
            if valid > 0 {
                let text: Vec<u8> = partial.drain(..valid).collect();
                return Ok(Some(String::from_utf8(text).unwrap_or_default()));
            }
        }
    }

    /// Stops reading; the rest of the stream is dropped.
    fn close(&self) {
        self.core.close();
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.read_chunk(py, None)
    }

    fn __repr__(&self) -> String {
        format!("TextStreamReader({})", self.core.info().__repr__())
    }
}

/// An incoming byte stream, as LiveKit's ByteStreamReader: info (a StreamInfo with the
/// name), iteration → bytes chunks as they arrive, read_chunk(timeout=None) or
/// read_all(timeout=None) → the whole content. A stream that ends abnormally raises.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct ByteStreamReader {
    core: ReaderCore,
}

#[pymethods]
impl ByteStreamReader {
    /// The stream's header (StreamInfo); after the end, with the trailer's attributes.
    #[getter]
    fn info(&self) -> StreamInfo {
        self.core.info()
    }

    /// Reads the rest of the stream into one bytes object; waits at most timeout
    /// seconds in all (TimeoutError), Ctrl-C raises KeyboardInterrupt.
    #[pyo3(signature = (timeout=None))]
    fn read_all<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let all = self.core.read_all(py, timeout)?;
        Ok(PyBytes::new(py, &all))
    }

    /// The next chunk (bytes; None at the end), waiting at most timeout seconds.
    #[pyo3(signature = (timeout=None))]
    fn read_chunk<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let deadline = deadline(timeout)?;
        let chunk = self.core.next_chunk(py, deadline)?;
        Ok(chunk.map(|chunk| PyBytes::new(py, &chunk)))
    }

    /// Stops reading; the rest of the stream is dropped.
    fn close(&self) {
        self.core.close();
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.read_chunk(py, None)
    }

    fn __repr__(&self) -> String {
        format!("ByteStreamReader({})", self.core.info().__repr__())
    }
}

type Incoming = Select<IncomingStreams, IncomingStreams>;
type ReceiverTask = tokio::task::JoinHandle<Result<(), data_stream::Error>>;

/// Receives the data streams of one connection.
///
/// DataStreamReceiver(url): "tcp-listen://host:port" or "ws-listen://host:port" waits
/// for one sender to connect (port 0 picks a free port: see address and url);
/// "tcp://host:port" or "ws://host:port/path" connects to a sender. Every stream of every
/// topic is kept, in the order its header arrived: next_stream(timeout=None) or iteration
/// yields TextStreamReader and ByteStreamReader objects until the connection ends.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct DataStreamReceiver {
    incoming: Arc<Mutex<Option<Incoming>>>,
    task: Mutex<Option<ReceiverTask>>,
    address: String,
    url: String,
}

/// Listens on or connects to `url` and spawns the receiver on the connection; returns
/// the local address (listening) or the peer's, and the task.
async fn open(
    url: String,
    receiver: Receiver,
    limits: Limits,
) -> data_stream::Result<(String, ReceiverTask)> {
    use data_stream::transport::websocket;
    let io = |context: &'static str| move |e: std::io::Error| data_stream::Error::io(context, &e);
    if let Some(address) = url.strip_prefix("tcp-listen://") {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(io("listening for the data stream sender"))?;
        let local = listener
            .local_addr()
            .map_err(io("listening for the data stream sender"))?;
        let task = tokio::spawn(async move {
            let (tcp, _) = listener
                .accept()
                .await
                .map_err(io("accepting the data stream sender"))?;
            receiver.run(tcp).await
        });
        Ok((local.to_string(), task))
    } else if let Some(address) = url.strip_prefix("ws-listen://") {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(io("listening for the data stream sender"))?;
        let local = listener
            .local_addr()
            .map_err(io("listening for the data stream sender"))?;
        let task = tokio::spawn(async move {
            let (tcp, _) = listener
                .accept()
                .await
                .map_err(io("accepting the data stream sender"))?;
            let socket = websocket::accept(tcp, &limits).await?;
            receiver.run_websocket(socket).await
        });
        Ok((local.to_string(), task))
    } else if let Some(address) = url.strip_prefix("tcp://") {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(io("connecting to the data stream sender"))?;
        let _ = tcp.set_nodelay(true);
        Ok((
            address.to_owned(),
            tokio::spawn(async move { receiver.run(tcp).await }),
        ))
    } else if url.starts_with("ws://") || url.starts_with("wss://") {
        let socket = websocket::connect(&url, &limits).await?;
        let shown = url.split('/').nth(2).unwrap_or_default().to_owned();
        Ok((
            shown,
            tokio::spawn(async move { receiver.run_websocket(socket).await }),
        ))
    } else {
        Err(data_stream::Error::io(
            "a data stream receiver URL is tcp-listen://host:port, ws-listen://host:port, tcp://host:port or ws://host:port/path",
            &std::io::Error::from(std::io::ErrorKind::InvalidInput),
        ))
    }
}

#[pymethods]
impl DataStreamReceiver {
    #[new]
    fn new(py: Python<'_>, url: &str) -> PyResult<DataStreamReceiver> {
        let runtime = runtime()?;
        let limits = Limits::default();
        let receiver = Receiver::new(limits.clone());
        // Catch-alls registered before the connection runs: no stream is drained unread.
        let texts = receiver.other_text_streams().map_err(|e| to_py(&e))?;
        let bytes = receiver.other_byte_streams().map_err(|e| to_py(&e))?;
        let scheme = if url.starts_with("ws") { "ws" } else { "tcp" };
        let owned = url.to_owned();
        let (address, task) = py
            .detach(|| runtime.block_on(open(owned, receiver, limits)))
            .map_err(|e| to_py(&e))?;
        let url = format!("{scheme}://{address}");
        Ok(DataStreamReceiver {
            incoming: Arc::new(Mutex::new(Some(futures::stream::select(texts, bytes)))),
            task: Mutex::new(Some(task)),
            address,
            url,
        })
    }

    /// The address listened on ("127.0.0.1:40123", the port chosen when 0 was asked) or
    /// connected to.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    /// The URL a DataStreamSender connects to ("tcp://127.0.0.1:40123" or "ws://…").
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The next incoming stream (TextStreamReader or ByteStreamReader), waiting at most
    /// timeout seconds (TimeoutError) with the GIL released; None once the connection
    /// has ended (an error that ended it is raised once). Ctrl-C raises KeyboardInterrupt.
    /// Text and byte streams come from two queues (data-stream's catch-alls): each kind in
    /// arrival order, the two kinds taken in turns when both have one waiting.
    #[pyo3(signature = (timeout=None))]
    fn next_stream(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = deadline(timeout)?;
        match next_item(py, &self.incoming, deadline, "data stream")? {
            Some(reader) => {
                let core = ReaderCore::new(reader);
                let object = if core
                    .info
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stream_type()
                    == data_stream::StreamType::Text
                {
                    Py::new(py, TextStreamReader { core })?.into_any()
                } else {
                    Py::new(py, ByteStreamReader { core })?.into_any()
                };
                Ok(Some(object))
            }
            None => self.finish(py),
        }
    }

    /// Stops receiving: the connection is closed, unread streams fail.
    fn close(&self) {
        self.incoming
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next_stream(py, None)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!("DataStreamReceiver({})", self.url)
    }
}

impl DataStreamReceiver {
    /// The connection has ended: raises its error once, then None.
    fn finish(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(task) = task else {
            return Ok(None);
        };
        let runtime = runtime()?;
        match py.detach(|| runtime.block_on(task)) {
            Ok(Ok(())) => Ok(None),
            Ok(Err(e)) => Err(to_py(&e)),
            Err(e) if e.is_cancelled() => Ok(None),
            Err(e) => Err(TransientError::new_err(format!(
                "data stream receiver failed: {e}"
            ))),
        }
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<StreamInfo>()?;
    module.add_class::<DataStreamReceiver>()?;
    module.add_class::<TextStreamReader>()?;
    module.add_class::<ByteStreamReader>()?;
    Ok(())
}
