//! `tcp://HOST:PORT`: live packets from a `tcp-listen://` packet server, received by
//! [`media_remote::Client`] (handshake, reconnection with backoff for at most
//! `retry_for`, `goodbye`).

use std::time::SystemTime;

use media_remote::{Client, ClientEvent};
use tokio::sync::{mpsc, watch};

use crate::Options;
use crate::contract::InputEvent;

/// The `tcp://` input: [`Client`]'s events as the recorder's, until the server says
/// `goodbye`, a permanent error (giving up retrying is one), or `stop`. Stopped before a
/// single packet arrived, it is an error: nothing was recorded, and the reason the
/// server was not reached is worth more than a silent success.
pub(crate) async fn run(
    addr: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), crate::Error> {
    let endpoint = format!("tcp://{addr}");
    let mut client = Client::connect(addr, options.remote.clone());
    let mut received = false;
    let mut last_failure: Option<String> = None;
    loop {
        // Stop first: once stopping, nothing more is said about reconnecting.
        let event = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => {
                if received {
                    return Ok(());
                }
                let last = last_failure.map_or_else(String::new, |r| format!(" (last attempt: {r})"));
                return Err(crate::Error::Input {
                    input: endpoint,
                    reason: format!("stopped: nothing was received{last}"),
                });
            }
            event = client.next() => event,
        };
        let event = match event {
            None | Some(Ok(ClientEvent::End)) => return Ok(()),
            Some(Err(source)) => return Err(crate::Error::Remote { endpoint, source }),
            Some(Ok(ClientEvent::Reconnecting {
                attempt,
                delay,
                reason,
            })) => {
                tracing::warn!(input = %endpoint, attempt, ?delay, "{reason}; reconnecting");
                last_failure = Some(reason);
                continue;
            }
            Some(Ok(ClientEvent::Tracks(tracks))) => InputEvent::Tracks(tracks),
            Some(Ok(ClientEvent::TrackUpdated { index, track })) => {
                InputEvent::TrackUpdated { index, track }
            }
            Some(Ok(ClientEvent::Packet(packet))) => {
                received = true;
                InputEvent::Packet(packet, SystemTime::now())
            }
            Some(Ok(ClientEvent::Discontinuity)) => InputEvent::Discontinuity,
            Some(Ok(other)) => {
                tracing::debug!(?other, "remote event ignored");
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return Ok(()); // the recorder does not want more
        }
    }
}
