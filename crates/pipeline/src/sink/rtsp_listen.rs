//! `rtsp-listen://[addr]:port/path`: an RTSP server ([`rtsp_server::Server`]) that
//! players, recorders and NVRs pull the stream from at `rtsp://addr:port/path`, RTP over
//! the RTSP connection or over UDP as each client asks. Each frame is made into RTP
//! packets once (`rtp_stream`, as `rtp://` does) for every client; a client joins at the
//! last video key frame. With `Options::remote.token` (`--token`, required off loopback)
//! players authenticate with it as the password (Digest or Basic). Each recording of the recorder is a new description: clients of
//! the old one are ended (their SDP no longer says what comes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use media_core::Track;
use rtsp_server::{Server, Settings};

use super::rtp_stream::{RtpStream, TAKES, format, random_u64};
use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Options, Packet};

/// Binds the server; it lives as long as the pipeline.
pub(crate) fn factory(
    addr: &str,
    path: &str,
    options: &Options,
) -> Result<Box<dyn SinkFactory>, Error> {
    let endpoint = format!("rtsp-listen://{addr}/{path}");
    let mut settings = Settings::default();
    // The shared token (`--token`) is the password players give, with any user name:
    // `rtsp://viewer:TOKEN@host:port/path`. Required off loopback.
    settings.password = options.remote.token.clone();
    let server = Server::bind(addr, path, settings).map_err(|source| Error::RtspServer {
        endpoint: endpoint.clone(),
        source,
    })?;
    tracing::info!("rtsp-listen: serving {}", server.url());
    Ok(Box::new(RtspFactory {
        server: Arc::new(server),
        endpoint,
    }))
}

struct RtspFactory {
    server: Arc<Server>,
    endpoint: String,
}

impl RtspFactory {
    fn err(&self, reason: String) -> Error {
        Error::Output {
            output: self.endpoint.clone(),
            reason,
        }
    }
}

impl SinkFactory for RtspFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        for (index, track) in tracks.iter().enumerate() {
            if format(&track.codec).is_none() {
                return Err(Error::Misfit {
                    endpoint: self.endpoint.clone(),
                    takes: TAKES.into(),
                    found: describe(index, track),
                });
            }
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let seed = random_u64();
        let mut streams = Vec::new();
        let mut media = Vec::new();
        for (index, track) in tracks.iter().enumerate() {
            let (stream, description) =
                RtpStream::new(track, index, seed, 0).map_err(|reason| self.err(reason))?;
            streams.push(stream);
            media.push(description);
        }
        self.server.set_media(media);
        Ok(Box::new(RtspSink {
            server: self.server.clone(),
            endpoint: self.endpoint.clone(),
            streams,
        }))
    }
}

struct RtspSink {
    server: Arc<Server>,
    endpoint: String,
    streams: Vec<RtpStream>,
}

impl RtspSink {
    fn err(&self, reason: String) -> Error {
        Error::Output {
            output: self.endpoint.clone(),
            reason,
        }
    }
}

impl Sink for RtspSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let Some(stream) = self.streams.get_mut(packet.track) else {
            return Ok(());
        };
        let packets = stream.packets(&packet);
        let report = stream.report(packet.dts);
        let packets = packets.map_err(|reason| self.err(reason))?;
        if let Some(report) = report {
            self.server.send_report(packet.track, report);
        }
        self.server.send(packet.track, &packets, packet.keyframe);
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        if let Some(stream) = self.streams.get_mut(track) {
            let set = stream.set_codec(config, track);
            set.map_err(|reason| self.err(reason))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        Ok(None)
    }
}
