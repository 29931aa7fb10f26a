//! An extra output ([`crate::Pipeline::also`]) that sends to a server elsewhere (RTMP, an
//! SRT caller, Icecast, WHIP) is opened again when it fails, as a restreamer reconnects to
//! its platform: after a pause that grows with each failure in a row (`media_core::Backoff`'s
//! default, 1 s doubling to 30 s, ±20 %; a run of a minute or more starts it over), while
//! the input and the other outputs go on. What the input brings during the pause is
//! dropped except its tracks, which the new connection is given first; it starts at the
//! next key frame, as a recording does (the recorder writes nothing before one). The first
//! output is never opened again: its failure is the pipeline's.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use media_core::Backoff;
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::output::Output;
use crate::{Endpoint, Error, Options, Status, fan_out};

/// A run this long counts as healthy: the next failure starts the pauses over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Records what `rx` brings to `first` (opened from `endpoint` with `options`), opening
/// it again after each failure until the input ends; the files written, or the last
/// failure when the input ended while the output was down.
pub(crate) async fn record(
    first: Output,
    options: Options,
    mut rx: mpsc::Receiver<InputEvent>,
    killed: Arc<AtomicBool>,
    queue: usize,
) -> Result<Vec<PathBuf>, Error> {
    let endpoint = first.endpoint.clone();
    let started = Instant::now();
    let backoff = Backoff::default();
    let mut failures = 0u32;
    let mut tracks = Tracks::default();
    let mut output = Ok(first);
    // Once reopened: its status (what it wrote) and the failure it came back from.
    let mut reopened: Option<(watch::Receiver<Status>, Error)> = None;
    loop {
        let run_started = Instant::now();
        let error = match output {
            Ok(output) => match feed(output, &mut rx, &mut tracks, &killed, queue).await {
                Ok(files) => {
                    return match reopened {
                        // It ended before it wrote anything (the input ended before a key
                        // frame came): it did not come back, its failure stands.
                        Some((status, failure)) if status.borrow().packets == 0 => Err(failure),
                        _ => Ok(files),
                    };
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if killed.load(Ordering::Acquire) || matches!(error, Error::Killed) {
            return Err(error);
        }
        if run_started.elapsed() >= HEALTHY_RUN {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let pause = backoff.delay(failures, rand::random::<f64>());
        tracing::warn!(
            output = %endpoint,
            "this output stopped: {error}; opening it again in {:.1} s",
            pause.as_secs_f64()
        );
        if !wait(pause, &mut rx, &mut tracks).await {
            return Err(error);
        }
        let (status, status_rx) = watch::channel(Status::default());
        reopened = Some((status_rx, error));
        output = open_again(&endpoint, &options, started, status);
    }
}

/// The output opened anew; a duration limit counts from the pipeline's start.
fn open_again(
    endpoint: &Endpoint,
    options: &Options,
    started: Instant,
    status: watch::Sender<Status>,
) -> Result<Output, Error> {
    let mut options = options.clone();
    options.duration = options.duration.map(|d| {
        d.saturating_sub(started.elapsed())
            .max(Duration::from_millis(1))
    });
    Output::open(endpoint.clone(), &options, status)
}

/// Hands what `rx` brings to `output` (the tracks known so far first) until its recorder
/// ends: its files once the input ended (or its duration), else why it failed.
async fn feed(
    output: Output,
    rx: &mut mpsc::Receiver<InputEvent>,
    tracks: &mut Tracks,
    killed: &Arc<AtomicBool>,
    queue: usize,
) -> Result<Vec<PathBuf>, Error> {
    let (tx, events) = mpsc::channel(queue);
    let recording = output.record(events, killed.clone(), None);
    tokio::pin!(recording);
    let mut tx = Some(tx);
    for event in tracks.replay() {
        if let Some(t) = &tx
            && t.send(event).await.is_err()
        {
            tx = None;
        }
    }
    loop {
        tokio::select! {
            result = &mut recording => return result,
            event = rx.recv(), if tx.is_some() => match (event, &tx) {
                (Some(event), Some(t)) => {
                    tracks.note(&event);
                    // A recorder that ended (failed) tells why next.
                    if t.send(event).await.is_err() {
                        tx = None;
                    }
                }
                // The fan-out is gone: the recorder finishes with what it has.
                _ => tx = None,
            },
        }
    }
}

/// Waits `pause`, dropping what the input brings but its tracks; false when the input
/// ended meanwhile.
async fn wait(pause: Duration, rx: &mut mpsc::Receiver<InputEvent>, tracks: &mut Tracks) -> bool {
    let until = tokio::time::Instant::now() + pause;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return true,
            event = rx.recv() => match event {
                None | Some(InputEvent::End(_)) => return false,
                Some(event) => tracks.note(&event),
            },
        }
    }
}

/// The input's latest tracks and the latest update of each since, for a reopened output
/// (bounded by the number of tracks).
#[derive(Default)]
struct Tracks(Vec<InputEvent>);

impl Tracks {
    fn note(&mut self, event: &InputEvent) {
        match event {
            InputEvent::Tracks(_) => {
                self.0.clear();
                self.0.push(fan_out::copy(event));
            }
            InputEvent::TrackUpdated { index, .. } => {
                self.0.retain(
                    |kept| !matches!(kept, InputEvent::TrackUpdated { index: i, .. } if i == index),
                );
                self.0.push(fan_out::copy(event));
            }
            InputEvent::Batch(events) => events.iter().for_each(|e| self.note(e)),
            _ => {}
        }
    }

    fn replay(&self) -> Vec<InputEvent> {
        self.0.iter().map(fan_out::copy).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use media_core::{Codec, Track};

    fn video(n: u8) -> Track {
        let config = Bytes::from(vec![1, n]);
        Track::video(Codec::H264 { config }, 90_000, 640, 360)
    }

    fn kept(tracks: &Tracks) -> Vec<String> {
        tracks
            .replay()
            .iter()
            .map(|event| match event {
                InputEvent::Tracks(t) => format!("tracks {}", t.len()),
                InputEvent::TrackUpdated { index, track } => format!("{index}: {:?}", track.codec),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_reopened_output_gets_the_latest_tracks_and_one_update_per_track() {
        let mut tracks = Tracks::default();
        assert!(tracks.replay().is_empty());
        tracks.note(&InputEvent::Tracks(vec![video(1), video(2)]));
        tracks.note(&InputEvent::Loss(3));
        let update = |index, n| InputEvent::TrackUpdated {
            index,
            track: video(n),
        };
        tracks.note(&update(0, 3));
        tracks.note(&InputEvent::Batch(vec![update(1, 4), update(0, 5)]));
        assert_eq!(
            kept(&tracks),
            [
                "tracks 2".to_string(),
                format!("1: {:?}", video(4).codec),
                format!("0: {:?}", video(5).codec),
            ]
        );
        // New tracks (a reconnected input) replace everything.
        tracks.note(&InputEvent::Tracks(vec![video(6)]));
        assert_eq!(kept(&tracks), ["tracks 1"]);
    }
}
