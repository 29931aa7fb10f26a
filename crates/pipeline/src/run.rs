//! Running a pipeline: [`Pipeline`] (input, output, [`Options`]) and the
//! [`PipelineHandle`] of a spawned one (`wait`, `close`, `kill`, live [`Status`]).
//!
//! The source runs as a tokio task (or, handling RTSP in bursts, on a thread of its own);
//! the recorder and its sinks run on a blocking thread (file writes block), fed through a
//! bounded channel. With more outputs ([`Pipeline::also`]) each has a recorder of its
//! own, and a task hands every event to each of their channels (`fan_out.rs`); one that
//! sends to a server elsewhere is opened again when it fails (`reopen.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtsp_source::Transport;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::output::Output;
use crate::{Endpoint, Error, Options, Status, Summary, fan_out, reopen, source};

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
    /// error, once every output has finished. One that pushes to a server (RTMP, an SRT
    /// caller, Icecast, WHIP) is opened again after a pause instead (1 s doubling to
    /// 30 s) and goes on from the next key frame; its error is the result only if the
    /// input ended while it was down. A file input is paced when any output is
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
                    let mut output = Output::open(extra, &extra_options, status)?;
                    if output.endpoint.reconnects() {
                        output.again = Some(extra_options);
                    }
                    outputs.push(output);
                }
                let (tx, rx) = mpsc::channel(queue);
                let source = source::spawn(input, options, tx, stop_rx, burst);
                let result = if let [_] = &outputs[..] {
                    let output = outputs.remove(0);
                    output.record(rx, killed, burst).await
                } else {
                    let mut feeds = Vec::new();
                    let mut recorders = Vec::new();
                    for mut output in outputs {
                        let (tx, rx) = mpsc::channel(queue);
                        feeds.push(tx);
                        let name = output.endpoint.to_string();
                        let killed = killed.clone();
                        recorders.push(async move {
                            let result = match output.again.take() {
                                Some(options) => {
                                    reopen::record(output, options, rx, killed, queue).await
                                }
                                None => output.record(rx, killed, None).await,
                            };
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
