//! The named fields of a frame header (ISO/IEC 11172-3 §2.4.2.3: `ID`, `layer`, `mode`,
//! `emphasis`) and the reasons a header is invalid.

/// MPEG audio version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MPEG-1 (ISO/IEC 11172-3): 32, 44.1, 48 kHz.
    Mpeg1,
    /// MPEG-2 lower sampling frequencies (ISO/IEC 13818-3): 16, 22.05, 24 kHz.
    Mpeg2,
    /// MPEG-2.5 (Fraunhofer extension, not in the standards): 8, 11.025, 12 kHz.
    Mpeg25,
}

impl Version {
    /// `"1"`, `"2"` or `"2.5"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Mpeg1 => "1",
            Version::Mpeg2 => "2",
            Version::Mpeg25 => "2.5",
        }
    }
}

/// MPEG audio layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Layer I: 384 samples per frame, 4-byte slots.
    Layer1,
    /// Layer II: 1152 samples per frame.
    Layer2,
    /// Layer III (MP3): 1152 samples per frame in MPEG-1, 576 in MPEG-2/2.5.
    Layer3,
}

impl Layer {
    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            Layer::Layer1 => 1,
            Layer::Layer2 => 2,
            Layer::Layer3 => 3,
        }
    }
}

/// Channel mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelMode {
    /// Two independent channels.
    Stereo,
    /// Joint stereo (intensity and/or M/S, see the mode extension).
    JointStereo,
    /// Two independent mono channels.
    DualChannel,
    /// One channel.
    Mono,
}

impl ChannelMode {
    /// Number of channels (1 or 2).
    pub fn channels(self) -> u8 {
        if self == ChannelMode::Mono { 1 } else { 2 }
    }

    /// `"stereo"`, `"joint stereo"`, `"dual channel"` or `"mono"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelMode::Stereo => "stereo",
            ChannelMode::JointStereo => "joint stereo",
            ChannelMode::DualChannel => "dual channel",
            ChannelMode::Mono => "mono",
        }
    }
}

/// De-emphasis to apply after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emphasis {
    /// No emphasis.
    None,
    /// 50/15 µs.
    Ms50_15,
    /// Reserved value `10` (decoders accept it, so this parser does too).
    Reserved,
    /// CCITT J.17.
    CcittJ17,
}

/// Why 4 bytes are not a valid frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer than 4 bytes.
    #[error("need 4 bytes, got {0}")]
    TooShort(usize),
    /// The 11 sync bits are not all ones.
    #[error("no frame sync (0xFFE)")]
    NoSync,
    /// Version bits `01` (reserved).
    #[error("reserved MPEG version (bits 01)")]
    ReservedVersion,
    /// Layer bits `00` (reserved).
    #[error("reserved layer (bits 00)")]
    ReservedLayer,
    /// Bitrate index 15 (forbidden).
    #[error("forbidden bitrate index 15")]
    BadBitrate,
    /// Sample-rate index 3 (reserved).
    #[error("reserved sample-rate index 3")]
    ReservedSampleRate,
    /// MPEG-1 Layer II bitrate/mode pairs that ISO/IEC 11172-3 §2.4.2.3 does not allow.
    #[error("MPEG-1 Layer II does not allow {bitrate_kbps} kbit/s in {mode} mode")]
    ForbiddenLayer2Mode {
        /// Bitrate in kbit/s.
        bitrate_kbps: u32,
        /// Channel mode name.
        mode: &'static str,
    },
    /// No bitrate index for this bitrate, version and layer (in [`FrameHeader::new`](crate::FrameHeader::new)).
    #[error("{bitrate} bit/s is not a bitrate of this version and layer")]
    UnknownBitrate {
        /// Requested bitrate.
        bitrate: u32,
    },
    /// No sample-rate index for this rate (in [`FrameHeader::new`](crate::FrameHeader::new)).
    #[error("{sample_rate} Hz is not a sample rate of MPEG 1, 2 or 2.5")]
    UnknownSampleRate {
        /// Requested rate.
        sample_rate: u32,
    },
}
