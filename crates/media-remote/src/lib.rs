//! Live media packets served to network clients, and a client that receives them: the
//! packet protocol of the workspace's `pipeline` (`tcp-listen://` and `tcp://`), usable
//! by any program. On data-stream (LiveKit data-stream packets, 4-byte length framing).
//!
//! cpl_media's RemoteVideoRecorder serves frames to one client with a started/stopped
//! handshake and drops frames beyond a bound. This does the same without its limits:
//! any number of clients up to [`RemoteSettings::max_clients`]; a versioned handshake
//! with an optional shared token (required off loopback); data-stream's frame, header
//! and chunk limits. The wire protocol and the state machine are in [`protocol`].
//!
//! **Layers.** A sans-I/O core: [`protocol`] (control messages), [`media`] (tracks as
//! stream attributes, packets as chunks), [`Inbound`] (bytes in, events out) and the
//! per-client queue with its drop policy. A tokio adapter: [`Server`] and [`Client`].
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
//! - [`Server`]: `bind`, then `start_recording` / `write` / `stop_recording`. A client
//!   that sends garbage, an oversize frame, a wrong token, or stops reading is told why
//!   (when it still reads) and disconnected; the others and the recording go on.
//!   Connections wait to say `hello` in a bounded pool of their own, never in the
//!   clients' slots ([`RemoteSettings::max_pending`]), so silent sockets cannot keep a
//!   client out.
//! - [`Client`]: connects, handshakes, sends `started_playing` and yields
//!   [`ClientEvent`]s; it reconnects with [`media_core::Backoff`] (a new recording after
//!   a reconnection is a [`ClientEvent::Discontinuity`]) for at most
//!   [`RemoteSettings::retry_for`] per outage, and ends when the server says `goodbye`.
//!
//! A server and a client on 127.0.0.1:
//!
//! ```
//! use bytes::Bytes;
//! use media_core::{Codec, Packet, Track};
//! use media_remote::{Client, ClientEvent, RemoteSettings, Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let server = Server::bind("127.0.0.1:0", RemoteSettings::default())?;
//! let mut client = Client::connect(server.local_addr().to_string(), RemoteSettings::default());
//! while !server.clients().iter().any(|c| c.playing) {
//!     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
//! }
//! let track = Track::audio(Codec::Mp3, 44_100, 2);
//! server.start_recording(vec![track.clone()])?;
//! let packet = Packet::new(0, 0, true, Bytes::from_static(b"frame"));
//! server.write(&packet)?;
//! assert_eq!(client.next().await.transpose()?, Some(ClientEvent::Tracks(vec![track])));
//! assert_eq!(client.next().await.transpose()?, Some(ClientEvent::Packet(packet)));
//! server.stop_recording();
//! assert_eq!(client.next().await.transpose()?, Some(ClientEvent::Discontinuity));
//! drop(server); // goodbye
//! assert_eq!(client.next().await.transpose()?, Some(ClientEvent::End));
//! assert!(client.next().await.is_none());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod client;
mod connection;
mod error;
mod greeting;
pub mod inbound;
pub mod media;
pub mod protocol;
mod queue;
mod server;
mod settings;

pub use client::{Client, ClientEvent};
pub use error::Error;
pub use inbound::{Inbound, InboundEvent, Side};
pub use media_core::Backoff;
pub use protocol::{ErrorCode, Message};
pub use queue::Counters;
pub use server::{ClientStats, Server};
pub use settings::RemoteSettings;
