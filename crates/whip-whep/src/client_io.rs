//! The tokio adapters of the clients: [`WhepPull`] pulls a stream from a WHEP server,
//! [`WhipPush`] pushes one to a WHIP server. Each binds one UDP socket (on loopback when
//! the server is there, else on the address the route to the server leaves from), does
//! the signalling ([`crate::signalling`]), runs the session in a task and waits until
//! ICE and DTLS complete, so a refusal or a session that never connects fails
//! `connect` with one line. Frames travel through bounded channels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::Error;
use crate::client::{ClientOutput, WhepClient, WhipClient};
use crate::media::{Frame, StreamCodecs};
use crate::receiving::ReceivedFrame;
use crate::signalling::{self, EndpointUrl, SessionUrl};

/// Settings of a [`WhepPull`] or [`WhipPush`].
#[non_exhaustive]
#[derive(Clone)]
pub struct ClientSettings {
    /// Bearer token sent with the offer and the DELETE (never shown).
    pub token: Option<String>,
    /// Bound of each signalling request, and of ICE and DTLS after the answer.
    pub timeout: Duration,
    /// Frames waiting between the session task and its user; beyond it a pull drops
    /// (counted) and a push waits.
    pub queue_frames: usize,
    /// https: a PEM file of certificates to trust besides the webpki roots (a
    /// self-signed server's).
    pub tls_ca: Option<std::path::PathBuf>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            token: None,
            timeout: Duration::from_secs(10),
            queue_frames: 1024,
            tls_ca: None,
        }
    }
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("queue_frames", &self.queue_frames)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

/// The session's sans-I/O state machine, as the task loop sees it.
enum Client {
    Whep(WhepClient),
    Whip(WhipClient),
}

impl Client {
    fn poll(&mut self) -> Result<ClientOutput, Error> {
        match self {
            Client::Whep(c) => c.poll(),
            Client::Whip(c) => c.poll(),
        }
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) -> Result<(), Error> {
        match self {
            Client::Whep(c) => c.handle_datagram(now, from, d),
            Client::Whip(c) => c.handle_datagram(now, from, d),
        }
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        match self {
            Client::Whep(c) => c.handle_timeout(now),
            Client::Whip(c) => c.handle_timeout(now),
        }
    }
    fn close(&mut self) {
        match self {
            Client::Whep(c) => c.close(),
            Client::Whip(c) => c.close(),
        }
    }
}

/// What the task shares with its handle.
struct Shared {
    end: Notify,
    /// The user of a `WhepPull` asks for a key frame (its own viewer joined, say).
    ask_keyframe: Notify,
    dropped: AtomicU64,
    keyframe_wanted: AtomicBool,
}

/// A UDP socket for a session with `server`: loopback for a loopback server, else the
/// address the route to it leaves from (one host candidate that the server can reach).
async fn bind_for(server: SocketAddr, url: &EndpointUrl) -> Result<UdpSocket, Error> {
    let err = |e| Error::io(format!("binding a UDP socket for {url}"), e);
    let ip = if server.ip().is_loopback() {
        server.ip()
    } else {
        let any: IpAddr = match server {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let probe = UdpSocket::bind((any, 0)).await.map_err(err)?;
        probe.connect(server).await.map_err(err)?;
        probe.local_addr().map_err(err)?.ip()
    };
    UdpSocket::bind((ip, 0)).await.map_err(err)
}

/// Signalling done and the task started; `connect` then waits for `connected`.
struct Started {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
    session: SessionUrl,
    /// What the answer accepted: (video, audio).
    tracks: (bool, bool),
}

async fn start(
    url: &EndpointUrl,
    settings: &ClientSettings,
    make: impl FnOnce(SocketAddr) -> Result<(Client, String), Error>,
    frames_out: Option<mpsc::Sender<ReceivedFrame>>,
    frames_in: Option<mpsc::Receiver<Frame>>,
) -> Result<Started, Error> {
    let server = url.resolve().await?;
    let socket = bind_for(server, url).await?;
    let local = socket
        .local_addr()
        .map_err(|e| Error::io(format!("binding a UDP socket for {url}"), e))?;
    let (mut client, offer) = make(local)?;
    let token = settings.token.as_deref();
    let ca = settings.tls_ca.as_deref();
    let (answer, session) =
        signalling::post_offer(url, token, ca, &offer, settings.timeout).await?;
    let accepted = match &mut client {
        Client::Whep(c) => c
            .accept_answer(&answer)
            .map(|()| (c.has_video(), c.has_audio())),
        Client::Whip(c) => c.accept_answer(&answer).map(|()| (true, true)),
    };
    let tracks = match accepted {
        Ok(tracks) => tracks,
        Err(e) => {
            let _ = signalling::delete(&session, token, ca, settings.timeout).await;
            return Err(e);
        }
    };
    let shared = Arc::new(Shared {
        end: Notify::new(),
        dropped: AtomicU64::new(0),
        keyframe_wanted: AtomicBool::new(false),
        ask_keyframe: Notify::new(),
    });
    let (connected_tx, connected_rx) = oneshot::channel();
    let task = tokio::spawn(run(
        client,
        socket,
        shared.clone(),
        connected_tx,
        frames_out,
        frames_in,
    ));
    let waited = tokio::time::timeout(settings.timeout, connected_rx).await;
    if !matches!(waited, Ok(Ok(()))) {
        shared.end.notify_one();
        let ended = tokio::time::timeout(settings.timeout, task).await;
        let _ = signalling::delete(&session, token, ca, settings.timeout).await;
        return Err(match (waited, ended) {
            (_, Ok(Ok(Err(e)))) => e,
            (Err(_), _) => Error::Signalling {
                url: url.to_string(),
                reason: format!(
                    "ICE/DTLS did not complete within {} s",
                    settings.timeout.as_secs_f64()
                ),
            },
            _ => Error::Signalling {
                url: url.to_string(),
                reason: "the session ended before it connected".into(),
            },
        });
    }
    Ok(Started {
        shared,
        task,
        session,
        tracks,
    })
}

async fn run(
    mut client: Client,
    socket: UdpSocket,
    shared: Arc<Shared>,
    connected: oneshot::Sender<()>,
    frames_out: Option<mpsc::Sender<ReceivedFrame>>,
    mut frames_in: Option<mpsc::Receiver<Frame>>,
) -> Result<(), Error> {
    let mut connected = Some(connected);
    let mut buf = vec![0u8; 2048];
    let mut after_drop = false;
    loop {
        let wake_at = loop {
            match client.poll()? {
                ClientOutput::Transmit {
                    destination,
                    contents,
                } => {
                    let _ = socket.send_to(&contents, destination).await;
                }
                ClientOutput::Timeout(t) => break t,
                ClientOutput::Connected => {
                    if let Some(c) = connected.take() {
                        let _ = c.send(());
                    }
                }
                ClientOutput::Frame(mut f) => {
                    let Some(out) = &frames_out else { continue };
                    f.after_loss |= after_drop;
                    match out.try_send(f) {
                        Ok(()) => after_drop = false,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            after_drop = true;
                            shared.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            client.close();
                        }
                    }
                }
                ClientOutput::KeyframeRequest => {
                    shared.keyframe_wanted.store(true, Ordering::Relaxed);
                }
                ClientOutput::Closed => return Ok(()),
            }
        };
        let sleep_until = tokio::time::Instant::from_std(wake_at)
            .min(tokio::time::Instant::now() + Duration::from_millis(500));
        let next_frame = async {
            match frames_in.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = received {
                    client.handle_datagram(Instant::now(), source, &buf[..n])?;
                }
            }
            frame = next_frame => match (frame, &mut client) {
                (Some(frame), Client::Whip(c)) => c.write(&frame, Instant::now())?,
                // The pusher is done: end the session.
                _ => {
                    client.close();
                    frames_in = None;
                }
            },
            _ = shared.end.notified() => client.close(),
            _ = shared.ask_keyframe.notified() => {
                if let Client::Whep(c) = &mut client {
                    c.request_keyframe();
                }
            }
            _ = tokio::time::sleep_until(sleep_until) => client.handle_timeout(Instant::now())?,
        }
    }
}

/// Ends a session: its task (DTLS close alert) and the server's resource (DELETE).
/// `now`: at once; else the task ends when its frames run out.
async fn finish(
    started: Started,
    url: &EndpointUrl,
    settings: &ClientSettings,
    now: bool,
) -> Result<(), Error> {
    if now {
        started.shared.end.notify_one();
    }
    let ended = tokio::time::timeout(settings.timeout, started.task).await;
    let deleted = signalling::delete(
        &started.session,
        settings.token.as_deref(),
        settings.tls_ca.as_deref(),
        settings.timeout,
    )
    .await;
    match ended {
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(_)) | Err(_) => {
            return Err(Error::Signalling {
                url: url.to_string(),
                reason: "the session task did not end".into(),
            });
        }
        Ok(Ok(Ok(()))) => {}
    }
    // A server that already forgot the session (it saw the DTLS close) answers 404.
    match deleted {
        Err(Error::Refused { status: 404, .. }) => Ok(()),
        other => other,
    }
}

/// A stream pulled from a WHEP server; see the module docs.
pub struct WhepPull {
    url: EndpointUrl,
    settings: ClientSettings,
    started: Option<Started>,
    frames: mpsc::Receiver<ReceivedFrame>,
    video: bool,
    audio: bool,
}

impl std::fmt::Debug for WhepPull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepPull")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WhepPull {
    /// Offers to the WHEP endpoint `url` (`http://host:port/path/whep`) and waits until
    /// media can flow (at most twice `settings.timeout`; a failure then takes up to as long again to end the session and DELETE it).
    pub async fn connect(url: &str, settings: ClientSettings) -> Result<WhepPull, Error> {
        let url = EndpointUrl::parse(url)?;
        let (tx, frames) = mpsc::channel(settings.queue_frames.max(16));
        let started = start(
            &url,
            &settings,
            |local| {
                let (client, offer) = WhepClient::offer(local, Instant::now())?;
                Ok((Client::Whep(client), offer))
            },
            Some(tx),
            None,
        )
        .await?;
        Ok(WhepPull {
            url,
            settings,
            frames,
            video: started.tracks.0,
            audio: started.tracks.1,
            started: Some(started),
        })
    }

    /// The next frame; `None` once the session is over (the server ended it, or
    /// [`WhepPull::close`]).
    pub async fn next(&mut self) -> Option<ReceivedFrame> {
        self.frames.recv().await
    }

    /// Frames dropped because the user did not take them fast enough.
    pub fn dropped(&self) -> u64 {
        self.started
            .as_ref()
            .map_or(0, |s| s.shared.dropped.load(Ordering::Relaxed))
    }

    /// Whether the server's answer accepted (video, audio).
    pub fn tracks(&self) -> (bool, bool) {
        (self.video, self.audio)
    }

    /// Asks the server for a key frame (RTCP PLI), as a relay does when its own viewer
    /// needs one; str0m sends it when the session allows (not more often than its
    /// minimum gap). The pull also asks by itself after a loss.
    pub fn request_keyframe(&self) {
        if let Some(started) = &self.started {
            started.shared.ask_keyframe.notify_one();
        }
    }

    /// Ends the session: DTLS close, then `DELETE` of the session's URL.
    pub async fn close(mut self) -> Result<(), Error> {
        match self.started.take() {
            Some(started) => finish(started, &self.url, &self.settings, true).await,
            None => Ok(()),
        }
    }
}

/// A stream pushed to a WHIP server; see the module docs.
pub struct WhipPush {
    url: EndpointUrl,
    settings: ClientSettings,
    started: Option<Started>,
    frames: Option<mpsc::Sender<Frame>>,
}

impl std::fmt::Debug for WhipPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipPush")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WhipPush {
    /// Offers a stream of `codecs` to the WHIP endpoint `url`
    /// (`http://host:port/path/whip`) and waits until media can flow (at most twice
    /// `settings.timeout`; a failure then takes up to as long again to end the session
    /// and DELETE it).
    pub async fn connect(
        url: &str,
        codecs: StreamCodecs,
        settings: ClientSettings,
    ) -> Result<WhipPush, Error> {
        let url = EndpointUrl::parse(url)?;
        let (tx, rx) = mpsc::channel(settings.queue_frames.max(16));
        let started = start(
            &url,
            &settings,
            |local| {
                let (client, offer) = WhipClient::offer(codecs, local, Instant::now())?;
                Ok((Client::Whip(client), offer))
            },
            None,
            Some(rx),
        )
        .await?;
        Ok(WhipPush {
            url,
            settings,
            started: Some(started),
            frames: Some(tx),
        })
    }

    /// Sends a frame, waiting for room in the queue; an error once the session is over.
    pub async fn send(&self, frame: Frame) -> Result<(), Error> {
        let sent = match &self.frames {
            Some(tx) => tx.send(frame).await.is_ok(),
            None => false,
        };
        sent.then_some(()).ok_or_else(|| self.ended())
    }

    /// [`WhipPush::send`] from a thread outside the runtime (a blocking sink).
    pub fn blocking_send(&self, frame: Frame) -> Result<(), Error> {
        let sent = match &self.frames {
            Some(tx) => tx.blocking_send(frame).is_ok(),
            None => false,
        };
        sent.then_some(()).ok_or_else(|| self.ended())
    }

    fn ended(&self) -> Error {
        Error::Signalling {
            url: self.url.to_string(),
            reason: "the WHIP session ended".into(),
        }
    }

    /// Whether the server asked for a key frame since the last call.
    pub fn take_keyframe_request(&self) -> bool {
        self.started
            .as_ref()
            .is_some_and(|s| s.shared.keyframe_wanted.swap(false, Ordering::Relaxed))
    }

    /// Ends the session: the frames queued go out, then DTLS close and `DELETE`.
    pub async fn close(mut self) -> Result<(), Error> {
        self.frames = None;
        match self.started.take() {
            Some(started) => finish(started, &self.url, &self.settings, false).await,
            None => Ok(()),
        }
    }
}
