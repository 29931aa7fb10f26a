//! FLV tags (RTMP's video and audio messages, an FLV file's tags) into the pipeline's
//! tracks and packets: the `flv` crate reads each payload; this holds the frames until
//! the sequence headers of what was announced have come (at most [`HELD_TAGS`] tags),
//! then sends the tracks and every frame. H.264 (classic FLV or Enhanced RTMP `avc1`),
//! H.265 (`hvc1`), AAC and MP3 are taken; other codecs are left out with a warning. Video
//! keeps FLV's millisecond clock (timescale 1000); audio is counted in samples, following
//! the tag times when they jump by more than half a frame.

use std::time::SystemTime;

use bytes::Bytes;
use flv::{AudioTag, VideoCodec, VideoTag};
use mpeg_ts::{nal, sps};

use crate::contract::InputEvent;
use crate::{Codec, Error, Packet, Track};

/// Tags held while waiting for the sequence headers.
const HELD_TAGS: usize = 500;

/// What goes into the pipeline: tracks from the sequence headers, packets from frames.
#[derive(Default)]
pub(crate) struct Ingest {
    /// The metadata (RTMP) or the file header (FLV) announces video, audio.
    pub(crate) video_expected: bool,
    pub(crate) audio_expected: bool,
    video: Option<(VideoCodec, Track)>,
    audio: Option<Track>,
    /// Tags before the tracks were sent: (is video, ms, frame).
    held: Vec<Held>,
    /// Track indices once sent.
    indices: Option<(Option<usize>, Option<usize>)>,
    /// The first tag's time (ms): time zero.
    origin: Option<u32>,
    /// The next audio frame's time in samples, when continuous.
    next_audio: Option<i64>,
    /// Events ready for the pipeline, in order (see [`Ingest::take`]).
    ready: Vec<InputEvent>,
    /// Video and audio tags left out so far.
    left_out: [u64; 2],
}

enum Held {
    Video {
        ms: u32,
        keyframe: bool,
        cts: i32,
        data: Bytes,
    },
    Audio {
        ms: u32,
        data: Bytes,
    },
}

impl Ingest {
    /// A video tag's payload at `ms`.
    pub(crate) fn video(&mut self, data: Bytes, ms: u32, name: &str) -> Result<(), Error> {
        let tag = match flv::video(&data) {
            Ok(tag) => tag,
            Err(e) => {
                self.left_out(0, name, &format!("video tag left out: {e}"));
                return Ok(());
            }
        };
        match tag {
            VideoTag::SequenceHeader { codec, config } if self.indices.is_none() => {
                self.video_expected = true;
                match video_track(codec, config) {
                    Some(track) => self.video = Some((codec, track)),
                    None => tracing::warn!(
                        input = name,
                        "video {codec:?} left out: unreadable configuration"
                    ),
                }
            }
            VideoTag::Frame {
                keyframe,
                composition_time,
                data,
                ..
            } => {
                self.origin.get_or_insert(ms);
                self.held.push(Held::Video {
                    ms,
                    keyframe,
                    cts: composition_time,
                    data,
                });
            }
            _ => {}
        }
        self.flush(name)
    }

    /// An audio tag's payload at `ms`.
    pub(crate) fn audio(&mut self, data: Bytes, ms: u32, name: &str) -> Result<(), Error> {
        match flv::audio(&data) {
            Ok(AudioTag::AacConfig(config)) if self.indices.is_none() => {
                self.audio_expected = true;
                match flv::aac_rate_channels(&config) {
                    Some((rate, channels)) => {
                        self.audio = Some(Track::audio(Codec::Aac { config }, rate, channels));
                    }
                    None => {
                        tracing::warn!(input = name, "AAC left out: unreadable AudioSpecificConfig")
                    }
                }
            }
            Ok(AudioTag::AacFrame(data)) => {
                self.origin.get_or_insert(ms);
                self.held.push(Held::Audio { ms, data });
            }
            // MP3 (old FLV files): the track from the first frame's header.
            Ok(AudioTag::Mp3(data)) => {
                if self.indices.is_none() && self.audio.is_none() {
                    let header = mp3_frames::FrameHeader::parse_decodable(&data);
                    if let Ok((_, h)) = header {
                        let channels = u16::from(h.mode().channels());
                        self.audio = Some(Track::audio(Codec::Mp3, h.sample_rate(), channels));
                    }
                }
                self.origin.get_or_insert(ms);
                self.held.push(Held::Audio { ms, data });
            }
            Ok(_) => {}
            Err(e) => self.left_out(1, name, &format!("audio tag left out: {e}")),
        }
        self.flush(name)
    }

    /// Sends the tracks once known, then every held frame.
    fn flush(&mut self, name: &str) -> Result<(), Error> {
        if self.indices.is_none() {
            let ready = (!self.video_expected || self.video.is_some())
                && (!self.audio_expected || self.audio.is_some())
                && (self.video.is_some() || self.audio.is_some());
            if !ready && self.held.len() < HELD_TAGS {
                return Ok(());
            }
            let mut tracks = Vec::new();
            let video = self.video.as_ref().map(|(_, t)| {
                tracks.push(t.clone());
                tracks.len() - 1
            });
            let audio = self.audio.as_ref().map(|t| {
                tracks.push(t.clone());
                tracks.len() - 1
            });
            if tracks.is_empty() {
                return Err(Error::Input {
                    input: name.to_owned(),
                    reason: format!(
                        "no H.264, H.265 or AAC sequence header or MP3 frame in the first {HELD_TAGS} tags"
                    ),
                });
            }
            self.indices = Some((video, audio));
            self.ready.push(InputEvent::Tracks(tracks));
        }
        let Some((video, audio)) = self.indices else {
            return Ok(());
        };
        let origin = self.origin.unwrap_or(0);
        for held in std::mem::take(&mut self.held) {
            if let Held::Audio { ms, data } = held {
                self.audio_packets(audio, ms.wrapping_sub(origin), data);
                continue;
            }
            let packet = match held {
                Held::Video {
                    ms,
                    keyframe,
                    cts,
                    data,
                } => {
                    let Some(index) = video else { continue };
                    let mut packet =
                        Packet::new(index, i64::from(ms.wrapping_sub(origin)), keyframe, data);
                    packet.cts_offset = cts;
                    packet
                }
                Held::Audio { .. } => continue,
            };
            self.ready
                .push(InputEvent::Packet(packet, SystemTime::now()));
        }
        Ok(())
    }

    /// An audio tag's frames as packets of track `index`, `ms` after time zero: AAC is
    /// one frame of 1024 samples, MP3 the frames it holds; times count samples, following
    /// the tag times only when they jump by more than half a frame.
    fn audio_packets(&mut self, index: Option<usize>, ms: u32, data: Bytes) {
        let (Some(index), Some(track)) = (index, &self.audio) else {
            return;
        };
        let frames = match track.codec {
            Codec::Mp3 => super::mpeg_audio_frames(&data),
            _ => vec![(data, 1024)],
        };
        let rate = i64::from(track.sample_rate);
        let mut at = i64::from(ms) * rate / 1000;
        for (frame, samples) in frames {
            if let Some(next) = self.next_audio
                && (next - at).abs() <= i64::from(samples / 2)
            {
                at = next;
            }
            self.next_audio = Some(at + i64::from(samples));
            let packet = Packet::new(index, at, true, frame).with_duration(Some(samples));
            self.ready
                .push(InputEvent::Packet(packet, SystemTime::now()));
            at += i64::from(samples);
        }
    }

    /// A tag left out (`kind` 0 video, 1 audio): the first of each kind a warning, the
    /// others debug lines (an FLV of a codec we do not take has one in every tag).
    fn left_out(&mut self, kind: usize, name: &str, what: &str) {
        self.left_out[kind] += 1;
        if self.left_out[kind] == 1 {
            tracing::warn!(
                input = name,
                "{what} (later ones are logged at debug level)"
            );
        } else {
            tracing::debug!(input = name, "{what}");
        }
    }

    /// The input finished: what is held goes out (tracks too, if still unsent).
    pub(crate) fn finish(&mut self, name: &str) -> Result<(), Error> {
        if self.indices.is_none() && (self.video.is_some() || self.audio.is_some()) {
            self.video_expected = false;
            self.audio_expected = false;
        }
        if self.indices.is_none() && self.held.is_empty() {
            return Ok(());
        }
        self.flush(name)
    }

    /// Whether the tracks were sent.
    pub(crate) fn has_tracks(&self) -> bool {
        self.indices.is_some()
    }

    /// The events made so far, in order: the tracks once known, then packets.
    pub(crate) fn take(&mut self) -> std::vec::Drain<'_, InputEvent> {
        self.ready.drain(..)
    }
}

/// A video track from a sequence header: its picture size from the SPS.
fn video_track(codec: VideoCodec, config: Bytes) -> Option<Track> {
    type Dimensions = fn(&[u8]) -> Option<(u32, u32)>;
    let (sets, kind, sps_type, dimensions, codec_value): (_, _, _, Dimensions, _) = match codec {
        VideoCodec::H264 => (
            nal::avc_parameter_sets(&config).ok()?,
            nal::VideoCodec::H264,
            7,
            sps::avc_dimensions,
            Codec::H264 {
                config: config.clone(),
            },
        ),
        VideoCodec::H265 => (
            nal::hevc_parameter_sets(&config).ok()?,
            nal::VideoCodec::H265,
            33,
            sps::hevc_dimensions,
            Codec::H265 {
                config: config.clone(),
            },
        ),
        _ => return None,
    };
    let sps = sets.iter().find(|s| kind.nal_type(s) == Some(sps_type))?;
    let (width, height) = dimensions(sps)?;
    Some(Track::video(codec_value, 1000, width, height))
}
