//! [`PipeFormat`]: what `-` writes on standard output.

use std::fmt;

/// What `-` writes on standard output, named as a file's extension would be (ffmpeg's
/// `-f`): a player or another program reads it as it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PipeFormat {
    /// Fragmented MP4 (`mp4`, `fmp4`).
    #[default]
    Mp4,
    /// MPEG-TS (`ts`, `mpegts`).
    Ts,
    /// Matroska (`mkv`, `matroska`), as a live stream: the Segment's size unknown, no
    /// Cues; a cluster (a GOP) goes out when the next begins.
    Matroska,
    /// WebM (`webm`): VP8, VP9, AV1 and Opus, as Matroska.
    Webm,
    /// The MP3 track's frames (`mp3`), no Xing header (it is filled in at the end).
    Mp3,
    /// ADTS AAC (`aac`, `adts`).
    Aac,
    /// H.264 Annex B (`h264`, `264`).
    H264,
    /// H.265 Annex B (`h265`, `265`, `hevc`).
    H265,
    /// Ogg Opus (`opus`, `ogg`).
    Opus,
}

impl PipeFormat {
    const NAMES: &[(&str, PipeFormat)] = &[
        ("mp4", PipeFormat::Mp4),
        ("fmp4", PipeFormat::Mp4),
        ("ts", PipeFormat::Ts),
        ("mpegts", PipeFormat::Ts),
        ("mkv", PipeFormat::Matroska),
        ("matroska", PipeFormat::Matroska),
        ("webm", PipeFormat::Webm),
        ("mp3", PipeFormat::Mp3),
        ("aac", PipeFormat::Aac),
        ("adts", PipeFormat::Aac),
        ("h264", PipeFormat::H264),
        ("264", PipeFormat::H264),
        ("h265", PipeFormat::H265),
        ("265", PipeFormat::H265),
        ("hevc", PipeFormat::H265),
        ("opus", PipeFormat::Opus),
        ("ogg", PipeFormat::Opus),
    ];
}

impl std::str::FromStr for PipeFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PipeFormat::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, format)| format)
            .ok_or_else(|| {
                format!("unknown format {s:?}: mp4, ts, mkv, webm, mp3, aac, h264, h265 or opus")
            })
    }
}

impl fmt::Display for PipeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = PipeFormat::NAMES
            .iter()
            .find(|(_, format)| format == self)
            .map_or("mp4", |(name, _)| name);
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::PipeFormat;

    #[test]
    fn names_parse_both_ways_and_an_unknown_one_lists_the_known() {
        for name in [
            "ts", "mpegts", "MKV", "webm", "mp3", "adts", "h264", "hevc", "opus",
        ] {
            let format: PipeFormat = name.parse().unwrap();
            assert_eq!(format.to_string().parse::<PipeFormat>().unwrap(), format);
        }
        let err = "avi".parse::<PipeFormat>().unwrap_err();
        assert!(err.contains("mp4, ts, mkv"), "{err}");
    }
}
