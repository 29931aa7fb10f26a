//! What a server and a client may be told: token, bounds, timeouts, reconnection delays.

use std::fmt;
use std::time::Duration;

use media_core::Backoff;

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
    /// Delays before a client reconnects (reset once packets flowed).
    pub reconnect: Backoff,
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
            reconnect: Backoff {
                initial_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                ..Backoff::default()
            },
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
            .field("reconnect", &self.reconnect)
            .finish()
    }
}
