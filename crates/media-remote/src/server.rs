//! The packet server: accepts clients, runs the handshake and the started/stopped state
//! machine of [`crate::protocol`], and fans each packet out to every playing client's
//! queue (its drop policy: [`crate::queue`]).
//!
//! A connection first waits to say `hello` in a pool of its own ([`crate::admission`]:
//! bounded in all and per address, the newcomer displacing the oldest), read by
//! [`crate::greeting`]; only a greeted connection takes one of the `max_clients` slots.
//! Per client, a reader task handles its control messages and a writer task drains its
//! queue into the socket. The recorder's thread only pushes into queues (never waits on a
//! socket), so a slow, stalled or hostile client cannot hold up the recording or the
//! other clients.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use media_core::{Packet, Track};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::admission::Admission;
use crate::connection::{self, Peer, lock};
use crate::error::Error;
use crate::greeting;
use crate::inbound::{Inbound, InboundEvent, Side};
use crate::protocol::{self, ErrorCode, Message, VERSION};
use crate::queue::{ClientQueue, Counters, GopCache, Item, Media};
use crate::settings::RemoteSettings;

/// A client's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

struct State {
    recording: Option<Recording>,
    sessions: u64,
    clients: Vec<Arc<Peer>>,
    next_client: u64,
    closed: bool,
    /// Connections waiting to say `hello`, and how to tell each it was displaced.
    admission: Admission,
    waiting: HashMap<u64, Arc<Notify>>,
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

impl Server {
    /// Binds `addr` (`host:port`) and starts accepting clients on the current tokio
    /// runtime. Serving off loopback needs a token.
    pub fn bind(addr: &str, settings: RemoteSettings) -> Result<Server, Error> {
        let socket_addr = addr
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("resolving {addr}"), e))?
            .next()
            .ok_or_else(|| {
                Error::io(
                    format!("resolving {addr}"),
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the address resolves to nothing",
                    ),
                )
            })?;
        if !socket_addr.ip().is_loopback() && settings.token.is_none() {
            return Err(Error::NeedsToken(addr.to_owned()));
        }
        let listener = listen(socket_addr, settings.send_buffer)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let shared = Arc::new(Shared {
            settings: settings.clone(),
            // Recording numbers unique across restarts of the server, so that a client
            // coming back can tell the same recording from a new one.
            state: Mutex::new(State {
                recording: None,
                sessions: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                clients: Vec::new(),
                next_client: 0,
                closed: false,
                admission: Admission::new(settings.max_pending, settings.max_pending_per_address),
                waiting: HashMap::new(),
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
    ///
    /// A track this protocol cannot carry (a codec it has no name for, a stream header
    /// over the clients' limit) is an error, and nothing changes.
    pub fn start_recording(&self, tracks: Vec<Track>) -> Result<u64, Error> {
        for (index, track) in tracks.iter().enumerate() {
            crate::media::track_header("t", index, track)?;
        }
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
        Ok(session)
    }

    /// Queues a packet of the current recording for every playing client (never waits;
    /// each client's drop policy applies). Ignored when no recording is on.
    pub fn write(&self, packet: &Packet) -> Result<(), Error> {
        if packet.data.len() + protocol::MEDIA_PREFIX > protocol::MAX_PACKET_SIZE {
            return Err(Error::PacketTooLarge {
                track: packet.track,
                size: packet.data.len(),
                max: protocol::MAX_PACKET_SIZE - protocol::MEDIA_PREFIX,
            });
        }
        // Encoded once, outside the lock; every client shares the bytes.
        let media = Media {
            track: packet.track,
            keyframe: packet.keyframe,
            content: crate::media::encode_media(packet),
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

    /// A track's codec configuration changed: clients get a new stream for it. Ignored
    /// without a recording or such a track; an error for a track the protocol cannot
    /// carry (as in [`Server::start_recording`]).
    pub fn update_track(&self, index: usize, track: &Track) -> Result<(), Error> {
        crate::media::track_header("t", index, track)?;
        let mut state = lock(&self.shared.state);
        let Some(recording) = &mut state.recording else {
            return Ok(());
        };
        let mut tracks = recording.tracks.to_vec();
        let Some(slot) = tracks.get_mut(index) else {
            return Ok(());
        };
        *slot = track.clone();
        recording.tracks = tracks.into();
        recording.gop.clear();
        for client in &state.clients {
            lock(&client.state).queue.update_track(index, track.clone());
            client.wake.notify_one();
        }
        Ok(())
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

    /// Connections accepted that have not said `hello` yet (at most
    /// [`RemoteSettings::max_pending`]).
    pub fn pending(&self) -> usize {
        lock(&self.shared.state).admission.len()
    }

    /// Stops accepting, ends the recording and says `goodbye` to every client (their
    /// queues are still written out); connections still waiting to say `hello` are
    /// closed.
    pub fn close(&self) {
        self.accept.abort();
        let mut state = lock(&self.shared.state);
        if state.closed {
            return;
        }
        state.closed = true;
        for id in state.admission.drain() {
            if let Some(displaced) = state.waiting.remove(&id) {
                displaced.notify_one();
            }
        }
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
        let (id, displaced) = {
            let mut state = lock(&shared.state);
            if state.closed {
                return;
            }
            state.next_client += 1;
            let id = state.next_client;
            for other in state.admission.arrive(id, peer.ip()) {
                if let Some(displaced) = state.waiting.remove(&other) {
                    displaced.notify_one();
                }
            }
            let displaced = Arc::new(Notify::new());
            state.waiting.insert(id, displaced.clone());
            (id, displaced)
        };
        tokio::spawn(greet(shared.clone(), id, peer, stream, displaced));
    }
}

/// Waits for the connection's `hello`, then serves it as a client if there is room.
async fn greet(
    shared: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    mut stream: TcpStream,
    displaced: Arc<Notify>,
) {
    let mut inbound = Inbound::new(Side::Server);
    let greeted =
        greeting::read_hello(&mut stream, &mut inbound, &shared.settings, &displaced).await;
    let said_hello = greeted.is_ok();
    let admitted = {
        let mut state = lock(&shared.state);
        state.admission.leave(id);
        state.waiting.remove(&id);
        let max = shared.settings.max_clients;
        match greeted {
            Ok(()) if state.closed => Err(Error::Closed("server")),
            Ok(()) if state.clients.len() >= max => Err(Error::Refused {
                code: ErrorCode::Busy,
                message: format!("the server has its maximum of {max} clients"),
            }),
            Ok(()) => {
                let s = &shared.settings;
                let client = Arc::new(Peer::new(
                    id,
                    peer,
                    ClientQueue::new(s.client_queue, s.client_queue_bytes),
                ));
                client.push(Item::Control(Message::Welcome { version: VERSION }));
                state.clients.push(client.clone());
                Ok(client)
            }
            Err(e) => Err(e),
        }
    };
    match admitted {
        Ok(client) => {
            tracing::info!(%peer, "client connected");
            serve(shared, client, stream, inbound).await;
        }
        Err(e) => {
            // What a flood is made of stays out of the log unless asked for; a client
            // refused for its token, version or the clients' bound is worth a line.
            let worth_a_line = said_hello
                || matches!(
                    e,
                    Error::Refused {
                        code: ErrorCode::Unauthorized | ErrorCode::UnsupportedVersion,
                        ..
                    }
                );
            if worth_a_line {
                tracing::warn!(%peer, "client refused: {e}");
            } else {
                tracing::debug!(%peer, "connection closed before it was a client: {e}");
            }
            greeting::refuse(stream, &e).await;
        }
    }
}

/// Runs one client until it leaves, fails or is told to go.
async fn serve(shared: Arc<Shared>, client: Arc<Peer>, stream: TcpStream, inbound: Inbound) {
    let (read, write) = stream.into_split();
    let stall = shared.settings.stall_timeout;
    let mut writer = tokio::spawn(connection::write_loop(client.clone(), write, stall));
    let reader = read_loop(&shared, &client, read, inbound);
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

/// Reads the client's control messages (after its `hello`) until it leaves or breaks
/// the protocol.
async fn read_loop(
    shared: &Shared,
    client: &Peer,
    mut read: OwnedReadHalf,
    mut inbound: Inbound,
) -> Result<(), Error> {
    loop {
        while let Some(event) = inbound.poll(std::time::Instant::now())? {
            if let InboundEvent::Control(message) = event {
                control(shared, client, message)?;
            } // a server registers no track topic
        }
        let n = read
            .read_buf(inbound.buffer())
            .await
            .map_err(|e| Error::io("reading from the client", e))?;
        if n == 0 {
            inbound.finish()?;
            return Ok(());
        }
    }
}

/// Control answers a client may leave unread before it is disconnected (answers are
/// never dropped, so a client sending requests without reading would grow its queue).
const MAX_PENDING_CONTROL: usize = 64;

fn control(shared: &Shared, client: &Peer, message: Message) -> Result<(), Error> {
    let state = lock(&shared.state);
    let mut c = lock(&client.state);
    let pending = c.queue.pending_control();
    if pending >= MAX_PENDING_CONTROL {
        return Err(Error::Refused {
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
            return Err(Error::Refused {
                code: ErrorCode::Protocol,
                message: format!("a client may not send {}", other.name()),
            });
        }
    }
    drop(c);
    client.wake.notify_one();
    Ok(())
}
