//! AAC in ADTS frames (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2), the way TS
//! carries AAC: a 7-byte header (no CRC) in front of each raw access unit.

use bytes::Bytes;

use crate::{Error, Result};

const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The audio format an ADTS header names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdtsFormat {
    /// The AudioSpecificConfig it stands for (2 bytes).
    pub audio_specific_config: Bytes,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels (channel configuration).
    pub channels: u16,
}

/// The 7-byte ADTS header for a raw access unit of `au_len` bytes, from the
/// AudioSpecificConfig (object type 1–4, or HE-AAC's 5 and 29 as LC at the core rate, a
/// sampling frequency index, channels 1–7).
pub fn header(audio_specific_config: &[u8], au_len: usize) -> Result<[u8; 7]> {
    let bad = |r: &str| Error::InvalidConfig {
        what: "AudioSpecificConfig for ADTS",
        reason: r.to_owned(),
    };
    let [a, b, ..] = audio_specific_config else {
        return Err(bad("shorter than 2 bytes"));
    };
    let object_type = match a >> 3 {
        // HE-AAC (v2) signalled explicitly (SBR 5, PS 29; ISO/IEC 14496-3 §1.6.2.1): its
        // first rate is the AAC core's, which ADTS carries as LC, the decoder finding
        // the extensions in the frames (as ffmpeg's ADTS muxer writes it).
        5 | 29 => 2,
        other => other,
    };
    let frequency = ((a & 0x07) << 1) | (b >> 7);
    let channels = (b >> 3) & 0x0F;
    if !(1..=4).contains(&object_type) || frequency > 12 || channels > 7 {
        return Err(bad(
            "ADTS needs object type 1-4, a standard rate, channels 0-7",
        ));
    }
    let frame_len = au_len + 7;
    if frame_len > 0x1FFF {
        return Err(bad("access unit longer than an ADTS frame can be"));
    }
    let profile = object_type - 1;
    Ok([
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (frequency << 2) | (channels >> 2),
        ((channels & 3) << 6) | (frame_len >> 11) as u8,
        (frame_len >> 3) as u8,
        (((frame_len & 7) as u8) << 5) | 0x1F,
        0xFC, // buffer fullness 0x7FF (VBR), one raw data block
    ])
}

/// Splits a PES payload of ADTS frames into raw access units (slices of it) and the
/// format of the first frame. Stops at the first byte that is not a whole ADTS frame.
pub fn split(data: &Bytes) -> (Option<AdtsFormat>, Vec<Bytes>) {
    let mut format = None;
    let mut units = Vec::new();
    let mut at = 0;
    while let Some(h) = data.get(at..at + 7) {
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            break;
        }
        let header_len = if h[1] & 1 == 0 { 9 } else { 7 };
        let frame_len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        if frame_len < header_len || at + frame_len > data.len() {
            break;
        }
        if format.is_none() {
            let object_type = (h[2] >> 6) + 1;
            let frequency = (h[2] >> 2) & 0x0F;
            let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
            let Some(&rate) = SAMPLE_RATES.get(usize::from(frequency)) else {
                break;
            };
            format = Some(AdtsFormat {
                audio_specific_config: Bytes::from(vec![
                    (object_type << 3) | (frequency >> 1),
                    ((frequency & 1) << 7) | (channels << 3),
                ]),
                sample_rate: rate,
                channels: u16::from(channels),
            });
        }
        units.push(data.slice(at + header_len..at + frame_len));
        at += frame_len;
    }
    (format, units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_split_agree() {
        let asc = [0x12, 0x10]; // AAC LC, 44.1 kHz, stereo
        let au = [0x21u8; 300];
        let mut frame = header(&asc, au.len()).expect("valid config").to_vec();
        frame.extend_from_slice(&au);
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let (format, units) = split(&Bytes::from(two));
        let format = format.expect("a format");
        assert_eq!(&format.audio_specific_config[..], &asc);
        assert_eq!((format.sample_rate, format.channels), (44_100, 2));
        assert_eq!(units.len(), 2);
        assert_eq!(&units[1][..], &au);
        // HE-AAC signalled explicitly (object type 5, core 24 kHz stereo, SBR to 48 kHz):
        // LC at the core rate, as ffmpeg's ADTS muxer writes it.
        let mut frame = header(&[0x2B, 0x11, 0x88, 0x00], au.len())
            .expect("HE-AAC")
            .to_vec();
        frame.extend_from_slice(&au);
        let format = split(&Bytes::from(frame)).0.expect("a format");
        assert_eq!(&format.audio_specific_config[..], &[0x13, 0x10]);
        assert_eq!((format.sample_rate, format.channels), (24_000, 2));
    }
}
