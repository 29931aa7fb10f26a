//! The packet server (`tcp-listen://ADDR:PORT`): accepts clients, runs the handshake
//! and the started/stopped state machine of [`super::protocol`], and fans each packet
//! out to every playing client's [`ClientQueue`].
//!
//! Per client, a reader task handles its control messages and a writer task drains its
//! queue into the socket. The recorder's thread only pushes into queues (never waits on a
//! socket), so a slow, stalled or hostile client cannot hold up the recording or the
//! other clients.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::inbound::{Inbound, InboundEvent, Side};
use super::protocol::{self, ErrorCode, Message, VERSION};
use super::queue::{ClientQueue, Counters, GopCache, Item, Media};
use super::{RemoteError, RemoteSettings};
use crate::sink::{Sink, SinkFactory};
use crate::{Error, Options};
use crate::{Packet, Track};

/// A client's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// Its address.
    pub peer: SocketAddr,
    /// Whether it asked for media (`started_playing`).
    pub playing: bool,
    /// Media packets sent and dropped.
    pub counters: Counters,
}

/// A packet server; see the module docs. Dropping it says `goodbye` to the clients.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

struct Shared {
    settings: RemoteSettings,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    recording: Option<Recording>,
    sessions: u64,
    clients: Vec<Arc<Client>>,
    next_client: u64,
    closed: bool,
}

struct Recording {
    session: u64,
    tracks: Arc<[Track]>,
    gop: GopCache,
}

impl Recording {
    /// Starts sending this recording to a client, from the last key frame.
    fn begin(&self, queue: &mut ClientQueue) {
        queue.begin(self.session, self.tracks.clone());
        for media in self.gop.packets() {
            queue.push_media(media.clone());
        }
    }
}

pub(super) struct Client {
    id: u64,
    peer: SocketAddr,
    pub(super) state: Mutex<ClientState>,
    pub(super) wake: Notify,
}

pub(super) struct ClientState {
    pub(super) queue: ClientQueue,
    playing: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is short and leaves the state consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    fn push(&self, item: Item) {
        lock(&self.state).queue.push(item);
        self.wake.notify_one();
    }
}

impl Server {
    /// Binds `addr` (`host:port`) and starts accepting clients on the current tokio
    /// runtime. Serving off loopback needs a token.
    pub fn bind(addr: &str, settings: RemoteSettings) -> Result<Server, Error> {
        let output = || format!("tcp-listen://{addr}");
        let fail = |reason: String| Error::Output {
            output: output(),
            reason,
        };
        let socket_addr = addr
            .to_socket_addrs()
            .map_err(|e| fail(format!("cannot resolve the address: {e}")))?
            .next()
            .ok_or_else(|| fail("the address resolves to nothing".into()))?;
        if !socket_addr.ip().is_loopback() && settings.token.is_none() {
            return Err(Error::InvalidOptions(format!(
                "{}: serving on a non-loopback address needs a token (--token)",
                output()
            )));
        }
        let listener = listen(socket_addr, settings.send_buffer)
            .map_err(|e| Error::io(format!("binding {}", output()), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io(format!("binding {}", output()), e))?;
        let shared = Arc::new(Shared {
            settings,
            // Recording numbers unique across restarts of the server, so that a client
            // coming back can tell the same recording from a new one.
            state: Mutex::new(State {
                sessions: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                ..State::default()
            }),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        tracing::info!(%local_addr, "serving packets to network clients");
        Ok(Server {
            shared,
            local_addr,
            accept,
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts a recording of these tracks: playing clients get `started_recording` and
    /// the track streams. Ends the previous recording, if any. Returns its number.
    pub fn start_recording(&self, tracks: Vec<Track>) -> u64 {
        let mut state = lock(&self.shared.state);
        end_recording(&mut state);
        state.sessions += 1;
        let s = &self.shared.settings;
        let recording = Recording {
            session: state.sessions,
            gop: GopCache::new(&tracks, s.client_queue, s.client_queue_bytes),
            tracks: tracks.into(),
        };
        for client in &state.clients {
            let mut c = lock(&client.state);
            if c.playing {
                recording.begin(&mut c.queue);
                client.wake.notify_one();
            }
        }
        let session = recording.session;
        state.recording = Some(recording);
        session
    }

    /// Queues a packet of the current recording for every playing client (never waits;
    /// each client's drop policy applies). Ignored when no recording is on.
    pub fn write(&self, packet: &Packet) -> Result<(), Error> {
        if packet.data.len() + protocol::MEDIA_PREFIX > protocol::MAX_PACKET_SIZE {
            return Err(Error::Output {
                output: format!("tcp-listen://{}", self.local_addr),
                reason: format!(
                    "packet of {} bytes on track {} exceeds the protocol's {} bytes",
                    packet.data.len(),
                    packet.track,
                    protocol::MAX_PACKET_SIZE - protocol::MEDIA_PREFIX
                ),
            });
        }
        // Encoded once, outside the lock; every client shares the bytes.
        let media = Media {
            track: packet.track,
            keyframe: packet.keyframe,
            content: super::media::encode_media(packet),
        };
        let mut state = lock(&self.shared.state);
        let Some(recording) = &mut state.recording else {
            return Ok(());
        };
        recording.gop.push(&media);
        for client in &state.clients {
            let mut c = lock(&client.state);
            if c.queue.is_active() {
                c.queue.push_media(media.clone());
                client.wake.notify_one();
            }
        }
        Ok(())
    }

    /// A track's codec configuration changed: clients get a new stream for it.
    pub fn update_track(&self, index: usize, track: &Track) {
        let mut state = lock(&self.shared.state);
        let Some(recording) = &mut state.recording else {
            return;
        };
        let mut tracks = recording.tracks.to_vec();
        let Some(slot) = tracks.get_mut(index) else {
            return;
        };
        *slot = track.clone();
        recording.tracks = tracks.into();
        recording.gop.clear();
        for client in &state.clients {
            lock(&client.state).queue.update_track(index, track.clone());
            client.wake.notify_one();
        }
    }

    /// Ends the recording: clients get the track trailers and `stopped_recording`.
    pub fn stop_recording(&self) {
        end_recording(&mut lock(&self.shared.state));
    }

    /// The connected clients' figures.
    pub fn clients(&self) -> Vec<ClientStats> {
        let state = lock(&self.shared.state);
        state
            .clients
            .iter()
            .map(|c| {
                let s = lock(&c.state);
                ClientStats {
                    peer: c.peer,
                    playing: s.playing,
                    counters: s.queue.counters(),
                }
            })
            .collect()
    }

    /// Stops accepting, ends the recording and says `goodbye` to every client (their
    /// queues are still written out).
    pub fn close(&self) {
        self.accept.abort();
        let mut state = lock(&self.shared.state);
        if state.closed {
            return;
        }
        state.closed = true;
        end_recording(&mut state);
        for client in &state.clients {
            lock(&client.state)
                .queue
                .push(Item::Control(Message::Goodbye));
            client.push(Item::Close);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

fn end_recording(state: &mut State) {
    let Some(recording) = state.recording.take() else {
        return;
    };
    for client in &state.clients {
        let mut c = lock(&client.state);
        if c.queue.is_active() {
            c.queue.end("stopped_recording");
            c.queue.push(Item::Control(Message::StoppedRecording {
                session: recording.session,
                sent: 0,
                dropped: 0,
            }));
            client.wake.notify_one();
        }
    }
}

fn listen(addr: SocketAddr, send_buffer: Option<u32>) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if let Some(size) = send_buffer {
        // Accepted sockets inherit it (Linux, BSDs).
        socket.set_send_buffer_size(size)?;
    }
    socket.bind(addr)?;
    socket.listen(128)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!("accepting a client: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = {
            let mut state = lock(&shared.state);
            if state.closed {
                return;
            }
            if state.clients.len() >= shared.settings.max_clients {
                let max = shared.settings.max_clients;
                tracing::warn!(%peer, max, "client refused: too many clients");
                tokio::spawn(refuse(stream, max));
                continue;
            }
            state.next_client += 1;
            let s = &shared.settings;
            let client = Arc::new(Client {
                id: state.next_client,
                peer,
                state: Mutex::new(ClientState {
                    queue: ClientQueue::new(s.client_queue, s.client_queue_bytes),
                    playing: false,
                }),
                wake: Notify::new(),
            });
            state.clients.push(client.clone());
            client
        };
        tracing::info!(%peer, "client connected");
        tokio::spawn(serve(shared.clone(), client, stream));
    }
}

async fn refuse(mut stream: TcpStream, max: usize) {
    let mut out = BytesMut::new();
    Message::Error {
        code: ErrorCode::Busy,
        message: format!("the server has its maximum of {max} clients"),
    }
    .write_framed("s0", &mut out);
    let write = async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), write).await;
}

/// Runs one client until it leaves, fails or is told to go.
async fn serve(shared: Arc<Shared>, client: Arc<Client>, stream: TcpStream) {
    let (read, write) = stream.into_split();
    let stall = shared.settings.stall_timeout;
    let mut writer = tokio::spawn(super::connection::write_loop(client.clone(), write, stall));
    let reader = read_loop(&shared, &client, read);
    tokio::select! {
        outcome = reader => {
            match outcome {
                Ok(()) => tracing::info!(peer = %client.peer, "client left"),
                Err(e) => {
                    tracing::warn!(peer = %client.peer, "client disconnected: {e}");
                    if let Some(answer) = e.answer() {
                        client.push(Item::Control(answer));
                    }
                }
            }
            client.push(Item::Close);
            // Let the writer say why (bounded by the stall timeout), then stop it.
            if tokio::time::timeout(stall, &mut writer).await.is_err() {
                writer.abort();
            }
        }
        written = &mut writer => {
            if let Ok(Err(e)) = written {
                tracing::warn!(peer = %client.peer, "client disconnected: {e}");
            }
        }
    }
    let counters = lock(&client.state).queue.counters();
    tracing::info!(peer = %client.peer, sent = counters.sent, dropped = counters.dropped, "client closed");
    lock(&shared.state).clients.retain(|c| c.id != client.id);
}

/// Reads the client's control messages until it leaves or breaks the protocol.
async fn read_loop(
    shared: &Shared,
    client: &Client,
    mut read: OwnedReadHalf,
) -> Result<(), RemoteError> {
    let mut inbound = Inbound::new(Side::Server);
    let deadline = tokio::time::Instant::now() + shared.settings.handshake_timeout;
    let mut greeted = false;
    loop {
        while let Some(event) = inbound.poll(std::time::Instant::now())? {
            let InboundEvent::Control(message) = event else {
                continue; // a server registers no track topic
            };
            if !greeted {
                hello(&shared.settings, message)?;
                greeted = true;
                client.push(Item::Control(Message::Welcome { version: VERSION }));
                continue;
            }
            control(shared, client, message)?;
        }
        let read = read.read_buf(inbound.buffer());
        let n = if greeted {
            read.await
        } else {
            tokio::time::timeout_at(deadline, read).await.map_err(|_| {
                RemoteError::Timeout(format!(
                    "waiting for hello ({} s)",
                    shared.settings.handshake_timeout.as_secs_f32()
                ))
            })?
        }
        .map_err(|e| RemoteError::io("reading from the client", e))?;
        if n == 0 {
            inbound.finish()?;
            return Ok(());
        }
    }
}

fn hello(settings: &RemoteSettings, message: Message) -> Result<(), RemoteError> {
    let refuse = |code, message: String| Err(RemoteError::Refused { code, message });
    let Message::Hello { version, token } = message else {
        return refuse(
            ErrorCode::Protocol,
            format!("expected hello first, got {}", message.name()),
        );
    };
    if version != VERSION {
        return refuse(
            ErrorCode::UnsupportedVersion,
            format!("protocol version {version} is not supported (this server speaks {VERSION})"),
        );
    }
    if let Some(expected) = &settings.token
        && !protocol::token_matches(expected, token.as_deref())
    {
        let what = if token.is_some() { "wrong" } else { "missing" };
        return refuse(ErrorCode::Unauthorized, format!("{what} token"));
    }
    Ok(())
}

/// Control answers a client may leave unread before it is disconnected (answers are
/// never dropped, so a client sending requests without reading would grow its queue).
const MAX_PENDING_CONTROL: usize = 64;

fn control(shared: &Shared, client: &Client, message: Message) -> Result<(), RemoteError> {
    let state = lock(&shared.state);
    let mut c = lock(&client.state);
    let pending = c.queue.pending_control();
    if pending >= MAX_PENDING_CONTROL {
        return Err(RemoteError::Refused {
            code: ErrorCode::Protocol,
            message: format!("{pending} answers unread: requests sent without reading"),
        });
    }
    match message {
        Message::StartedPlaying if c.playing => c.queue.push(Item::Control(Message::Error {
            code: ErrorCode::AlreadyPlaying,
            message: "started_playing while already playing".into(),
        })),
        Message::StartedPlaying => {
            c.playing = true;
            if let Some(r) = &state.recording {
                r.begin(&mut c.queue);
            }
        }
        Message::StoppedPlaying { .. } if !c.playing => {
            c.queue.push(Item::Control(Message::Error {
                code: ErrorCode::NotPlaying,
                message: "stopped_playing while not playing".into(),
            }))
        }
        Message::StoppedPlaying { .. } => {
            c.playing = false;
            c.queue.end("stopped_playing");
            c.queue.push(Item::Control(Message::StoppedPlaying {
                sent: 0,
                dropped: 0,
            }));
        }
        other => {
            return Err(RemoteError::Refused {
                code: ErrorCode::Protocol,
                message: format!("a client may not send {}", other.name()),
            });
        }
    }
    drop(c);
    client.wake.notify_one();
    Ok(())
}

/// The output side of a pipeline: each recording of the recorder is a recording of the
/// server; the server lives as long as the pipeline.
pub(crate) struct ListenFactory {
    server: Arc<Server>,
}

impl ListenFactory {
    pub(crate) fn bind(addr: &str, options: &Options) -> Result<Self, Error> {
        Ok(ListenFactory {
            server: Arc::new(Server::bind(addr, options.remote.clone())?),
        })
    }
}

impl Drop for ListenFactory {
    fn drop(&mut self) {
        // The pipeline is ending, and the runtime may end with it: on the recorder's
        // (blocking) thread, give the clients' writers a moment to deliver `goodbye`.
        self.server.close();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !self.server.clients().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl SinkFactory for ListenFactory {
    /// Every codec of the neutral types travels as its track attributes.
    fn check(&self, _tracks: &[Track]) -> Result<(), Error> {
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        for (index, track) in tracks.iter().enumerate() {
            // Clients refuse bigger headers (data-stream's header limit).
            let size = super::media::track_header("t", index, track).len();
            if size > data_stream::writer::MAX_HEADER_SIZE {
                return Err(Error::Output {
                    output: format!("tcp-listen://{}", self.server.local_addr()),
                    reason: format!(
                        "track {index} ({}) needs a {size}-byte stream header, over the {} bytes clients accept",
                        track.codec.name(),
                        data_stream::writer::MAX_HEADER_SIZE
                    ),
                });
            }
        }
        self.server.start_recording(tracks.to_vec());
        Ok(Box::new(ListenSink {
            server: self.server.clone(),
        }))
    }
}

struct ListenSink {
    server: Arc<Server>,
}

impl Sink for ListenSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        self.server.write(&packet)
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        self.server.update_track(track, config);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<std::path::PathBuf>, Error> {
        self.server.stop_recording();
        Ok(None)
    }
}
