//! The receiving end: connects to a packet server, says `hello` (with the token) and
//! `started_playing`, and turns what arrives into [`ClientEvent`]s.
//!
//! A lost connection, a refused connection or a busy server is retried after the delays
//! of [`RemoteSettings::reconnect`] ([`media_core::Backoff`], reset once packets flowed),
//! each announced by a [`ClientEvent::Reconnecting`] (the application says it, or not),
//! for at most [`RemoteSettings::retry_for`] per outage: then the client ends with
//! [`Error::GaveUp`], announcing no further attempt.
//! Back on the same recording of the server (same session, same tracks), the stream goes
//! on: packets already received (the server resends the current GOP) are skipped by
//! decode time, and what follows is decodable (the server starts a client at a key frame
//! or continues its GOP). Any other recording is a [`ClientEvent::Discontinuity`] then
//! its [`ClientEvent::Tracks`]. A permanent error ([`Error::is_permanent`]: a wrong token
//! or version, a bad handshake) ends the client with that error; `goodbye` (the server's
//! input ended) ends it with [`ClientEvent::End`]. A server that sends nothing for the
//! stall timeout during a recording is taken for gone.

use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use media_core::{Packet, Track};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::inbound::{Inbound, InboundEvent, Side};
use crate::protocol::{Message, VERSION};
use crate::settings::RemoteSettings;

/// What a [`Client`] yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The tracks of a recording, before its first packet.
    Tracks(Vec<Track>),
    /// A track's configuration changed; the next packet of that track uses it.
    TrackUpdated {
        /// Index in the last [`ClientEvent::Tracks`].
        index: usize,
        /// The new description.
        track: Track,
    },
    /// A media packet (its payload a slice of the received bytes).
    Packet(Packet),
    /// What follows does not continue what came before: the recording stopped, or a
    /// reconnection found another one.
    Discontinuity,
    /// The server said `goodbye`: no recording will follow. The last event.
    End,
    /// An attempt failed (or a connection was lost); the next one follows after `delay`.
    /// Not sent when the client gives up instead ([`Error::GaveUp`]).
    Reconnecting {
        /// The failed attempt's number in this outage, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why it failed.
        reason: String,
    },
}

/// A reconnecting client of a packet [`Server`](crate::Server); a
/// [`Stream`](futures::Stream) of [`ClientEvent`]s, also read with [`Client::next`].
/// Its connection runs as a task on the tokio runtime; dropping the client stops it.
pub struct Client {
    events: mpsc::Receiver<Result<ClientEvent, Error>>,
    task: JoinHandle<()>,
}

impl Client {
    /// Starts connecting to `addr` (`host:port`) on the current tokio runtime.
    pub fn connect(addr: impl Into<String>, settings: RemoteSettings) -> Client {
        let (tx, events) = mpsc::channel(64);
        let task = tokio::spawn(run(addr.into(), settings, tx));
        Client { events, task }
    }

    /// The next event; after [`ClientEvent::End`] or an error, `None`.
    pub async fn next(&mut self) -> Option<Result<ClientEvent, Error>> {
        self.events.recv().await
    }
}

impl futures::Stream for Client {
    type Item = Result<ClientEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a connection ended without an error.
enum Ended {
    /// The server said `goodbye`.
    Goodbye,
    /// The [`Client`] was dropped.
    ReaderGone,
}

/// What the reader was told, across reconnections.
#[derive(Default)]
struct Progress {
    /// The server's recording whose tracks the reader has (`None` after a
    /// discontinuity).
    recording: Option<Announced>,
    /// Packets arrived on this connection.
    packets: bool,
    /// This connection was welcomed (an outage, if any, is over).
    welcomed: bool,
}

/// A recording announced to the reader.
struct Announced {
    session: u64,
    tracks: Vec<Track>,
    /// Per track, the decode time of the last packet passed on.
    last_dts: Vec<Option<i64>>,
}

type Events = mpsc::Sender<Result<ClientEvent, Error>>;

async fn run(addr: String, settings: RemoteSettings, tx: Events) {
    let mut progress = Progress::default();
    // The backoff's attempt number, reset once packets flowed.
    let mut attempt = 0u32;
    // Since when connecting fails, and how many attempts failed since.
    let mut outage: Option<(tokio::time::Instant, u32)> = None;
    loop {
        progress.packets = false;
        progress.welcomed = false;
        let outcome = tokio::select! {
            biased;
            () = tx.closed() => return,
            outcome = connection(&addr, &settings, &tx, &mut progress) => outcome,
        };
        let error = match outcome {
            Ok(Ended::Goodbye) => {
                tracing::info!(%addr, "the server said goodbye");
                let _ = tx.send(Ok(ClientEvent::End)).await;
                return;
            }
            Ok(Ended::ReaderGone) => return,
            Err(e) if e.is_permanent() => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            Err(e) => e,
        };
        if progress.packets {
            attempt = 0;
        }
        attempt += 1;
        let now = tokio::time::Instant::now();
        if progress.welcomed {
            outage = None;
        }
        let (since, failed) = outage.get_or_insert((now, 0));
        *failed += 1;
        let mut delay = settings.reconnect.delay(attempt, unit_random());
        if let Some(limit) = settings.retry_for {
            // The last attempt is made at the bound, not after it.
            let left = (*since + limit).saturating_duration_since(now);
            if left.is_zero() {
                tracing::debug!(%addr, attempts = *failed, "{error}; giving up");
                let gave_up = Error::GaveUp {
                    retry_for: limit,
                    attempts: *failed,
                    last: Box::new(error),
                };
                let _ = tx.send(Err(gave_up)).await;
                return;
            }
            delay = delay.min(left);
        }
        tracing::debug!(%addr, attempt = *failed, ?delay, "{error}; reconnecting");
        let reconnecting = ClientEvent::Reconnecting {
            attempt: *failed,
            delay,
            reason: error.to_string(),
        };
        if tx.send(Ok(reconnecting)).await.is_err() {
            return;
        }
        tokio::select! {
            biased;
            () = tx.closed() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// A uniform number in `[0, 1)` for the backoff's jitter. std's hasher keys are random
/// per process and change with every `RandomState`: enough to spread reconnections, and
/// no dependency for it.
fn unit_random() -> f64 {
    (RandomState::new().hash_one(Instant::now()) >> 11) as f64 / (1u64 << 53) as f64
}

async fn connection(
    addr: &str,
    settings: &RemoteSettings,
    tx: &Events,
    progress: &mut Progress,
) -> Result<Ended, Error> {
    let timeout = settings.handshake_timeout;
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {addr}")))?
        .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let mut hello = BytesMut::new();
    Message::Hello {
        version: VERSION,
        token: settings.token.clone(),
    }
    .write_framed("c1", &mut hello);
    Message::StartedPlaying.write_framed("c2", &mut hello);
    write
        .write_all(&hello)
        .await
        .map_err(|e| Error::io("sending hello", e))?;
    // `write` stays open: closing it would tell the server we left.
    let deadline = tokio::time::Instant::now() + timeout;
    let mut inbound = Inbound::new(Side::Client);
    let mut session = Session::default();
    loop {
        while let Some(event) = inbound.poll(Instant::now())? {
            let events = match session.handle(event, progress)? {
                Step::Continue => continue,
                Step::Send(e) => vec![e],
                Step::Restart(tracks) => {
                    vec![ClientEvent::Discontinuity, ClientEvent::Tracks(tracks)]
                }
                Step::Goodbye => return Ok(Ended::Goodbye),
            };
            for e in events {
                if tx.send(Ok(e)).await.is_err() {
                    return Ok(Ended::ReaderGone);
                }
            }
        }
        let read_some = read.read_buf(inbound.buffer());
        let n = if !session.welcomed {
            tokio::time::timeout_at(deadline, read_some)
                .await
                .map_err(|_| Error::Timeout("waiting for welcome".into()))?
        } else if session.complete {
            // A live recording never goes quiet: a silent server is gone (no FIN seen).
            let stall = settings.stall_timeout;
            tokio::time::timeout(stall, read_some).await.map_err(|_| {
                Error::Timeout(format!(
                    "nothing from the server for {} s during a recording",
                    stall.as_secs_f32()
                ))
            })?
        } else {
            read_some.await
        }
        .map_err(|e| Error::io("reading from the server", e))?;
        if n == 0 {
            inbound.finish()?;
            return Err(Error::Closed("server"));
        }
    }
}

enum Step {
    Continue,
    Send(ClientEvent),
    /// A discontinuity, then these tracks.
    Restart(Vec<Track>),
    Goodbye,
}

/// The client's view of one connection's state machine.
#[derive(Default)]
struct Session {
    welcomed: bool,
    /// The server's recording number.
    session: u64,
    /// The tracks of the current recording as their streams open.
    tracks: Vec<Option<Track>>,
    /// All tracks are known (and the recorder has them).
    complete: bool,
}

impl Session {
    fn handle(&mut self, event: InboundEvent, progress: &mut Progress) -> Result<Step, Error> {
        let protocol = |m: String| Err(Error::Protocol(m));
        Ok(match event {
            InboundEvent::Control(Message::Welcome { version }) => {
                if version != VERSION {
                    return Err(Error::Handshake(format!(
                        "the server speaks version {version}, not {VERSION}"
                    )));
                }
                self.welcomed = true;
                progress.welcomed = true;
                Step::Continue
            }
            InboundEvent::Control(Message::Error { code, message }) => {
                if code.is_fatal() {
                    return Err(Error::Refused { code, message });
                }
                tracing::warn!("the server says: {code}: {message}");
                Step::Continue
            }
            _ if !self.welcomed => {
                return Err(Error::Handshake("media before welcome".into()));
            }
            InboundEvent::Control(Message::StartedRecording { session, tracks }) => {
                if tracks == 0 || tracks > 64 {
                    return protocol(format!("started_recording with {tracks} tracks"));
                }
                tracing::debug!(session, tracks, "recording started");
                self.session = session;
                self.tracks = vec![None; tracks];
                self.complete = false;
                Step::Continue
            }
            InboundEvent::TrackOpened { index, track } => {
                let Some(slot) = self.tracks.get_mut(index) else {
                    return protocol(format!(
                        "track {index} of a recording of {} tracks",
                        self.tracks.len()
                    ));
                };
                *slot = Some(track.clone());
                if self.complete {
                    if let Some(a) = &mut progress.recording {
                        a.tracks[index] = track.clone();
                    }
                    return Ok(Step::Send(ClientEvent::TrackUpdated { index, track }));
                }
                let Some(all) = self.tracks.iter().cloned().collect::<Option<Vec<_>>>() else {
                    return Ok(Step::Continue);
                };
                self.complete = true;
                let resumed = progress
                    .recording
                    .as_ref()
                    .is_some_and(|a| a.session == self.session && a.tracks == all);
                if resumed {
                    tracing::info!(session = self.session, "back on the same recording");
                    return Ok(Step::Continue);
                }
                let before = progress.recording.replace(Announced {
                    session: self.session,
                    last_dts: vec![None; all.len()],
                    tracks: all.clone(),
                });
                match before {
                    Some(_) => Step::Restart(all),
                    None => Step::Send(ClientEvent::Tracks(all)),
                }
            }
            InboundEvent::Packet(packet) if self.complete => {
                progress.packets = true;
                let last = progress
                    .recording
                    .as_mut()
                    .and_then(|a| a.last_dts.get_mut(packet.track));
                match last {
                    // Already passed on before a reconnection (the server resends its GOP).
                    Some(Some(last)) if packet.dts <= *last => Step::Continue,
                    Some(last) => {
                        *last = Some(packet.dts);
                        Step::Send(ClientEvent::Packet(packet))
                    }
                    None => return protocol(format!("packet of unknown track {}", packet.track)),
                }
            }
            InboundEvent::Packet(_) => return protocol("a packet before its tracks".into()),
            InboundEvent::TrackEnded { index, error, .. } => {
                if let Some(error) = error {
                    tracing::warn!(index, "track stream failed: {error}");
                }
                Step::Continue
            }
            InboundEvent::Control(Message::StoppedRecording {
                session,
                sent,
                dropped,
            }) => {
                tracing::info!(session, sent, dropped, "recording stopped");
                self.tracks.clear();
                self.complete = false;
                match progress.recording.take() {
                    Some(_) => Step::Send(ClientEvent::Discontinuity),
                    None => Step::Continue,
                }
            }
            InboundEvent::Control(Message::Goodbye) => Step::Goodbye,
            InboundEvent::Control(other) => {
                tracing::debug!(message = other.name(), "ignored");
                Step::Continue
            }
        })
    }
}
