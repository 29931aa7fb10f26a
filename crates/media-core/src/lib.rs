//! The small core every crate of the workspace may share, as `symphonia-core` is for
//! Symphonia: neutral media types, one URL type that never shows its secrets, and one
//! reconnection backoff.
//!
//! - [`Track`], [`Codec`], [`MediaKind`] and [`Packet`]: what travels from a source to a
//!   sink. Payloads are [`bytes::Bytes`], sliced from the socket or file, never copied.
//!   [`G711`] describes G.711 audio, which has no `Codec` variant of its own.
//! - [`SecretUrl`], [`redact`] and [`redact_text`] (every URL in a free text, such as
//!   another library's error): the userinfo password and secret query parameters
//!   (`password`, `token`, `key`, …, see [`SECRET_QUERY_KEYS`]) are masked in every
//!   `Display` and `Debug`.
//! - [`Backoff`]: exponential delays with jitter, sans-I/O (the caller passes the random
//!   number), for every client that reconnects.
//!
//! ```
//! use bytes::Bytes;
//! use media_core::{Backoff, Codec, Packet, SecretUrl, Track};
//!
//! let track = Track::audio(Codec::Mp3, 44_100, 2);
//! let packet = Packet::new(0, 1152, true, Bytes::from_static(&[0xFF, 0xFB, 0x90, 0x64]));
//! assert_eq!(packet.seconds(track.timescale), 1152.0 / 44_100.0);
//!
//! let url = SecretUrl::new("rtsp://admin:hunter2@cam/live?user=admin&password=hunter2");
//! assert_eq!(url.to_string(), "rtsp://admin:***@cam/live?user=admin&password=***");
//!
//! let backoff = Backoff::default();
//! assert!(backoff.delay(3, 0.5) > backoff.delay(1, 0.5));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod g711;
mod packet;
mod secret;

pub use backoff::Backoff;
pub use g711::{G711, G711Law};
pub use packet::{Codec, MediaKind, Packet, Track};
pub use secret::{SECRET_QUERY_KEYS, SecretUrl, redact, redact_text};
