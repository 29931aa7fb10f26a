//! MPEG audio (ISO/IEC 11172-3, ISO/IEC 13818-3, MPEG-2.5) frame parsing: every version
//! and layer, free format, tags (ID3v2 anywhere, ID3v1, APEv2), Xing/Info/VBRI/LAME,
//! FFmpeg-style resync after junk, exact durations, silent frames.
//!
//! - [`FrameHeader`]: the 4-byte header, parsed with nom, validated with the reason.
//! - [`Events`] / [`Frames`]: zero-copy iteration over a slice.
//! - [`PushParser`]: feed the caller's reads, get frames as slices of them (sans-I/O,
//!   the fast streaming path; a frame across two reads is copied once).
//! - [`StreamParser`]: push bytes, pull owned `Bytes` frames (sans-I/O), with [`FrameReader`]
//!   (`std::io::Read`) and `AsyncFrameReader` (tokio `AsyncRead`, feature `tokio`).
//! - [`StreamSummary`]: duration, bitrate, format; [`estimate`] from the Xing/VBRI tag.
//! - [`silent_frame`] and [`SilenceRun`]: silence matching a given header.
//! - [`TagText`]: artist and title from ID3v2 (v2.2–2.4), ID3v1 and APEv2 tags.
//!
//! ```
//! use mp3_frames::{Event, Events, FrameHeader, StreamSummary, silent_frame};
//!
//! // An ID3v2 tag, two silent MPEG-1 Layer III frames, junk, three more frames.
//! let header = FrameHeader::from_u32(0xFFFB_9064)?;
//! let frame = silent_frame(&header)?;
//! let mut mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
//! mp3.extend(frame.repeat(2));
//! mp3.extend(b"\xFF\xFB junk");
//! mp3.extend(frame.repeat(3));
//!
//! for event in Events::new(&mp3) {
//!     match event {
//!         Event::Frame(f) => println!("{} at {}: {} bytes, {:?}", f.index, f.offset, f.len(), f.timestamp()),
//!         Event::Tag(t) => println!("{} at {}, {} bytes", t.kind.name(), t.offset, t.len),
//!         Event::Skipped { offset, len } => println!("skipped {len} bytes at {offset}"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! let summary = StreamSummary::scan(&mp3)?;
//! assert_eq!((summary.frames, summary.skipped_bytes), (5, 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod events;
mod fields;
mod header;
mod info_writer;
mod prefetch;
mod push;
mod scan;
mod silence;
mod stream;
mod summary;
mod tag;
mod tag_text;
mod xing;

pub use events::{Event, Events, Frame, Frames};
pub use header::{
    ChannelMode, Emphasis, FrameHeader, HeaderError, Layer, Version, samples_to_duration,
};
pub use info_writer::InfoFrameWriter;
pub use push::{Fed, Finished, FrameBytes, PushParser};
pub use silence::{SilenceRun, silent_frame};
#[cfg(feature = "tokio")]
pub use stream::AsyncFrameReader;
pub use stream::{FrameReader, StreamParser};
pub use summary::{
    BitrateMode, Estimate, Skipped, StreamSummary, SummaryBuilder, Truncation, estimate,
};
pub use tag::{Tag, TagKind};
pub use tag_text::TagText;
pub use xing::{InfoTag, LameTag, Vbri, XingInfo};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame header is invalid.
    #[error("invalid frame header at byte {offset}: {source}")]
    Header {
        /// Offset of the header.
        offset: u64,
        /// Why.
        source: HeaderError,
    },
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// No audio frame in the input.
    #[error("no MPEG audio frame in {len} bytes ({skipped} bytes skipped, {tags} tags)")]
    NoFrames {
        /// Input length.
        len: u64,
        /// Bytes skipped as junk.
        skipped: u64,
        /// Tags found.
        tags: u64,
    },
    /// A free-format header has no frame length to build a silent frame from.
    #[error("cannot build a silent frame for a free-format header (no frame length)")]
    FreeFormatSilence,
    /// Silent Layer II frames with CRC are not built (the protected bit count needs the
    /// allocation tables).
    #[error("silent Layer II frames with CRC are not supported")]
    Layer2CrcSilence,
}

/// The header of the frame at `offset` in `data`, with the offset in the error.
///
/// ```
/// let data = [0u8, 0xFF, 0xFB, 0xF0, 0x00];
/// let err = mp3_frames::header_at(&data, 1).unwrap_err();
/// assert_eq!(err.to_string(), "invalid frame header at byte 1: forbidden bitrate index 15");
/// ```
pub fn header_at(data: &[u8], offset: u64) -> Result<FrameHeader> {
    let rest = usize::try_from(offset)
        .ok()
        .and_then(|at| data.get(at..))
        .unwrap_or_default();
    FrameHeader::parse(rest)
        .map(|(_, h)| h)
        .map_err(|source| Error::Header { offset, source })
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
