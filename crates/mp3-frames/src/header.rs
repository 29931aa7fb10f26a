//! The 32-bit MPEG audio frame header: ISO/IEC 11172-3 §2.4.1.3 and §2.4.2.3 (MPEG-1),
//! ISO/IEC 13818-3 §2.4.1.3 (MPEG-2 lower sampling frequencies) and the unofficial
//! MPEG-2.5 extension (version bits `00`).
//!
//! ```text
//! AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM
//! A sync (11 ones)  B version  C layer  D protection (0 = CRC follows)
//! E bitrate index   F sample-rate index  G padding  H private
//! I channel mode    J mode extension     K copyright  L original  M emphasis
//! ```
//!
//! A [`FrameHeader`] is the validated 32-bit word itself (4 bytes, `Copy`): every accessor
//! decodes from it with a table lookup, and [`FrameHeader::to_bytes`] gives the exact
//! bytes back.

use std::fmt;
use std::time::Duration;

use nom::IResult;
use nom::bits::complete::take;

pub use crate::fields::{ChannelMode, Emphasis, HeaderError, Layer, Version};

/// Bitrates in kbit/s by `[lsf][layer - 1][index]` (lsf = MPEG-2/2.5). Index 0 is free
/// format, 15 is forbidden.
const BITRATES_KBPS: [[[u16; 15]; 3]; 2] = [
    [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ],
    [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ],
];

/// Sample rates by `[version bits][index]` (version bits 01 is reserved).
const SAMPLE_RATES: [[u32; 3]; 4] = [
    [11025, 12000, 8000],
    [0, 0, 0],
    [22050, 24000, 16000],
    [44100, 48000, 32000],
];

/// A validated MPEG audio frame header (the 32-bit word, big-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader(u32);

impl fmt::Debug for FrameHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FrameHeader({:08X}: MPEG-{} L{} {} bit/s {} Hz {}{}{})",
            self.0,
            self.version().as_str(),
            self.layer().number(),
            self.bitrate(),
            self.sample_rate(),
            self.mode().as_str(),
            if self.padding() { " padded" } else { "" },
            if self.crc() { " crc" } else { "" },
        )
    }
}

/// Bits that must agree between consecutive frames of one stream when resynchronising:
/// sync, version, layer, sample rate, channel mode, copyright, original, emphasis (the CRC
/// bit, bitrate, padding, private bit and mode extension may change), as in FFmpeg's
/// `MP3_MASK`. Free format must agree too (bitrate index 0 on both or neither).
pub(crate) const STREAM_MASK: u32 = 0xFFFE_0CCF;

/// Bits that must agree while in sync: the same as [`STREAM_MASK`]. (FFmpeg's parser only
/// compares version, layer and sample rate; also comparing the mode and flags rejects more
/// damaged frames, and a real change costs nothing: resync restarts at the same byte.)
pub(crate) const SAME_MASK: u32 = STREAM_MASK;

impl FrameHeader {
    /// Parses a header from the first 4 bytes (nom, bit level); returns the rest.
    ///
    /// ```
    /// use mp3_frames::{FrameHeader, Layer, Version};
    /// let (rest, h) = FrameHeader::parse(&[0xFF, 0xFB, 0x90, 0x64, 0xAA]).unwrap();
    /// assert_eq!((h.version(), h.layer(), h.bitrate(), h.sample_rate()), (Version::Mpeg1, Layer::Layer3, 128_000, 44_100));
    /// assert_eq!(h.frame_len(), Some(417));
    /// assert_eq!(rest, &[0xAA]);
    /// ```
    pub fn parse(input: &[u8]) -> Result<(&[u8], FrameHeader), HeaderError> {
        type BitInput<'a> = (&'a [u8], usize);
        fn fields(input: BitInput<'_>) -> IResult<BitInput<'_>, [u32; 13]> {
            let widths = [11usize, 2, 2, 1, 4, 2, 1, 1, 2, 2, 1, 1, 2];
            let mut out = [0u32; 13];
            let mut rest = input;
            for (slot, width) in out.iter_mut().zip(widths) {
                let (r, v) = take::<_, u32, _, nom::error::Error<BitInput<'_>>>(width)(rest)?;
                *slot = v;
                rest = r;
            }
            Ok((rest, out))
        }
        let ((rest, _), f) = fields((input, 0)).map_err(|_| HeaderError::TooShort(input.len()))?;
        let word = f
            .iter()
            .zip([11u32, 2, 2, 1, 4, 2, 1, 1, 2, 2, 1, 1, 2])
            .fold(0u32, |acc, (v, w)| (acc << w) | v);
        Ok((rest, FrameHeader::from_u32(word)?))
    }

    /// As [`FrameHeader::parse`], but taking what decoders decode: the MPEG-1 Layer II
    /// bitrate and mode pairs ISO/IEC 11172-3 forbids encoders (ffmpeg's `mp2` encoder
    /// writes 384 kbit/s mono by default). For frames whose container already says they
    /// are MPEG audio (a TS stream, a Matroska track), where the strict check only loses
    /// sound; a raw stream's sync search keeps the strict one.
    pub fn parse_decodable(input: &[u8]) -> Result<(&[u8], FrameHeader), HeaderError> {
        match FrameHeader::parse(input) {
            Err(HeaderError::ForbiddenLayer2Mode { .. }) => {
                let word = u32::from_be_bytes([input[0], input[1], input[2], input[3]]);
                Ok((&input[4..], FrameHeader(word)))
            }
            other => other,
        }
    }

    /// Validates a big-endian header word.
    #[inline]
    pub fn from_u32(word: u32) -> Result<FrameHeader, HeaderError> {
        if word & 0xFFE0_0000 != 0xFFE0_0000 {
            return Err(HeaderError::NoSync);
        }
        if (word >> 19) & 3 == 1 {
            return Err(HeaderError::ReservedVersion);
        }
        if (word >> 17) & 3 == 0 {
            return Err(HeaderError::ReservedLayer);
        }
        let bitrate_index = (word >> 12) & 15;
        if bitrate_index == 15 {
            return Err(HeaderError::BadBitrate);
        }
        if (word >> 10) & 3 == 3 {
            return Err(HeaderError::ReservedSampleRate);
        }
        let h = FrameHeader(word);
        if h.version() == Version::Mpeg1 && h.layer() == Layer::Layer2 {
            let mono = h.mode() == ChannelMode::Mono;
            let allowed = match bitrate_index {
                1 | 2 | 3 | 5 => mono,
                11..=14 => !mono,
                _ => true,
            };
            if !allowed {
                return Err(HeaderError::ForbiddenLayer2Mode {
                    bitrate_kbps: h.bitrate() / 1000,
                    mode: h.mode().as_str(),
                });
            }
        }
        Ok(h)
    }

    /// A word already known to be valid (same stream bits as a validated header and a
    /// bitrate index with a length).
    #[inline]
    pub(crate) fn trusted(word: u32) -> FrameHeader {
        debug_assert!(FrameHeader::from_u32(word).is_ok(), "{word:08X}");
        FrameHeader(word)
    }

    /// Builds a header (no CRC, no padding, flags clear, mode extension 0).
    pub fn new(
        version: Version,
        layer: Layer,
        bitrate: u32,
        sample_rate: u32,
        mode: ChannelMode,
    ) -> Result<FrameHeader, HeaderError> {
        let version_bits: u32 = match version {
            Version::Mpeg1 => 3,
            Version::Mpeg2 => 2,
            Version::Mpeg25 => 0,
        };
        let layer_bits: u32 = match layer {
            Layer::Layer1 => 3,
            Layer::Layer2 => 2,
            Layer::Layer3 => 1,
        };
        let rate_index = SAMPLE_RATES[version_bits as usize]
            .iter()
            .position(|&r| r == sample_rate)
            .ok_or(HeaderError::UnknownSampleRate { sample_rate })?;
        let lsf = usize::from(version != Version::Mpeg1);
        let bitrate_index = BITRATES_KBPS[lsf][usize::from(layer.number() - 1)]
            .iter()
            .position(|&k| u32::from(k) * 1000 == bitrate)
            .ok_or(HeaderError::UnknownBitrate { bitrate })?;
        let mode_bits: u32 = match mode {
            ChannelMode::Stereo => 0,
            ChannelMode::JointStereo => 1,
            ChannelMode::DualChannel => 2,
            ChannelMode::Mono => 3,
        };
        FrameHeader::from_u32(
            0xFFE0_0000
                | version_bits << 19
                | layer_bits << 17
                | 1 << 16
                | (bitrate_index as u32) << 12
                | (rate_index as u32) << 10
                | mode_bits << 6,
        )
    }

    /// Same header with the padding bit set or cleared.
    pub fn with_padding(self, padding: bool) -> FrameHeader {
        FrameHeader((self.0 & !0x200) | u32::from(padding) << 9)
    }

    /// Same header with CRC protection on or off.
    pub fn with_crc(self, crc: bool) -> FrameHeader {
        FrameHeader((self.0 & !0x1_0000) | u32::from(!crc) << 16)
    }

    /// Same header with the given mode extension (2 bits).
    pub fn with_mode_extension(self, ext: u8) -> FrameHeader {
        FrameHeader((self.0 & !0x30) | u32::from(ext & 3) << 4)
    }

    /// The header word (big-endian order of the 4 bytes).
    #[inline]
    pub fn to_u32(self) -> u32 {
        self.0
    }

    /// The 4 header bytes, exactly as parsed.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// MPEG version.
    #[inline]
    pub fn version(self) -> Version {
        match (self.0 >> 19) & 3 {
            3 => Version::Mpeg1,
            2 => Version::Mpeg2,
            _ => Version::Mpeg25,
        }
    }

    /// Layer.
    #[inline]
    pub fn layer(self) -> Layer {
        match (self.0 >> 17) & 3 {
            3 => Layer::Layer1,
            2 => Layer::Layer2,
            _ => Layer::Layer3,
        }
    }

    /// A 16-bit CRC follows the header (protection bit 0).
    #[inline]
    pub fn crc(self) -> bool {
        self.0 & 0x1_0000 == 0
    }

    /// Bitrate in bit/s; 0 for free format.
    #[inline]
    pub fn bitrate(self) -> u32 {
        let lsf = usize::from(self.version() != Version::Mpeg1);
        let layer = usize::from(self.layer().number() - 1);
        u32::from(BITRATES_KBPS[lsf][layer][((self.0 >> 12) & 15) as usize]) * 1000
    }

    /// Free format: bitrate index 0, frame size given by the distance between headers.
    #[inline]
    pub fn is_free_format(self) -> bool {
        self.0 & 0xF000 == 0
    }

    /// Sample rate in Hz.
    #[inline]
    pub fn sample_rate(self) -> u32 {
        SAMPLE_RATES[((self.0 >> 19) & 3) as usize][((self.0 >> 10) & 3) as usize]
    }

    /// Padding slot present (1 byte; 4 bytes in Layer I).
    #[inline]
    pub fn padding(self) -> bool {
        self.0 & 0x200 != 0
    }

    /// Private bit.
    pub fn private(self) -> bool {
        self.0 & 0x100 != 0
    }

    /// Channel mode.
    #[inline]
    pub fn mode(self) -> ChannelMode {
        match (self.0 >> 6) & 3 {
            0 => ChannelMode::Stereo,
            1 => ChannelMode::JointStereo,
            2 => ChannelMode::DualChannel,
            _ => ChannelMode::Mono,
        }
    }

    /// Mode extension bits (0–3), meaningful in joint stereo.
    pub fn mode_extension(self) -> u8 {
        ((self.0 >> 4) & 3) as u8
    }

    /// Layer III joint stereo: (intensity stereo, M/S stereo).
    pub fn layer3_stereo(self) -> (bool, bool) {
        let ext = self.mode_extension();
        (ext & 1 != 0, ext & 2 != 0)
    }

    /// Layer I/II joint stereo: first subband coded in intensity stereo (4, 8, 12 or 16).
    pub fn intensity_bound(self) -> u8 {
        4 * (self.mode_extension() + 1)
    }

    /// Copyright bit.
    pub fn copyright(self) -> bool {
        self.0 & 8 != 0
    }

    /// Original (not a copy) bit.
    pub fn original(self) -> bool {
        self.0 & 4 != 0
    }

    /// Emphasis.
    pub fn emphasis(self) -> Emphasis {
        match self.0 & 3 {
            0 => Emphasis::None,
            1 => Emphasis::Ms50_15,
            2 => Emphasis::Reserved,
            _ => Emphasis::CcittJ17,
        }
    }

    /// Samples per channel in one frame: 384 (Layer I), 1152 (Layer II, MPEG-1 Layer III)
    /// or 576 (MPEG-2/2.5 Layer III).
    #[inline]
    pub fn samples(self) -> u32 {
        match (self.layer(), self.version()) {
            (Layer::Layer1, _) => 384,
            (Layer::Layer3, Version::Mpeg2 | Version::Mpeg25) => 576,
            _ => 1152,
        }
    }

    /// Bytes per slot: 4 in Layer I, else 1.
    pub fn slot_len(self) -> u32 {
        if self.layer() == Layer::Layer1 { 4 } else { 1 }
    }

    /// Frame length in bytes, header and padding included; `None` in free format.
    #[inline]
    pub fn frame_len(self) -> Option<u32> {
        let bitrate = self.bitrate();
        if bitrate == 0 {
            return None;
        }
        Some(self.unpadded_len(bitrate) + self.padding_len())
    }

    /// Length without the padding slot for a given bitrate (bit/s).
    pub(crate) fn unpadded_len(self, bitrate: u32) -> u32 {
        let rate = self.sample_rate();
        match self.layer() {
            Layer::Layer1 => 12 * bitrate / rate * 4,
            _ => self.samples() / 8 * bitrate / rate,
        }
    }

    /// Length of the padding slot if the padding bit is set, else 0.
    pub(crate) fn padding_len(self) -> u32 {
        if self.padding() { self.slot_len() } else { 0 }
    }

    /// Duration of the frame.
    pub fn duration(self) -> Duration {
        samples_to_duration(u64::from(self.samples()), self.sample_rate())
    }

    /// Layer III side information length in bytes (after the header and CRC).
    pub fn side_info_len(self) -> usize {
        match (
            self.version() == Version::Mpeg1,
            self.mode() == ChannelMode::Mono,
        ) {
            (true, true) => 17,
            (true, false) => 32,
            (false, true) => 9,
            (false, false) => 17,
        }
    }
}

/// Exact duration of `samples` at `rate` Hz (rounded down to the nanosecond).
pub fn samples_to_duration(samples: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    let rate = u64::from(rate);
    let secs = samples / rate;
    let nanos = (samples % rate) * 1_000_000_000 / rate;
    Duration::new(secs, nanos as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_of_every_layer() {
        // MPEG-1 L3 128k 44.1k: 144*128000/44100 = 417 (+1 padded).
        let h = FrameHeader::from_u32(0xFFFB_9000).unwrap();
        assert_eq!(h.frame_len(), Some(417));
        assert_eq!(h.with_padding(true).frame_len(), Some(418));
        // MPEG-1 L1 384k 48k: 12*384000/48000 = 96 slots = 384 bytes; padded +4.
        let l1 = FrameHeader::new(
            Version::Mpeg1,
            Layer::Layer1,
            384_000,
            48_000,
            ChannelMode::Stereo,
        )
        .unwrap();
        assert_eq!(l1.frame_len(), Some(384));
        assert_eq!(l1.with_padding(true).frame_len(), Some(388));
        assert_eq!(l1.samples(), 384);
        // L1 44.1k 32k: 12*32000/44100 = 8 slots (8.7 truncated) = 32 bytes.
        let l1 = FrameHeader::new(
            Version::Mpeg1,
            Layer::Layer1,
            32_000,
            44_100,
            ChannelMode::Mono,
        )
        .unwrap();
        assert_eq!(l1.frame_len(), Some(32));
        // MPEG-2 L3 64k 24k: 72*64000/24000 = 192.
        let m2 = FrameHeader::new(
            Version::Mpeg2,
            Layer::Layer3,
            64_000,
            24_000,
            ChannelMode::Mono,
        )
        .unwrap();
        assert_eq!((m2.frame_len(), m2.samples()), (Some(192), 576));
        // MPEG-2.5 L3 8k 8k: 72*8000/8000 = 72.
        let m25 = FrameHeader::new(
            Version::Mpeg25,
            Layer::Layer3,
            8_000,
            8_000,
            ChannelMode::Mono,
        )
        .unwrap();
        assert_eq!(m25.frame_len(), Some(72));
        // MPEG-2 L2 keeps 1152 samples: 144*64000/22050 = 417.
        let l2 = FrameHeader::new(
            Version::Mpeg2,
            Layer::Layer2,
            64_000,
            22_050,
            ChannelMode::Mono,
        )
        .unwrap();
        assert_eq!((l2.frame_len(), l2.samples()), (Some(417), 1152));
    }

    #[test]
    fn invalid_headers_give_the_reason() {
        assert_eq!(
            FrameHeader::from_u32(0xFFFB_F000),
            Err(HeaderError::BadBitrate)
        );
        assert_eq!(
            FrameHeader::from_u32(0xFFFB_9C00),
            Err(HeaderError::ReservedSampleRate)
        );
        assert_eq!(
            FrameHeader::from_u32(0xFFF9_9000),
            Err(HeaderError::ReservedLayer)
        );
        assert_eq!(
            FrameHeader::from_u32(0xFFEB_9000),
            Err(HeaderError::ReservedVersion)
        );
        assert_eq!(FrameHeader::from_u32(0xFF7B_9000), Err(HeaderError::NoSync));
        // MPEG-1 Layer II 32 kbit/s stereo, 384 kbit/s mono.
        assert!(matches!(
            FrameHeader::from_u32(0xFFFD_1000),
            Err(HeaderError::ForbiddenLayer2Mode {
                bitrate_kbps: 32,
                ..
            })
        ));
        assert!(matches!(
            FrameHeader::from_u32(0xFFFD_E0C0),
            Err(HeaderError::ForbiddenLayer2Mode {
                bitrate_kbps: 384,
                ..
            })
        ));
        assert!(FrameHeader::from_u32(0xFFFD_10C0).is_ok());
        // What decoders take: ffmpeg's 384 kbit/s mono Layer II.
        let bytes = 0xFFFD_E0C0u32.to_be_bytes();
        let (rest, h) = FrameHeader::parse_decodable(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!((h.bitrate(), h.layer()), (384_000, Layer::Layer2));
        assert!(FrameHeader::parse_decodable(&[0xFF, 0xFD]).is_err());
        assert_eq!(
            FrameHeader::parse(&[0xFF, 0xFB]),
            Err(HeaderError::TooShort(2))
        );
    }

    #[test]
    fn nom_parse_agrees_with_the_word_decoder_on_every_header() {
        // All 2^21 words with the sync bits set.
        for low in 0..1u32 << 21 {
            let word = 0xFFE0_0000 | low;
            let by_word = FrameHeader::from_u32(word);
            let by_nom = FrameHeader::parse(&word.to_be_bytes()).map(|(_, h)| h);
            assert_eq!(by_word, by_nom, "{word:08X}");
            if let Ok(h) = by_word {
                assert_eq!(h.to_bytes(), word.to_be_bytes());
            }
        }
    }

    #[test]
    fn free_format_has_no_length() {
        let h = FrameHeader::from_u32(0xFFFB_0000).unwrap();
        assert!(h.is_free_format());
        assert_eq!(h.frame_len(), None);
    }
}
