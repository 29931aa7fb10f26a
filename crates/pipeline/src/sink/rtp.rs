//! `rtp://host:port`: RTP over UDP, one port per track (the first on `port`, the next on
//! `port + 2`, …), with RTCP sender reports on each port + 1 once a second, so that a
//! receiver lines audio up with video. The RTP streams are `rtp_stream`'s (payload
//! formats and SDP from `rtp_media`); this module does the sockets. The SDP is logged
//! and, with `Options::sdp_file`, written to a file (atomically) when the tracks are
//! known: a receiver opens it (`ffmpeg -protocol_whitelist file,udp,rtp -i stream.sdp`).
//!
//! The output is paced in real time (a file input is sent at its media pace). Nothing is
//! queued: a UDP send either goes or fails, and a failure ends the pipeline with one line.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::SystemTime;

use media_core::Track;
use rtp_media::Session;

use super::rtp_stream::{RtpStream, TAKES, format, random_u64};
use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Options, Packet};

pub(crate) fn factory(addr: &str, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    Ok(Box::new(RtpFactory {
        addr: addr.to_owned(),
        sdp_file: options.sdp_file.clone(),
    }))
}

struct RtpFactory {
    addr: String,
    sdp_file: Option<PathBuf>,
}

impl RtpFactory {
    fn endpoint(&self) -> String {
        format!("rtp://{}", self.addr)
    }

    fn err(&self, reason: String) -> Error {
        Error::Output {
            output: self.endpoint(),
            reason,
        }
    }
}

impl SinkFactory for RtpFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        for (index, track) in tracks.iter().enumerate() {
            if format(&track.codec).is_none() {
                return Err(Error::Misfit {
                    endpoint: self.endpoint(),
                    takes: TAKES.into(),
                    found: describe(index, track),
                });
            }
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let (host, base) = self
            .addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
            .ok_or_else(|| self.err("takes rtp://host:port".into()))?;
        let base: u16 = base;
        let destination = (host.as_str(), base)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| self.err(format!("cannot resolve {host}")))?;
        let local = if destination.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local)
            .map_err(|e| Error::io(format!("opening a UDP socket for {}", self.endpoint()), e))?;
        let seed = random_u64();
        let mut streams = Vec::new();
        let mut media = Vec::new();
        for (index, track) in tracks.iter().enumerate() {
            let port = u16::try_from(usize::from(base) + 2 * index)
                .ok()
                .filter(|p| *p < u16::MAX)
                .ok_or_else(|| self.err(format!("no port left for track {index}")))?;
            let (stream, description) =
                RtpStream::new(track, index, seed, port).map_err(|reason| self.err(reason))?;
            media.push(description);
            let mut rtp = destination;
            rtp.set_port(port);
            let mut rtcp = destination;
            rtcp.set_port(port + 1);
            streams.push(Destination { stream, rtp, rtcp });
        }
        let sdp = Session::new(&host, "media-toolkit", media).to_string();
        tracing::info!(output = %self.endpoint(), "session description:\n{sdp}");
        if let Some(path) = &self.sdp_file {
            write_atomically(path, &sdp)?;
        }
        Ok(Box::new(RtpSink {
            endpoint: self.endpoint(),
            socket,
            streams,
        }))
    }
}

/// A track's RTP stream and where it goes.
struct Destination {
    stream: RtpStream,
    rtp: SocketAddr,
    rtcp: SocketAddr,
}

struct RtpSink {
    endpoint: String,
    socket: UdpSocket,
    streams: Vec<Destination>,
}

impl RtpSink {
    fn send(&self, to: SocketAddr, datagram: &[u8]) -> Result<(), Error> {
        self.socket
            .send_to(datagram, to)
            .map(|_| ())
            .map_err(|e| Error::io(format!("sending to {}", self.endpoint), e))
    }

    fn err(&self, reason: String) -> Error {
        Error::Output {
            output: self.endpoint.clone(),
            reason,
        }
    }
}

impl Sink for RtpSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let Some(to) = self.streams.get_mut(packet.track) else {
            return Ok(());
        };
        let datagrams = to.stream.packets(&packet);
        let report = to.stream.report(packet.dts);
        let (rtp, rtcp) = (to.rtp, to.rtcp);
        let datagrams = datagrams.map_err(|reason| self.err(reason))?;
        if let Some(report) = report {
            self.send(rtcp, &report)?;
        }
        for datagram in datagrams {
            self.send(rtp, &datagram)?;
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        if let Some(to) = self.streams.get_mut(track) {
            let set = to.stream.set_codec(config, track);
            set.map_err(|reason| self.err(reason))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        Ok(None)
    }
}

/// The SDP written whole under a temporary name and renamed, so a receiver waiting for the
/// file never reads half of it.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("writing the SDP {}", path.display()), e))
}
