//! Neutral track descriptions: what a recorder needs to write a track, without retina.
//!
//! Parameter sets follow ISO/IEC 14496-15 (AVCDecoderConfigurationRecord section 5.3.3.1,
//! HEVCDecoderConfigurationRecord section 8.3.3.1); the AudioSpecificConfig is ISO/IEC
//! 14496-3 section 1.6.2.1; the sample entries are ISO/IEC 14496-12 section 8.5.2 boxes
//! (`avc1`, `hvc1`, `mp4v`, `mp4a`), ready to put in an `stsd`.

use bytes::Bytes;

/// Video or audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// A video stream.
    Video,
    /// An audio stream.
    Audio,
}

/// The codec of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 / AVC: frames are 4-byte length-prefixed NAL units.
    H264,
    /// H.265 / HEVC: frames are 4-byte length-prefixed NAL units.
    H265,
    /// Motion JPEG (RFC 2435): each frame is a whole JPEG image.
    Jpeg,
    /// AAC (RFC 3640 `mpeg4-generic`): each frame is one raw access unit, no ADTS header.
    Aac,
    /// G.711 A-law.
    Pcma,
    /// G.711 µ-law.
    Pcmu,
    /// G.722.
    G722,
    /// G.726 at any bit rate.
    G726,
    /// IMA ADPCM (DVI4).
    Dvi4,
    /// Linear PCM, 16-bit big-endian.
    L16,
    /// Linear PCM, 8-bit unsigned.
    L8,
    /// G.723.1.
    G723,
}

impl Codec {
    /// The codec of an SDP encoding name (lower case), if retina depacketizes it.
    pub fn from_encoding_name(media: &str, name: &str) -> Option<Codec> {
        Some(match (media, name) {
            ("video", "h264") => Codec::H264,
            ("video", "h265") => Codec::H265,
            ("video" | "image", "jpeg") => Codec::Jpeg,
            ("audio", "mpeg4-generic") => Codec::Aac,
            ("audio", "pcma") => Codec::Pcma,
            ("audio", "pcmu") => Codec::Pcmu,
            ("audio", "g722") => Codec::G722,
            ("audio", "g726-16" | "g726-24" | "g726-32" | "g726-40") => Codec::G726,
            ("audio", "dvi4") => Codec::Dvi4,
            ("audio", "l16") => Codec::L16,
            ("audio", "u8") => Codec::L8,
            ("audio", "g723") => Codec::G723,
            _ => return None,
        })
    }

    /// Video or audio.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::H264 | Codec::H265 | Codec::Jpeg => MediaKind::Video,
            _ => MediaKind::Audio,
        }
    }
}

/// Codec parameter sets, each one NAL unit without start code or length prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterSets {
    /// H.264 sequence and picture parameter sets.
    H264 {
        /// Sequence parameter set.
        sps: Bytes,
        /// Picture parameter set.
        pps: Bytes,
    },
    /// H.265 video, sequence and picture parameter sets.
    H265 {
        /// Video parameter set.
        vps: Bytes,
        /// Sequence parameter set.
        sps: Bytes,
        /// Picture parameter set.
        pps: Bytes,
    },
    /// The codec has none (Motion JPEG).
    None,
}

/// What a video track looks like, once its parameters are known.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoInfo {
    /// Display width in pixels (after cropping).
    pub width: u32,
    /// Display height in pixels (after cropping).
    pub height: u32,
    /// Coded width (macroblock-aligned).
    pub coded_width: u32,
    /// Coded height (macroblock-aligned).
    pub coded_height: u32,
    /// Pixel aspect ratio `(h_spacing, v_spacing)` when the stream states it.
    pub pixel_aspect_ratio: Option<(u32, u32)>,
    /// Frames per second as a reduced fraction `(num, den)` when the bitstream states it
    /// (H.264 VUI timing), else from SDP `a=framerate`.
    pub frame_rate: Option<(u32, u32)>,
    /// Parameter sets.
    pub parameter_sets: ParameterSets,
    /// The decoder configuration record for MP4: the body of `avcC` (H.264) or `hvcC`
    /// (H.265); empty for Motion JPEG.
    pub decoder_config: Bytes,
}

impl VideoInfo {
    /// Frames per second as a float, when known.
    pub fn fps(&self) -> Option<f64> {
        self.frame_rate
            .filter(|(_, d)| *d != 0)
            .map(|(n, d)| f64::from(n) / f64::from(d))
    }
}

/// What an audio track carries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioInfo {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Samples per frame when fixed (1024 for AAC-LC).
    pub samples_per_frame: Option<u32>,
    /// The AAC AudioSpecificConfig; `None` for other codecs.
    pub audio_specific_config: Option<Bytes>,
}

/// One track of a session, as a recorder needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackInfo {
    /// Index of this track in [`Tracks::tracks`] and in [`crate::Frame::track`].
    pub index: usize,
    /// Index of the stream in the server's SDP.
    pub stream_index: usize,
    /// Video or audio.
    pub kind: MediaKind,
    /// The codec.
    pub codec: Codec,
    /// SDP encoding name, lower case (`h264`, `mpeg4-generic`, `pcma`...).
    pub encoding_name: String,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP clock rate in Hz: the unit of [`crate::Frame::timestamp`].
    pub clock_rate: u32,
    /// RFC 6381 codec string (`avc1.64001E`, `hvc1.1.6.L63.90`, `mp4a.40.2`, `mp4v.6C`)
    /// when known.
    pub codec_string: Option<String>,
    /// Video description; `None` for audio, and for video whose parameters have not
    /// arrived yet (a later [`crate::Event::TrackUpdated`] brings them).
    pub video: Option<VideoInfo>,
    /// Audio description; `None` for video.
    pub audio: Option<AudioInfo>,
    /// The MP4 sample entry box (`avc1`, `hvc1`, `mp4v`, `mp4a`), when retina can build
    /// one for this codec.
    pub sample_entry: Option<Bytes>,
    /// Why there is no sample entry (e.g. "G.711 has no MP4 sample entry in retina").
    pub sample_entry_missing: Option<String>,
}

impl TrackInfo {
    /// Whether this is a video track.
    pub fn is_video(&self) -> bool {
        self.kind == MediaKind::Video
    }
}

/// A stream of the SDP that is not recorded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedStream {
    /// Index of the stream in the server's SDP.
    pub stream_index: usize,
    /// SDP media (`video`, `audio`, `application`).
    pub media: String,
    /// SDP encoding name, lower case.
    pub encoding_name: String,
    /// Why it is skipped.
    pub reason: String,
    /// Whether retina could have depacketized it (it was left out by the selection, not
    /// for lack of support).
    pub supported: bool,
}

/// The tracks of a session, sent before its first frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tracks {
    /// Recorded tracks, in the order of [`crate::Frame::track`].
    pub tracks: Vec<TrackInfo>,
    /// Streams of the SDP that are not recorded.
    pub skipped: Vec<SkippedStream>,
    /// The server's `a=tool` SDP attribute, if any.
    pub server_tool: Option<String>,
}

impl Tracks {
    /// The first video track.
    pub fn video(&self) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.kind == MediaKind::Video)
    }

    /// The first audio track.
    pub fn audio(&self) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.kind == MediaKind::Audio)
    }
}

/// Frames per second from retina's frame duration `(num, den)` seconds, reduced.
pub(crate) fn fps_from_duration(duration: (u32, u32)) -> Option<(u32, u32)> {
    let (num, den) = duration;
    if num == 0 || den == 0 {
        return None;
    }
    let g = gcd(num, den);
    Some((den / g, num / g))
}

/// Frames per second from SDP `a=framerate` (a float), as a fraction over 1000.
pub(crate) fn fps_from_sdp(rate: f32) -> Option<(u32, u32)> {
    if !rate.is_finite() || rate <= 0.0 || rate > 1000.0 {
        return None;
    }
    let milli = (f64::from(rate) * 1000.0).round() as u32;
    let g = gcd(milli, 1000);
    Some((milli / g, 1000 / g))
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_reduce() {
        assert_eq!(fps_from_duration((2, 30)), Some((15, 1)));
        assert_eq!(fps_from_duration((1001, 30000)), Some((30000, 1001)));
        assert_eq!(fps_from_duration((0, 30)), None);
        assert_eq!(fps_from_sdp(15.0), Some((15, 1)));
        assert_eq!(fps_from_sdp(29.97), Some((2997, 100)));
        assert_eq!(fps_from_sdp(f32::NAN), None);
        assert_eq!(fps_from_sdp(-1.0), None);
    }

    #[test]
    fn codecs_from_names() {
        assert_eq!(
            Codec::from_encoding_name("video", "h264"),
            Some(Codec::H264)
        );
        assert_eq!(Codec::from_encoding_name("audio", "opus"), None);
        assert_eq!(
            Codec::from_encoding_name("audio", "g726-32"),
            Some(Codec::G726)
        );
        assert_eq!(Codec::Aac.kind(), MediaKind::Audio);
        assert_eq!(Codec::Jpeg.kind(), MediaKind::Video);
    }
}
