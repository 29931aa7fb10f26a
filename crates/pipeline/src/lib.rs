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
//! let options = Options { duration: Some(Duration::from_secs(10)), ..Options::default() };
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
pub mod endpoint;
pub mod icecast;
mod naming;
pub mod raw;
mod recorder;
pub mod remote;
mod run;
mod sink;
mod source;

pub use endpoint::{Direction, Endpoint};
pub use media_core::{Codec, MediaKind, Packet, SecretUrl, Track};
pub use rtsp_source::{InitialTimestamp, Teardown, Transport};
pub use run::{Closer, HlsMode, Options, Pipeline, PipelineHandle, RtspSettings, Status, Summary};

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

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named part of the pipeline is not built yet.
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
    /// An endpoint string that no endpoint accepts in this direction.
    #[error("unsupported {direction} endpoint {endpoint:?}")]
    UnsupportedEndpoint {
        /// The string, credentials masked.
        endpoint: String,
        /// Input or output.
        direction: Direction,
    },
    /// A URL that cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, credentials masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Icecast output failed: a refusal (credentials, busy mount), a lost connection
    /// that could not be restored, or an input it cannot stream.
    #[error("{0}")]
    Icecast(#[from] icecast_source::Error),
    /// An input is not MP3 (or holds no MPEG audio frames).
    #[error("{input}: not MP3 ({found})")]
    NotMp3 {
        /// The input's name.
        input: String,
        /// What was found instead.
        found: String,
    },
    /// A playlist input has another format than the stream (listeners' decoders were set
    /// up for the first one).
    #[error("{input}: format change at byte {offset}: stream is {from}, this is {to}")]
    FormatChange {
        /// The input's name.
        input: String,
        /// Offset of the first frame of the new format.
        offset: u64,
        /// The stream's format.
        from: String,
        /// The input's format.
        to: String,
    },
    /// An MP3 parsing error.
    #[error("{context}: {source}")]
    Mp3 {
        /// What we were doing.
        context: String,
        /// The error.
        source: mp3_frames::Error,
    },
    /// The RTSP input failed.
    #[error(transparent)]
    Rtsp(#[from] rtsp_source::Error),
    /// The MP4 writer refused a sample or configuration, or could not write.
    #[error("{output}: {source}")]
    Mp4 {
        /// The output (file, directory or stream).
        output: String,
        /// The writer's error.
        source: bmff_writer::Error,
    },
    /// An input that cannot be read as it is.
    #[error("{input}: {reason}")]
    Input {
        /// The input's name.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// An output that cannot be written as asked.
    #[error("{output}: {reason}")]
    Output {
        /// The output's name.
        output: String,
        /// What is wrong.
        reason: String,
    },
    /// Options that do not go together, or an endpoint used twice.
    #[error("{0}")]
    InvalidOptions(String),
    /// A raw output's reader went away.
    #[error("the raw output's reader was closed")]
    OutputClosed,
    /// The pipeline was killed; its output is not finalized.
    #[error("killed; the output was not finalized")]
    Killed,
    /// Waiting for something took too long.
    #[error("timed out {what}")]
    Timeout {
        /// What we were waiting for.
        what: String,
    },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
