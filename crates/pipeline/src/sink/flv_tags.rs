//! Packets into FLV tags, for both writers of FLV: an RTMP publish (`rtmp/`) and an `.flv`
//! file (`flv.rs`). One H.264 or H.265 video track and one AAC or MP3 audio track: H.264
//! as classic FLV, H.265 through Enhanced RTMP (`hvc1`); the sequence headers first, then
//! the frames with their decode time in milliseconds from the first packet and the
//! composition time (presentation − decode) in the tag. Another codec is a misfit, named
//! when the tracks are known.

use bytes::Bytes;
use flv::{AudioTag, VideoCodec, VideoTag};
use media_core::{Codec, MediaKind, Track};
use rml_rtmp::sessions::StreamMetadata;

use crate::contract::describe;
use crate::{Error, Packet};

/// What an FLV output takes, for misfit messages.
const TAKES: &str = "one H.264 or H.265 video track and one AAC or MP3 audio track";

/// The video track that goes out.
#[derive(Clone)]
pub(crate) struct VideoOut {
    index: usize,
    codec: VideoCodec,
    config: Bytes,
    timescale: u32,
}

/// The audio track that goes out.
#[derive(Clone)]
pub(crate) struct AudioOut {
    index: usize,
    /// The AudioSpecificConfig; `None` for MP3.
    aac: Option<Bytes>,
    timescale: u32,
}

/// Which tracks go out, and the metadata that announces them.
pub(crate) struct Selection {
    video: Option<VideoOut>,
    audio: Option<AudioOut>,
    /// What `onMetaData` says of them.
    pub(crate) metadata: StreamMetadata,
}

/// The tracks that go out (one video, one audio), or the misfit that stops them.
pub(crate) fn select(tracks: &[Track], endpoint: &str) -> Result<Selection, Error> {
    let misfit = |found: String| Error::Misfit {
        endpoint: endpoint.to_owned(),
        takes: TAKES.into(),
        found,
    };
    let mut s = Selection {
        video: None,
        audio: None,
        metadata: StreamMetadata::new(),
    };
    for (index, track) in tracks.iter().enumerate() {
        let timescale = track.timescale.max(1);
        match (&track.codec, track.kind) {
            (Codec::H264 { config } | Codec::H265 { config }, MediaKind::Video) => {
                if s.video.is_some() {
                    return Err(misfit(format!(
                        "{} is a second video track",
                        describe(index, track)
                    )));
                }
                let codec = match track.codec {
                    Codec::H265 { .. } => VideoCodec::H265,
                    _ => VideoCodec::H264,
                };
                s.metadata.video_codec_id = Some(match codec {
                    // Classic FLV's codec id; Enhanced RTMP's FourCC as a number.
                    VideoCodec::H264 => 7,
                    _ => u32::from_be_bytes(codec.fourcc()),
                });
                s.metadata.video_width = Some(track.width);
                s.metadata.video_height = Some(track.height);
                s.video = Some(VideoOut {
                    index,
                    codec,
                    config: config.clone(),
                    timescale,
                });
            }
            (Codec::Aac { .. } | Codec::Mp3, MediaKind::Audio) => {
                if s.audio.is_some() {
                    return Err(misfit(format!(
                        "{} is a second audio track",
                        describe(index, track)
                    )));
                }
                let aac = match &track.codec {
                    Codec::Aac { config } => Some(config.clone()),
                    _ => None,
                };
                s.metadata.audio_codec_id = Some(if aac.is_some() { 10 } else { 2 });
                s.metadata.audio_sample_rate = Some(track.sample_rate);
                s.metadata.audio_channels = Some(u32::from(track.channels));
                s.metadata.audio_is_stereo = Some(track.channels >= 2);
                s.audio = Some(AudioOut {
                    index,
                    aac,
                    timescale,
                });
            }
            _ => return Err(misfit(describe(index, track))),
        }
    }
    if s.video.is_none() && s.audio.is_none() {
        return Err(misfit("the input has no track".into()));
    }
    s.metadata.encoder = Some(concat!("pipeline ", env!("CARGO_PKG_VERSION")).into());
    Ok(s)
}

/// A tag: its time (ms) and payload.
pub(crate) enum Tag {
    Video(u32, Bytes),
    Audio(u32, Bytes),
}

/// One output's clock and tags.
pub(crate) struct Tagger {
    endpoint: String,
    video: Option<VideoOut>,
    audio: Option<AudioOut>,
    /// The first packet's decode time (ms): time zero.
    origin: Option<i64>,
    /// The last timestamp given (for a new sequence header).
    last: u32,
}

/// `time` ticks of `timescale` in milliseconds, rounded to nearest.
fn to_ms(time: i64, timescale: u32) -> i64 {
    let scale = i128::from(timescale);
    ((i128::from(time) * 1000 + scale / 2).div_euclid(scale)) as i64
}

impl Tagger {
    pub(crate) fn new(selection: &Selection, endpoint: &str) -> Tagger {
        Tagger {
            endpoint: endpoint.to_owned(),
            video: selection.video.clone(),
            audio: selection.audio.clone(),
            origin: None,
            last: 0,
        }
    }

    /// The sequence headers, to go before any frame.
    pub(crate) fn headers(&mut self) -> Result<Vec<Tag>, Error> {
        let mut tags = Vec::new();
        if let Some(video) = self.video.clone() {
            tags.push(self.video_header(&video)?);
        }
        if let Some(AudioOut {
            aac: Some(config), ..
        }) = &self.audio
        {
            let tag = flv::write_audio(&AudioTag::AacConfig(config.clone()));
            tags.push(Tag::Audio(self.last, tag));
        }
        Ok(tags)
    }

    /// The timestamp of a decode time in ms: from the first packet on, never before it
    /// (a packet that decodes earlier is at 0), wrapping after 49.7 days as FLV's 32-bit
    /// clock does.
    fn stamp(&mut self, dts_ms: i64) -> u32 {
        let origin = *self.origin.get_or_insert(dts_ms);
        self.last = (dts_ms - origin).max(0) as u32;
        self.last
    }

    fn video_header(&self, video: &VideoOut) -> Result<Tag, Error> {
        let tag = VideoTag::SequenceHeader {
            codec: video.codec,
            config: video.config.clone(),
        };
        let data = flv::write_video(&tag).map_err(|e| self.tag_error(e))?;
        Ok(Tag::Video(self.last, data))
    }

    fn tag_error(&self, e: flv::Error) -> Error {
        Error::Output {
            output: self.endpoint.clone(),
            reason: e.to_string(),
        }
    }

    /// The tag of a packet (none for a track that does not go out).
    pub(crate) fn packet(&mut self, packet: Packet) -> Result<Option<Tag>, Error> {
        if let Some(video) = &self.video
            && video.index == packet.track
        {
            let dts = to_ms(packet.dts, video.timescale);
            let pts = to_ms(packet.dts + i64::from(packet.cts_offset), video.timescale);
            let tag = VideoTag::Frame {
                codec: video.codec,
                keyframe: packet.keyframe,
                composition_time: i32::try_from(pts - dts).unwrap_or(i32::MAX),
                data: packet.data,
            };
            let data = flv::write_video(&tag).map_err(|e| self.tag_error(e))?;
            return Ok(Some(Tag::Video(self.stamp(dts), data)));
        }
        if let Some(audio) = &self.audio
            && audio.index == packet.track
        {
            let tag = match audio.aac {
                Some(_) => AudioTag::AacFrame(packet.data),
                None => AudioTag::Mp3(packet.data),
            };
            let at = to_ms(packet.dts, audio.timescale);
            return Ok(Some(Tag::Audio(self.stamp(at), flv::write_audio(&tag))));
        }
        Ok(None)
    }

    /// A new configuration of `track`: its sequence header, at the last time given.
    pub(crate) fn set_codec(&mut self, track: usize, config: &Track) -> Result<Option<Tag>, Error> {
        match (&config.codec, self.video.clone(), self.audio.clone()) {
            (Codec::H264 { config } | Codec::H265 { config }, Some(mut video), _)
                if video.index == track =>
            {
                video.config = config.clone();
                let tag = self.video_header(&video)?;
                self.video = Some(video);
                Ok(Some(tag))
            }
            (Codec::Aac { config }, _, Some(mut audio)) if audio.index == track => {
                audio.aac = Some(config.clone());
                let tag = flv::write_audio(&AudioTag::AacConfig(config.clone()));
                self.audio = Some(audio);
                Ok(Some(Tag::Audio(self.last, tag)))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_to_nearest() {
        assert_eq!(to_ms(1024, 48_000), 21);
        assert_eq!(to_ms(2048, 48_000), 43);
        assert_eq!(to_ms(-1024, 48_000), -21);
        assert_eq!(to_ms(512, 12_800), 40);
    }

    #[test]
    fn what_goes_out_and_what_is_a_misfit() {
        let avc = Codec::H264 {
            config: Bytes::from_static(&[1]),
        };
        let aac = Codec::Aac {
            config: Bytes::from_static(&[0x11, 0x90]),
        };
        let video = Track::video(avc.clone(), 90_000, 320, 240);
        let audio = Track::audio(aac, 48_000, 2);
        let s = select(&[video.clone(), audio.clone()], "rtmp://h/live?key=***").unwrap();
        assert_eq!(s.metadata.video_codec_id, Some(7));
        assert_eq!(s.metadata.audio_codec_id, Some(10));
        let hevc = Track::video(
            Codec::H265 {
                config: Bytes::from_static(&[1]),
            },
            90_000,
            320,
            240,
        );
        let s = select(&[hevc], "x").unwrap();
        assert_eq!(s.metadata.video_codec_id, Some(0x6876_6331));
        let opus = Track::audio(
            Codec::Opus {
                head: Bytes::from_static(b"OpusHead"),
            },
            48_000,
            2,
        );
        for (tracks, found) in [
            (vec![video.clone(), opus], "track 1 is Opus audio"),
            (
                vec![video.clone(), video],
                "track 1 is H.264 video is a second video track",
            ),
            (vec![], "the input has no track"),
        ] {
            let Err(Error::Misfit { found: f, .. }) = select(&tracks, "x") else {
                panic!("{found}: no misfit");
            };
            assert_eq!(f, found);
        }
    }
}
