//! `rtmp-listen://[addr]:port/app/key`: an RTMP server taking one publisher (OBS,
//! `ffmpeg -f flv rtmp://…`). rml_rtmp does the handshake, chunk streams and the
//! server session (sans-I/O: bytes in, packets to send and events out); the `flv` crate
//! reads the tags; this file does the socket and turns tags into tracks and packets.
//!
//! A publisher must name the app and stream key of the URL, else it is refused (and
//! the server goes on listening); the key never appears in a message. H.264 (classic
//! FLV or Enhanced RTMP `avc1`), H.265 (Enhanced RTMP `hvc1`) and AAC are taken; other
//! codecs are left out with a warning. Video keeps RTMP's millisecond clock (timescale
//! 1000); AAC is counted in samples, following the tag times when they jump by more
//! than half a frame. The tracks are sent once the sequence headers of what the
//! metadata announces have come (at most [`HELD_TAGS`] tags are held meanwhile).

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use flv::{AudioTag, VideoCodec, VideoTag};
use media_core::SecretUrl;
use mpeg_ts::{nal, sps};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::{Codec, Error, Packet, Track};

/// Tags held while waiting for the sequence headers.
const HELD_TAGS: usize = 500;

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
}

impl Session {
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
                return self.ingest.finish(&self.name, &self.tx).await;
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
                self.ingest
                    .video(data, timestamp.value, &self.name, &self.tx)
                    .await?;
                Ok(Flow::Continue(Vec::new()))
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } if self.published => {
                self.ingest
                    .audio(data, timestamp.value, &self.name, &self.tx)
                    .await?;
                Ok(Flow::Continue(Vec::new()))
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                self.ingest.finish(&self.name, &self.tx).await?;
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

/// What goes into the pipeline: tracks from the sequence headers, packets from frames.
#[derive(Default)]
struct Ingest {
    video_expected: bool,
    audio_expected: bool,
    video: Option<(VideoCodec, Track)>,
    audio: Option<Track>,
    /// Tags before the tracks were sent: (is video, ms, frame).
    held: Vec<Held>,
    /// Track indices once sent.
    indices: Option<(Option<usize>, Option<usize>)>,
    /// The first tag's time (ms): time zero.
    origin: Option<u32>,
    /// The next AAC frame's time in samples, when continuous.
    next_audio: Option<i64>,
    /// The tracks were sent and the recorder is gone.
    gone: bool,
}

enum Held {
    Video {
        ms: u32,
        keyframe: bool,
        cts: i32,
        data: Bytes,
    },
    Audio {
        ms: u32,
        data: Bytes,
    },
}

impl Ingest {
    async fn video(
        &mut self,
        data: Bytes,
        ms: u32,
        name: &str,
        tx: &mpsc::Sender<InputEvent>,
    ) -> Result<(), Error> {
        let tag = match flv::video(&data) {
            Ok(tag) => tag,
            Err(e) => {
                tracing::warn!(input = name, "video tag left out: {e}");
                return Ok(());
            }
        };
        match tag {
            VideoTag::SequenceHeader { codec, config } if self.indices.is_none() => {
                self.video_expected = true;
                match video_track(codec, config) {
                    Some(track) => self.video = Some((codec, track)),
                    None => tracing::warn!(
                        input = name,
                        "video {codec:?} left out: unreadable configuration"
                    ),
                }
            }
            VideoTag::Frame {
                keyframe,
                composition_time,
                data,
                ..
            } => {
                self.origin.get_or_insert(ms);
                self.held.push(Held::Video {
                    ms,
                    keyframe,
                    cts: composition_time,
                    data,
                });
            }
            _ => {}
        }
        self.flush(name, tx).await
    }

    async fn audio(
        &mut self,
        data: Bytes,
        ms: u32,
        name: &str,
        tx: &mpsc::Sender<InputEvent>,
    ) -> Result<(), Error> {
        match flv::audio(&data) {
            Ok(AudioTag::AacConfig(config)) if self.indices.is_none() => {
                self.audio_expected = true;
                match flv::aac_rate_channels(&config) {
                    Some((rate, channels)) => {
                        self.audio = Some(Track::audio(Codec::Aac { config }, rate, channels));
                    }
                    None => {
                        tracing::warn!(input = name, "AAC left out: unreadable AudioSpecificConfig")
                    }
                }
            }
            Ok(AudioTag::AacFrame(data)) => {
                self.origin.get_or_insert(ms);
                self.held.push(Held::Audio { ms, data });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(input = name, "audio tag left out: {e}"),
        }
        self.flush(name, tx).await
    }

    /// Sends the tracks once known, then every held frame.
    async fn flush(&mut self, name: &str, tx: &mpsc::Sender<InputEvent>) -> Result<(), Error> {
        if self.gone {
            return Ok(());
        }
        if self.indices.is_none() {
            let ready = (!self.video_expected || self.video.is_some())
                && (!self.audio_expected || self.audio.is_some())
                && (self.video.is_some() || self.audio.is_some());
            if !ready && self.held.len() < HELD_TAGS {
                return Ok(());
            }
            let mut tracks = Vec::new();
            let video = self.video.as_ref().map(|(_, t)| {
                tracks.push(t.clone());
                tracks.len() - 1
            });
            let audio = self.audio.as_ref().map(|t| {
                tracks.push(t.clone());
                tracks.len() - 1
            });
            if tracks.is_empty() {
                return Err(Error::Input {
                    input: name.to_owned(),
                    reason: format!(
                        "no H.264, H.265 or AAC sequence header in the first {HELD_TAGS} tags"
                    ),
                });
            }
            self.indices = Some((video, audio));
            if tx.send(InputEvent::Tracks(tracks)).await.is_err() {
                self.gone = true;
                return Ok(());
            }
        }
        let Some((video, audio)) = self.indices else {
            return Ok(());
        };
        let origin = self.origin.unwrap_or(0);
        for held in std::mem::take(&mut self.held) {
            let packet = match held {
                Held::Video {
                    ms,
                    keyframe,
                    cts,
                    data,
                } => {
                    let Some(index) = video else { continue };
                    let mut packet =
                        Packet::new(index, i64::from(ms.wrapping_sub(origin)), keyframe, data);
                    packet.cts_offset = cts;
                    packet
                }
                Held::Audio { ms, data } => {
                    let (Some(index), Some(track)) = (audio, &self.audio) else {
                        continue;
                    };
                    let rate = i64::from(track.sample_rate);
                    let at = i64::from(ms.wrapping_sub(origin)) * rate / 1000;
                    let at = match self.next_audio {
                        Some(n) if (n - at).abs() <= 512 => n,
                        _ => at,
                    };
                    self.next_audio = Some(at + 1024);
                    let mut packet = Packet::new(index, at, true, data);
                    packet.duration = Some(1024);
                    packet
                }
            };
            if tx
                .send(InputEvent::Packet(packet, SystemTime::now()))
                .await
                .is_err()
            {
                self.gone = true;
                return Ok(());
            }
        }
        Ok(())
    }

    /// The publisher finished: what is held goes out (tracks too, if still unsent).
    async fn finish(&mut self, name: &str, tx: &mpsc::Sender<InputEvent>) -> Result<(), Error> {
        if self.indices.is_none() && (self.video.is_some() || self.audio.is_some()) {
            self.video_expected = false;
            self.audio_expected = false;
        }
        if self.indices.is_none() && self.held.is_empty() {
            return Ok(());
        }
        self.flush(name, tx).await
    }
}

/// A video track from a sequence header: its picture size from the SPS.
fn video_track(codec: VideoCodec, config: Bytes) -> Option<Track> {
    type Dimensions = fn(&[u8]) -> Option<(u32, u32)>;
    let (sets, kind, sps_type, dimensions, codec_value): (_, _, _, Dimensions, _) = match codec {
        VideoCodec::H264 => (
            nal::avc_parameter_sets(&config).ok()?,
            nal::VideoCodec::H264,
            7,
            sps::avc_dimensions,
            Codec::H264 {
                config: config.clone(),
            },
        ),
        VideoCodec::H265 => (
            nal::hevc_parameter_sets(&config).ok()?,
            nal::VideoCodec::H265,
            33,
            sps::hevc_dimensions,
            Codec::H265 {
                config: config.clone(),
            },
        ),
        _ => return None,
    };
    let sps = sets.iter().find(|s| kind.nal_type(s) == Some(sps_type))?;
    let (width, height) = dimensions(sps)?;
    Some(Track::video(codec_value, 1000, width, height))
}
