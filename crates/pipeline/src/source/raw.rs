//! Raw input: packets written from code through a [`crate::raw::RawWriter`].

use std::time::SystemTime;

use tokio::sync::{mpsc, watch};

use crate::Error;
use crate::contract::InputEvent;
use crate::endpoint::RawInput;

/// Forwards the writer's packets, checking their track indices.
pub(crate) async fn run(
    raw: RawInput,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let taken = raw.rx.lock().ok().and_then(|mut rx| rx.take());
    let Some(mut rx) = taken else {
        return Err(Error::InvalidOptions(
            "a raw input can feed only one pipeline".into(),
        ));
    };
    if tx
        .send(InputEvent::Tracks(raw.tracks.clone()))
        .await
        .is_err()
    {
        return Ok(());
    }
    loop {
        let packet = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            packet = rx.recv() => packet,
        };
        let Some(packet) = packet else { return Ok(()) };
        if packet.track >= raw.tracks.len() {
            return Err(Error::Input {
                input: "raw".into(),
                reason: format!(
                    "packet for track {} but {} track(s) declared",
                    packet.track,
                    raw.tracks.len()
                ),
            });
        }
        if tx
            .send(InputEvent::Packet(packet, SystemTime::now()))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}
