//! One output of a pipeline: its endpoint, a recorder with its sinks' factory, and the
//! loop that feeds the recorder on a blocking thread (file writes block), through the
//! transcoding stage when there is one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::recorder::{Flow, RecordOptions, Recorder};
#[cfg(feature = "codec")]
use crate::transcode::Transcoder;
use crate::{Endpoint, Error, Options, Status, sink};

/// One output: its endpoint and a recorder with its sinks' factory.
pub(crate) struct Output {
    pub(crate) endpoint: Endpoint,
    recorder: Recorder,
    transcoding: crate::transcoding::Transcoding,
    kinds: (bool, bool),
    /// An extra output that connects to a server: the options to open it again with
    /// when it fails (`reopen.rs`).
    pub(crate) again: Option<Options>,
}

impl Output {
    pub(crate) fn open(
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
            again: None,
        })
    }

    /// Records what `rx` brings on a blocking thread; the files written.
    pub(crate) async fn record(
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
            again: _,
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
