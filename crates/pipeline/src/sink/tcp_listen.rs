//! `tcp-listen://ADDR:PORT`: a live packet server ([`media_remote::Server`]) that network
//! clients play from; each recording of the recorder is a recording of the server.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use media_remote::{Error, Server};

use crate::Options;
use crate::contract::{Sink, SinkFactory, describe};
use crate::{Packet, Track};

/// Binds the server; it lives as long as the pipeline.
pub(crate) fn factory(addr: &str, options: &Options) -> Result<Box<dyn SinkFactory>, crate::Error> {
    Ok(Box::new(ListenFactory::bind(addr, options)?))
}

/// The `tcp-listen://` output: each recording of the recorder is a recording of the
/// server; the server lives as long as the pipeline.
struct ListenFactory {
    server: Arc<Server>,
}

impl ListenFactory {
    fn bind(addr: &str, options: &Options) -> Result<Self, crate::Error> {
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
    /// Every track must have a header the protocol can carry (a known codec, a header
    /// within data-stream's limit).
    fn check(&self, tracks: &[Track]) -> Result<(), crate::Error> {
        for (index, track) in tracks.iter().enumerate() {
            if let Err(e) = media_remote::media::track_header("t", index, track) {
                return Err(crate::Error::Misfit {
                    endpoint: format!("tcp-listen://{}", self.server.local_addr()),
                    takes: "tracks the packet protocol can describe".into(),
                    found: format!("{} ({e})", describe(index, track)),
                });
            }
        }
        Ok(())
    }

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
