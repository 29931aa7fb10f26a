//! Remote endpoints: a packet server for network clients (`tcp-listen://ADDR:PORT`,
//! output) and its client (`tcp://HOST:PORT`, input), on data-stream.
//!
//! cpl_media's RemoteVideoRecorder serves frames to one client with a started/stopped
//! handshake and drops frames beyond a bound. This does the same without its limits:
//! any number of clients up to [`RemoteSettings::max_clients`]; a versioned handshake
//! with an optional shared token (required off loopback); data-stream's frame, header
//! and chunk limits. The wire protocol and the state machine are in [`protocol`].
//!
//! **Drop policy.** Each client has its own queue, bounded in media packets
//! ([`RemoteSettings::client_queue`]) and bytes; control messages are never dropped and
//! do not count. Past a bound, the oldest non-key frame goes first (the oldest packet
//! when only key frames are queued), with every later packet of its track up to the
//! next key frame, since they referenced it; when no key frame is queued, the track
//! skips packets until the next one arrives. A client thus never receives video it
//! cannot decode. A client that starts playing mid-GOP first gets the packets since the
//! last key frame (a bounded cache), so its video starts at once. [`Counters`] of packets
//! sent and dropped are kept per client ([`Server::clients`]) and sent to it in
//! `stopped_playing`, `stopped_recording` and the track trailers.
//!
//! - [`Server`]: bind, then `start_recording` / `write` / `stop_recording` from code, or
//!   through a pipeline whose output is `tcp-listen://…`. A client that sends garbage, an
//!   oversize frame, a wrong token, or stops reading is told why (when it still reads)
//!   and disconnected; the others and the recording go on.
//! - The `tcp://` input connects, handshakes, sends `started_playing` and yields the
//!   packets into the pipeline; it reconnects with exponential backoff (a reconnection
//!   starts a new file), and ends when the server says `goodbye`.
//!
//! ```no_run
//! use pipeline::remote::{RemoteSettings, Server};
//! use pipeline::{Codec, Packet, Track};
//!
//! # async fn serve() -> Result<(), pipeline::Error> {
//! let server = Server::bind("127.0.0.1:9000", RemoteSettings::default())?;
//! server.start_recording(vec![Track::audio(Codec::Mp3, 44_100, 2)]);
//! # let frame = bytes::Bytes::new();
//! server.write(&Packet::new(0, 0, true, frame))?;
//! server.stop_recording();
//! for client in server.clients() {
//!     println!("{}: {} sent, {} dropped", client.peer, client.counters.sent, client.counters.dropped);
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod connection;
pub mod inbound;
pub mod media;
pub mod protocol;
mod queue;
mod server;

use std::fmt;
use std::time::Duration;

pub(crate) use client::run as run_source;
pub use inbound::{Inbound, InboundEvent, Side};
pub use protocol::{ErrorCode, Message};
pub use queue::Counters;
pub(crate) use server::ListenFactory;
pub use server::{ClientStats, Server};

/// Settings of the remote endpoints.
#[derive(Clone)]
pub struct RemoteSettings {
    /// Shared token: a server refuses clients without it; a client sends it. Required
    /// to serve on an address other than loopback.
    pub token: Option<String>,
    /// Most clients served at once (connections beyond are refused with `busy`).
    pub max_clients: usize,
    /// Media packets queued per client before the drop policy applies.
    pub client_queue: usize,
    /// Media bytes queued per client before the drop policy applies.
    pub client_queue_bytes: usize,
    /// Kernel send buffer of the server's sockets: small, so that a slow client's
    /// backlog sits in its queue, where the drop policy sees it (None: system default).
    pub send_buffer: Option<u32>,
    /// Time a client has to say `hello` (and a server to answer it).
    pub handshake_timeout: Duration,
    /// A client whose socket takes nothing for this long is disconnected; a server that
    /// sends nothing for this long during a recording is taken for gone (reconnect).
    pub stall_timeout: Duration,
    /// First delay before a client reconnects; doubled after each failure.
    pub reconnect_delay: Duration,
    /// Longest delay between reconnections.
    pub max_reconnect_delay: Duration,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            token: None,
            max_clients: 16,
            client_queue: 256,
            client_queue_bytes: 16 << 20,
            send_buffer: Some(128 * 1024),
            handshake_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("max_clients", &self.max_clients)
            .field("client_queue", &self.client_queue)
            .field("client_queue_bytes", &self.client_queue_bytes)
            .field("send_buffer", &self.send_buffer)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("max_reconnect_delay", &self.max_reconnect_delay)
            .finish()
    }
}

/// What went wrong on a remote connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// data-stream refused the bytes: not a frame, an oversize frame, a broken stream.
    #[error(transparent)]
    Stream(#[from] data_stream::Error),
    /// A message that this protocol does not allow here.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused (or warned) with an `error` message.
    #[error("refused: {code}: {message}")]
    Refused {
        /// Why.
        code: ErrorCode,
        /// The server's words.
        message: String,
    },
    /// The peer took too long.
    #[error("timed out {0}")]
    Timeout(String),
    /// The connection failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl RemoteError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RemoteError::Io {
            context: context.into(),
            source,
        }
    }

    /// The `error` message a server sends for this, when the peer may still read.
    fn answer(&self) -> Option<Message> {
        let (code, message) = match self {
            RemoteError::Stream(e) => (ErrorCode::Protocol, e.to_string()),
            RemoteError::Protocol(m) => (ErrorCode::Protocol, m.clone()),
            RemoteError::Refused { code, message } => (*code, message.clone()),
            RemoteError::Timeout(m) => (ErrorCode::Timeout, format!("timed out {m}")),
            RemoteError::Io { .. } => return None,
        };
        Some(Message::Error { code, message })
    }
}
