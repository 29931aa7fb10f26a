//! Elementary streams: H.264 and H.265 in the Annex B byte-stream format (ITU-T H.264
//! Annex B, ITU-T H.265 Annex B), as `.h264`/`.264`/`.h265`/`.265` files carry them, and
//! the length-prefixed form MP4 uses (ISO/IEC 14496-15):
//!
//! - [`AnnexBReader`]: bytes in (any chunking), access units out: NAL units split at
//!   start codes and grouped per picture, key frames marked. Sans-I/O.
//! - [`ParameterSets`], [`record`], [`parameter_sets`], [`sps_info`]: the decoder
//!   configuration records (`avcC`/`hvcC` bodies) built from a stream's parameter sets and
//!   read back, and the picture size and frame rate a sequence parameter set gives.
//! - [`AnnexBWriter`]: length-prefixed samples back to Annex B, the parameter sets in
//!   front of every key frame, as pieces for vectored writes.
//!
//! - [`FrameTimes`]: the presentation order of H.264 pictures from their picture order
//!   counts, as decode indices and presentation offsets in frames.
//! - [`Ac3Frame`], [`ac3_frames`], [`ac3_config`]: AC-3 sync frames (length, rate,
//!   channels) and the `dac3` record made from one; [`Eac3Frame`], [`eac3_units`],
//!   [`eac3_config`]: Enhanced AC-3 frames grouped into access units of 1536 samples and the
//!   `dec3` record.
//! - [`opus_packet_samples`]: an Opus packet's duration from its TOC byte (RFC 6716 §3.1).
//! - [`vp8_key_frame`], [`vp8_key_frame_size`], [`vp9_key_frame`]: a VP8 or VP9 frame's
//!   kind and what a key frame says of the stream (picture size; VP9: profile, bit depth,
//!   colour, and so the `vpcC` record); [`av1_sequence_header`]: an AV1 temporal unit's
//!   sequence header and the `av1C` record made from it.
//!
//! ADTS (AAC) framing is `icecast_source::adts`; MP3 frames are `mp3-frames`.
//!
//! ```
//! use elementary::{AnnexBReader, AnnexBWriter, ParameterSets, VideoCodec, record};
//!
//! // An SPS, a PPS and an IDR slice, with start codes as x264 writes them.
//! let stream = [
//!     0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x47, 0xFE, 0xC8,
//!     0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80,
//!     0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33,
//! ];
//! let mut reader = AnnexBReader::new(VideoCodec::H264);
//! reader.push(&stream);
//! reader.finish();
//! let unit = reader.pull().unwrap();
//! assert!(unit.key);
//!
//! let mut sets = ParameterSets::default();
//! for nal in &unit.nals {
//!     sets.take(VideoCodec::H264, nal);
//! }
//! let avcc = record(VideoCodec::H264, &sets).unwrap();
//! assert_eq!(&avcc[..4], &[1, 0x42, 0xC0, 0x1E]);
//!
//! // Back to Annex B: the slice alone, the parameter sets put in front of it.
//! let slice = bytes::Bytes::from_static(&[0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x33]);
//! let writer = AnnexBWriter::new(VideoCodec::H264, &avcc).unwrap();
//! let pieces = writer.access_unit(&slice, true).unwrap();
//! assert_eq!(pieces.concat(), stream);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ac3;
mod annexb;
mod av1;
mod h265_sps;
mod opus;
mod order;
mod order_h265;
mod records;
mod vp;
mod write;

pub use ac3::{
    AC3_FRAME_SAMPLES, Ac3Frame, Eac3Frame, ac3_config, ac3_frames, eac3_config, eac3_dec3_config,
    eac3_samples, eac3_units,
};
pub use annexb::{AccessUnit, AnnexBReader, VideoCodec};
pub use av1::{Av1SequenceHeader, av1_sequence_header};
pub use opus::{opus_head, opus_packet_samples};
pub use order::{FrameTimes, TimedUnit};
pub use records::{ParameterSets, SpsInfo, parameter_sets, record, sps_info};
pub use vp::{Vp9KeyFrame, vp8_key_frame, vp8_key_frame_size, vp9_is_key_frame, vp9_key_frame};
pub use write::{AnnexBWriter, nal_units};

/// What went wrong reading or writing an elementary stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter set the record needs is not in the stream (yet).
    #[error("no {0} in the stream")]
    MissingParameterSet(&'static str),
    /// A parameter set that cannot be read.
    #[error("invalid parameter set: {0}")]
    InvalidParameterSet(String),
    /// A decoder configuration record that cannot be read.
    #[error("invalid decoder configuration record: {0}")]
    InvalidRecord(String),
    /// A length-prefixed sample whose NAL length runs past its end.
    #[error("NAL unit length at byte {offset} of the sample runs past its end")]
    CutSample {
        /// Byte offset of the length field in the sample.
        offset: usize,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
