//! ADTS AAC frame headers (ISO/IEC 14496-3 §1.A.2.2, `adts_fixed_header` and
//! `adts_variable_header`), enough to stream AAC: sync, sample rate, channels, frame length
//! and sample count. Sans-I/O; never panics on any input.
//!
//! An ADTS frame is a 7-byte header (9 with a CRC) and 1 to 4 raw data blocks of 1024
//! samples each. Icecast relays `audio/aac` streams byte for byte, so the frames a source
//! sends are exactly what a listener's decoder gets.

use bytes::Bytes;

use crate::{AudioFrame, Error};

/// `sampling_frequency_index` → Hz (ISO/IEC 14496-3 Table 1.18).
const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The `sampling_frequency_index` of `sample_rate` (Table 1.18), if it has one (for the
/// silent frames of the `tokio` client).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn rate_index(sample_rate: u32) -> Option<u8> {
    SAMPLE_RATES
        .iter()
        .position(|&r| r == sample_rate)
        .and_then(|i| u8::try_from(i).ok())
}

/// The fields of an ADTS header a source client needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdtsHeader {
    /// `profile_ObjectType` + 1: the MPEG-4 audio object type (2 = AAC LC).
    pub object_type: u8,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// `channel_configuration` (0 = given in the stream, 1–7 as Table 1.19).
    pub channel_configuration: u8,
    /// Whole frame length in bytes, header included.
    pub frame_length: usize,
    /// Raw data blocks in the frame (1–4).
    pub raw_data_blocks: u8,
    /// Whether a CRC follows the header.
    pub has_crc: bool,
}

impl AdtsHeader {
    /// Parses the header at the start of `data`; `Err` says what is wrong.
    pub fn parse(data: &[u8]) -> Result<AdtsHeader, String> {
        let Some(b) = data.get(..7) else {
            return Err(format!("{} bytes, an ADTS header has 7", data.len()));
        };
        if b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return Err(format!(
                "no ADTS sync word (starts {:02X} {:02X})",
                b[0], b[1]
            ));
        }
        let has_crc = b[1] & 0x01 == 0;
        let object_type = (b[2] >> 6) + 1;
        let rate_index = usize::from((b[2] >> 2) & 0x0F);
        let sample_rate = *SAMPLE_RATES
            .get(rate_index)
            .ok_or_else(|| format!("reserved sampling frequency index {rate_index}"))?;
        let channel_configuration = ((b[2] & 0x01) << 2) | (b[3] >> 6);
        let frame_length =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        let header_length = if has_crc { 9 } else { 7 };
        if frame_length < header_length {
            return Err(format!(
                "frame length {frame_length} shorter than its header"
            ));
        }
        Ok(AdtsHeader {
            object_type,
            sample_rate,
            channel_configuration,
            frame_length,
            raw_data_blocks: (b[6] & 0x03) + 1,
            has_crc,
        })
    }

    /// Samples per channel in the frame (1024 per raw data block).
    pub fn samples(&self) -> u32 {
        1024 * u32::from(self.raw_data_blocks)
    }

    /// Channel count for `ice-audio-info` (`None` when the configuration is in-band).
    pub fn channels(&self) -> Option<u8> {
        match self.channel_configuration {
            0 => None,
            7 => Some(8),
            n => Some(n),
        }
    }

    /// Whether a listener's decoder set up for `self` can go on with `other`.
    pub fn same_format(&self, other: &AdtsHeader) -> bool {
        self.object_type == other.object_type
            && self.sample_rate == other.sample_rate
            && self.channel_configuration == other.channel_configuration
    }

    /// `AAC (object type 2) 44100 Hz 2 ch`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "AAC (object type {}) {} Hz channel configuration {}",
            self.object_type, self.sample_rate, self.channel_configuration
        )
    }
}

/// An ADTS frame around one raw AAC access unit (no CRC, one raw data block), its
/// header built from the track's AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1: object
/// type, sampling frequency index, channel configuration). RTSP cameras and MP4 files
/// carry raw access units; Icecast listeners need ADTS. The 7-byte header and the
/// payload are joined here (one small copy per frame: AAC frames are a few hundred bytes).
pub fn frame(audio_specific_config: &[u8], access_unit: &[u8]) -> Result<Bytes, Error> {
    let fail = |found: String| Error::NotAdts {
        input: "AAC track".into(),
        found,
    };
    let [b0, b1, ..] = *audio_specific_config else {
        return Err(fail(format!(
            "an AudioSpecificConfig of {} bytes (needs 2 or more)",
            audio_specific_config.len()
        )));
    };
    let object_type = match b0 >> 3 {
        // HE-AAC (v2) signalled explicitly (SBR 5, PS 29; ISO/IEC 14496-3 §1.6.2.1): its
        // first rate is the AAC core's, which ADTS carries as LC, the decoder finding
        // the extensions in the frames (as ffmpeg's ADTS muxer writes it).
        5 | 29 => 2,
        other => other,
    };
    let rate_index = ((b0 & 0x07) << 1) | (b1 >> 7);
    let channels = (b1 >> 3) & 0x0F;
    // ADTS has 2 bits for the profile (object types 1–4) and no escape for the rate.
    if !(1..=4).contains(&object_type) || rate_index > 12 || channels > 7 {
        return Err(fail(format!(
            "object type {object_type}, sampling frequency index {rate_index}, channel \
             configuration {channels}: not expressible in an ADTS header"
        )));
    }
    let length = access_unit.len() + 7;
    if length >= 1 << 13 {
        return Err(fail(format!(
            "an access unit of {} bytes (ADTS takes < 8185)",
            access_unit.len()
        )));
    }
    let mut out = Vec::with_capacity(length);
    out.extend_from_slice(&[
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        ((object_type - 1) << 6) | (rate_index << 2) | (channels >> 2),
        ((channels & 0x03) << 6) | ((length >> 11) as u8 & 0x03),
        (length >> 3) as u8,
        (((length & 0x07) as u8) << 5) | 0x1F, // buffer fullness 0x7FF: variable rate
        0xFC, // the rest of the buffer fullness; one raw data block
    ]);
    out.extend_from_slice(access_unit);
    Ok(Bytes::from(out))
}

/// Splits ADTS data (an `.aac` file, say) into frames, slicing `data` (no copies). An item
/// is `Err` (and the last) where the data stops being ADTS; a cut-off last frame is an
/// error too.
#[derive(Debug, Clone)]
pub struct AdtsFrames {
    data: Bytes,
    offset: usize,
    failed: bool,
}

impl AdtsFrames {
    /// Frames of `data`, from its first byte.
    pub fn new(data: impl Into<Bytes>) -> Self {
        AdtsFrames {
            data: data.into(),
            offset: 0,
            failed: false,
        }
    }
}

impl Iterator for AdtsFrames {
    type Item = Result<AudioFrame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.offset..];
        let bad = |found: String, offset: usize| Error::NotAdts {
            input: format!("ADTS data at byte {offset}"),
            found,
        };
        let item = match AdtsHeader::parse(rest) {
            Ok(h) if h.frame_length > rest.len() => Err(bad(
                format!(
                    "frame of {} bytes cut off after {}",
                    h.frame_length,
                    rest.len()
                ),
                self.offset,
            )),
            Ok(h) => {
                let data = self.data.slice(self.offset..self.offset + h.frame_length);
                self.offset += h.frame_length;
                Ok(AudioFrame::new(data, h.samples(), h.sample_rate))
            }
            Err(why) => Err(bad(why, self.offset)),
        };
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_through_the_parser() {
        // AAC LC, 48 kHz (index 3), mono: the config gst-rtsp-server's cameras announce.
        let unit = [0x21u8; 300];
        let adts = frame(&[0x11, 0x88], &unit).unwrap();
        let header = AdtsHeader::parse(&adts).unwrap();
        assert_eq!(
            (
                header.object_type,
                header.sample_rate,
                header.channel_configuration
            ),
            (2, 48_000, 1)
        );
        assert_eq!((header.frame_length, header.samples()), (307, 1024));
        assert_eq!(&adts[7..], &unit[..]);
        assert!(frame(&[0x11], &unit).is_err());
        // HE-AAC signalled explicitly (object type 5, core 24 kHz stereo, SBR to 48 kHz,
        // core object type 2): LC at the core rate, as ffmpeg writes it.
        let he = frame(&[0x2B, 0x11, 0x88, 0x00], &unit).unwrap();
        let header = AdtsHeader::parse(&he).unwrap();
        let fields = (
            header.object_type,
            header.sample_rate,
            header.channel_configuration,
        );
        assert_eq!(fields, (2, 24_000, 2));
        assert!(
            frame(&[0xFA, 0x88], &unit).is_err(),
            "object type 31 (escape)"
        );
        assert!(frame(&[0x11, 0x88], &[0; 9000]).is_err());
    }

    /// AAC LC, 44.1 kHz, stereo, no CRC, one raw data block, `len` bytes.
    fn header(len: usize) -> [u8; 7] {
        let len = len as u32;
        [
            0xFF,
            0xF1,
            (1 << 6) | (4 << 2),
            (2 << 6) | ((len >> 11) & 0x03) as u8,
            (len >> 3) as u8,
            (((len & 0x07) << 5) | 0x1F) as u8,
            0xFC,
        ]
    }

    #[test]
    fn header_fields_are_read() {
        let h = AdtsHeader::parse(&header(371)).unwrap();
        assert_eq!(
            h,
            AdtsHeader {
                object_type: 2,
                sample_rate: 44_100,
                channel_configuration: 2,
                frame_length: 371,
                raw_data_blocks: 1,
                has_crc: false,
            }
        );
        assert_eq!((h.samples(), h.channels()), (1024, Some(2)));
        assert!(
            AdtsHeader::parse(&[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0]).is_err(),
            "MP3"
        );
        assert!(
            AdtsHeader::parse(&header(3)).is_err(),
            "shorter than header"
        );
        assert!(AdtsHeader::parse(&[0xFF]).is_err());
    }

    #[test]
    fn frames_are_sliced_and_junk_ends_them() {
        let mut data = Vec::new();
        for len in [20usize, 30] {
            data.extend_from_slice(&header(len));
            data.resize(data.len() + len - 7, 0);
        }
        data.extend_from_slice(b"junk");
        let items: Vec<_> = AdtsFrames::new(data).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().data.len(), 20);
        assert_eq!(items[1].as_ref().unwrap().samples, 1024);
        let err = items[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("byte 50") && err.contains("not ADTS"), "{err}");
    }
}
