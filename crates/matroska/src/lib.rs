//! Matroska (RFC 9559) and WebM files written from encoded frames: the EBML header, one
//! Segment with Info, Tracks, Clusters of SimpleBlocks and Cues, as ffmpeg and mkvmerge
//! write them and as browsers, ffmpeg, VLC and mkvtoolnix read them.
//!
//! - Tracks of H.264, H.265, VP8, VP9, AV1, AAC, MPEG audio, Opus and G.711 ([`Codec`]), with
//!   the codec private data each needs (the same records MP4 carries: `avcC`, `hvcC`,
//!   `av1C`, the AudioSpecificConfig, the `OpusHead`).
//! - Frames in decode order with presentation times in nanoseconds, kept to the
//!   millisecond (the default `TimestampScale`); B-frames need nothing more, as blocks
//!   carry presentation times.
//! - A cluster begins at a video key frame (at most one every 500 ms), or every 5 s
//!   without video, and is written whole when the next begins; one cue per cluster
//!   points at its key frame. Memory stays bounded by the cluster (at most 8 MiB).
//! - The Segment's size stays "unknown" and the SeekHead and duration are written into
//!   room kept for them only at [`Writer::finish`]: a recording killed before then still
//!   reads up to its last whole cluster; [`scan`] finds where that is in a cut file, and
//!   [`recover`] completes such a file (Cues, Segment size, SeekHead, Duration) as
//!   `finish` would have.
//! - Standard output or a socket: a [`Pipe`] around it, ended by [`Writer::finish_pipe`]
//!   (a live stream's form: the Segment's size stays unknown, no Cues); the header waits
//!   for the first cluster, so [`Writer::relabel`] needs no seeking before it.
//!
//! ```
//! use std::io::Cursor;
//! use matroska::{Codec, DocType, Frame, Options, Track, Writer};
//!
//! let mut options = Options::default();
//! options.doc_type = DocType::Webm;
//! let tracks = vec![Track::video(Codec::Vp8, 320, 240)];
//! let mut writer = Writer::new(Cursor::new(Vec::new()), tracks, &options)?;
//! // A VP8 key frame tag (RFC 6386 §9.1) is enough for the container.
//! writer.write(Frame::new(0, 0, true, &[0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]))?;
//! writer.write(Frame::new(0, 40_000_000, false, &[0x11, 0x02, 0x00]))?;
//! let file = writer.finish()?.into_inner();
//! assert_eq!(&file[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
//! # Ok::<(), matroska::Error>(())
//! ```

mod cluster;
mod ebml;
mod index;
mod pipe;
mod recover;
mod scan;
mod track;
mod writer;

pub use pipe::Pipe;
pub use recover::recover;
pub use scan::{Scan, scan};
pub use track::{Codec, Track, TrackKind};
pub use writer::{DocType, Frame, Options, Writer, Written};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A track the file cannot hold as described.
    #[error("track {track}: {reason}")]
    Track {
        /// The track's index.
        track: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// More tracks than a block header can number.
    #[error("{0} tracks: at most 126 are written")]
    TooManyTracks(usize),
    /// A frame for a track that was not given.
    #[error("no track {0}")]
    NoTrack(usize),
    /// A frame presented more than 32.7 s before the file's time zero.
    #[error("track {track}: a frame at {time_ms} ms, too long before the start")]
    TimeBeforeStart {
        /// The track's index.
        track: usize,
        /// The frame's time in milliseconds.
        time_ms: i64,
    },
    /// A frame larger than an EBML element can be.
    #[error("a frame of {0} bytes")]
    FrameTooLarge(usize),
    /// A file to [`recover`] with an element of unknown size in its Segment at this
    /// offset (a live recorder's cluster, not this writer's): where it ends is unknown.
    #[error("an element of unknown size at byte {0} (not a file of this writer): left as it is")]
    UnknownSize(u64),
    /// A file to [`scan`] that does not begin with an EBML header and a Segment.
    #[error("not a Matroska file (no EBML header and Segment at its start)")]
    NotMatroska,
}
