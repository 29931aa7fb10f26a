//! `tcp://HOST:PORT`: live packets from a `tcp-listen://` packet server, received by
//! [`media_remote::Client`] (handshake, reconnection with backoff, `goodbye`).

use std::time::SystemTime;

use media_remote::{Client, ClientEvent};
use tokio::sync::{mpsc, watch};

use crate::Options;
use crate::contract::InputEvent;

/// The `tcp://` input: [`Client`]'s events as the recorder's, until the server says
/// `goodbye`, a permanent error, or `stop`.
pub(crate) async fn run(
    addr: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), crate::Error> {
    let mut client = Client::connect(addr, options.remote.clone());
    loop {
        let event = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            event = client.next() => event,
        };
        let event = match event {
            None | Some(Ok(ClientEvent::End)) => return Ok(()),
            Some(Err(source)) => {
                return Err(crate::Error::Remote {
                    endpoint: format!("tcp://{addr}"),
                    source,
                });
            }
            Some(Ok(ClientEvent::Tracks(tracks))) => InputEvent::Tracks(tracks),
            Some(Ok(ClientEvent::TrackUpdated { index, track })) => {
                InputEvent::TrackUpdated { index, track }
            }
            Some(Ok(ClientEvent::Packet(packet))) => InputEvent::Packet(packet, SystemTime::now()),
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
