//! Tracks: the codecs Matroska and WebM name (the Matroska codec mappings, `CodecID` and
//! what `CodecPrivate` holds) and the `TrackEntry` written for each.

use crate::ebml::{self, id};

/// A codec the writer names; each takes its frames as Matroska stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// `V_MPEG4/ISO/AVC`: length-prefixed NAL units; the private data is the
    /// `AVCDecoderConfigurationRecord` (the body of MP4's `avcC`).
    H264,
    /// `V_MPEGH/ISO/HEVC`: length-prefixed NAL units; the private data is the
    /// `HEVCDecoderConfigurationRecord` (the body of `hvcC`).
    H265,
    /// `V_VP8`: one frame per block, no private data.
    Vp8,
    /// `V_VP9`: one frame or superframe per block; private data optional.
    Vp9,
    /// `V_AV1`: one temporal unit per block; the private data is the
    /// `AV1CodecConfigurationRecord` (the body of `av1C`).
    Av1,
    /// `A_AAC`: raw access units; the private data is the AudioSpecificConfig.
    Aac,
    /// `A_MPEG/L3`: whole MPEG audio frames, headers included.
    Mp3,
    /// `A_MPEG/L2`: whole MPEG audio layer II frames.
    Mp2,
    /// `A_AC3`: one AC-3 sync frame per block, no private data.
    Ac3,
    /// `A_EAC3`: E-AC-3 frames (an access unit) per block, no private data.
    Eac3,
    /// `A_OPUS`: one Opus packet per block; the private data is the `OpusHead`, and the
    /// track says its pre-skip (`with_codec_delay`) and an 80 ms seek pre-roll.
    Opus,
    /// G.711 A-law (a camera's PCMA): `A_MS/ACM` with a `WAVEFORMATEX` of format 6, made
    /// from the track's rate and channels (Matroska has no codec ID of its own for it;
    /// ffmpeg and mkvmerge write it so). Blocks hold the 8-bit samples.
    Alaw,
    /// G.711 µ-law (PCMU): as [`Codec::Alaw`], format 7.
    Mulaw,
}

impl Codec {
    /// The `CodecID` string.
    pub fn id(self) -> &'static str {
        match self {
            Codec::H264 => "V_MPEG4/ISO/AVC",
            Codec::H265 => "V_MPEGH/ISO/HEVC",
            Codec::Vp8 => "V_VP8",
            Codec::Vp9 => "V_VP9",
            Codec::Av1 => "V_AV1",
            Codec::Aac => "A_AAC",
            Codec::Mp3 => "A_MPEG/L3",
            Codec::Mp2 => "A_MPEG/L2",
            Codec::Ac3 => "A_AC3",
            Codec::Eac3 => "A_EAC3",
            Codec::Opus => "A_OPUS",
            Codec::Alaw | Codec::Mulaw => "A_MS/ACM",
        }
    }

    /// Whether WebM may hold it (the WebM container guidelines: VP8, VP9, AV1, Opus and
    /// Vorbis; Vorbis is not written here).
    pub fn in_webm(self) -> bool {
        matches!(self, Codec::Vp8 | Codec::Vp9 | Codec::Av1 | Codec::Opus)
    }

    /// Whether its private data must be given.
    pub(crate) fn needs_private(self) -> bool {
        matches!(
            self,
            Codec::H264 | Codec::H265 | Codec::Av1 | Codec::Aac | Codec::Opus
        )
    }
}

/// Video or audio, with what the `Video` or `Audio` element says.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TrackKind {
    /// A video track of `width` × `height` pixels, shown at `display` (width, height)
    /// when its pixels are not square.
    Video {
        /// Coded width in pixels.
        width: u32,
        /// Coded height in pixels.
        height: u32,
        /// Display size, when it differs.
        display: Option<(u32, u32)>,
    },
    /// An audio track.
    Audio {
        /// Samples per second.
        sample_rate: u32,
        /// Channels.
        channels: u16,
    },
}

/// One track of the file. Built with [`Track::video`] or [`Track::audio`], then the
/// `with_` setters.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub(crate) codec: Codec,
    pub(crate) kind: TrackKind,
    pub(crate) private: Option<Vec<u8>>,
    pub(crate) codec_delay_ns: u64,
    pub(crate) seek_pre_roll_ns: u64,
}

impl Track {
    /// A video track of `width` × `height` pixels.
    pub fn video(codec: Codec, width: u32, height: u32) -> Track {
        Track::new(
            codec,
            TrackKind::Video {
                width,
                height,
                display: None,
            },
        )
    }

    /// An audio track.
    pub fn audio(codec: Codec, sample_rate: u32, channels: u16) -> Track {
        Track::new(
            codec,
            TrackKind::Audio {
                sample_rate,
                channels,
            },
        )
    }

    fn new(codec: Codec, kind: TrackKind) -> Track {
        Track {
            codec,
            kind,
            private: None,
            codec_delay_ns: 0,
            // RFC 9559 §5.1.4.1.19 (Opus in Matroska): 80 ms of pre-roll after a seek.
            seek_pre_roll_ns: if codec == Codec::Opus { 80_000_000 } else { 0 },
        }
    }

    /// The codec's private data (`CodecPrivate`): see [`Codec`] for what each takes.
    #[must_use]
    pub fn with_private(mut self, private: impl Into<Vec<u8>>) -> Track {
        self.private = Some(private.into());
        self
    }

    /// Samples the decoder drops at the start, in nanoseconds (`CodecDelay`: Opus's
    /// pre-skip).
    #[must_use]
    pub fn with_codec_delay(mut self, nanoseconds: u64) -> Track {
        self.codec_delay_ns = nanoseconds;
        self
    }

    /// A video track's display size (non-square pixels).
    #[must_use]
    pub fn with_display_size(mut self, width: u32, height: u32) -> Track {
        if let TrackKind::Video { display, .. } = &mut self.kind {
            *display = Some((width, height));
        }
        self
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Video or audio.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// G.711's `WAVEFORMATEX` (Microsoft's `mmreg.h`, little-endian): format tag, channels,
    /// samples per second, bytes per second, block align, bits per sample, no extra bytes.
    fn wave_format(&self) -> Option<Vec<u8>> {
        let tag: u16 = match self.codec {
            Codec::Alaw => 6,
            Codec::Mulaw => 7,
            _ => return None,
        };
        let TrackKind::Audio {
            sample_rate,
            channels,
        } = self.kind
        else {
            return None;
        };
        let mut format = Vec::with_capacity(18);
        format.extend_from_slice(&tag.to_le_bytes());
        format.extend_from_slice(&channels.to_le_bytes());
        format.extend_from_slice(&sample_rate.to_le_bytes());
        format.extend_from_slice(
            &sample_rate
                .saturating_mul(u32::from(channels))
                .to_le_bytes(),
        );
        format.extend_from_slice(&channels.to_le_bytes());
        format.extend_from_slice(&8u16.to_le_bytes());
        format.extend_from_slice(&0u16.to_le_bytes());
        Some(format)
    }

    /// The `TrackEntry` of track `number` (from 1).
    pub(crate) fn entry(&self, number: u64, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(64 + self.private.as_ref().map_or(0, Vec::len));
        ebml::uint(&mut body, id::TRACK_NUMBER, number);
        // Unique within the file is enough (RFC 9559 §5.1.4.1.2); readers key on it.
        ebml::uint(&mut body, id::TRACK_UID, number);
        let kind = match self.kind {
            TrackKind::Video { .. } => 1,
            TrackKind::Audio { .. } => 2,
        };
        ebml::uint(&mut body, id::TRACK_TYPE, kind);
        ebml::uint(&mut body, id::FLAG_LACING, 0);
        // The default is "eng"; nothing says the media is English.
        ebml::string(&mut body, id::LANGUAGE, "und");
        ebml::string(&mut body, id::CODEC_ID, self.codec.id());
        if let Some(private) = &self.private {
            ebml::binary(&mut body, id::CODEC_PRIVATE, private);
        } else if let Some(format) = self.wave_format() {
            ebml::binary(&mut body, id::CODEC_PRIVATE, &format);
        }
        if self.codec_delay_ns > 0 {
            ebml::uint(&mut body, id::CODEC_DELAY, self.codec_delay_ns);
        }
        if self.seek_pre_roll_ns > 0 {
            ebml::uint(&mut body, id::SEEK_PRE_ROLL, self.seek_pre_roll_ns);
        }
        let mut inner = Vec::with_capacity(32);
        match self.kind {
            TrackKind::Video {
                width,
                height,
                display,
            } => {
                ebml::uint(&mut inner, id::PIXEL_WIDTH, width.into());
                ebml::uint(&mut inner, id::PIXEL_HEIGHT, height.into());
                if let Some((w, h)) = display {
                    ebml::uint(&mut inner, id::DISPLAY_WIDTH, w.into());
                    ebml::uint(&mut inner, id::DISPLAY_HEIGHT, h.into());
                }
                ebml::binary(&mut body, id::VIDEO, &inner);
            }
            TrackKind::Audio {
                sample_rate,
                channels,
            } => {
                ebml::float(&mut inner, id::SAMPLING_FREQUENCY, sample_rate.into());
                ebml::uint(&mut inner, id::CHANNELS, channels.into());
                ebml::binary(&mut body, id::AUDIO, &inner);
            }
        }
        ebml::binary(out, id::TRACK_ENTRY, &body);
    }
}
