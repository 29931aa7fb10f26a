//! The format a stream keeps from its first frame (what listeners' decoders were set up
//! for), and the checks of frames pushed from code against it and against their content
//! type (ISO/IEC 11172-3 §2.4.2.3 for MP3, ISO/IEC 14496-3 §1.A.2.2 for ADTS).

use mp3_frames::FrameHeader;

use crate::adts::AdtsHeader;
use crate::ogg::{OggCodec, OggPage};
use crate::{AudioFrame, ContentType, Error, IcecastConfig};

/// The format every frame of a stream keeps (what a listener's decoder was set up for).
pub(crate) fn same_format(a: FrameHeader, b: FrameHeader) -> bool {
    a.version() == b.version()
        && a.layer() == b.layer()
        && a.sample_rate() == b.sample_rate()
        && a.mode().channels() == b.mode().channels()
}

pub(crate) fn describe(h: FrameHeader) -> String {
    format!(
        "{} Layer {} {} Hz {} ch",
        h.version().as_str(),
        h.layer().number(),
        h.sample_rate(),
        h.mode().channels()
    )
}

/// The format of the first frame, which every later frame keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    Mp3(FrameHeader),
    Aac(AdtsHeader),
    /// Ogg pages: each page's duration comes from its granule advance. The codec is known
    /// for songs of a queue (from their first page), not for pushed pages.
    Ogg(Option<OggCodec>),
}

impl Format {
    pub(crate) fn describe(self) -> String {
        match self {
            Format::Mp3(h) => describe(h),
            Format::Aac(h) => h.describe(),
            Format::Ogg(Some(codec)) => codec.describe(),
            Format::Ogg(None) => "Ogg pages".into(),
        }
    }

    /// Whether a listener's decoder set up for `self` can go on with `other` (for Ogg: the
    /// same codec and channels, although each song is a new logical stream, since players
    /// keep their output set up across a chain).
    pub(crate) fn same_format(self, other: Format) -> bool {
        match (self, other) {
            (Format::Mp3(a), Format::Mp3(b)) => same_format(a, b),
            (Format::Aac(a), Format::Aac(b)) => a.same_format(&b),
            (Format::Ogg(Some(a)), Format::Ogg(Some(b))) => a == b,
            (Format::Ogg(_), Format::Ogg(_)) => true,
            _ => false,
        }
    }

    /// The content type a stream of this format is announced with (`configured` when it
    /// fits, e.g. `audio/aacp` or `audio/ogg` asked for by the caller).
    pub(crate) fn content_type(self, configured: ContentType) -> ContentType {
        match self {
            Format::Mp3(_) => ContentType::Mpeg,
            Format::Aac(_) if configured.is_aac() => configured,
            Format::Aac(_) => ContentType::Aac,
            Format::Ogg(_) if configured.is_ogg() => configured,
            Format::Ogg(_) => ContentType::Ogg,
        }
    }
}

/// Reads a pushed frame's header as the content type says; the frame's own sample count
/// and rate must agree with it (they pace the stream).
pub(crate) fn pushed_format(
    config: &IcecastConfig,
    frame: &AudioFrame,
    index: u64,
) -> Result<Format, Error> {
    let input = || format!("pushed frame {index}");
    if config.content_type.is_ogg() {
        let page = OggPage::parse(&frame.data).map_err(|found| Error::NotOgg {
            input: input(),
            found,
        })?;
        if page.data.len() != frame.data.len() {
            return Err(Error::NotOgg {
                input: input(),
                found: "more than one page pushed (one page per push)".into(),
            });
        }
        return Ok(Format::Ogg(None));
    }
    let (format, samples, rate) = if config.content_type.is_aac() {
        let h = AdtsHeader::parse(&frame.data).map_err(|found| Error::NotAdts {
            input: input(),
            found,
        })?;
        if h.frame_length != frame.data.len() {
            return Err(Error::NotAdts {
                input: input(),
                found: format!(
                    "its header says {} bytes, {} were pushed (one frame per push)",
                    h.frame_length,
                    frame.data.len()
                ),
            });
        }
        (Format::Aac(h), h.samples(), h.sample_rate)
    } else {
        let h = mp3_frames::header_at(&frame.data, 0).map_err(|e| Error::NotMp3 {
            input: input(),
            found: e.to_string(),
        })?;
        (Format::Mp3(h), h.samples(), h.sample_rate())
    };
    if (samples, rate) != (frame.samples, frame.sample_rate) {
        return Err(Error::FormatChange {
            input: input(),
            offset: index,
            from: format!("{samples} samples at {rate} Hz (its header)"),
            to: format!(
                "{} samples at {} Hz (as pushed)",
                frame.samples, frame.sample_rate
            ),
        });
    }
    Ok(format)
}

/// A pushed frame must keep the stream's format (`format`, paced at `sample_rate`).
pub(crate) fn check_pushed(
    config: &IcecastConfig,
    stream: Format,
    sample_rate: u32,
    frame: AudioFrame,
    index: u64,
) -> Result<AudioFrame, Error> {
    let format = pushed_format(config, &frame, index)?;
    if !stream.same_format(format) || frame.sample_rate != sample_rate {
        return Err(Error::FormatChange {
            input: format!("pushed frame {index}"),
            offset: index,
            from: stream.describe(),
            to: format!(
                "{} (frame says {} Hz)",
                format.describe(),
                frame.sample_rate
            ),
        });
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mp3_frames::silent_frame;

    use super::*;
    use crate::ContentType;

    #[test]
    fn pushed_frames_must_agree_with_their_headers_and_content_type() {
        let mp3 = IcecastConfig::from_url("icecast://h/m").unwrap();
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 1152 samples.
        let header = FrameHeader::from_u32(0xFFFB_9064).unwrap();
        let data = Bytes::from(silent_frame(&header).unwrap());
        let right = AudioFrame::mp3(data.clone()).unwrap();
        assert_eq!((right.samples, right.sample_rate), (1152, 44_100));
        assert!(matches!(pushed_format(&mp3, &right, 0), Ok(Format::Mp3(_))));
        let lying = AudioFrame::new(data.clone(), 1024, 48_000);
        let err = pushed_format(&mp3, &lying, 5).unwrap_err();
        assert!(
            matches!(err, Error::FormatChange { offset: 5, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("48000 Hz (as pushed)"), "{err}");
        let aac = mp3.with_content_type(ContentType::Aac);
        let err = pushed_format(&aac, &right, 0).unwrap_err();
        assert!(matches!(err, Error::NotAdts { .. }), "{err:?}");
    }
}
