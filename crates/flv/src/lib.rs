//! FLV tag payloads (the bodies of FLV video and audio tags, which RTMP carries as its
//! video and audio messages) read into codec configurations and frames, without I/O.
//!
//! - Video: classic FLV (video file format specification v10.1, annex E.4.3: codec id 7,
//!   AVC, with `AVCPacketType` 0 = `avcC`, 1 = NAL units with a signed 24-bit composition
//!   time, 2 = end of sequence) and Enhanced RTMP (veovera enhanced-rtmp v1: the
//!   `IsExHeader` bit, a packet type in the low nibble and a FourCC: `avc1`, `hvc1`,
//!   `av01`, `vp09`; `SequenceStart` = the configuration record, `CodedFrames` with a
//!   composition time for `avc1`/`hvc1`, `CodedFramesX` without one).
//! - Audio: AAC (sound format 10: `AACPacketType` 0 = AudioSpecificConfig, 1 = a raw
//!   access unit) and MP3 (sound format 2: frames as they are).
//!
//! Payloads are sliced from the tag's `Bytes`, never copied. Every length is checked: a
//! short or lying tag is an [`Error`], never a panic.
//!
//! [`file`](mod@file) frames the tags as an FLV file does (file header, tag headers, previous tag
//! sizes), for FLV files and HTTP-FLV.
//!
//! The writing side ([`write_video`], [`write_audio`], or [`video_header`] and
//! [`audio_header`] for the header alone) turns the same [`VideoTag`]s and [`AudioTag`]s
//! back into payloads: H.264 as classic FLV, H.265, AV1 and VP9 through Enhanced RTMP,
//! AAC and MP3; what it writes reads back as the tag it was given.
//!
//! ```
//! use bytes::Bytes;
//! use flv::{VideoTag, VideoCodec};
//!
//! // A key frame of H.264: frame type 1, codec 7, AVCPacketType 1, composition time 40.
//! let tag = Bytes::from_static(&[0x17, 1, 0, 0, 40, 0, 0, 0, 1, 0x65]);
//! match flv::video(&tag)? {
//!     VideoTag::Frame { codec, keyframe, composition_time, data } => {
//!         assert_eq!((codec, keyframe, composition_time), (VideoCodec::H264, true, 40));
//!         assert_eq!(&data[..], &[0, 0, 0, 1, 0x65]);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), flv::Error>(())
//! ```
//!
//! ```
//! use bytes::Bytes;
//! use flv::{VideoTag, VideoCodec};
//!
//! // An H.265 frame through Enhanced RTMP: IsExHeader, frame type 2, CodedFrames, `hvc1`,
//! // composition time 40.
//! let frame = VideoTag::Frame {
//!     codec: VideoCodec::H265,
//!     keyframe: false,
//!     composition_time: 40,
//!     data: Bytes::from_static(&[0, 0, 0, 1, 2]),
//! };
//! let tag = flv::write_video(&frame)?;
//! assert_eq!(&tag[..8], b"\xa1hvc1\x00\x00\x28");
//! assert_eq!(flv::video(&tag)?, frame);
//! # Ok::<(), flv::Error>(())
//! ```

use bytes::Bytes;

pub mod file;
mod write;
pub use write::{TagHeader, audio_header, video_header, write_audio, write_video};

/// Errors reading or writing a tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tag is shorter than its headers say.
    #[error("{what}: {len} bytes, at least {needed} needed")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes there.
        len: usize,
    },
    /// A classic FLV video codec id other than AVC (7).
    #[error("FLV video codec id {0} (only 7, AVC, or Enhanced RTMP FourCCs)")]
    VideoCodecId(u8),
    /// An Enhanced RTMP FourCC we do not know.
    #[error("Enhanced RTMP FourCC {0:?} (takes avc1, hvc1, av01, vp09)")]
    FourCc(String),
    /// An FLV sound format other than AAC (10) or MP3 (2).
    #[error("FLV sound format {0} (only 10, AAC, and 2, MP3)")]
    SoundFormat(u8),
    /// Writing: a composition time the tag cannot carry (outside signed 24 bits, or not
    /// zero for a codec whose frames have none: AV1, VP9).
    #[error(
        "composition time {time} ms cannot be written for {codec:?} (signed 24 bits, H.264 and H.265 only)"
    )]
    CompositionTime {
        /// The codec.
        codec: VideoCodec,
        /// The composition time, in milliseconds.
        time: i32,
    },
    /// Writing: a tag that has no one FLV form ([`VideoTag::Other`]).
    #[error("{0} has no FLV form to write")]
    NotWritable(&'static str),
    /// A file that does not start with an FLV header (`FLV`, a data offset of 9 or more).
    #[error("not an FLV file (no FLV header)")]
    NotFlv,
    /// Writing: a payload over the 24-bit size of a tag header.
    #[error("an FLV tag of {0} bytes (at most 16 777 215)")]
    TagTooLarge(usize),
}

/// Video codecs FLV and Enhanced RTMP carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoCodec {
    /// H.264 (classic codec id 7, or FourCC `avc1`): frames are length-prefixed NAL units.
    H264,
    /// H.265 (FourCC `hvc1`): frames are length-prefixed NAL units.
    H265,
    /// AV1 (FourCC `av01`): frames are OBUs.
    Av1,
    /// VP9 (FourCC `vp09`).
    Vp9,
}

impl VideoCodec {
    fn from_fourcc(fourcc: &[u8]) -> Result<VideoCodec, Error> {
        Ok(match fourcc {
            b"avc1" => VideoCodec::H264,
            b"hvc1" => VideoCodec::H265,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            other => return Err(Error::FourCc(String::from_utf8_lossy(other).into_owned())),
        })
    }

    /// The Enhanced RTMP FourCC.
    pub fn fourcc(self) -> [u8; 4] {
        *match self {
            VideoCodec::H264 => b"avc1",
            VideoCodec::H265 => b"hvc1",
            VideoCodec::Av1 => b"av01",
            VideoCodec::Vp9 => b"vp09",
        }
    }
}

/// A video tag's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VideoTag {
    /// The decoder configuration record (`avcC`, `hvcC`, `av1C`, `vpcC`).
    SequenceHeader {
        /// The codec.
        codec: VideoCodec,
        /// The record.
        config: Bytes,
    },
    /// A coded frame.
    Frame {
        /// The codec.
        codec: VideoCodec,
        /// Frame type 1 (a key frame).
        keyframe: bool,
        /// Presentation minus decode time, in milliseconds.
        composition_time: i32,
        /// The frame (length-prefixed NAL units for H.264 and H.265).
        data: Bytes,
    },
    /// The end of the sequence.
    EndOfSequence {
        /// The codec (H.264 for classic FLV).
        codec: VideoCodec,
    },
    /// What carries no frame: command frames (frame type 5), metadata, packet types we
    /// leave alone.
    Other,
}

/// An audio tag's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioTag {
    /// AAC AudioSpecificConfig.
    AacConfig(Bytes),
    /// One raw AAC access unit.
    AacFrame(Bytes),
    /// MP3 frames, as they are.
    Mp3(Bytes),
}

fn need(what: &'static str, data: &Bytes, needed: usize) -> Result<(), Error> {
    if data.len() < needed {
        return Err(Error::Truncated {
            what,
            needed,
            len: data.len(),
        });
    }
    Ok(())
}

/// Signed 24-bit big-endian.
fn si24(b: &[u8]) -> i32 {
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (v << 8) >> 8
}

/// Reads a video tag's payload.
pub fn video(data: &Bytes) -> Result<VideoTag, Error> {
    need("video tag", data, 1)?;
    let first = data[0];
    let frame_type = (first >> 4) & 0x07;
    let keyframe = frame_type == 1;
    if first & 0x80 != 0 {
        // Enhanced RTMP: [IsExHeader|FrameType:3|PacketType:4] FourCC
        need("Enhanced RTMP video tag", data, 5)?;
        let codec = VideoCodec::from_fourcc(&data[1..5])?;
        if frame_type == 5 {
            return Ok(VideoTag::Other);
        }
        return Ok(match first & 0x0f {
            0 => VideoTag::SequenceHeader {
                codec,
                config: data.slice(5..),
            },
            1 if matches!(codec, VideoCodec::H264 | VideoCodec::H265) => {
                need("Enhanced RTMP coded frames", data, 8)?;
                VideoTag::Frame {
                    codec,
                    keyframe,
                    composition_time: si24(&data[5..8]),
                    data: data.slice(8..),
                }
            }
            // CodedFramesX (and CodedFrames of codecs without a composition time).
            1 | 3 => VideoTag::Frame {
                codec,
                keyframe,
                composition_time: 0,
                data: data.slice(5..),
            },
            2 => VideoTag::EndOfSequence { codec },
            _ => VideoTag::Other,
        });
    }
    let codec_id = first & 0x0f;
    if codec_id != 7 {
        return Err(Error::VideoCodecId(codec_id));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Other);
    }
    need("AVC video tag", data, 5)?;
    Ok(match data[1] {
        0 => VideoTag::SequenceHeader {
            codec: VideoCodec::H264,
            config: data.slice(5..),
        },
        1 => VideoTag::Frame {
            codec: VideoCodec::H264,
            keyframe,
            composition_time: si24(&data[2..5]),
            data: data.slice(5..),
        },
        2 => VideoTag::EndOfSequence {
            codec: VideoCodec::H264,
        },
        _ => VideoTag::Other,
    })
}

/// Reads an audio tag's payload.
pub fn audio(data: &Bytes) -> Result<AudioTag, Error> {
    need("audio tag", data, 1)?;
    match data[0] >> 4 {
        10 => {
            need("AAC audio tag", data, 2)?;
            Ok(if data[1] == 0 {
                AudioTag::AacConfig(data.slice(2..))
            } else {
                AudioTag::AacFrame(data.slice(2..))
            })
        }
        2 => Ok(AudioTag::Mp3(data.slice(1..))),
        other => Err(Error::SoundFormat(other)),
    }
}

/// The sample rate and channel count of an AAC AudioSpecificConfig (ISO/IEC 14496-3
/// §1.6.2.1: object type, sampling frequency index or an explicit 24-bit rate, channel
/// configuration); `None` when it is too short or names no rate or channels.
pub fn aac_rate_channels(config: &[u8]) -> Option<(u32, u16)> {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let bits = |at: usize, n: usize| -> Option<u32> {
        let mut v = 0u32;
        for i in at..at + n {
            let byte = *config.get(i / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - i % 8)) & 1);
        }
        Some(v)
    };
    let mut at = 5;
    if bits(0, 5)? == 31 {
        at += 6; // escaped object type
    }
    let index = bits(at, 4)? as usize;
    at += 4;
    let rate = if index == 15 {
        at += 24;
        bits(at - 24, 24)?
    } else {
        *RATES.get(index)?
    };
    let channels = bits(at, 4)? as u16;
    (rate > 0 && channels > 0).then_some((rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_classic_and_enhanced_video() {
        let header = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]);
        assert_eq!(
            video(&header).unwrap(),
            VideoTag::SequenceHeader {
                codec: VideoCodec::H264,
                config: Bytes::from_static(&[1, 0x64])
            }
        );
        // Inter frame, composition time -40 (signed).
        let frame = Bytes::from_static(&[0x27, 1, 0xff, 0xff, 0xd8, 9]);
        assert!(matches!(
            video(&frame).unwrap(),
            VideoTag::Frame {
                keyframe: false,
                composition_time: -40,
                ..
            }
        ));
        let hevc_start = Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1', 1, 2]);
        assert_eq!(
            video(&hevc_start).unwrap(),
            VideoTag::SequenceHeader {
                codec: VideoCodec::H265,
                config: Bytes::from_static(&[1, 2])
            }
        );
        let hevc_x = Bytes::from_static(&[0xa3, b'h', b'v', b'c', b'1', 7]);
        assert!(matches!(
            video(&hevc_x).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H265,
                keyframe: false,
                composition_time: 0,
                ..
            }
        ));
    }

    #[test]
    fn refuses_short_and_unknown_tags() {
        assert!(matches!(video(&Bytes::new()), Err(Error::Truncated { .. })));
        assert!(matches!(
            video(&Bytes::from_static(&[0x17, 1])),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            video(&Bytes::from_static(&[0x12, 0])),
            Err(Error::VideoCodecId(2))
        ));
        assert!(matches!(
            video(&Bytes::from_static(&[0x90, b'x', b'x', b'x', b'x'])),
            Err(Error::FourCc(_))
        ));
        assert!(matches!(
            audio(&Bytes::from_static(&[0xaf])),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            audio(&Bytes::from_static(&[0x70, 0])),
            Err(Error::SoundFormat(7))
        ));
        assert_eq!(
            audio(&Bytes::from_static(&[0xaf, 1, 5])).unwrap(),
            AudioTag::AacFrame(Bytes::from_static(&[5]))
        );
    }

    #[test]
    fn reads_aac_configs() {
        assert_eq!(aac_rate_channels(&[0x11, 0x90]), Some((48_000, 2)));
        assert_eq!(aac_rate_channels(&[0x12, 0x08]), Some((44_100, 1)));
        assert_eq!(aac_rate_channels(&[0x12]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..32)) {
            let data = Bytes::from(data);
            let _ = video(&data);
            let _ = audio(&data);
            let _ = aac_rate_channels(&data);
        }
    }
}
