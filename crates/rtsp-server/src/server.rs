//! The tokio adapter: the listener, the stream's description, and the public face of
//! the fan-out (`shared`).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rtp_media::{MediaDescription, Session};
use tokio::net::TcpListener;

use crate::connection;
use crate::handler::Description;
use crate::shared::{Shared, State};
use crate::{Error, Settings};

/// An RTSP server for one live stream at `rtsp://addr/path`.
pub struct Server {
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local_addr)
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` (`host:port`) and serves the stream at `path`. Must be called within a
    /// tokio runtime.
    pub fn bind(addr: &str, path: &str, settings: Settings) -> Result<Server, Error> {
        Server::start(addr, path, settings, None)
    }

    /// Binds `addr` and takes a publisher's stream at `path` (`ANNOUNCE`, `SETUP` over
    /// TCP, `RECORD`: what `ffmpeg -f rtsp` and GStreamer's `rtspclientsink` send). Each
    /// publisher that starts recording comes out of the receiver; one at a time (another
    /// is answered `503` while the first's stream is not taken).
    pub fn bind_ingest(
        addr: &str,
        path: &str,
        settings: Settings,
    ) -> Result<(Server, tokio::sync::mpsc::Receiver<crate::Publish>), Error> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        Ok((Server::start(addr, path, settings, Some(tx))?, rx))
    }

    fn start(
        addr: &str,
        path: &str,
        settings: Settings,
        ingest: Option<tokio::sync::mpsc::Sender<crate::Publish>>,
    ) -> Result<Server, Error> {
        let socket_addr = addr
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("resolving {addr}"), e))?
            .next()
            .ok_or_else(|| Error::Resolve(addr.to_owned()))?;
        if !socket_addr.ip().is_loopback() && settings.password.is_none() {
            return Err(Error::NeedsPassword(addr.to_owned()));
        }
        let std_listener = std::net::TcpListener::bind(socket_addr)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let local_addr = std_listener
            .local_addr()
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let udp = bind_udp(local_addr);
        if udp.is_none() {
            tracing::warn!(%local_addr, "no UDP ports for RTP: clients get RTP over TCP only");
        }
        let shared = Arc::new(Shared {
            settings,
            path: path.trim_matches('/').to_owned(),
            local_addr,
            udp,
            udp_batches: Mutex::new(rtp_media::udp::Outbox::new(
                rtp_media::udp::BatchSender::probe(local_addr),
            )),
            ingest,
            connections: 0.into(),
            state: Mutex::new(State::default()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Server { shared, accept })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The stream's URL (`rtsp://addr/path`).
    pub fn url(&self) -> String {
        format!("rtsp://{}/{}", self.shared.local_addr, self.shared.path)
    }

    /// Sets the stream's tracks, one media section each (their ports are not used; each
    /// gets `a=control:trackID=N`). Clients playing an earlier description are ended:
    /// their SDP no longer says what comes.
    pub fn set_media(&self, mut media: Vec<MediaDescription>) {
        let video = media.iter().map(|m| m.media == "video").collect();
        for (index, m) in media.iter_mut().enumerate() {
            m.port = 0;
            m.control = Some(format!("trackID={index}"));
        }
        let tracks = media.len();
        let any = if self.shared.local_addr.is_ipv6() {
            "::"
        } else {
            "0.0.0.0"
        };
        let sdp = Session::new(any, "media-toolkit", media).to_string();
        let description = Description {
            path: self.shared.path.clone(),
            sdp,
            tracks,
        };
        self.shared.describe(description, video);
    }

    /// Hands one frame's RTP packets of `track` to every playing client; `key` marks a
    /// video key frame's (joiners and clients that fell behind resume there). Never
    /// blocks.
    pub fn send(&self, track: usize, packets: &[Bytes], key: bool) {
        self.shared.send(track, packets, key);
    }

    /// Hands a track's RTCP packet (a sender report) to every playing client.
    pub fn send_report(&self, track: usize, report: Bytes) {
        self.shared.send_report(track, report);
    }

    /// How many clients are playing.
    pub fn clients(&self) -> usize {
        self.shared.clients()
    }

    /// Ends every client and stops accepting.
    pub fn close(&self) {
        self.shared.close();
        self.accept.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

/// The UDP pair RTP and RTCP leave from, on the listener's address: an even port and
/// the next, as RFC 3550 asks (a few tries), else any two.
fn bind_udp(local: SocketAddr) -> Option<(UdpSocket, UdpSocket)> {
    let bind = |port: u16| UdpSocket::bind(SocketAddr::new(local.ip(), port)).ok();
    let pair = (0..8)
        .find_map(|_| {
            let rtp = bind(0)?;
            let port = rtp.local_addr().ok()?.port();
            if port % 2 != 0 || port == u16::MAX {
                return None;
            }
            Some((rtp, bind(port + 1)?))
        })
        .or_else(|| Some((bind(0)?, bind(0)?)))?;
    pair.0.set_nonblocking(true).ok()?;
    pair.1.set_nonblocking(true).ok()?;
    Some(pair)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                use std::sync::atomic::Ordering::Relaxed;
                let limit = shared.settings.max_clients.saturating_mul(4);
                if shared.connections.load(Relaxed) >= limit {
                    tracing::warn!(%peer, limit, "an RTSP connection refused: as many open as allowed");
                    continue;
                }
                shared.connections.fetch_add(1, Relaxed);
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    connection::run(stream, peer, shared.clone()).await;
                    shared.connections.fetch_sub(1, Relaxed);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting an RTSP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
