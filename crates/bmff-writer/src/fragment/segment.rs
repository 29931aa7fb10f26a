//! What the fragmented muxer takes ([`FragmentOptions`]) and gives ([`FragmentOutput`]:
//! [`InitSegment`]s, [`MediaSegment`]s and the `mfra` index).

use std::time::Duration;

use bytes::Bytes;

/// Options of the fragmented muxer: start from [`FragmentOptions::default`] and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FragmentOptions {
    /// Target fragment duration; a fragment is cut at the first key frame past it.
    pub fragment_duration: Duration,
    /// Write a `sidx` in front of each fragment (DASH on-demand style indexing).
    pub sidx: bool,
    /// Write an `mfra` random access index at the end (single-file output; it keeps
    /// about 20 bytes per fragment and track until then).
    pub mfra: bool,
}

impl Default for FragmentOptions {
    fn default() -> Self {
        Self {
            fragment_duration: Duration::from_secs(1),
            sidx: false,
            mfra: false,
        }
    }
}

/// An init segment: `ftyp` + `moov` with every sample entry known so far.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitSegment {
    /// 1 for the first, incremented each time a codec change needs a new one.
    pub number: u32,
    /// The bytes.
    pub bytes: Bytes,
}

/// A media segment: optional `sidx`, `moof`, `mdat` header, then the payloads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaSegment {
    /// The `mfhd` sequence number (1, 2, ...).
    pub sequence_number: u32,
    /// The init segment this one needs.
    pub init_number: u32,
    /// Decode time of its first sample of the reference track, in seconds.
    pub start: f64,
    /// Duration of the reference track's samples in it, in seconds (HLS `#EXTINF`).
    pub duration: f64,
    /// Whether it starts with a key frame of the reference track.
    pub starts_with_keyframe: bool,
    /// Samples in it, per track index (0 for a track without samples in it).
    pub samples: Vec<u32>,
    /// Pieces to write in order (for vectored writes).
    pub parts: Vec<Bytes>,
    /// Total byte length.
    pub size: u64,
}

impl FragmentOptions {
    /// Fragments of about `fragment_duration`, without `sidx` or `mfra`.
    pub fn new(fragment_duration: Duration) -> Self {
        FragmentOptions {
            fragment_duration,
            ..FragmentOptions::default()
        }
    }
}

impl InitSegment {
    /// An init segment of these bytes. The muxer makes the real ones; this serves a
    /// [`SegmentSink`](crate::SegmentSink) under test.
    pub fn new(number: u32, bytes: Bytes) -> Self {
        InitSegment { number, bytes }
    }
}

impl MediaSegment {
    /// A segment of these pieces, its size their sum, with no samples and no duration
    /// (set the fields a test needs). The muxer makes the real ones; this serves a
    /// [`SegmentSink`](crate::SegmentSink) under test.
    pub fn new(sequence_number: u32, init_number: u32, parts: Vec<Bytes>) -> Self {
        MediaSegment {
            sequence_number,
            init_number,
            start: 0.0,
            duration: 0.0,
            starts_with_keyframe: false,
            samples: Vec::new(),
            size: parts.iter().map(|p| p.len() as u64).sum(),
            parts,
        }
    }
}

/// What the fragmented muxer produces, in output order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FragmentOutput {
    /// A (new) init segment.
    Init(InitSegment),
    /// A fragment.
    Media(MediaSegment),
    /// The `mfra` box, last.
    Index(Bytes),
}
