//! The transcoding policy (Boombox's `transcoding_policy`): which tracks are decoded and
//! encoded again between source and sink. The settings are always there (the CLI parses
//! them); the work needs the `codec` feature (`transcode.rs`).

use std::fmt;
use std::str::FromStr;

/// When tracks are transcoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TranscodePolicy {
    /// Never: a track the output cannot take fails the pipeline (or, G.711 from a
    /// camera, is left out), as without the `codec` feature.
    Never,
    /// Only the tracks the output cannot take (e.g. G.711 to MP4 becomes AAC); a track
    /// that fits is never re-encoded.
    #[default]
    IfNeeded,
    /// Every track, to the chosen codecs.
    Always,
}

impl FromStr for TranscodePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(TranscodePolicy::Never),
            "if-needed" => Ok(TranscodePolicy::IfNeeded),
            "always" => Ok(TranscodePolicy::Always),
            other => Err(format!(
                "transcode policy {other:?}: never, if-needed or always"
            )),
        }
    }
}

impl fmt::Display for TranscodePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TranscodePolicy::Never => "never",
            TranscodePolicy::IfNeeded => "if-needed",
            TranscodePolicy::Always => "always",
        })
    }
}

/// The audio codec transcoded tracks get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AudioTarget {
    /// AAC-LC.
    #[default]
    Aac,
    /// Opus.
    Opus,
    /// MP3 (for Icecast).
    Mp3,
}

impl FromStr for AudioTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "aac" => Ok(AudioTarget::Aac),
            "opus" => Ok(AudioTarget::Opus),
            "mp3" => Ok(AudioTarget::Mp3),
            other => Err(format!("audio codec {other:?}: aac, opus or mp3")),
        }
    }
}

/// The video codec transcoded tracks get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VideoTarget {
    /// H.264 (libx264, no B-frames).
    #[default]
    H264,
}

impl FromStr for VideoTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "h264" | "h.264" | "avc" => Ok(VideoTarget::H264),
            other => Err(format!("video codec {other:?}: h264")),
        }
    }
}

/// Transcoding settings (`--transcode`, `--video-codec`, `--audio-codec`,
/// `--video-bitrate`, `--audio-bitrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transcoding {
    /// When to transcode (default if-needed).
    pub policy: TranscodePolicy,
    /// Codec of transcoded video (default H.264).
    pub video_codec: VideoTarget,
    /// Codec of transcoded audio (default AAC).
    pub audio_codec: AudioTarget,
    /// Bitrate of transcoded video in bit/s (default 2 Mbit/s).
    pub video_bitrate: u64,
    /// Bitrate of transcoded audio in bit/s (default 128 kbit/s).
    pub audio_bitrate: u64,
}

impl Default for Transcoding {
    fn default() -> Self {
        Transcoding {
            policy: TranscodePolicy::IfNeeded,
            video_codec: VideoTarget::H264,
            audio_codec: AudioTarget::Aac,
            video_bitrate: 2_000_000,
            audio_bitrate: 128_000,
        }
    }
}

impl Transcoding {
    /// Whether this build and policy transcode at all.
    pub fn active(&self) -> bool {
        cfg!(feature = "codec") && self.policy != TranscodePolicy::Never
    }
}
