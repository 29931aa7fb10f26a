//! What the server sends: the stream's codecs and its frames.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::payloads::{Cut, Payload, Payloads};

/// The video codec of a WHEP stream (passed through, never transcoded).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264, packetization-mode 1 (RFC 6184); `profile_level_id` is the three bytes
    /// after the SPS's NAL header (profile_idc, constraint flags, level_idc).
    H264 {
        /// `profile-level-id` of the SDP (RFC 6184 §8.1).
        profile_level_id: u32,
    },
    /// H.265 (RFC 7798); a frame is an Annex B access unit. The SDP's `profile-id`,
    /// `tier-flag` and `level-id` (RFC 7798 §7.1) are those of the stream's
    /// `HEVCDecoderConfigurationRecord`.
    H265 {
        /// `general_profile_idc`.
        profile_id: u8,
        /// `general_tier_flag`.
        tier_flag: u8,
        /// `general_level_idc`.
        level_id: u8,
    },
    /// VP8 (RFC 7741); a frame is one VP8 frame as the encoder wrote it.
    Vp8,
    /// VP9 (RFC 9628); a frame is one VP9 frame (or superframe).
    Vp9,
    /// AV1 (the AOM's "RTP Payload Format for AV1"); a frame is one temporal unit of
    /// low-overhead OBUs with their size fields.
    Av1,
}

/// The audio codec of a WHEP stream (passed through, never transcoded).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Opus at 48 kHz (RFC 7587).
    Opus,
    /// G.711 A-law at 8 kHz.
    Pcma,
    /// G.711 µ-law at 8 kHz.
    Pcmu,
}

impl AudioCodec {
    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Opus => 48_000,
            AudioCodec::Pcma | AudioCodec::Pcmu => 8_000,
        }
    }
}

/// The codecs of the stream a server sends: at least one of them.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCodecs {
    /// The video codec, if the stream has video.
    pub video: Option<VideoCodec>,
    /// The audio codec, if the stream has audio.
    pub audio: Option<AudioCodec>,
}

impl StreamCodecs {
    /// Codecs for a stream with this video and audio.
    pub fn new(video: Option<VideoCodec>, audio: Option<AudioCodec>) -> Self {
        StreamCodecs { video, audio }
    }

    /// For error messages: "H.264 video, Opus audio".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.video {
            Some(VideoCodec::H264 { .. }) => {
                parts.push("H.264 (packetization-mode 1) video".to_owned());
            }
            Some(VideoCodec::H265 { .. }) => parts.push("H.265 video".to_owned()),
            Some(VideoCodec::Vp8) => parts.push("VP8 video".to_owned()),
            Some(VideoCodec::Vp9) => parts.push("VP9 video".to_owned()),
            Some(VideoCodec::Av1) => parts.push("AV1 video".to_owned()),
            None => {}
        }
        if let Some(a) = self.audio {
            parts.push(format!("{a:?} audio"));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Which track of the stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrackKind {
    /// The video track.
    Video,
    /// The audio track.
    Audio,
}

/// One frame of the stream: a video access unit (H.264: Annex B, parameter sets before
/// key frames; VP8, VP9, AV1: the frame as the encoder wrote it), or one audio packet.
/// The payload is shared by every viewer (one `Arc`, cloned per viewer), and so are its
/// RTP payloads: cut on the first write, kept with the frame for every clone of it.
/// Build it with [`Frame::new`].
#[derive(Clone)]
#[non_exhaustive]
pub struct Frame {
    /// Its track.
    pub track: TrackKind,
    /// Its presentation time at the codec's RTP clock (90 kHz video, the audio codec's rate).
    pub rtp_time: u64,
    /// A key frame (always true for audio).
    pub keyframe: bool,
    /// The payload.
    pub data: Arc<[u8]>,
    payloads: Arc<OnceLock<Payloads>>,
}

impl Frame {
    /// A frame of `track` presented at `rtp_time` (the codec's RTP clock); `keyframe`
    /// is true for every audio frame.
    pub fn new(track: TrackKind, rtp_time: u64, keyframe: bool, data: Arc<[u8]>) -> Self {
        Frame {
            track,
            rtp_time,
            keyframe,
            data,
            payloads: Arc::default(),
        }
    }

    /// Its RTP payloads cut `cut`'s way: cut once and shared by every clone of the frame
    /// (a frame cut another way first is cut again, not kept).
    pub(crate) fn payloads(&self, cut: Cut) -> Cow<'_, [Payload]> {
        let cached = self.payloads.get_or_init(|| Payloads::new(cut, &self.data));
        match cached.get(cut) {
            Some(list) => Cow::Borrowed(list),
            None => Payloads::once(cut, &self.data),
        }
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.track == other.track
            && self.rtp_time == other.rtp_time
            && self.keyframe == other.keyframe
            && self.data == other.data
    }
}

impl Eq for Frame {}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("track", &self.track)
            .field("rtp_time", &self.rtp_time)
            .field("keyframe", &self.keyframe)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}
