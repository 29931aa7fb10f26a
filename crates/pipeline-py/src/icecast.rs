//! `IcecastStream`: MP3 files streamed to an Icecast mount (icecast-source's playlist
//! stream), controlled from Python (`mute`, `unmute`, `set_title`, `enqueue`, `stop`) and
//! observed through an iterator of `IcecastEvent`s, as MusicDB's `StreamFile` generator
//! yields frame progress and state changes.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use pipeline::icecast::{self as ice, Event, EventStream, IcecastConfig, Mp3Input, StreamOptions};
use pyo3::prelude::*;

use crate::error::{PermanentError, TransientError};
use crate::runtime;

/// How often a blocked call lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

fn to_py(error: &ice::IcecastError) -> PyErr {
    if error.is_permanent() {
        PermanentError::new_err(error.to_string())
    } else {
        TransientError::new_err(error.to_string())
    }
}

/// One event of an IcecastStream. kind is one of "connected", "disconnected",
/// "reconnecting", "muted", "unmuted", "title_set", "title_failed", "frame_sent",
/// "track_started", "track_finished", "track_failed", "queue_empty", "status",
/// "finished" or "other"; the fields that do not apply are None.
#[pyclass(module = "media_toolkit", frozen, get_all)]
#[derive(Debug, Clone, Default)]
pub(crate) struct IcecastEvent {
    /// What happened.
    kind: &'static str,
    /// frame_sent: 0-based frame index in the input; track_*: place in the play order.
    index: Option<u64>,
    /// frame_sent: frames of the input, when known.
    total: Option<u64>,
    /// frame_sent: media seconds sent since the start (input and silence).
    time: Option<f64>,
    /// title_set, title_failed, track_started, status: the title.
    title: Option<String>,
    /// disconnected, title_failed, track_failed: why.
    reason: Option<String>,
    /// reconnecting: seconds before the attempt.
    delay: Option<f64>,
    /// track_*: the file.
    input: Option<String>,
    /// status: listeners now.
    listeners: Option<u64>,
}

impl From<Event> for IcecastEvent {
    fn from(event: Event) -> Self {
        let mut e = IcecastEvent::default();
        e.kind = match event {
            Event::Connected { .. } => "connected",
            Event::Disconnected { reason } => {
                e.reason = Some(reason);
                "disconnected"
            }
            Event::Reconnecting { delay } => {
                e.delay = Some(delay.as_secs_f64());
                "reconnecting"
            }
            Event::Muted => "muted",
            Event::Unmuted => "unmuted",
            Event::TitleSet(title) => {
                e.title = Some(title);
                "title_set"
            }
            Event::TitleFailed { title, reason } => {
                (e.title, e.reason) = (Some(title), Some(reason));
                "title_failed"
            }
            Event::FrameSent { index, total, time } => {
                (e.index, e.total, e.time) = (Some(index), total, Some(time.as_secs_f64()));
                "frame_sent"
            }
            Event::TrackStarted {
                index,
                input,
                title,
            } => {
                (e.index, e.input, e.title) = (Some(index), Some(input.name()), title);
                "track_started"
            }
            Event::TrackFinished { index, input, .. } => {
                (e.index, e.input) = (Some(index), Some(input.name()));
                "track_finished"
            }
            Event::TrackFailed { input, reason } => {
                (e.input, e.reason) = (Some(input.name()), Some(reason));
                "track_failed"
            }
            Event::QueueEmpty => "queue_empty",
            Event::Status(status) => {
                (e.listeners, e.title) = (Some(status.listeners), status.title);
                "status"
            }
            Event::Finished => "finished",
            _ => "other",
        };
        e
    }
}

#[pymethods]
impl IcecastEvent {
    fn __repr__(&self) -> String {
        let mut parts = vec![format!("kind={:?}", self.kind)];
        let fields = [
            ("index", self.index.map(|v| v.to_string())),
            ("total", self.total.map(|v| v.to_string())),
            ("time", self.time.map(|v| format!("{v:.3}"))),
            ("title", self.title.as_ref().map(|v| format!("{v:?}"))),
            ("reason", self.reason.as_ref().map(|v| format!("{v:?}"))),
            ("delay", self.delay.map(|v| format!("{v:.3}"))),
            ("input", self.input.as_ref().map(|v| format!("{v:?}"))),
            ("listeners", self.listeners.map(|v| v.to_string())),
        ];
        parts.extend(
            fields
                .into_iter()
                .filter_map(|(name, value)| Some(format!("{name}={}", value?))),
        );
        format!("IcecastEvent({})", parts.join(", "))
    }
}

/// MP3 files streamed in real time to an Icecast mount, one continuous stream.
///
/// IcecastStream(url, files, title=None, stop_when_empty=True): url is
/// "icecast://source:PASSWORD@host:port/mount" (the password is never shown). Control it
/// with mute(), unmute(), set_title(), enqueue(), stop(); iterate it for IcecastEvents
/// (frame_sent with index/total/time, muted, connected, reconnecting, ...) until the
/// stream ends; wait() returns when it has ended, raising its error.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct IcecastStream {
    stream: Arc<Mutex<Option<ice::IcecastStream>>>,
    events: Arc<Mutex<Option<EventStream>>>,
    outcome: Mutex<Option<Receiver<Result<(), ice::IcecastError>>>>,
    description: String,
}

impl IcecastStream {
    /// Runs an async call on the stream (GIL released); `Closed` once it has ended.
    fn command<F>(&self, py: Python<'_>, call: F) -> PyResult<()>
    where
        F: for<'s> FnOnce(
                &'s ice::IcecastStream,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<(), ice::IcecastError>> + Send + 's>,
            > + Send,
    {
        let runtime = runtime()?;
        let stream = self.stream.clone();
        py.detach(move || {
            let stream = stream.lock().unwrap_or_else(PoisonError::into_inner);
            match stream.as_ref() {
                Some(stream) => runtime.block_on(call(stream)),
                None => Err(ice::IcecastError::Closed),
            }
        })
        .map_err(|e| to_py(&e))
    }
}

#[pymethods]
impl IcecastStream {
    #[new]
    #[pyo3(signature = (url, files, title=None, stop_when_empty=true))]
    // Default then fields: StreamOptions is becoming #[non_exhaustive] (no struct literal).
    #[allow(clippy::field_reassign_with_default)]
    fn new(
        py: Python<'_>,
        url: &str,
        files: Vec<std::path::PathBuf>,
        title: Option<String>,
        stop_when_empty: bool,
    ) -> PyResult<IcecastStream> {
        let config = IcecastConfig::from_url(url).map_err(|e| to_py(&e))?;
        let description = format!(
            "icecast://{}@{}:{}{}",
            config.user, config.host, config.port, config.mount
        );
        let mut options = StreamOptions::default();
        options.stop_when_empty = stop_when_empty;
        options.title_from_tags = title.is_none();
        let inputs = files.into_iter().map(Mp3Input::File).collect();
        let runtime = runtime()?;
        let (stream, events) = py.detach(|| {
            let _context = runtime.enter();
            let mut stream = ice::IcecastStream::spawn(config, options, inputs);
            let events = stream.events();
            if let Some(title) = title {
                runtime.block_on(stream.set_title(title));
            }
            (stream, events)
        });
        Ok(IcecastStream {
            stream: Arc::new(Mutex::new(Some(stream))),
            events: Arc::new(Mutex::new(events)),
            outcome: Mutex::new(None),
            description,
        })
    }

    /// Sends silence from now on; the file position stays.
    fn mute(&self, py: Python<'_>) -> PyResult<()> {
        self.command(py, |s| Box::pin(s.mute()))
    }

    /// Resumes the input where it stopped.
    fn unmute(&self, py: Python<'_>) -> PyResult<()> {
        self.command(py, |s| {
            Box::pin(async move {
                s.unmute().await;
                Ok(())
            })
        })
    }

    /// Sets the stream title (ICY StreamTitle), shown by the server.
    fn set_title(&self, py: Python<'_>, title: String) -> PyResult<()> {
        self.command(py, move |s| {
            Box::pin(async move {
                s.set_title(title).await;
                Ok(())
            })
        })
    }

    /// Adds an MP3 file at the end of the queue.
    fn enqueue(&self, py: Python<'_>, file: std::path::PathBuf) -> PyResult<()> {
        self.command(py, move |s| {
            Box::pin(async move { s.enqueue(Mp3Input::File(file)) })
        })
    }

    /// Stops streaming at once.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.command(py, |s| {
            Box::pin(async move {
                s.stop().await;
                Ok(())
            })
        })
    }

    /// Waits (GIL released) until the stream has ended; raises its error.
    fn wait(&self, py: Python<'_>) -> PyResult<()> {
        let runtime = runtime()?;
        let stream = self
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stream) = stream {
            let (tx, rx) = std::sync::mpsc::channel();
            runtime.spawn(async move {
                let _ = tx.send(stream.wait().await);
            });
            *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(rx);
        }
        let Some(mut rx) = self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        loop {
            // The receiver goes into the GIL-free closure and comes back (it is not Sync).
            let (next, back) = py.detach(move || (rx.recv_timeout(SIGNAL_CHECK), rx));
            rx = back;
            match next {
                Ok(result) => return result.map_err(|e| to_py(&e)),
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            }
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next event (waiting with the GIL released); the iteration ends with the stream.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<IcecastEvent>> {
        let runtime = runtime()?;
        loop {
            let events = self.events.clone();
            let next = py.detach(move || {
                let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(stream) = events.as_mut() else {
                    return Some(None);
                };
                runtime
                    .block_on(async { tokio::time::timeout(SIGNAL_CHECK, stream.next()).await })
                    .ok()
            });
            match next {
                Some(event) => return Ok(event.map(IcecastEvent::from)),
                None => py.check_signals()?,
            }
        }
    }

    fn __repr__(&self) -> String {
        format!("IcecastStream({})", self.description)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<IcecastStream>()?;
    module.add_class::<IcecastEvent>()?;
    Ok(())
}
