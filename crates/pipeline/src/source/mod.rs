//! Sources: each input endpoint becomes a task that sends [`InputEvent`]s to the recorder.
//!
//! The channel between them is bounded, so a slow output slows the source down (for
//! files and raw writers) or, for a live camera, fills retina's socket buffer (counted as
//! loss when packets are dropped over UDP).

pub(crate) mod mp3;
pub(crate) mod rtsp;

use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

use crate::{Endpoint, Error, Options};
use crate::{Packet, Track};

/// What a source tells the recorder.
#[derive(Debug)]
pub(crate) enum InputEvent {
    /// The tracks, before the first packet (again after a reconnection).
    Tracks(Vec<Track>),
    /// A track's configuration changed; the next packet of that track uses it.
    TrackUpdated {
        /// Index in the last [`InputEvent::Tracks`].
        index: usize,
        /// The new description.
        track: Track,
    },
    /// A packet and the wall-clock time it arrived.
    Packet(Packet, SystemTime),
    /// What follows does not continue what came before (a reconnection).
    Discontinuity,
    /// Packets were lost in the network.
    Loss(u64),
    /// The source ended: normally or with an error.
    End(Result<(), Error>),
}

/// Starts the source of `input`: a task on the current runtime, or with `burst` a thread
/// of its own (see [`crate::burst`]). The receiver completes when the source has ended.
pub(crate) fn spawn(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    burst: Option<Duration>,
) -> oneshot::Receiver<()> {
    if let Some(pause) = burst {
        return crate::burst::spawn_source(input, options, tx, stop, pause);
    }
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        run(input, options, tx, stop, None).await;
        let _ = done_tx.send(());
    });
    done_rx
}

/// Runs the source of `input` until it ends or `stop` turns true; the last event sent is
/// always [`InputEvent::End`] (unless the recorder is gone). `pause`: an RTSP source
/// sleeps this long whenever nothing is ready (see [`crate::burst`]).
pub(crate) async fn run(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    pause: Option<Duration>,
) {
    let end = match input {
        Endpoint::Rtsp(url) => rtsp::run(&url, &options, &tx, stop, pause).await,
        Endpoint::Mp3File(path) => mp3::run_file(path, tx.clone(), stop).await,
        Endpoint::Stdin => mp3::run_stdin(tx.clone(), stop).await,
        Endpoint::RawInput(raw) => crate::raw::run_source(raw, &tx, stop).await,
        Endpoint::Tcp(addr) => crate::remote::run_source(&addr, &options, &tx, stop).await,
        other => Err(Error::UnsupportedEndpoint {
            endpoint: other.to_string(),
            direction: crate::Direction::Input,
        }),
    };
    let _ = tx.send(InputEvent::End(end)).await;
}
