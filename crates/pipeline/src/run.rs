//! Running a pipeline: [`Pipeline`] (input, output, [`Options`]) and the
//! [`PipelineHandle`] of a spawned one (`wait`, `close`, `kill`, live [`Status`]).
//!
//! The source runs as a tokio task (or, handling RTSP in bursts, on a thread of its own);
//! the recorder and its sinks run on a blocking thread (file writes block), fed through a
//! bounded channel.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtsp_source::{InitialTimestamp, Teardown, Transport};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::recorder::{Flow, RecordOptions, Recorder};
use crate::{Endpoint, Error, sink, source};

/// How HLS playlists are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HlsMode {
    /// Rewritten after every segment (players can follow the recording), ended with
    /// `EXT-X-ENDLIST` when it stops.
    #[default]
    Live,
    /// Written once, complete, when the recording ends.
    Vod,
}

/// RTSP input settings, with the spellings of retina's example client.
#[derive(Clone, Default)]
pub struct RtspSettings {
    /// TCP (interleaved, the default) or UDP.
    pub transport: Transport,
    /// Keep going when RTP packets are lost (otherwise loss ends the session).
    pub allow_loss: bool,
    /// When to send TEARDOWN.
    pub teardown: Teardown,
    /// How to read `RTP-Info`'s initial timestamps.
    pub initial_timestamp: InitialTimestamp,
    /// User name (overrides the URL's).
    pub user: Option<String>,
    /// Password (overrides the URL's). Never shown.
    pub password: Option<String>,
}

impl fmt::Debug for RtspSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspSettings")
            .field("transport", &self.transport)
            .field("allow_loss", &self.allow_loss)
            .field("teardown", &self.teardown)
            .field("initial_timestamp", &self.initial_timestamp)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How a pipeline records.
#[derive(Debug, Clone)]
pub struct Options {
    /// MP4 file output: fragmented (`moof`/`mdat`) instead of plain.
    pub fragmented: bool,
    /// Target fragment (and HLS segment) duration.
    pub fragment_duration: Duration,
    /// Plain MP4: move `moov` in front of the media data when finishing.
    pub faststart: bool,
    /// Rotation: a new file at the first key frame after each multiple of this length.
    pub segment: Option<Duration>,
    /// Stop after this much media time.
    pub duration: Option<Duration>,
    /// Record video tracks.
    pub video: bool,
    /// Record audio tracks.
    pub audio: bool,
    /// RTSP input settings.
    pub rtsp: RtspSettings,
    /// HLS playlist mode.
    pub hls: HlsMode,
    /// Packets that may wait between the source and the recorder.
    pub queue: usize,
    /// `tcp-listen://` server and `tcp://` client settings (token, clients, queues).
    pub remote: crate::remote::RemoteSettings,
    /// RTSP input to a file output (MP4, HLS, stdout): handle packets in bursts. Whenever
    /// nothing is ready the source sleeps this long (and the recorder, when its queue is
    /// empty), so that the packets arriving meanwhile are read and written together: one
    /// wake-up per burst instead of one per packet, about half the CPU (crate README), for
    /// at most this much more delay before a packet reaches the file. The source then
    /// runs on a thread and runtime of its own. `None`: each packet as it arrives (always
    /// so for raw and `tcp-listen://` outputs, which are live, and over UDP, where packets
    /// beyond the socket buffer would be lost; over TCP the server waits).
    pub burst: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fragmented: false,
            fragment_duration: Duration::from_secs(2),
            faststart: false,
            segment: None,
            duration: None,
            video: true,
            audio: true,
            rtsp: RtspSettings::default(),
            hls: HlsMode::Live,
            queue: 256,
            remote: crate::remote::RemoteSettings::default(),
            burst: Some(Duration::from_millis(50)),
        }
    }
}

/// Live figures of a running pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Media time recorded, in seconds.
    pub media_seconds: f64,
    /// Packets written.
    pub packets: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Packets lost in the network (RTSP).
    pub lost: u64,
    /// Files finished.
    pub files: u64,
}

/// What a finished pipeline did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The files written, finalized, in order.
    pub files: Vec<PathBuf>,
    /// The last status.
    pub status: Status,
}

/// A media stream from one endpoint to another.
#[derive(Debug)]
pub struct Pipeline {
    input: Endpoint,
    output: Endpoint,
    options: Options,
}

impl Pipeline {
    /// A pipeline from `input` to `output` with default options.
    pub fn new(input: Endpoint, output: Endpoint) -> Pipeline {
        Pipeline {
            input,
            output,
            options: Options::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: Options) -> Pipeline {
        self.options = options;
        self
    }

    /// Runs until the input ends, the duration is reached, or an error.
    pub async fn run(self) -> Result<Summary, Error> {
        self.spawn().wait().await
    }

    /// Starts the pipeline on the current tokio runtime (either flavour, with time and I/O
    /// enabled; the recorder runs on its blocking pool) and returns its handle.
    pub fn spawn(self) -> PipelineHandle {
        let Pipeline {
            input,
            output,
            options,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = Arc::new(stop_tx);
        let killed = Arc::new(AtomicBool::new(false));
        let (status_tx, status_rx) = watch::channel(Status::default());
        // Over TCP the server waits while packets gather; UDP packets beyond the socket
        // buffer would be lost.
        let burst = options.burst.filter(|_| {
            matches!(input, Endpoint::Rtsp(_))
                && matches!(options.rtsp.transport, Transport::Tcp)
                && matches!(
                    output,
                    Endpoint::Mp4File(_) | Endpoint::Hls { .. } | Endpoint::Stdout
                )
        });
        let task = {
            let stop = stop.clone();
            let killed = killed.clone();
            let status = status_rx.clone();
            tokio::spawn(async move {
                let factory = sink::factory(&output, &options)?;
                let record = RecordOptions {
                    duration: options.duration,
                    segment: options.segment,
                    video: options.video,
                    audio: options.audio,
                };
                let (tx, rx) = mpsc::channel(options.queue.max(1));
                let source = source::spawn(input, options, tx, stop_rx, burst);
                let recorder = Recorder::new(record, factory, status_tx);
                let result =
                    tokio::task::spawn_blocking(move || record_loop(recorder, rx, &killed, burst))
                        .await
                        .unwrap_or_else(|e| {
                            Err(Error::Output {
                                output: output.to_string(),
                                reason: format!("recorder thread failed: {e}"),
                            })
                        });
                stop.send_replace(true);
                // Let the source say TEARDOWN (bounded by rtsp-source's own timeouts).
                if tokio::time::timeout(Duration::from_secs(10), source)
                    .await
                    .is_err()
                {
                    tracing::warn!("the input did not stop within 10 s");
                }
                let status = status.borrow().clone();
                result.map(|files| Summary { files, status })
            })
        };
        PipelineHandle {
            task,
            stop,
            killed,
            status: status_rx,
        }
    }
}

/// `pause`: sleep this long whenever the queue is empty (see [`Options::burst`]).
fn record_loop(
    mut recorder: Recorder,
    mut rx: mpsc::Receiver<source::InputEvent>,
    killed: &AtomicBool,
    pause: Option<Duration>,
) -> Result<Vec<PathBuf>, Error> {
    loop {
        let event = rx.blocking_recv();
        if killed.load(Ordering::Acquire) {
            recorder.abandon();
            return Err(Error::Killed);
        }
        let Some(event) = event else { break };
        match recorder.handle(event) {
            Ok(Flow::Continue) => {
                if let Some(pause) = pause.filter(|_| rx.is_empty()) {
                    std::thread::sleep(pause);
                }
            }
            Ok(Flow::Done) => break,
            Err(e) => {
                // Finalize what was recorded before the error when possible.
                if let Err(finish) = recorder.finish() {
                    tracing::warn!("finishing after an error failed too: {finish}");
                }
                return Err(e);
            }
        }
    }
    recorder.finish()
}

/// A running pipeline.
#[derive(Debug)]
pub struct PipelineHandle {
    task: JoinHandle<Result<Summary, Error>>,
    stop: Arc<watch::Sender<bool>>,
    killed: Arc<AtomicBool>,
    status: watch::Receiver<Status>,
}

/// Stops a pipeline from elsewhere; cheap to clone (e.g. into a signal handler).
#[derive(Debug, Clone)]
pub struct Closer {
    stop: Arc<watch::Sender<bool>>,
    killed: Arc<AtomicBool>,
}

impl Closer {
    /// Stops the input; the output is finalized.
    pub fn close(&self) {
        self.stop.send_replace(true);
    }

    /// Stops at once; the output is not finalized.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.stop.send_replace(true);
    }
}

impl PipelineHandle {
    /// Waits until the pipeline has finished.
    pub async fn wait(self) -> Result<Summary, Error> {
        match self.task.await {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Err(Error::Killed),
            Err(e) => Err(Error::Output {
                output: "pipeline".into(),
                reason: format!("task failed: {e}"),
            }),
        }
    }

    /// Stops gracefully: the input is stopped (RTSP TEARDOWN) and the output finalized;
    /// [`wait`](Self::wait) returns once that is done.
    pub fn close(&self) {
        self.stop.send_replace(true);
    }

    /// A handle that can [`close`](Self::close) or [`kill`](Self::kill) from elsewhere.
    pub fn closer(&self) -> Closer {
        Closer {
            stop: self.stop.clone(),
            killed: self.killed.clone(),
        }
    }

    /// Stops at once: the output is left as it is (a `.partial` file is not finalized).
    pub fn kill(&self) {
        self.closer().kill();
    }

    /// Live figures.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Whether it has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
