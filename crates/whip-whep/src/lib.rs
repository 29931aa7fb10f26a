//! WebRTC for media pipelines over [str0m](https://github.com/algesten/str0m): a WHEP
//! server (draft-ietf-wish-whep) that many browsers watch at once, each viewer with its
//! own bounded queue, and its small player page; a WHIP (RFC 9725) server for one
//! publisher ([`WhipServer`]); and the clients of both: [`WhepPull`] pulls a stream,
//! [`WhipPush`] pushes one.
//!
//! Layers: [`http`] (the signalling requests and routes, sans-I/O), [`Viewer`] and
//! [`Publisher`] (one server session's str0m state machine, sans-I/O), [`WhepClient`] and
//! [`WhipClient`] (the client sessions, sans-I/O), [`ViewerQueue`] (the drop policy),
//! [`signalling`] (the clients' HTTP requests), and the tokio adapters [`WhepServer`],
//! [`WhipServer`], [`WhepPull`] and [`WhipPush`] (HTTP, one UDP socket per session).
//!
//! ```no_run
//! use whip_whep::{Frame, StreamCodecs, TrackKind, VideoCodec, WhepServer, WhepSettings};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), whip_whep::Error> {
//! let server = WhepServer::bind("127.0.0.1:8889", "cam", WhepSettings::default())?;
//! let codecs = StreamCodecs::new(Some(VideoCodec::H264 { profile_level_id: 0x42e01f }), None);
//! server.set_codecs(codecs);
//! println!("open http://{}/cam in a browser", server.local_addr());
//! // For each access unit (Annex B, parameter sets before key frames):
//! let annex_b: Vec<u8> = vec![0, 0, 0, 1, 0x65, 0x88];
//! server.send(Frame::new(TrackKind::Video, 0, true, annex_b.into()));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod annex_b;
mod client;
mod client_io;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
mod media;
mod payloads;
mod peer;
mod publisher;
mod queue;
mod receiving;
mod sending;
mod server;
pub mod signalling;
mod viewer;
mod viewer_session;
mod whip_server;

pub use annex_b::split_annex_b;
pub use client::{ClientOutput, WhepClient, WhipClient};
pub use client_io::{ClientSettings, WhepPull, WhipPush};
pub use error::{Error, StackError};
pub use media::{AudioCodec, Frame, StreamCodecs, TrackKind, VideoCodec};
pub use publisher::{Publisher, PublisherOutput};
pub use queue::ViewerQueue;
pub use receiving::{PublishedCodec, ReceivedFrame};
pub use server::{WhepServer, WhepSettings, WhepStats};
pub use viewer::{Viewer, ViewerOutput};
pub use whip_server::{KEYFRAME_REQUEST_GAP, Published, WhipServer, WhipSettings};

/// The player page served on `GET base`: it connects by WHEP to `base/whep` and plays
/// (no build step, no CDN). With `?report=URL` it also sends its `getStats()` figures
/// there once a second (for tests and monitoring).
pub const PLAYER_PAGE: &str = include_str!("player.html");

/// The publisher page served on `GET base` of a WHIP server: camera and microphone
/// (H.264 preferred, `?codec=vp8`, `vp9` or `av1` for that codec) published by WHIP to `base/whip`.
pub const PUBLISHER_PAGE: &str = include_str!("publisher.html");
