//! Remote endpoints on [`media_remote`]: the `tcp-listen://ADDR:PORT` output serves the
//! recording to network clients, the `tcp://HOST:PORT` input receives one. The protocol,
//! handshake, drop policy and reconnection are media-remote's; this module only converts
//! between its types and the pipeline's sources and sinks.
//!
//! ```no_run
//! use pipeline::remote::{RemoteSettings, Server};
//! use pipeline::{Codec, Packet, Track};
//!
//! # async fn serve() -> Result<(), pipeline::remote::Error> {
//! let server = Server::bind("127.0.0.1:9000", RemoteSettings::default())?;
//! server.start_recording(vec![Track::audio(Codec::Mp3, 44_100, 2)])?;
//! # let frame = bytes::Bytes::new();
//! server.write(&Packet::new(0, 0, true, frame))?;
//! server.stop_recording();
//! for client in server.clients() {
//!     println!("{}: {} sent, {} dropped", client.peer, client.counters.sent, client.counters.dropped);
//! }
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use media_remote::{
    Client, ClientEvent, ClientStats, Counters, Error, ErrorCode, Inbound, InboundEvent, Message,
    RemoteSettings, Server, Side, inbound, media, protocol,
};
use tokio::sync::{mpsc, watch};

use crate::sink::{Sink, SinkFactory};
use crate::source::InputEvent;
use crate::{Options, Packet, Track};

/// The `tcp://` input: [`Client`]'s events as the recorder's, until the server says
/// `goodbye`, a permanent error, or `stop`.
pub(crate) async fn run_source(
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

/// The `tcp-listen://` output: each recording of the recorder is a recording of the
/// server; the server lives as long as the pipeline.
pub(crate) struct ListenFactory {
    server: Arc<Server>,
}

impl ListenFactory {
    pub(crate) fn bind(addr: &str, options: &Options) -> Result<Self, crate::Error> {
        let server =
            Server::bind(addr, options.remote.clone()).map_err(|source| crate::Error::Remote {
                endpoint: format!("tcp-listen://{addr}"),
                source,
            })?;
        Ok(ListenFactory {
            server: Arc::new(server),
        })
    }
}

impl Drop for ListenFactory {
    fn drop(&mut self) {
        // The pipeline is ending, and the runtime may end with it: on the recorder's
        // (blocking) thread, give the clients' writers a moment to deliver `goodbye`.
        self.server.close();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.server.clients().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl SinkFactory for ListenFactory {
    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, crate::Error> {
        self.server
            .start_recording(tracks.to_vec())
            .map_err(|e| output_error(&self.server, e))?;
        Ok(Box::new(ListenSink {
            server: self.server.clone(),
        }))
    }
}

fn output_error(server: &Server, source: Error) -> crate::Error {
    crate::Error::Remote {
        endpoint: format!("tcp-listen://{}", server.local_addr()),
        source,
    }
}

struct ListenSink {
    server: Arc<Server>,
}

impl Sink for ListenSink {
    fn write(&mut self, packet: Packet) -> Result<(), crate::Error> {
        self.server
            .write(&packet)
            .map_err(|e| output_error(&self.server, e))
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), crate::Error> {
        self.server
            .update_track(track, config)
            .map_err(|e| output_error(&self.server, e))
    }

    fn finish(self: Box<Self>) -> Result<Option<std::path::PathBuf>, crate::Error> {
        self.server.stop_recording();
        Ok(None)
    }
}
