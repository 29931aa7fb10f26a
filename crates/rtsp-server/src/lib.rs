//! An RTSP server for one live stream: what a camera's own server does, for any input.
//! Clients (ffmpeg, VLC, GStreamer, NVRs, retina) `DESCRIBE`, `SETUP` each track over
//! the RTSP connection (`RTP/AVP/TCP;interleaved`) or over UDP (`client_port`), and
//! `PLAY`. The caller makes each frame's RTP packets once ([`rtp_media::Packetizer`]) and
//! hands them to [`Server::send`]; every playing client gets them, starting at the last
//! video key frame, each TCP client through its own bounded queue that drops to the next
//! key frame when the client falls behind (a client that reads nothing for
//! [`Settings::stalled_after`] is disconnected). The request handling is sans-I/O
//! ([`Handler`]); the server is its tokio adapter.
//!
//! ```
//! use rtp_media::{Format, MediaDescription, Packetizer};
//! let runtime = tokio::runtime::Runtime::new()?;
//! let server = runtime.block_on(async {
//!     rtsp_server::Server::bind("127.0.0.1:0", "radio", Default::default())
//! })?;
//! server.set_media(vec![MediaDescription::opus(0, 96, 2)]); // the tracks' SDP sections
//! let mut opus = Packetizer::new(Format::Opus, 96, 0x1234_5678, 1200);
//! server.send(0, &opus.packetize(960, &[0xfc, 0xff, 0xfe])?, false); // each frame's packets
//! assert!(server.url().ends_with("/radio")); // rtsp://127.0.0.1:PORT/radio: play it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod connection;
mod error;
mod handler;
mod outbox;
mod server;
mod shared;
mod wire;

use std::time::Duration;

pub use error::Error;
pub use handler::{Action, Delivery, Description, Handler, Reply};
pub use server::Server;

/// A publisher's stream (ingest): what it announced, and its RTP packets as they come.
#[derive(Debug)]
#[non_exhaustive]
pub struct Publish {
    /// The SDP it announced.
    pub sdp: String,
    /// (RTP channel, media section index) of each section it set up.
    pub channels: Vec<(u8, usize)>,
    /// Its interleaved packets: (channel, packet); ends when it disconnects.
    pub packets: tokio::sync::mpsc::Receiver<(u8, bytes::Bytes)>,
    /// Where it connected from.
    pub peer: std::net::SocketAddr,
}

/// The server's limits, and its password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The password clients give (any user name, Digest or Basic); required when the
    /// server listens beyond loopback.
    pub password: Option<String>,
    /// Clients playing at once (more are refused).
    pub max_clients: usize,
    /// Packets queued for one TCP client before it drops to the next key frame.
    pub queue_packets: usize,
    /// Packets kept since the last video key frame for clients that join (beyond it
    /// joiners start at the next packet). At most `queue_packets`: the burst fits.
    pub gop_packets: usize,
    /// A client whose queue stays full this long is disconnected.
    pub stalled_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            password: None,
            max_clients: 64,
            queue_packets: 8192,
            gop_packets: 4096,
            stalled_after: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("max_clients", &self.max_clients)
            .field("queue_packets", &self.queue_packets)
            .field("gop_packets", &self.gop_packets)
            .field("stalled_after", &self.stalled_after)
            .finish()
    }
}
