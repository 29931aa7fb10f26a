//! The `tcp://HOST:PORT` input: connects to a packet server, says `hello` (with the
//! token) and `started_playing`, and turns what arrives into the recorder's events.
//!
//! A lost connection, a refused connection or a busy server is retried with exponential
//! backoff (reset once packets flowed). Back on the same recording of the server (same
//! session, same tracks), the recording goes on in the same file: packets already
//! received (the server resends the current GOP) are skipped by decode time, and what
//! follows is decodable (the server starts a client at a key frame or continues its GOP).
//! Any other recording is a discontinuity (a new file). A wrong token or version ends the
//! input with the server's error; `goodbye` (the server's input ended) ends it normally.
//! A server that sends nothing for the stall timeout during a recording is taken for
//! gone.

use std::time::{Instant, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::inbound::{Inbound, InboundEvent, Side};
use super::protocol::{ErrorCode, Message, VERSION};
use super::{RemoteError, RemoteSettings};
use crate::Track;
use crate::source::InputEvent;
use crate::{Error, Options};

/// How a connection ended without an error.
enum Ended {
    /// The server said `goodbye`.
    Goodbye,
    /// The recorder does not want more.
    RecorderGone,
}

/// What the recorder was told, across reconnections.
#[derive(Default)]
struct Progress {
    /// The server's recording whose tracks the recorder has (`None` after a
    /// discontinuity).
    recording: Option<Announced>,
    /// Packets arrived on this connection.
    packets: bool,
}

/// A recording announced to the recorder.
struct Announced {
    session: u64,
    tracks: Vec<Track>,
    /// Per track, the decode time of the last packet passed on.
    last_dts: Vec<Option<i64>>,
}

pub(crate) async fn run(
    addr: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let settings = &options.remote;
    let mut delay = settings.reconnect_delay;
    let mut progress = Progress::default();
    let mut attempt = 0u32;
    loop {
        progress.packets = false;
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            outcome = connection(addr, settings, tx, &mut progress) => outcome,
        };
        let error = match outcome {
            Ok(Ended::Goodbye) => {
                tracing::info!(%addr, "the server said goodbye: input ended");
                return Ok(());
            }
            Ok(Ended::RecorderGone) => return Ok(()),
            Err(e) if permanent(&e) => {
                return Err(Error::Input {
                    input: format!("tcp://{addr}"),
                    reason: e.to_string(),
                });
            }
            Err(e) => e,
        };
        if progress.packets {
            delay = settings.reconnect_delay;
            attempt = 0;
        }
        attempt += 1;
        tracing::warn!(%addr, attempt, ?delay, "{error}; reconnecting");
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(settings.max_reconnect_delay);
    }
}

/// Errors that another attempt would only repeat.
fn permanent(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::Refused {
            code: ErrorCode::Unauthorized | ErrorCode::UnsupportedVersion,
            ..
        }
    )
}

async fn connection(
    addr: &str,
    settings: &RemoteSettings,
    tx: &mpsc::Sender<InputEvent>,
    progress: &mut Progress,
) -> Result<Ended, RemoteError> {
    let timeout = settings.handshake_timeout;
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| RemoteError::Timeout(format!("connecting to {addr}")))?
        .map_err(|e| RemoteError::io(format!("connecting to {addr}"), e))?;
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
        .map_err(|e| RemoteError::io("sending hello", e))?;
    // `write` stays open: closing it would tell the server we left.
    let deadline = tokio::time::Instant::now() + timeout;
    let mut inbound = Inbound::new(Side::Client);
    let mut session = Session::default();
    loop {
        while let Some(event) = inbound.poll(Instant::now())? {
            match session.handle(event, progress)? {
                Step::Continue => {}
                Step::Send(e) => {
                    if tx.send(e).await.is_err() {
                        return Ok(Ended::RecorderGone);
                    }
                }
                Step::Restart(tracks) => {
                    let restart = [InputEvent::Discontinuity, InputEvent::Tracks(tracks)];
                    for e in restart {
                        if tx.send(e).await.is_err() {
                            return Ok(Ended::RecorderGone);
                        }
                    }
                }
                Step::Goodbye => return Ok(Ended::Goodbye),
            }
        }
        let read_some = read.read_buf(inbound.buffer());
        let n = if !session.welcomed {
            tokio::time::timeout_at(deadline, read_some)
                .await
                .map_err(|_| RemoteError::Timeout("waiting for welcome".into()))?
        } else if session.complete {
            // A live recording never goes quiet: a silent server is gone (no FIN seen).
            let stall = settings.stall_timeout;
            tokio::time::timeout(stall, read_some).await.map_err(|_| {
                RemoteError::Timeout(format!(
                    "nothing from the server for {} s during a recording",
                    stall.as_secs_f32()
                ))
            })?
        } else {
            read_some.await
        }
        .map_err(|e| RemoteError::io("reading from the server", e))?;
        if n == 0 {
            inbound.finish()?;
            return Err(RemoteError::Protocol(
                "the server closed the connection".into(),
            ));
        }
    }
}

enum Step {
    Continue,
    Send(InputEvent),
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
    fn handle(
        &mut self,
        event: InboundEvent,
        progress: &mut Progress,
    ) -> Result<Step, RemoteError> {
        let protocol = |m: String| Err(RemoteError::Protocol(m));
        Ok(match event {
            InboundEvent::Control(Message::Welcome { version }) => {
                if version != VERSION {
                    return protocol(format!(
                        "the server speaks version {version}, not {VERSION}"
                    ));
                }
                self.welcomed = true;
                Step::Continue
            }
            InboundEvent::Control(Message::Error { code, message }) => {
                if code.is_fatal() {
                    return Err(RemoteError::Refused { code, message });
                }
                tracing::warn!("the server says: {code}: {message}");
                Step::Continue
            }
            _ if !self.welcomed => return protocol("media before welcome".into()),
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
                    return Ok(Step::Send(InputEvent::TrackUpdated { index, track }));
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
                    None => Step::Send(InputEvent::Tracks(all)),
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
                        Step::Send(InputEvent::Packet(packet, SystemTime::now()))
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
                    Some(_) => Step::Send(InputEvent::Discontinuity),
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
