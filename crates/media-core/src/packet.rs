//! The neutral packet and track types that travel between endpoints.
//!
//! Sources convert their own types into these ([`rtsp_source::Frame`], MP3 frames, raw
//! packets from code); sinks convert them into theirs (`bmff_writer::Sample`). The
//! pipeline itself never looks inside the payload.

use bytes::Bytes;

/// Video or audio (more kinds may come: match with a `_` arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// A video track.
    Video,
    /// An audio track.
    Audio,
}

/// A track's codec and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// H.264; packets are 4-byte length-prefixed NAL units. The configuration is an
    /// `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1, the body of `avcC`).
    H264 {
        /// The decoder configuration record.
        config: Bytes,
    },
    /// H.265; packets are 4-byte length-prefixed NAL units. The configuration is an
    /// `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1, the body of `hvcC`).
    H265 {
        /// The decoder configuration record.
        config: Bytes,
    },
    /// AAC; packets are raw access units (no ADTS header).
    Aac {
        /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
        config: Bytes,
    },
    /// MPEG audio (MP3, MP2); one whole frame, header included, per packet.
    Mp3,
    /// AC-3 (Dolby Digital, ETSI TS 102 366); one sync frame (1536 samples) per packet.
    /// The configuration is the body of an MP4 `dac3` box (Annex F.4, 3 bytes: rate,
    /// bitstream id and mode, channel mode, LFE, bit rate), as the first frame gives it.
    Ac3 {
        /// The `AC3SpecificBox` body.
        config: Bytes,
    },
    /// Enhanced AC-3 (Dolby Digital Plus, ETSI TS 102 366 Annex E); one access unit per
    /// packet: 1536 samples of the first independent substream with the frames of the
    /// other substreams. The configuration is the body of an MP4 `dec3` box (F.6).
    Eac3 {
        /// The `EC3SpecificBox` body.
        config: Bytes,
    },
    /// Opus (RFC 6716); one Opus packet per packet, timestamps at 48 kHz. The
    /// configuration is an `OpusHead` (RFC 7845 §5.1: channels, pre-skip, input rate,
    /// gain, channel mapping), as Ogg carries it and MP4's `dOps` maps it.
    Opus {
        /// The `OpusHead` packet.
        head: Bytes,
    },
    /// VP8 (RFC 6386); one frame per packet, a key frame when its frame tag says so
    /// (§9.1). VP8 has no decoder configuration: the key frame header carries it.
    Vp8,
    /// VP9; one frame (or superframe) per packet. The configuration is a
    /// `VPCodecConfigurationRecord` ("VP Codec ISO Media File Format Binding" §2.2, the
    /// body of `vpcC` after its version and flags): profile, level, bit depth, chroma
    /// subsampling and colour, as the first key frame's header gives them.
    Vp9 {
        /// The configuration record.
        config: Bytes,
    },
    /// AV1; one temporal unit of low-overhead OBUs per packet. The configuration is an
    /// `AV1CodecConfigurationRecord` ("AV1 Codec ISO Media File Format Binding" §2.3, the
    /// body of `av1C`), the sequence header OBU at its end.
    Av1 {
        /// The configuration record.
        config: Bytes,
    },
    /// Any other codec, described by its ready MP4 sample entry box (e.g. Motion JPEG's
    /// `mp4v` as retina builds it).
    SampleEntry {
        /// The whole box, size and type included.
        entry: Bytes,
    },
}

impl Codec {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Codec::H264 { .. } => "H.264",
            Codec::H265 { .. } => "H.265",
            Codec::Aac { .. } => "AAC",
            Codec::Mp3 => "MP3",
            Codec::Ac3 { .. } => "AC-3",
            Codec::Eac3 { .. } => "E-AC-3",
            Codec::Opus { .. } => "Opus",
            Codec::Vp8 => "VP8",
            Codec::Vp9 { .. } => "VP9",
            Codec::Av1 { .. } => "AV1",
            Codec::SampleEntry { .. } => "sample entry",
        }
    }
}

/// One track: what a sink needs to set up its output before the first packet. Built with
/// [`Track::video`] or [`Track::audio`], then fields set: new fields may come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Track {
    /// Video or audio.
    pub kind: MediaKind,
    /// Codec and decoder configuration.
    pub codec: Codec,
    /// Ticks per second of the packets' timestamps (e.g. the RTP clock rate).
    pub timescale: u32,
    /// Video: width and height in pixels (0 for audio).
    pub width: u32,
    /// Video: height in pixels.
    pub height: u32,
    /// Video: pixel aspect ratio `(h_spacing, v_spacing)` when known.
    pub pixel_aspect: Option<(u32, u32)>,
    /// Video: how to show the pictures when not as coded, as MP4 and QuickTime say it:
    /// the `tkhd` transformation matrix (ISO/IEC 14496-12 §8.3.2; `a b u c d v x y w`,
    /// 16.16 fixed point but `u v w` 2.30). A phone's portrait video is a landscape
    /// picture with a 90° rotation here. `None`: as coded (the unity matrix).
    pub display_matrix: Option<[i32; 9]>,
    /// Audio: samples per second (0 for video).
    pub sample_rate: u32,
    /// Audio: channels (0 for video).
    pub channels: u16,
}

impl Track {
    /// A video track of `width`×`height` pixels, timestamps in `timescale` ticks/s.
    pub fn video(codec: Codec, timescale: u32, width: u32, height: u32) -> Track {
        Track {
            kind: MediaKind::Video,
            codec,
            timescale,
            width,
            height,
            pixel_aspect: None,
            display_matrix: None,
            sample_rate: 0,
            channels: 0,
        }
    }

    /// An audio track whose timestamps count samples (timescale = sample rate).
    pub fn audio(codec: Codec, sample_rate: u32, channels: u16) -> Track {
        Track {
            kind: MediaKind::Audio,
            codec,
            timescale: sample_rate,
            width: 0,
            height: 0,
            pixel_aspect: None,
            display_matrix: None,
            sample_rate,
            channels,
        }
    }

    /// The same track with timestamps in another clock (e.g. 90 kHz).
    pub fn with_timescale(mut self, timescale: u32) -> Track {
        self.timescale = timescale;
        self
    }
}

/// One encoded frame of one track. Built with [`Packet::new`] and the `with_` setters:
/// new fields may come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Packet {
    /// Index of the track in the pipeline's track list.
    pub track: usize,
    /// Decode time in the track's timescale. All tracks share one time origin.
    pub dts: i64,
    /// Presentation time minus decode time (B-frames), in the track's timescale.
    pub cts_offset: i32,
    /// Duration in the track's timescale when the codec fixes it (audio); otherwise the
    /// gap to the next packet of the track.
    pub duration: Option<u32>,
    /// A random access point (video key frame; every audio frame).
    pub keyframe: bool,
    /// The payload.
    pub data: Bytes,
}

impl Packet {
    /// A packet with no composition offset and no duration.
    pub fn new(track: usize, dts: i64, keyframe: bool, data: Bytes) -> Packet {
        Packet {
            track,
            dts,
            cts_offset: 0,
            duration: None,
            keyframe,
            data,
        }
    }

    /// The same packet shown `cts_offset` ticks after it is decoded (B-frames).
    #[must_use]
    pub fn with_cts_offset(mut self, cts_offset: i32) -> Packet {
        self.cts_offset = cts_offset;
        self
    }

    /// The same packet with a known duration (in the track's timescale).
    #[must_use]
    pub fn with_duration(mut self, duration: Option<u32>) -> Packet {
        self.duration = duration;
        self
    }

    /// Decode time in seconds, given the track's timescale.
    pub fn seconds(&self, timescale: u32) -> f64 {
        self.dts as f64 / f64::from(timescale.max(1))
    }
}
