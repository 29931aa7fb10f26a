//! Silent frames that match a stream's header, to mute a live stream without changing its
//! format: the header is kept, the rest is zero (Layer I/II: no subband allocated; Layer
//! III: empty side information, `part2_3_length` 0, `main_data_begin` 0), and the CRC
//! (ISO/IEC 11172-3 §2.4.3.1, CRC-16 0x8005 over the header's last 2 bytes and the
//! protected bits) is computed when the header asks for one.

use std::time::Duration;

use bytes::Bytes;

use crate::Error;
use crate::header::{ChannelMode, FrameHeader, Layer};

/// One silent frame with exactly `header`'s 4 bytes.
///
/// ```
/// use mp3_frames::{Frames, FrameHeader, silent_frame};
/// let header = FrameHeader::from_u32(0xFFFB_E064).unwrap(); // 320k 44.1 kHz joint stereo
/// let frame = silent_frame(&header).unwrap();
/// assert_eq!((frame.len(), &frame[..4]), (1044, &header.to_bytes()[..]));
/// ```
pub fn silent_frame(header: &FrameHeader) -> Result<Vec<u8>, Error> {
    let len = header.frame_len().ok_or(Error::FreeFormatSilence)? as usize;
    let mut frame = vec![0u8; len];
    frame[..4].copy_from_slice(&header.to_bytes());
    if header.crc() {
        let protected_bits = match header.layer() {
            Layer::Layer3 => header.side_info_len() * 8,
            Layer::Layer1 => {
                let channels = usize::from(header.mode().channels());
                let bound = if header.mode() == ChannelMode::JointStereo {
                    usize::from(header.intensity_bound())
                } else {
                    32
                };
                4 * (bound * channels + (32 - bound))
            }
            // The protected bit count depends on the allocation tables; not done yet.
            Layer::Layer2 => return Err(Error::Layer2CrcSilence),
        };
        let crc = crc16(&frame[2..4], 16, 0xFFFF);
        let crc = crc16(&frame[6..], protected_bits, crc);
        frame[4..6].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(frame)
}

/// CRC-16 (polynomial 0x8005, MSB first) over the first `bits` bits of `data`.
pub(crate) fn crc16(data: &[u8], bits: usize, mut crc: u16) -> u16 {
    for i in 0..bits {
        let bit = data.get(i / 8).map_or(0, |b| (b >> (7 - i % 8)) & 1);
        let top = (crc >> 15) as u8 & 1;
        crc <<= 1;
        if top ^ bit != 0 {
            crc ^= 0x8005;
        }
    }
    crc
}

/// A run of silent frames lasting at least a given duration: same header, with the padding
/// bit set on the frames where a CBR encoder pads, so the byte rate matches the bitrate.
///
/// ```
/// use std::time::Duration;
/// use mp3_frames::{FrameHeader, SilenceRun};
/// let header = FrameHeader::from_u32(0xFFFB_9064).unwrap(); // 128k 44.1 kHz
/// let run = SilenceRun::new(&header, Duration::from_secs(1)).unwrap();
/// assert_eq!(run.len(), 39); // 39 × 26.12 ms ≥ 1 s
/// let bytes: usize = run.map(|f| f.len()).sum();
/// assert!(bytes.abs_diff(39 * 1152 * 16000 / 44100) <= 1);
/// ```
#[derive(Debug, Clone)]
pub struct SilenceRun {
    plain: Bytes,
    padded: Bytes,
    left: u64,
    /// Fractional bytes (× sample rate) carried to decide padding.
    remainder: u64,
    per_frame_remainder: u64,
    rate: u64,
}

impl SilenceRun {
    /// Frames covering `duration` (rounded up to whole frames).
    pub fn new(header: &FrameHeader, duration: Duration) -> Result<SilenceRun, Error> {
        let plain = Bytes::from(silent_frame(&header.with_padding(false))?);
        let padded = Bytes::from(silent_frame(&header.with_padding(true))?);
        let rate = u64::from(header.sample_rate());
        let samples = u64::from(header.samples());
        let wanted = (duration.as_nanos() * u128::from(rate)).div_ceil(1_000_000_000);
        let left = u64::try_from(wanted.div_ceil(u128::from(samples))).unwrap_or(u64::MAX);
        // Exact slots per frame × rate; the fraction decides which frames carry a padding slot.
        let slots_x_rate = if header.layer() == Layer::Layer1 {
            12
        } else {
            samples / 8
        } * u64::from(header.bitrate());
        Ok(SilenceRun {
            plain,
            padded,
            left,
            remainder: 0,
            per_frame_remainder: slots_x_rate % rate,
            rate,
        })
    }

    /// Frames left.
    pub fn len(&self) -> usize {
        usize::try_from(self.left).unwrap_or(usize::MAX)
    }

    /// No frames left.
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl Iterator for SilenceRun {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.remainder += self.per_frame_remainder;
        Some(if self.remainder >= self.rate {
            self.remainder -= self.rate;
            self.padded.clone()
        } else {
            self.plain.clone()
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Version;

    #[test]
    fn crc_matches_lame_on_every_frame_of_a_protected_file() {
        // CRC-16 check value of "123456789".
        assert_eq!(crc16(b"123456789", 72, 0xFFFF), 0xAEE7);
        // `lame -p`: the CRC after each header covers header bytes 2-3 and the side info.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/crc-22050-cbr48-noxing.mp3"
        );
        let data = std::fs::read(path).unwrap();
        let mut checked = 0;
        for f in crate::Frames::new(&data) {
            let side = f.header.side_info_len();
            let crc = crc16(&f.data[6..], side * 8, crc16(&f.data[2..4], 16, 0xFFFF));
            assert_eq!(crc.to_be_bytes(), f.data[4..6], "frame {}", f.index);
            checked += 1;
        }
        assert_eq!(checked, 79);
    }

    #[test]
    fn silent_frames_keep_the_header() {
        for (v, l, br, sr, m) in [
            (
                Version::Mpeg1,
                Layer::Layer3,
                128_000,
                44_100,
                ChannelMode::JointStereo,
            ),
            (
                Version::Mpeg2,
                Layer::Layer3,
                8_000,
                16_000,
                ChannelMode::Mono,
            ),
            (
                Version::Mpeg25,
                Layer::Layer3,
                32_000,
                8_000,
                ChannelMode::Stereo,
            ),
            (
                Version::Mpeg1,
                Layer::Layer2,
                192_000,
                48_000,
                ChannelMode::Stereo,
            ),
            (
                Version::Mpeg1,
                Layer::Layer1,
                384_000,
                32_000,
                ChannelMode::DualChannel,
            ),
        ] {
            let h = FrameHeader::new(v, l, br, sr, m).unwrap();
            let f = silent_frame(&h).unwrap();
            assert_eq!(&f[..4], &h.to_bytes());
            assert_eq!(f.len() as u32, h.frame_len().unwrap());
        }
    }
}
