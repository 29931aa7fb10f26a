//! `Pipeline` and its running `PipelineHandle`, with `Status` and `Summary`.
//!
//! The pipeline runs on the module's tokio runtime; its outcome arrives through a std
//! channel. Every wait releases the GIL and wakes each [`SIGNAL_CHECK`] to let Python run
//! its signal handlers: a `KeyboardInterrupt` there closes the pipeline gracefully (the
//! output is finalized, within [`CLOSE_BOUND`]) and is then raised.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pipeline::{Closer, Direction, Endpoint, Options};
use pyo3::exceptions::{PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error::{self, Failure, PermanentError};
use crate::{options, raw, runtime};

/// How often a wait lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);
/// How long a Ctrl-C waits for the graceful close before raising anyway.
const CLOSE_BOUND: Duration = Duration::from_secs(15);

/// Live figures of a running pipeline.
#[pyclass(module = "media_toolkit", frozen, get_all)]
#[derive(Debug, Clone)]
pub(crate) struct Status {
    /// Media time recorded, in seconds.
    media_seconds: f64,
    /// Packets written.
    packets: u64,
    /// Payload bytes written.
    bytes: u64,
    /// Packets lost in the network (RTSP).
    lost: u64,
    /// Files finished.
    files: u64,
}

impl From<&pipeline::Status> for Status {
    fn from(s: &pipeline::Status) -> Self {
        Status {
            media_seconds: s.media_seconds,
            packets: s.packets,
            bytes: s.bytes,
            lost: s.lost,
            files: s.files,
        }
    }
}

#[pymethods]
impl Status {
    fn __repr__(&self) -> String {
        format!(
            "Status(media_seconds={:.3}, packets={}, bytes={}, lost={}, files={})",
            self.media_seconds, self.packets, self.bytes, self.lost, self.files
        )
    }
}

/// What a finished pipeline did: the files written (finalized, in order) and the last
/// status.
#[pyclass(module = "media_toolkit", frozen, get_all)]
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// Paths of the files written, finalized, in order.
    files: Vec<String>,
    /// The last status.
    status: Status,
}

impl From<&pipeline::Summary> for Summary {
    fn from(s: &pipeline::Summary) -> Self {
        Summary {
            files: s.files.iter().map(|f| f.display().to_string()).collect(),
            status: Status::from(&s.status),
        }
    }
}

#[pymethods]
impl Summary {
    fn __repr__(&self) -> String {
        format!(
            "Summary(files={:?}, status={})",
            self.files,
            self.status.__repr__()
        )
    }
}

/// A media stream from one endpoint to another.
///
/// Pipeline(input, output, also=[...], **options): input and output are endpoint strings
/// as the `pipeline` command line takes them ("rtsp://user:pass@cam/stream", "in.mp4",
/// "out.mp4", "hls/", "-", "tcp-listen://127.0.0.1:9000", "icecast://…") or path-like
/// objects, or RawInput / RawOutput objects; `also` lists more outputs fed the same
/// packets (the CLI's --also: record and serve at once; one that fails stops alone and
/// its error is raised once all have finished; one that pushes to a server is opened
/// again after a pause). Options use the command line's names with underscores:
/// duration, segment, fragment_duration and burst in seconds; fragmented, faststart,
/// no_video, no_audio, fail_on_loss, realtime, loop as bools; transport ("tcp"/"udp"),
/// teardown, initial_timestamp, user, password, hls_mode ("live"/"vod"), queue,
/// frame_rate, track (an id or a list), token, title, tls_ca (https:// input and Icecast
/// output: a PEM file of CA certificates to trust).
///
/// run() runs it to the end; start() returns a PipelineHandle. Used as a context manager
/// (`with Pipeline(...) as handle:`) it starts, and closes gracefully on exit.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct Pipeline {
    /// Taken when started: a pipeline runs once.
    parts: Mutex<Option<(Endpoint, Vec<Endpoint>, Options)>>,
    /// "input -> output", secrets masked.
    description: String,
    /// The handle `__enter__` started, closed by `__exit__`.
    entered: Mutex<Option<Py<PipelineHandle>>>,
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(signature = (input, output, *, also = Vec::new(), **options))]
    fn new(
        input: &Bound<'_, PyAny>,
        output: &Bound<'_, PyAny>,
        also: Vec<Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = options::from_kwargs(options)?;
        let input = endpoint(input, Direction::Input)?;
        let mut outputs = vec![endpoint(output, Direction::Output)?];
        for extra in &also {
            outputs.push(endpoint(extra, Direction::Output)?);
        }
        let shown: Vec<String> = outputs.iter().map(ToString::to_string).collect();
        let description = format!("{input} -> {}", shown.join(", "));
        Ok(Pipeline {
            parts: Mutex::new(Some((input, outputs, options))),
            description,
            entered: Mutex::new(None),
        })
    }

    /// Runs until the input ends, the duration is reached, or an error (raised); returns
    /// the Summary. Ctrl-C closes the pipeline gracefully, then raises KeyboardInterrupt.
    fn run(&self, py: Python<'_>) -> PyResult<Summary> {
        self.start(py)?.wait(py, None)
    }

    /// Starts the pipeline and returns its PipelineHandle.
    fn start(&self, py: Python<'_>) -> PyResult<PipelineHandle> {
        let parts = self
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((input, outputs, options)) = parts else {
            return Err(PermanentError::new_err(format!(
                "{}: this pipeline has been started already (a Pipeline runs once)",
                self.description
            )));
        };
        let runtime = runtime()?;
        py.detach(|| {
            let _context = runtime.enter();
            let mut outputs = outputs.into_iter();
            let output = outputs.next().ok_or_else(|| {
                PermanentError::new_err(format!("{}: no output", self.description))
            })?;
            let mut pipeline = pipeline::Pipeline::new(input, output);
            for extra in outputs {
                pipeline = pipeline.also(extra);
            }
            let handle = pipeline.with_options(options).spawn();
            let closer = handle.closer();
            let status = handle.status();
            let (tx, rx) = std::sync::mpsc::channel();
            runtime.spawn(async move {
                let _ = tx.send(handle.wait().await);
            });
            Ok(PipelineHandle {
                closer,
                status,
                outcome: Arc::new(Mutex::new(Outcome::Running(rx))),
                description: self.description.clone(),
            })
        })
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PipelineHandle>> {
        let handle = Py::new(py, self.start(py)?)?;
        *self.entered.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle.clone_ref(py));
        Ok(handle)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let handle = self
            .entered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.get().close(py, true, false)?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("Pipeline({})", self.description)
    }
}

/// An endpoint from a string, a path-like object, or a raw endpoint object.
fn endpoint(value: &Bound<'_, PyAny>, direction: Direction) -> PyResult<Endpoint> {
    if let Some(endpoint) = raw::take_endpoint(value, direction)? {
        return Ok(endpoint);
    }
    if let Some(endpoint) = crate::frames::take_endpoint(value, direction)? {
        return Ok(endpoint);
    }
    let text: String = match value.extract() {
        Ok(text) => text,
        Err(_) => {
            let os = value.py().import("os")?;
            let path = os.call_method1("fspath", (value,)).map_err(|_| {
                PyTypeError::new_err(format!(
                    "an {direction} endpoint is a string, a path or a raw endpoint object"
                ))
            })?;
            path.extract()?
        }
    };
    Endpoint::parse(&text, direction).map_err(|e| error::to_py(&e))
}

/// How a started pipeline ended, once it has.
enum Outcome {
    Running(Receiver<Result<pipeline::Summary, pipeline::Error>>),
    Done(Result<Summary, Failure>),
}

/// A running pipeline (from Pipeline.start()).
///
/// wait() for its end, close() to stop it gracefully (the output is finalized), kill() to
/// stop at once (the output is left as it is: a plain MP4 stays NAME.partial with its
/// index journal, recoverable). status holds live figures. As a context manager it
/// closes gracefully on exit.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct PipelineHandle {
    closer: Closer,
    status: tokio::sync::watch::Receiver<pipeline::Status>,
    outcome: Arc<Mutex<Outcome>>,
    description: String,
}

impl PipelineHandle {
    /// Waits up to `step` (GIL released) and returns the outcome if the pipeline ended.
    fn poll(&self, py: Python<'_>, step: Duration) -> Option<Result<Summary, Failure>> {
        let outcome = self.outcome.clone();
        py.detach(move || {
            let mut outcome = outcome.lock().unwrap_or_else(PoisonError::into_inner);
            let result = match &*outcome {
                Outcome::Done(result) => return Some(result.clone()),
                Outcome::Running(rx) => match rx.recv_timeout(step) {
                    Ok(result) => result,
                    Err(RecvTimeoutError::Timeout) => return None,
                    Err(RecvTimeoutError::Disconnected) => Err(pipeline::Error::Killed),
                },
            };
            let result = result.as_ref().map(Summary::from).map_err(Failure::from);
            *outcome = Outcome::Done(result.clone());
            Some(result)
        })
    }

    /// Waits until the end or `timeout`; a KeyboardInterrupt closes gracefully first.
    fn wait_outcome(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Result<Summary, Failure>>> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            let step = match deadline {
                Some(deadline) => deadline
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            if let Some(result) = self.poll(py, step) {
                return Ok(Some(result));
            }
            if let Err(interrupt) = py.check_signals() {
                self.closer.close();
                let _ = self.poll(py, CLOSE_BOUND);
                return Err(interrupt);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }
}

#[pymethods]
impl PipelineHandle {
    /// Waits until the pipeline has finished and returns its Summary, or raises its
    /// error. timeout: seconds, then TimeoutError (the pipeline goes on).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Summary> {
        match self.wait_outcome(py, timeout)? {
            Some(result) => result.map_err(PyErr::from),
            None => Err(PyTimeoutError::new_err(format!(
                "{}: still running after {} s",
                self.description,
                timeout.unwrap_or_default()
            ))),
        }
    }

    /// Stops the pipeline: gracefully (the input stopped, the output finalized), or with
    /// kill=True at once (the output left as it is). With wait=True (the default) returns
    /// the Summary once finished (None after a kill), raising the pipeline's error if it
    /// failed; with wait=False returns None at once.
    #[pyo3(signature = (wait=true, kill=false))]
    fn close(&self, py: Python<'_>, wait: bool, kill: bool) -> PyResult<Option<Summary>> {
        if kill {
            self.closer.kill();
        } else {
            self.closer.close();
        }
        if !wait {
            return Ok(None);
        }
        match self.wait_outcome(py, None)? {
            Some(Ok(summary)) => Ok(Some(summary)),
            Some(Err(failure)) if failure.killed && kill => Ok(None),
            Some(Err(failure)) => Err(failure.into()),
            None => Ok(None),
        }
    }

    /// Stops at once: the output is not finalized (a plain MP4 stays NAME.partial,
    /// recoverable from its journal). Does not wait.
    fn kill(&self) {
        self.closer.kill();
    }

    /// Live figures (a Status).
    #[getter]
    fn status(&self) -> Status {
        Status::from(&*self.status.borrow())
    }

    /// Whether the pipeline has finished.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        self.poll(py, Duration::ZERO).is_some()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py, true, false)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("PipelineHandle({})", self.description)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Pipeline>()?;
    module.add_class::<PipelineHandle>()?;
    module.add_class::<Status>()?;
    module.add_class::<Summary>()?;
    Ok(())
}
