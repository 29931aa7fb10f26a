//! `rtmp-listen://[addr]:port/app/key`: an RTMP server taking one publisher (OBS,
//! `ffmpeg -f flv rtmp://…`). rml_rtmp does the handshake, chunk streams and the
//! server session (sans-I/O: bytes in, packets to send and events out); the `flv` crate
//! reads the tags; this file does the socket and turns tags into tracks and packets.
//!
//! A publisher must name the app and stream key of the URL, else it is refused (and
//! the server goes on listening); the key never appears in a message. H.264 (classic
//! FLV or Enhanced RTMP `avc1`), H.265 (Enhanced RTMP `hvc1`) and AAC are taken; other
//! codecs are left out with a warning (`flv_tags.rs`, shared with FLV files). The tracks
//! are sent once the sequence headers of what the metadata announces have come.

use std::net::SocketAddr;

use media_core::SecretUrl;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::flv_tags::Ingest;
use crate::Error;
use crate::contract::InputEvent;

/// The parts of the endpoint URL `rtmp-listen://addr:port/app?key=KEY`.
pub(crate) struct Address<'a> {
    pub(crate) addr: &'a str,
    pub(crate) app: &'a str,
    pub(crate) key: &'a str,
}

/// Reads the endpoint's stored form (see `Endpoint::RtmpListen`).
pub(crate) fn address(url: &str) -> Option<Address<'_>> {
    let rest = url.strip_prefix("rtmp-listen://")?;
    let (addr, rest) = rest.split_once('/')?;
    let (app, key) = rest.split_once("?key=")?;
    Some(Address { addr, app, key })
}

pub(crate) async fn run(
    url: &SecretUrl,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = url.to_string();
    let Address { addr, app, key } = address(url.expose()).ok_or_else(|| Error::InvalidUrl {
        url: name.clone(),
        reason: "not rtmp-listen://addr:port/app/key".into(),
    })?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("listening on {name}"), e))?;
    tracing::info!(endpoint = %name, "waiting for an RTMP publisher");
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| Error::io(format!("accepting on {name}"), e))?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let mut session = Session {
            name: name.clone(),
            app: app.to_owned(),
            key: key.to_owned(),
            peer,
            tx: tx.clone(),
            ingest: Ingest::default(),
            gone: false,
            published: false,
        };
        // Its own task: a panic inside rml_rtmp on what a client sends must not end the
        // server (the house rule: no panic on any input).
        let mut task = tokio::spawn(async move {
            let result = session.run(stream).await;
            (result, session.published)
        });
        let joined = tokio::select! {
            joined = &mut task => joined,
            _ = stop.wait_for(|s| *s) => {
                task.abort();
                return Ok(());
            }
        };
        let (result, published) = match joined {
            Ok(done) => done,
            Err(e) => (
                Err(Error::Input {
                    input: name.clone(),
                    reason: format!("{peer}: the RTMP session failed inside rml_rtmp ({e})"),
                }),
                false,
            ),
        };
        match result {
            // A publisher came and went: the input ends.
            Ok(()) if published => return Ok(()),
            Ok(()) => tracing::warn!(endpoint = %name, %peer, "a client left before publishing"),
            Err(e) if !published => {
                tracing::warn!(endpoint = %name, %peer, "refused a client: {e}");
            }
            Err(e) => return Err(e),
        }
    }
}

struct Session {
    name: String,
    app: String,
    key: String,
    peer: SocketAddr,
    tx: mpsc::Sender<InputEvent>,
    ingest: Ingest,
    published: bool,
    /// The pipeline stopped taking events (the recorder is done).
    gone: bool,
}

impl Session {
    /// Hands what the tags made to the pipeline (nothing once it is gone).
    async fn forward(&mut self) {
        for event in self.ingest.take() {
            if !self.gone && self.tx.send(event).await.is_err() {
                self.gone = true;
            }
        }
    }

    fn refused(&self, reason: String) -> Error {
        Error::Input {
            input: self.name.clone(),
            reason: format!("{}: {reason}", self.peer),
        }
    }

    async fn run(&mut self, mut stream: TcpStream) -> Result<(), Error> {
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; 64 * 1024];
        let mut handshake = Handshake::new(PeerType::Server);
        let leftover = loop {
            let n = self.read(&mut stream, &mut buf).await?;
            if n == 0 {
                return Err(self.refused("closed during the handshake".into()));
            }
            match handshake.process_bytes(&buf[..n]) {
                Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                    self.write(&mut stream, &response_bytes).await?;
                }
                Ok(HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                }) => {
                    self.write(&mut stream, &response_bytes).await?;
                    break remaining_bytes;
                }
                Err(e) => return Err(self.refused(format!("bad RTMP handshake: {e}"))),
            }
        };
        let (mut server, results) = ServerSession::new(ServerSessionConfig::new())
            .map_err(|e| self.refused(format!("RTMP session: {e}")))?;
        let mut pending = results;
        let mut input = leftover;
        loop {
            if !input.is_empty() {
                let results = server
                    .handle_input(&input)
                    .map_err(|e| self.refused(format!("bad RTMP data: {e}")))?;
                pending.extend(results);
            }
            while !pending.is_empty() {
                for result in std::mem::take(&mut pending) {
                    match result {
                        ServerSessionResult::OutboundResponse(packet) => {
                            self.write(&mut stream, &packet.bytes).await?;
                        }
                        ServerSessionResult::RaisedEvent(event) => {
                            match self.event(&mut server, event).await? {
                                Flow::Continue(more) => pending.extend(more),
                                Flow::Finished => return Ok(()),
                            }
                        }
                        ServerSessionResult::UnhandleableMessageReceived(_) => {}
                    }
                }
            }
            let n = self.read(&mut stream, &mut buf).await?;
            if n == 0 {
                self.ingest.finish(&self.name)?;
                self.forward().await;
                return Ok(());
            }
            input.clear();
            input.extend_from_slice(&buf[..n]);
        }
    }

    async fn event(
        &mut self,
        server: &mut ServerSession,
        event: ServerSessionEvent,
    ) -> Result<Flow, Error> {
        let (name, peer) = (self.name.clone(), self.peer);
        let refuse = move |e: rml_rtmp::sessions::ServerSessionError| Error::Input {
            input: name.clone(),
            reason: format!("{peer}: RTMP session: {e}"),
        };
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if app_name != self.app {
                    return Err(self.refused(format!("app {app_name:?} is not {:?}", self.app)));
                }
                Ok(Flow::Continue(
                    server.accept_request(request_id).map_err(refuse)?,
                ))
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if stream_key != self.key {
                    return Err(self.refused("wrong stream key".into()));
                }
                self.published = true;
                tracing::info!(endpoint = %self.name, peer = %self.peer, "RTMP publisher connected");
                Ok(Flow::Continue(
                    server.accept_request(request_id).map_err(refuse)?,
                ))
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                self.ingest.video_expected = metadata.video_codec_id.is_some();
                self.ingest.audio_expected = metadata.audio_codec_id.is_some();
                Ok(Flow::Continue(Vec::new()))
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } if self.published => {
                self.ingest.video(data, timestamp.value, &self.name)?;
                self.forward().await;
                Ok(Flow::Continue(Vec::new()))
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } if self.published => {
                self.ingest.audio(data, timestamp.value, &self.name)?;
                self.forward().await;
                Ok(Flow::Continue(Vec::new()))
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                self.ingest.finish(&self.name)?;
                self.forward().await;
                Ok(Flow::Finished)
            }
            _ => Ok(Flow::Continue(Vec::new())),
        }
    }

    async fn read(&self, stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, Error> {
        stream
            .read(buf)
            .await
            .map_err(|e| Error::io(format!("reading {} from {}", self.name, self.peer), e))
    }

    async fn write(&self, stream: &mut TcpStream, data: &[u8]) -> Result<(), Error> {
        stream
            .write_all(data)
            .await
            .map_err(|e| Error::io(format!("writing {} to {}", self.name, self.peer), e))
    }
}

enum Flow {
    Continue(Vec<ServerSessionResult>),
    Finished,
}
