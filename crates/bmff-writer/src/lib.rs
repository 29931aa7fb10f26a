//! ISO BMFF (ISO/IEC 14496-12) writer: plain MP4 and fragmented MP4 from encoded samples.
//!
//! - [`Muxer`]: the sans-I/O core for plain MP4 (`ftyp`, `mdat`, `moov` at the end or in
//!   front with faststart). It returns the bytes to append (payloads pass through as the
//!   caller's [`Bytes`], never copied) and, at finish, the patches to apply.
//! - [`FragmentedMuxer`]: the sans-I/O core for fragmented MP4 (init segment, then
//!   `moof`+`mdat` fragments starting at video key frames, optional `sidx` and `mfra`).
//! - Adapters: [`Mp4Writer`] (`Write + Seek`), [`FragmentedWriter`] (`Write` only, one
//!   growing file), [`SegmentWriter`] (init + media segments for HLS/DASH through a
//!   [`SegmentSink`]), and async twins in the `tokio` module behind the `tokio` feature.
//! - Crashes: the adapters write each fragment (or plain chunk) as soon as it is complete
//!   and flush it, so a killed process loses at most the one being built; segment files
//!   are whole or absent ([`write_segment_file`]); [`FsyncPolicy`] says when to `fsync`
//!   for power cuts (never by default).
//!
//! Timestamps are `i64` decode times in each track's timescale (the caller's clock rate),
//! with an `i32` composition offset. All tracks share one time origin: time 0 in one
//! track's timescale is time 0 in every other's. A sample lasts until the next sample of
//! its track; the last one takes its own `duration`, else the previous sample's.
//!
//! ```
//! use bmff_writer::{Codec, Mp4Writer, Mp4Options, Sample, TrackConfig};
//! use bytes::Bytes;
//!
//! # fn main() -> Result<(), bmff_writer::Error> {
//! let aac = TrackConfig::audio(
//!     Codec::Aac { audio_specific_config: Bytes::from_static(&[0x11, 0x90]) },
//!     48000,
//!     2,
//! );
//! let out = std::io::Cursor::new(Vec::new());
//! let mut writer = Mp4Writer::new(out, vec![aac], Mp4Options::default())?;
//! for i in 0..50 {
//!     writer.push(Sample::new(0, i * 1024, true, Bytes::from_static(&[0x21, 0x10, 0x04])))?;
//! }
//! let file = writer.finish()?.into_inner();
//! assert_eq!(&file[4..8], b"ftyp");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod boxes;
mod codec;
mod column;
mod fragment;
mod fsync;
mod index;
mod io;
pub mod journal;
mod moov;
mod nal;
mod plain;
mod record;
mod recover;
mod stbl;
#[cfg(feature = "tokio")]
pub mod tokio;
mod vectored;
mod vp_av1;

pub use bytes::Bytes;
pub use codec::{Codec, OpusConfig, TrackConfig, TrackKind};
pub use fragment::{FragmentOptions, FragmentOutput, FragmentedMuxer, InitSegment, MediaSegment};
pub use fsync::{
    FsyncPolicy, FsyncSchedule, SyncData, sync_dir, temporary_path, write_segment_file,
};
pub use io::{FragmentedWriter, Mp4Writer, SegmentFiles, SegmentSink, SegmentWriter, Written};
pub use plain::{Finish, Mp4Options, Muxer, Patch};
pub use record::{HevcTag, ParameterSets};
pub use recover::{NO_SAMPLE_ON_DISK, RecoveredPlain, journal_path, recover_plain};
pub use vectored::write_all_vectored;
pub use vp_av1::{Av1Config, VpConfig};

/// One encoded sample (a video frame or an audio frame) of one track: [`Sample::new`],
/// then [`with_cts_offset`](Sample::with_cts_offset) and
/// [`with_duration`](Sample::with_duration) where they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sample {
    /// Index of the track in the list given to the muxer (track id = index + 1).
    pub track: usize,
    /// Decode time in the track's timescale. Must increase within a track.
    pub dts: i64,
    /// Presentation time minus decode time (B-frames), in the track's timescale.
    pub cts_offset: i32,
    /// Duration in the track's timescale; only used for the last sample of a track (the
    /// others last until the next sample's `dts`).
    pub duration: Option<u32>,
    /// Whether the sample is a sync sample (key frame; every audio frame is one).
    pub sync: bool,
    /// The payload: length-prefixed NAL units for H.264/H.265, a raw frame for audio.
    pub data: Bytes,
}

impl Sample {
    /// A sample with no composition offset and no explicit duration.
    pub fn new(track: usize, dts: i64, sync: bool, data: Bytes) -> Self {
        Self {
            track,
            dts,
            cts_offset: 0,
            duration: None,
            sync,
            data,
        }
    }

    /// With this composition offset (presentation time minus decode time).
    pub fn with_cts_offset(mut self, cts_offset: i32) -> Self {
        self.cts_offset = cts_offset;
        self
    }

    /// With this duration (used for the last sample of a track).
    pub fn with_duration(mut self, duration: Option<u32>) -> Self {
        self.duration = duration;
        self
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sample or call named a track index that was not configured.
    #[error("unknown track index {track} ({tracks} tracks configured)")]
    UnknownTrack {
        /// The index given.
        track: usize,
        /// How many tracks exist.
        tracks: usize,
    },
    /// A track description is unusable.
    #[error("track {track}: {reason}")]
    InvalidTrack {
        /// Track index.
        track: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// No tracks were given.
    #[error("no tracks configured")]
    NoTracks,
    /// The muxer was already finished.
    #[error("the muxer is finished; no more samples or changes are accepted")]
    Finished,
    /// A sample had no payload.
    #[error("track {track}: empty sample at dts {dts}")]
    EmptySample {
        /// Track index.
        track: usize,
        /// Its decode time.
        dts: i64,
    },
    /// A sample's decode time was not after the previous sample's of the same track.
    #[error("track {track}: decode time {dts} is not after the previous one ({previous})")]
    TimestampRegression {
        /// Track index.
        track: usize,
        /// The previous decode time.
        previous: i64,
        /// The offending decode time.
        dts: i64,
    },
    /// A fragmented track's first video sample is not a key frame.
    #[error(
        "track {track}: fragmented output must start at a key frame (sample at dts {dts} is not sync)"
    )]
    NotKeyframe {
        /// Track index.
        track: usize,
        /// Its decode time.
        dts: i64,
    },
    /// A decoder configuration lacks a parameter set.
    #[error("{codec}: missing {what}")]
    MissingParameterSets {
        /// Codec name.
        codec: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A parameter set or decoder configuration could not be read.
    #[error("{codec}: invalid decoder configuration: {reason}")]
    InvalidParameterSet {
        /// Codec name.
        codec: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The sample rate cannot be stored for this codec.
    #[error("{codec}: sample rate {sample_rate} Hz is not supported in MP4")]
    UnsupportedSampleRate {
        /// Codec name.
        codec: &'static str,
        /// The rate given.
        sample_rate: u32,
    },
    /// A value does not fit the field the format gives it.
    #[error("{what} = {value} cannot be represented")]
    NotRepresentable {
        /// Which field.
        what: &'static str,
        /// The value.
        value: u128,
    },
    /// An index journal cannot be used to recover a file.
    #[error("index journal unusable: {reason}")]
    Journal {
        /// What is wrong.
        reason: &'static str,
    },
    /// An I/O error of an adapter.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Converts `ticks` of `from` per second into `to` per second (floor), saturating.
pub(crate) fn rescale(ticks: i128, from: u32, to: u32) -> i128 {
    (ticks * i128::from(to)).div_euclid(i128::from(from.max(1)))
}
