//! The writing side: [`VideoTag`]s and [`AudioTag`]s into FLV tag payloads, the bytes an
//! RTMP video or audio message carries, without I/O.
//!
//! - H.264 goes out as classic FLV (video file format specification v10.1, annex E.4.3.1:
//!   `FrameType | CodecID 7`, `AVCPacketType`, a signed 24-bit composition time), which
//!   every server and player reads.
//! - H.265, AV1 and VP9 go out through Enhanced RTMP (veovera enhanced-rtmp v1): the
//!   `IsExHeader` bit, the frame type, the packet type in the low nibble, then the FourCC
//!   (`hvc1`, `av01`, `vp09`); `SequenceStart` (0) carries the configuration record,
//!   `CodedFrames` (1) the frame, for `hvc1` after a signed 24-bit composition time,
//!   `SequenceEnd` (2) nothing.
//! - AAC is sound format 10 with the fixed flags of annex E.4.2.1 (44 kHz, 16-bit,
//!   stereo: the decoder reads the real ones from the AudioSpecificConfig), then
//!   `AACPacketType` 0 (the config) or 1 (a raw access unit). MP3 is sound format 2, its
//!   rate and channel flags taken from the first frame's header (48 and 32 kHz are
//!   flagged 44 kHz, as ffmpeg does: FLV has no code for them and decoders read the frame
//!   header).
//!
//! Each tag is a short header ([`TagHeader`], at most 8 bytes) in front of the payload,
//! which is not touched: [`video_header`] and [`audio_header`] give the header alone for a
//! vectored write, [`write_video`] and [`write_audio`] the whole tag in one buffer (what an
//! RTMP message needs). What [`crate::video`] and [`crate::audio`] read back is the tag
//! written (the unit tests and the fuzz target check this round trip).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{AudioTag, Error, VideoCodec, VideoTag};

/// The bytes of a tag before its payload (at most 8: Enhanced RTMP's first byte, a
/// FourCC and a composition time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    bytes: [u8; 8],
    len: u8,
}

impl TagHeader {
    fn new(first: &[u8]) -> TagHeader {
        let mut header = TagHeader {
            bytes: [0; 8],
            len: 0,
        };
        header.push(first);
        header
    }

    fn push(&mut self, more: &[u8]) {
        let at = usize::from(self.len);
        self.bytes[at..at + more.len()].copy_from_slice(more);
        self.len += more.len() as u8;
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for TagHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// The range of a signed 24-bit composition time.
const SI24: std::ops::RangeInclusive<i32> = -(1 << 23)..=(1 << 23) - 1;

fn si24(time: i32) -> [u8; 3] {
    let b = time.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// The header of a video tag, and its payload (the configuration record or the frame;
/// empty for the end of a sequence).
///
/// Fails for [`VideoTag::Other`] (it has no one form), and for a composition time that
/// does not fit in signed 24 bits or is given to AV1 or VP9 (whose frames carry none).
pub fn video_header(tag: &VideoTag) -> Result<(TagHeader, Bytes), Error> {
    let (codec, frame_type, packet_type, payload) = match tag {
        VideoTag::SequenceHeader { codec, config } => (*codec, 1, 0, config.clone()),
        VideoTag::Frame {
            codec,
            keyframe,
            data,
            ..
        } => (*codec, if *keyframe { 1 } else { 2 }, 1, data.clone()),
        VideoTag::EndOfSequence { codec } => (*codec, 1, 2, Bytes::new()),
        VideoTag::Other => return Err(Error::NotWritable("VideoTag::Other")),
    };
    let composition_time = match tag {
        VideoTag::Frame {
            composition_time, ..
        } => *composition_time,
        _ => 0,
    };
    let carries_time = matches!(codec, VideoCodec::H264 | VideoCodec::H265);
    if !SI24.contains(&composition_time) || (!carries_time && composition_time != 0) {
        return Err(Error::CompositionTime {
            codec,
            time: composition_time,
        });
    }
    let header = if codec == VideoCodec::H264 {
        // Classic FLV: frame type, codec id 7; AVCPacketType; composition time (0 but
        // for frames).
        let mut h = TagHeader::new(&[(frame_type << 4) | 7, packet_type]);
        h.push(&si24(composition_time));
        h
    } else {
        let mut h = TagHeader::new(&[0x80 | (frame_type << 4) | packet_type]);
        h.push(&codec.fourcc());
        if packet_type == 1 && carries_time {
            h.push(&si24(composition_time));
        }
        h
    };
    Ok((header, payload))
}

/// A whole video tag: [`video_header`]'s header and payload in one buffer.
pub fn write_video(tag: &VideoTag) -> Result<Bytes, Error> {
    let (header, payload) = video_header(tag)?;
    Ok(join(&header, &payload))
}

/// The header of an audio tag, and its payload.
pub fn audio_header(tag: &AudioTag) -> (TagHeader, Bytes) {
    match tag {
        // Sound format 10, 44 kHz, 16-bit, stereo (E.4.2.1: always so for AAC).
        AudioTag::AacConfig(config) => (TagHeader::new(&[0xaf, 0]), config.clone()),
        AudioTag::AacFrame(frame) => (TagHeader::new(&[0xaf, 1]), frame.clone()),
        AudioTag::Mp3(frames) => (TagHeader::new(&[mp3_flags(frames)]), frames.clone()),
    }
}

/// A whole audio tag: [`audio_header`]'s header and payload in one buffer.
pub fn write_audio(tag: &AudioTag) -> Bytes {
    let (header, payload) = audio_header(tag);
    join(&header, &payload)
}

fn join(header: &TagHeader, payload: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(header.as_bytes().len() + payload.len());
    out.put_slice(header.as_bytes());
    out.put_slice(payload);
    out.freeze()
}

/// Sound format 2 with the rate and channel flags of the first MPEG audio frame header
/// (ISO/IEC 11172-3 §2.4.1.3, with MPEG-2 and 2.5 rates); 44 kHz stereo when there is
/// no readable header.
fn mp3_flags(frames: &[u8]) -> u8 {
    const FALLBACK: u8 = 0x2f;
    let Some(h) = frames.get(..4) else {
        return FALLBACK;
    };
    if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
        return FALLBACK;
    }
    let version = (h[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let index = (h[2] >> 2) & 3;
    if version == 1 || index == 3 {
        return FALLBACK;
    }
    let shift = match version {
        3 => 0,
        2 => 1,
        _ => 2,
    };
    let rate: u32 = [44_100, 48_000, 32_000][usize::from(index)] >> shift;
    let rate_flag = match rate {
        32_000.. => 3,
        16_000.. => 2,
        _ => 1,
    };
    let stereo = u8::from(h[3] >> 6 != 3);
    (2 << 4) | (rate_flag << 2) | (1 << 1) | stereo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{audio, video};

    fn round_trip(tag: VideoTag) -> Bytes {
        let written = write_video(&tag).unwrap();
        assert_eq!(video(&written).unwrap(), tag, "{written:02x?}");
        written
    }

    #[test]
    fn writes_classic_avc() {
        let config = Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]);
        let header = round_trip(VideoTag::SequenceHeader {
            codec: VideoCodec::H264,
            config: config.clone(),
        });
        assert_eq!(&header[..5], &[0x17, 0, 0, 0, 0]);
        let frame = round_trip(VideoTag::Frame {
            codec: VideoCodec::H264,
            keyframe: false,
            composition_time: -40,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        });
        assert_eq!(&frame[..5], &[0x27, 1, 0xff, 0xff, 0xd8]);
        let key = round_trip(VideoTag::Frame {
            codec: VideoCodec::H264,
            keyframe: true,
            composition_time: 80,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        });
        assert_eq!(&key[..5], &[0x17, 1, 0, 0, 80]);
        let end = round_trip(VideoTag::EndOfSequence {
            codec: VideoCodec::H264,
        });
        assert_eq!(&end[..], &[0x17, 2, 0, 0, 0]);
    }

    #[test]
    fn writes_enhanced_rtmp() {
        let start = round_trip(VideoTag::SequenceHeader {
            codec: VideoCodec::H265,
            config: Bytes::from_static(&[1, 2, 3]),
        });
        assert_eq!(&start[..], b"\x90hvc1\x01\x02\x03");
        let frame = round_trip(VideoTag::Frame {
            codec: VideoCodec::H265,
            keyframe: false,
            composition_time: 8_388_607,
            data: Bytes::from_static(&[0, 0, 0, 1, 2]),
        });
        assert_eq!(&frame[..8], b"\xa1hvc1\x7f\xff\xff");
        let av1 = round_trip(VideoTag::Frame {
            codec: VideoCodec::Av1,
            keyframe: true,
            composition_time: 0,
            data: Bytes::from_static(&[0x12, 0]),
        });
        assert_eq!(&av1[..5], b"\x91av01");
        round_trip(VideoTag::EndOfSequence {
            codec: VideoCodec::Vp9,
        });
        let (header, payload) = video_header(&VideoTag::SequenceHeader {
            codec: VideoCodec::Av1,
            config: Bytes::from_static(&[0x81]),
        })
        .unwrap();
        assert_eq!(
            (header.as_bytes(), &payload[..]),
            (&b"\x90av01"[..], &[0x81][..])
        );
    }

    #[test]
    fn refuses_what_a_tag_cannot_carry() {
        let frame = |codec, composition_time| VideoTag::Frame {
            codec,
            keyframe: true,
            composition_time,
            data: Bytes::new(),
        };
        for (codec, time) in [
            (VideoCodec::H264, 1 << 23),
            (VideoCodec::H265, -(1 << 23) - 1),
            (VideoCodec::Vp9, 40),
        ] {
            assert_eq!(
                write_video(&frame(codec, time)),
                Err(Error::CompositionTime { codec, time })
            );
        }
        assert!(matches!(
            write_video(&VideoTag::Other),
            Err(Error::NotWritable(_))
        ));
    }

    #[test]
    fn writes_aac_and_mp3() {
        for tag in [
            AudioTag::AacConfig(Bytes::from_static(&[0x11, 0x90])),
            AudioTag::AacFrame(Bytes::from_static(&[0x21, 0x10, 5])),
            AudioTag::Mp3(Bytes::from_static(&[0xff, 0xfb, 0x94, 0x64, 0])),
        ] {
            let written = write_audio(&tag);
            assert_eq!(audio(&written).unwrap(), tag);
        }
        // MPEG-1 48 kHz joint stereo: flagged 44 kHz, 16-bit, stereo.
        assert_eq!(mp3_flags(&[0xff, 0xfb, 0x94, 0x64]), 0x2f);
        // MPEG-2 22.05 kHz mono.
        assert_eq!(mp3_flags(&[0xff, 0xf3, 0x80, 0xc0]), 0x2a);
        // MPEG-2.5 8 kHz stereo.
        assert_eq!(mp3_flags(&[0xff, 0xe3, 0x88, 0x00]), 0x27);
        assert_eq!(mp3_flags(&[1, 2]), 0x2f);
        assert_eq!(
            write_audio(&AudioTag::AacFrame(Bytes::new()))[..],
            [0xaf, 1]
        );
    }

    proptest::proptest! {
        #[test]
        fn what_is_written_reads_back(
            codec in proptest::sample::select(vec![
                VideoCodec::H264, VideoCodec::H265, VideoCodec::Av1, VideoCodec::Vp9,
            ]),
            keyframe in proptest::bool::ANY,
            time in -(1i32 << 23)..(1 << 23),
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
        ) {
            let data = Bytes::from(data);
            let composition_time = if matches!(codec, VideoCodec::H264 | VideoCodec::H265) {
                time
            } else {
                0
            };
            for tag in [
                VideoTag::Frame { codec, keyframe, composition_time, data: data.clone() },
                VideoTag::SequenceHeader { codec, config: data.clone() },
                VideoTag::EndOfSequence { codec },
            ] {
                let written = write_video(&tag).unwrap();
                proptest::prop_assert_eq!(video(&written).unwrap(), tag);
            }
            for tag in [AudioTag::AacFrame(data.clone()), AudioTag::Mp3(data.clone())] {
                proptest::prop_assert_eq!(audio(&write_audio(&tag)).unwrap(), tag);
            }
        }
    }
}
