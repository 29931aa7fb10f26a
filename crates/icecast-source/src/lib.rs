//! Icecast source client: streams MP3 frames, ADTS AAC frames or Ogg Opus/Vorbis pages to an
//! Icecast mount in real time, without libshout and without the rest of the workspace.
//!
//! - **Connect** ([`IcecastSource`]): `PUT /mount HTTP/1.1` with `Expect: 100-continue`,
//!   Basic auth, `Content-Type` (`audio/mpeg`, `audio/aac`, `audio/aacp`,
//!   `application/ogg`, `audio/ogg`), `ice-*`
//!   headers; `SOURCE` once for servers older than 2.4. Refusals are read from the body as
//!   well as the status (Icecast 2.4 answers a plain 403 for several causes), each an
//!   [`IcecastRefusal`]; [`Error::is_permanent`] tells what retrying cannot fix.
//! - **Stream** ([`IcecastStream`]): frames pushed from code with backpressure
//!   ([`IcecastStream::start`] + [`IcecastStream::send`]) or a live queue of MP3, AAC or
//!   Ogg files or MP3 on stdin ([`IcecastStream::spawn`]), paced in real time by their
//!   sample counts ([`Pacer`]), reconnecting with [`media_core::Backoff`]; commands
//!   mute/unmute (silence of the stream's format), title, stop and the queue's; events as
//!   a `futures::Stream`.
//! - **Titles** ([`update_title`]): `/admin/metadata?mode=updinfo&charset=UTF-8`, so UTF-8
//!   titles arrive intact.
//! - Every URL shown (errors, `Display`, `Debug`) has its password masked
//!   ([`media_core::redact`]).
//!
//! The sans-I/O core (request heads, answer parsing, refusal classification, [`Pacer`],
//! [`adts`]) builds without the default `tokio` feature.
//!
//! ```no_run
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use icecast_source::{AudioFrame, ContentType, Event, IcecastConfig, IcecastStream, StreamOptions};
//!
//! # async fn radio(frames: Vec<Bytes>) -> Result<(), icecast_source::Error> {
//! let config = IcecastConfig::from_url("icecast://source:hackme@127.0.0.1:8000/live")?
//!     .with_content_type(ContentType::Aac);
//! let mut stream = IcecastStream::start(config, StreamOptions::default());
//! let mut events = stream.events().expect("taken once");
//! tokio::spawn(async move {
//!     while let Some(event) = events.next().await {
//!         if let Event::Disconnected { reason } = event {
//!             eprintln!("{reason}"); // password shown as ***
//!         }
//!     }
//! });
//! stream.set_title("Ärtist – Song").await;
//! for adts in frames {
//!     // 1024 samples per ADTS raw data block; `send` waits while the pacer is ahead.
//!     stream.send(AudioFrame::adts(adts)?).await?;
//! }
//! stream.wait().await // flushes, then closes
//! # }
//! ```
//!
//! The sans-I/O parts run anywhere:
//!
//! ```
//! use icecast_source::{IcecastConfig, IcecastRefusal, protocol};
//!
//! let config = IcecastConfig::from_url("icecast://source:hackme@127.0.0.1:8000/live").unwrap();
//! assert_eq!(config.to_string(), "icecast://source:***@127.0.0.1:8000/live");
//! let request = protocol::source_request(&config, protocol::Method::Put);
//! assert!(request.starts_with("PUT /live HTTP/1.1\r\n"));
//! assert!(request.contains("Expect: 100-continue\r\n"));
//! // Icecast 2.4 says why in the body of a plain 403.
//! let refusal = IcecastRefusal::from_answer(403, "Mountpoint in use");
//! assert_eq!(refusal, IcecastRefusal::MountInUse);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adts;
mod config;
mod error;
mod frame;
pub mod ogg;
mod pacer;
pub mod protocol;
mod status;

#[cfg(feature = "tokio")]
mod console;
#[cfg(feature = "tokio")]
mod event;
#[cfg(feature = "tokio")]
mod format;
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "tokio")]
mod handle;
#[cfg(feature = "tokio")]
mod metadata;
#[cfg(feature = "tokio")]
mod ogg_relay;
#[cfg(feature = "tokio")]
mod options;
#[cfg(feature = "tokio")]
mod playlist;
#[cfg(feature = "tokio")]
mod queue;
#[cfg(feature = "tokio")]
mod running;
#[cfg(feature = "tokio")]
mod silence;
#[cfg(feature = "tokio")]
mod source;
#[cfg(feature = "tokio")]
mod streamer;
#[cfg(feature = "tokio")]
mod transport;
// Sans-I/O, but only the Ogg relay (a part of the tokio client) uses it.
#[cfg(feature = "tokio")]
mod vorbis;

pub use config::{ContentType, IcecastConfig, StreamInfo};
pub use error::{Error, IcecastRefusal};
pub use frame::AudioFrame;
pub use pacer::Pacer;
#[cfg(feature = "tokio")]
pub use status::mount_status;
pub use status::{MountStatus, parse_status, status_request};

#[cfg(feature = "tokio")]
pub use console::{forward_commands, parse_command};
#[cfg(feature = "tokio")]
pub use event::{Command, Event};
#[cfg(feature = "tokio")]
pub use handle::{EventStream, IcecastStream};
#[cfg(feature = "tokio")]
pub use metadata::update_title;
#[cfg(feature = "tokio")]
pub use options::StreamOptions;
#[cfg(feature = "tokio")]
pub use playlist::Mp3Input;
#[cfg(feature = "tokio")]
pub use source::IcecastSource;
#[cfg(feature = "tokio")]
pub use streamer::stream_playlist;

/// The README's examples, compiled as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
