//! One frame for the wire, and how long it plays.

use bytes::Bytes;

use crate::{Error, adts::AdtsHeader};

/// One encoded audio frame ready for the wire: an MP3 frame (header included, no tags) or
/// an ADTS AAC frame. `samples` at `sample_rate` is how long it plays, which paces it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioFrame {
    /// The frame's bytes.
    pub data: Bytes,
    /// Samples per channel in the frame (1152 or 576 for MP3 Layer III, 1024 per ADTS raw
    /// data block).
    pub samples: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl AudioFrame {
    /// A frame of `samples` samples at `sample_rate` Hz.
    pub fn new(data: Bytes, samples: u32, sample_rate: u32) -> Self {
        AudioFrame {
            data,
            samples,
            sample_rate,
        }
    }

    /// An MP3 frame, its duration read from its header (ISO/IEC 11172-3 §2.4.2.3).
    pub fn mp3(data: Bytes) -> Result<Self, Error> {
        let header = mp3_frames::header_at(&data, 0).map_err(|source| Error::Mp3 {
            context: "reading a pushed frame's header".into(),
            source,
        })?;
        Ok(AudioFrame::new(
            data,
            header.samples(),
            header.sample_rate(),
        ))
    }

    /// An ADTS AAC frame, its duration read from its header (ISO/IEC 14496-3 §1.A.2.2).
    pub fn adts(data: Bytes) -> Result<Self, Error> {
        let header = AdtsHeader::parse(&data).map_err(|found| Error::NotAdts {
            input: "pushed frame".into(),
            found,
        })?;
        if header.frame_length != data.len() {
            return Err(Error::NotAdts {
                input: "pushed frame".into(),
                found: format!(
                    "its header says {} bytes, it has {}",
                    header.frame_length,
                    data.len()
                ),
            });
        }
        Ok(AudioFrame::new(data, header.samples(), header.sample_rate))
    }
}
