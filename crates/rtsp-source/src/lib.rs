//! RTSP camera capture on [`retina`], yielding neutral frames and lifecycle events.
//!
//! - [`RtspSource`]: one session (DESCRIBE, SETUP, PLAY, frames until it ends).
//! - [`ReconnectingSource`]: sessions one after another, with exponential backoff and
//!   jitter, a [`Event::Discontinuity`] after each reconnection, and a clean stop.
//!
//! Both yield [`Event`]s: [`Event::Connected`], [`Event::Tracks`] (codec, RFC 6381 string,
//! clock rate, dimensions, frame rate, parameter sets, `avcC`/`hvcC`, AudioSpecificConfig,
//! the MP4 sample entry when retina builds one), [`Event::Frame`]s in MP4 framing with
//! 64-bit timestamps, and [`Event::Disconnected`] with the reason. Callers never see a
//! retina type.
//!
//! By default video waits for its first keyframe (audio too, so recordings start together),
//! loss is a counted warning, the transport is TCP, and a session with no frame for 30 s
//! ends with [`Error::IdleTimeout`]: a server whose source ended keeps the session open and
//! answers keepalives, so without it the session would hang.
//!
//! Passwords never appear in `Display`, `Debug`, errors or logs: the URL is shown as
//! `rtsp://user:***@host/path`, and the credentials are sent only in `Authorization`.
//!
//! ```no_run
//! use futures::StreamExt;
//! use rtsp_source::{Event, ReconnectOptions, ReconnectingSource, RtspOptions};
//!
//! # async fn run() -> Result<(), rtsp_source::Error> {
//! let options = RtspOptions::new("rtsp://admin:secret@192.0.2.7/stream1")?;
//! let source = ReconnectingSource::new(options, ReconnectOptions::default());
//! let stop = source.stop_handle();
//! let mut events = Box::pin(source.into_stream());
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Tracks(tracks) => println!("{} track(s)", tracks.tracks.len()),
//!         Event::Frame(frame) => {
//!             println!("track {} at {:.3} s: {} bytes", frame.track, frame.seconds(), frame.data.len());
//!             if frame.seconds() > 10.0 {
//!                 stop.stop(); // the stream ends after TEARDOWN
//!             }
//!         }
//!         Event::Discontinuity { .. } => println!("new segment"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Without a camera at the address, the supervisor reports each failed attempt, backs
//! off, and gives up when told to (this one runs):
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use rtsp_source::{Event, ReconnectOptions, ReconnectingSource, RtspOptions};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     // Port 9 (discard) on loopback: the connection is refused.
//!     let options = RtspOptions::new("rtsp://user:pw@127.0.0.1:9/cam")?;
//!     let reconnect = ReconnectOptions::default()
//!         .initial_delay(Duration::from_millis(10))
//!         .max_attempts(Some(2));
//!     let events: Vec<Event> = ReconnectingSource::new(options, reconnect)
//!         .into_stream()
//!         .collect()
//!         .await;
//!     assert!(matches!(events[0], Event::ConnectFailed { attempt: 1, .. }));
//!     assert!(matches!(events[1], Event::Reconnecting { attempt: 1, .. }));
//!     assert!(matches!(events[2], Event::ConnectFailed { attempt: 2, .. }));
//!     let Some(Event::Stopped { reason: Some(e) }) = events.last() else { panic!() };
//!     assert!(e.to_string().starts_with("rtsp://user:***@127.0.0.1:9/cam: DESCRIBE failed"));
//!     Ok::<(), rtsp_source::Error>(())
//! })?;
//! # Ok::<(), rtsp_source::Error>(())
//! ```
//!
//! retina needs a tokio runtime with time and I/O enabled; every future here must run on
//! it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod convert;
mod error;
mod event;
mod options;
mod reorder;
pub mod select;
mod session;
pub mod start;
mod supervisor;
pub mod timeline;
mod track;
mod url;

pub use backoff::ReconnectOptions;
pub use error::{Error, ProtocolError};
pub use event::{Event, Frame};
pub use options::{
    InitialTimestamp, MAX_WAIT, Pick, RtspOptions, SessionIdPolicy, StreamSelection, Teardown,
    Transport, UnknownRtcpSsrc,
};
pub use session::RtspSource;
pub use supervisor::{ReconnectingSource, StopHandle};
pub use track::{
    AudioInfo, Codec, MediaKind, ParameterSets, SkippedStream, TrackInfo, Tracks, VideoInfo,
};
pub use url::{CameraUrl, Credentials};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
