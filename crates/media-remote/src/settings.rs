//! What a server and a client may be told: token, bounds, timeouts, reconnection delays.

use std::fmt;
use std::time::Duration;

use media_core::Backoff;

/// Settings of the remote endpoints.
#[derive(Clone)]
#[non_exhaustive]
pub struct RemoteSettings {
    /// Shared token: a server refuses clients without it; a client sends it. Required
    /// to serve on an address other than loopback.
    pub token: Option<String>,
    /// Most clients served at once: clients that said `hello` (with the token, when
    /// there is one). Beyond, a client is refused with `busy`. Connections that have not
    /// said `hello` never take these slots (see `max_pending`).
    pub max_clients: usize,
    /// Most connections waiting to say `hello` at once, a budget of their own: when it is
    /// full, a new connection displaces the oldest waiting one of the address with the
    /// most waiting (that one is read a last time: a `hello` already received still
    /// counts). A new connection is thus never refused for want of room, and silent or
    /// slow peers cannot keep a real client out.
    pub max_pending: usize,
    /// Most connections of one IP address waiting to say `hello`; beyond, its oldest
    /// waiting one is displaced. Only waiting connections count: clients that said
    /// `hello` are limited by `max_clients` alone, so a client behind the same address
    /// as a flood (a NAT, or 127.0.0.1) still gets in.
    pub max_pending_per_address: usize,
    /// Time a connection has to say `hello` after it is accepted (the server's side).
    pub hello_timeout: Duration,
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
    /// Delays before a client reconnects (reset once packets flowed).
    pub reconnect: Backoff,
    /// How long a client keeps trying to connect, from the first failed attempt of an
    /// outage (at the start, or after a connection that had been welcomed) until it
    /// gives up with [`Error::GaveUp`](crate::Error::GaveUp); the last attempt is made
    /// at this bound. `None`: forever. `Some(ZERO)`: no retry. Default 120 s, as long as
    /// ffmpeg's HTTP reconnection (`reconnect_delay_max`) keeps trying.
    pub retry_for: Option<Duration>,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            token: None,
            max_clients: 16,
            max_pending: 256,
            max_pending_per_address: 64,
            hello_timeout: Duration::from_secs(3),
            client_queue: 256,
            client_queue_bytes: 16 << 20,
            send_buffer: Some(128 * 1024),
            handshake_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            reconnect: Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
            retry_for: Some(Duration::from_secs(120)),
        }
    }
}

impl fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("max_clients", &self.max_clients)
            .field("max_pending", &self.max_pending)
            .field("max_pending_per_address", &self.max_pending_per_address)
            .field("hello_timeout", &self.hello_timeout)
            .field("client_queue", &self.client_queue)
            .field("client_queue_bytes", &self.client_queue_bytes)
            .field("send_buffer", &self.send_buffer)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("reconnect", &self.reconnect)
            .field("retry_for", &self.retry_for)
            .finish()
    }
}
