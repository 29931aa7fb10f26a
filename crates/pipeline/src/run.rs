//! Running a pipeline: [`Pipeline`] (input, output, [`Options`]) and the
//! [`PipelineHandle`] of a spawned one (`wait`, `close`, `kill`, live [`Status`]).
//!
//! The source runs as a tokio task (or, handling RTSP in bursts, on a thread of its own);
//! the recorder and its sinks run on a blocking thread (file writes block), fed through a
//! bounded channel. With more outputs ([`Pipeline::also`]) each has a recorder of its
//! own, and a task hands every event to each of their channels (`fan_out.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtsp_source::Transport;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::contract::InputEvent;
use crate::recorder::{Flow, RecordOptions, Recorder};
#[cfg(feature = "codec")]
use crate::transcode::Transcoder;
use crate::{Endpoint, Error, Options, Status, Summary, fan_out, sink, source};

/// A media stream from one endpoint to another.
#[derive(Debug)]
pub struct Pipeline {
    input: Endpoint,
    output: Endpoint,
    also: Vec<Endpoint>,
    options: Options,
}

impl Pipeline {
    /// A pipeline from `input` to `output` with default options.
    pub fn new(input: Endpoint, output: Endpoint) -> Pipeline {
        Pipeline {
            input,
            output,
            also: Vec::new(),
            options: Options::default(),
        }
    }

    /// Another output fed the same packets: one input recorded and served at once (a
    /// camera to a file and to `rtsp-listen://` viewers), with one connection to it.
    /// Each output has its own recorder and queue; one that fails stops alone (a log
    /// line names it) while the others go on, and the pipeline's result is then that
    /// error, once every output has finished. A file input is paced when any output is
    /// live (see [`Options::realtime`]); `--segment` applies to the outputs that rotate
    /// (MP4, Matroska); the [`Status`] is the first output's.
    pub fn also(mut self, output: Endpoint) -> Pipeline {
        self.also.push(output);
        self
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
            also,
            options,
        } = self;
        let mut options = source::pace::for_output(&output, options);
        // A file goes at the media's pace when any output serves it live.
        options.realtime |= also
            .iter()
            .any(|o| source::pace::for_output(o, options.clone()).realtime);
        options.fsync = Some(options.fsync_for(&input));
        options.hls = Some(options.hls_for(&input));
        options.hide_before_zero = input.has_time_zero();
        options.keyframe_requests = crate::contract::KeyframeRequests::default();
        options.g711_tracks = options.transcoding.active() || output.plays_g711();
        let queue = options.queue_for(&input);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = Arc::new(stop_tx);
        let killed = Arc::new(AtomicBool::new(false));
        let (status_tx, status_rx) = watch::channel(Status::default());
        // Over TCP the server waits while packets gather; UDP packets beyond the socket
        // buffer would be lost.
        let burst = options.burst.filter(|_| {
            also.is_empty()
                && matches!(input, Endpoint::Rtsp(_))
                && matches!(options.rtsp.transport, Transport::Tcp)
                && matches!(
                    output,
                    Endpoint::Mp4File(_) | Endpoint::Hls { .. } | Endpoint::Stdout(_)
                )
        });
        let task = {
            let stop = stop.clone();
            let killed = killed.clone();
            let status = status_rx.clone();
            tokio::spawn(async move {
                let mut outputs = vec![Output::open(output, &options, status_tx)?];
                for extra in also {
                    // Their status is not shown (the first output's is).
                    let (status, _) = watch::channel(Status::default());
                    let mut extra_options = options.clone();
                    if !extra.rotates() {
                        extra_options.segment = None;
                    }
                    outputs.push(Output::open(extra, &extra_options, status)?);
                }
                let (tx, rx) = mpsc::channel(queue);
                let source = source::spawn(input, options, tx, stop_rx, burst);
                let result = if let [_] = &outputs[..] {
                    let output = outputs.remove(0);
                    output.record(rx, killed, burst).await
                } else {
                    let mut feeds = Vec::new();
                    let mut recorders = Vec::new();
                    for output in outputs {
                        let (tx, rx) = mpsc::channel(queue);
                        feeds.push(tx);
                        let name = output.endpoint.to_string();
                        let killed = killed.clone();
                        recorders.push(async move {
                            let result = output.record(rx, killed, None).await;
                            if let Err(e) = &result {
                                tracing::warn!(output = %name, "this output stopped: {e}");
                            }
                            result
                        });
                    }
                    let fan_out = tokio::spawn(fan_out::run(rx, feeds));
                    let results = futures::future::join_all(recorders).await;
                    // It ends once it gave the input's end to every output, or when the
                    // input stops (every output stopped first).
                    stop.send_replace(true);
                    let input = fan_out.await.unwrap_or(Ok(()));
                    fan_out::outcome(input, results)
                };
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

/// One output: its endpoint and a recorder with its sinks' factory.
struct Output {
    endpoint: Endpoint,
    recorder: Recorder,
    transcoding: crate::transcoding::Transcoding,
    kinds: (bool, bool),
}

impl Output {
    fn open(
        endpoint: Endpoint,
        options: &Options,
        status: watch::Sender<Status>,
    ) -> Result<Output, Error> {
        let factory = sink::factory(&endpoint, options)?;
        let record = RecordOptions {
            duration: options.duration,
            segment: options.segment,
            video: options.video,
            audio: options.audio,
            time_zero: options.hide_before_zero,
        };
        Ok(Output {
            endpoint,
            recorder: Recorder::new(record, factory, status),
            transcoding: options.transcoding,
            kinds: (options.video, options.audio),
        })
    }

    /// Records what `rx` brings on a blocking thread; the files written.
    async fn record(
        self,
        rx: mpsc::Receiver<InputEvent>,
        killed: Arc<AtomicBool>,
        burst: Option<Duration>,
    ) -> Result<Vec<PathBuf>, Error> {
        let Output {
            endpoint,
            recorder,
            transcoding,
            kinds,
        } = self;
        let plays_g711 = endpoint.plays_g711();
        // Built on the recorder's thread: libswscale's and libswresample's contexts
        // are not Send.
        tokio::task::spawn_blocking(move || {
            let stage = transcoder(&transcoding, kinds, plays_g711);
            record_loop(recorder, stage, rx, &killed, burst)
        })
        .await
        .unwrap_or_else(|e| {
            Err(Error::Output {
                output: endpoint.to_string(),
                reason: format!("recorder thread failed: {e}"),
            })
        })
    }
}

/// The transcoding stage, when this build and the options have one.
#[cfg(feature = "codec")]
fn transcoder(
    settings: &crate::transcoding::Transcoding,
    kinds: (bool, bool),
    plays_g711: bool,
) -> Option<Transcoder> {
    settings
        .active()
        .then(|| Transcoder::new(*settings, kinds, plays_g711))
}

#[cfg(not(feature = "codec"))]
fn transcoder(_: &crate::transcoding::Transcoding, _: (bool, bool), _: bool) -> Option<Transcoder> {
    None
}

/// Without the `codec` feature there is no transcoding stage: never built.
#[cfg(not(feature = "codec"))]
enum Transcoder {}

#[cfg(not(feature = "codec"))]
impl Transcoder {
    fn process(&mut self, _: InputEvent, _: &Recorder) -> Result<Vec<InputEvent>, Error> {
        match *self {}
    }
}

/// `pause`: sleep this long whenever the queue is empty (see [`Options::burst`]).
fn record_loop(
    mut recorder: Recorder,
    mut stage: Option<Transcoder>,
    mut rx: mpsc::Receiver<InputEvent>,
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
        let handled = match stage.as_mut() {
            Some(stage) => stage.process(event, &recorder).and_then(|events| {
                let mut flow = Flow::Continue;
                for event in events {
                    flow = recorder.handle(event)?;
                    if matches!(flow, Flow::Done) {
                        break;
                    }
                }
                Ok(flow)
            }),
            None => recorder.handle(event),
        };
        match handled {
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
