//! Thin composition of the workspace's crates: a media stream from one endpoint to
//! another, as in Boombox, with retina's example recorder's options.
//!
//! - [`Endpoint`]s as values or parsed from strings by scheme, extension and direction:
//!   `rtsp://…`, `*.mp3` and `tcp://…` in; `*.mp4` (plain or fragmented), a directory or
//!   `*.m3u8` (HLS), `-` (fragmented MP4 on stdout), `tcp-listen://…` ([`remote`] packet
//!   server) out; [`raw`] endpoints to write and read [`Packet`]s from code.
//! - [`run`]`(input, output)` / [`spawn`]`(input, output)` → [`PipelineHandle`] (`wait`,
//!   `close`, `kill`, live [`Status`]); [`Pipeline`] to set [`Options`] first.
//! - Recording: `NAME.partial` renamed when finalized; finalized also after an input
//!   error; duration limit; rotation at key frames after wall-clock boundaries
//!   ([`Options::segment`]); a reconnection or parameter change starts a new file.
//!
//! The pipeline holds no format logic: `rtsp-source` frames and `mp3-frames` frames become
//! neutral [`Packet`]s and [`Track`]s, which become `bmff-writer` samples and track
//! configurations.
//!
//! ```no_run
//! use pipeline::{Direction, Endpoint, Options, Pipeline};
//! use std::time::Duration;
//!
//! # async fn record() -> Result<(), pipeline::Error> {
//! let input = Endpoint::parse("rtsp://admin:secret@192.0.2.7/stream1", Direction::Input)?;
//! let output = Endpoint::parse("camera.mp4", Direction::Output)?;
//! let mut options = Options::default(); // #[non_exhaustive]: default, then set fields
//! options.duration = Some(Duration::from_secs(10));
//! let summary = Pipeline::new(input, output).with_options(options).run().await?;
//! println!("wrote {:?}", summary.files);
//! # Ok(())
//! # }
//! ```
//!
//! MP3 to MP4 without re-encoding, runnable:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use pipeline::{Direction, Endpoint};
//! # let dir = std::env::temp_dir().join(format!("pipeline-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let mp3 = dir.join("song.mp3");
//! # let header = mp3_frames::FrameHeader::from_u32(0xFFFB_9064)?;
//! # std::fs::write(&mp3, mp3_frames::silent_frame(&header)?.repeat(40))?;
//! # let mp4 = dir.join("song.mp4");
//! let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input)?;
//! let output = Endpoint::parse(mp4.to_str().unwrap(), Direction::Output)?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let summary = runtime.block_on(pipeline::run(input, output))?;
//! assert_eq!(summary.status.packets, 40);
//! assert!(mp4.exists());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod burst;
mod contract;
pub mod endpoint;
mod error;
mod fan_out;
#[doc(hidden)]
pub mod fuzzing;
pub mod icecast;
mod lead_in;
mod naming;
mod options;
mod output;
mod pipe_format;
pub mod raw;
#[cfg(feature = "codec")]
pub mod raw_frames;
mod recorder;
pub mod remote;
mod reopen;
mod run;
mod sink;
mod source;
mod srt;
#[cfg(feature = "codec")]
mod transcode;
pub mod transcoding;

pub use bmff_writer::FsyncPolicy;
/// Rebuilding a killed plain MP4 from its index journal (for `nvr`'s recovery, which
/// reaches bmff-writer only through this crate).
pub use bmff_writer::{
    Error as Mp4Error, NO_SAMPLE_ON_DISK, RecoveredPlain, journal_path, recover_plain,
};
pub use endpoint::{Direction, Endpoint};
pub use error::Error;
pub use media_core::{Codec, MediaKind, Packet, SecretUrl, Track};
pub use options::{HlsMode, IcecastSettings, Options, RtspSettings, Status, Summary};
pub use pipe_format::PipeFormat;
pub use rtsp_source::{InitialTimestamp, Teardown, Transport};
pub use run::{Closer, Pipeline, PipelineHandle};

/// Runs a pipeline from `input` to `output` with default [`Options`] until it ends (the
/// short form of [`Pipeline::run`]).
pub async fn run(input: Endpoint, output: Endpoint) -> Result<Summary, Error> {
    Pipeline::new(input, output).run().await
}

/// Starts a pipeline from `input` to `output` with default [`Options`] on the current
/// tokio runtime (the short form of [`Pipeline::spawn`]).
pub fn spawn(input: Endpoint, output: Endpoint) -> PipelineHandle {
    Pipeline::new(input, output).spawn()
}
