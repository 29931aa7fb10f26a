//! One input to several outputs ([`crate::Pipeline::also`]): every event of the source
//! handed to each output's recorder, through a bounded channel each. The slowest output
//! sets the pace, as one output does alone (a file input waits; a live one's packets
//! wait in its socket); the network outputs never make it wait, as their clients have
//! queues of their own. An output whose recorder has ended (it failed) is left out, and
//! the others go on.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::Error;
use crate::contract::InputEvent;

/// Hands each event of `rx` to every output still taking them, until the input ends or
/// no output is left; returns how the input ended (its error is the pipeline's, told
/// once: each output is given a plain end and finalizes).
pub(crate) async fn run(
    mut rx: mpsc::Receiver<InputEvent>,
    outputs: Vec<mpsc::Sender<InputEvent>>,
) -> Result<(), Error> {
    let mut outputs: Vec<_> = outputs.into_iter().map(Some).collect();
    while let Some(event) = rx.recv().await {
        let (event, end) = match event {
            InputEvent::End(result) => (InputEvent::End(Ok(())), Some(result)),
            event => (event, None),
        };
        // Copies for all but the last output still open, which takes the event itself.
        let last = outputs.iter().rposition(Option::is_some);
        let mut event = Some(event);
        for (i, slot) in outputs.iter_mut().enumerate() {
            let Some(tx) = slot else { continue };
            let item = if Some(i) == last {
                event.take()
            } else {
                event.as_ref().map(copy)
            };
            if let Some(item) = item
                && tx.send(item).await.is_err()
            {
                *slot = None;
            }
        }
        if let Some(result) = end {
            return result;
        }
        if outputs.iter().all(Option::is_none) {
            break;
        }
    }
    Ok(())
}

/// A copy of `event` for one output. Packets share their payload (`Bytes`). An end
/// is a plain one (the input's error is told by [`run`]).
pub(crate) fn copy(event: &InputEvent) -> InputEvent {
    match event {
        InputEvent::Tracks(tracks) => InputEvent::Tracks(tracks.clone()),
        InputEvent::TrackUpdated { index, track } => InputEvent::TrackUpdated {
            index: *index,
            track: track.clone(),
        },
        InputEvent::Packet(packet, arrival) => InputEvent::Packet(packet.clone(), *arrival),
        InputEvent::Discontinuity => InputEvent::Discontinuity,
        InputEvent::TimestampJump { track } => InputEvent::TimestampJump { track: *track },
        InputEvent::Loss(n) => InputEvent::Loss(*n),
        InputEvent::End(_) => InputEvent::End(Ok(())),
        InputEvent::Batch(events) => InputEvent::Batch(events.iter().map(copy).collect()),
    }
}

/// The pipeline's result: the input's error, else the first output's (each was logged,
/// naming its output, when it stopped), else every file written.
pub(crate) fn outcome(
    input: Result<(), Error>,
    outputs: Vec<Result<Vec<PathBuf>, Error>>,
) -> Result<Vec<PathBuf>, Error> {
    input?;
    let mut files = Vec::new();
    for result in outputs {
        files.extend(result?);
    }
    Ok(files)
}
