//! Decoder configurations of the royalty-free video codecs: VP8 and VP9 (`vp08`/`vp09`
//! with `vpcC`, "VP Codec ISO Media File Format Binding" v1.0 §2.2-2.5) and AV1 (`av01`
//! with `av1C`, "AV1 Codec ISO Media File Format Binding" v1.2 §2.2-2.3), as browsers
//! publish them over WebRTC.

use bytes::Bytes;

use crate::{Error, Result};

/// A `VPCodecConfigurationRecord` (the body of `vpcC` after its version and flags).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpConfig {
    /// Profile (0-3; VP8 has only 0).
    pub profile: u8,
    /// Level ×10 (`10` is level 1.0; the binding's table of VP9 levels).
    pub level: u8,
    /// Bits per sample: 8, 10 or 12.
    pub bit_depth: u8,
    /// 0: 4:2:0 vertical, 1: 4:2:0 colocated with luma, 2: 4:2:2, 3: 4:4:4.
    pub chroma_subsampling: u8,
    /// Full-range (JPEG) sample values.
    pub full_range: bool,
    /// ISO/IEC 23091-4 colour primaries (1: BT.709).
    pub colour_primaries: u8,
    /// ISO/IEC 23091-4 transfer characteristics (1: BT.709).
    pub transfer_characteristics: u8,
    /// ISO/IEC 23091-4 matrix coefficients (1: BT.709).
    pub matrix_coefficients: u8,
}

impl Default for VpConfig {
    /// 8-bit 4:2:0 BT.709 at profile 0, level 1.0 (what a browser's camera sends; the
    /// decoders take the rest from the bitstream).
    fn default() -> Self {
        VpConfig {
            profile: 0,
            level: 10,
            bit_depth: 8,
            chroma_subsampling: 1,
            full_range: false,
            colour_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
        }
    }
}

impl VpConfig {
    /// Reads a `VPCodecConfigurationRecord` (the `vpcC` body after its version and
    /// flags: profile, level, bit depth and chroma, colour, then the initialization data
    /// size, which VP8 and VP9 leave at 0).
    pub fn from_record(record: &[u8]) -> Result<Self> {
        let &[
            profile,
            level,
            depth,
            colour_primaries,
            transfer,
            matrix,
            ..,
        ] = record
        else {
            return Err(Error::InvalidParameterSet {
                codec: "VP8/VP9",
                reason: "a VPCodecConfigurationRecord has at least 6 bytes",
            });
        };
        let config = VpConfig {
            profile,
            level,
            bit_depth: depth >> 4,
            chroma_subsampling: depth >> 1 & 7,
            full_range: depth & 1 == 1,
            colour_primaries,
            transfer_characteristics: transfer,
            matrix_coefficients: matrix,
        };
        config.record()?;
        Ok(config)
    }

    /// The `vpcC` box body: version 1, flags 0, then the record (no codec
    /// initialization data: VP8 and VP9 have none).
    pub(crate) fn record(&self) -> Result<Vec<u8>> {
        if !matches!(self.bit_depth, 8 | 10 | 12) || self.chroma_subsampling > 3 {
            return Err(Error::InvalidParameterSet {
                codec: "VP8/VP9",
                reason: "bit depth must be 8, 10 or 12 and chroma subsampling 0-3",
            });
        }
        Ok(vec![
            1,
            0,
            0,
            0,
            self.profile,
            self.level,
            self.bit_depth << 4 | self.chroma_subsampling << 1 | u8::from(self.full_range),
            self.colour_primaries,
            self.transfer_characteristics,
            self.matrix_coefficients,
            0,
            0,
        ])
    }

    /// The RFC 6381 `codecs` string: `vp09.PP.LL.DD` (`vp08.…` for VP8).
    pub(crate) fn codec_string(&self, fourcc: &str) -> String {
        format!(
            "{fourcc}.{:02}.{:02}.{:02}",
            self.profile, self.level, self.bit_depth
        )
    }
}

/// An `AV1CodecConfigurationRecord` (the body of `av1C`): the sequence header's
/// profile, level, tier and colour format, and the sequence header OBU itself.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// `seq_profile` (0 main, 1 high, 2 professional).
    pub profile: u8,
    /// `seq_level_idx[0]` (8 is level 4.0).
    pub level_idx: u8,
    /// `seq_tier[0]` (high tier).
    pub high_tier: bool,
    /// Bits per sample: 8, 10 or 12.
    pub bit_depth: u8,
    /// `mono_chrome`.
    pub monochrome: bool,
    /// `subsampling_x`, `subsampling_y` (4:2:0 is both).
    pub chroma_subsampling: (bool, bool),
    /// `chroma_sample_position` (0 unknown).
    pub chroma_sample_position: u8,
    /// The sequence header OBU (with its header and size field), the record's
    /// `configOBUs`.
    pub sequence_header: Bytes,
}

impl Av1Config {
    /// A configuration for 8-bit 4:2:0 main profile with this level and sequence header OBU.
    pub fn new(level_idx: u8, sequence_header: Bytes) -> Self {
        Av1Config {
            profile: 0,
            level_idx,
            high_tier: false,
            bit_depth: 8,
            monochrome: false,
            chroma_subsampling: (true, true),
            chroma_sample_position: 0,
            sequence_header,
        }
    }

    /// Reads an `AV1CodecConfigurationRecord` (the `av1C` body: marker and version,
    /// profile and level, tier and colour format, presentation delay, then the sequence
    /// header OBU).
    pub fn from_record(record: &[u8]) -> Result<Self> {
        let bad = |reason| Error::InvalidParameterSet {
            codec: "AV1",
            reason,
        };
        let &[marker, profile_level, format, _delay, ..] = record else {
            return Err(bad("an AV1CodecConfigurationRecord has at least 4 bytes"));
        };
        if marker != 0x81 {
            return Err(bad("marker and version must be 1"));
        }
        let bit = |n: u8| format >> n & 1 == 1;
        let config = Av1Config {
            profile: profile_level >> 5,
            level_idx: profile_level & 0x1f,
            high_tier: bit(7),
            bit_depth: match (bit(6), bit(5)) {
                (false, _) => 8,
                (true, false) => 10,
                (true, true) => 12,
            },
            monochrome: bit(4),
            chroma_subsampling: (bit(3), bit(2)),
            chroma_sample_position: format & 3,
            sequence_header: Bytes::copy_from_slice(&record[4..]),
        };
        config.record()?;
        Ok(config)
    }

    /// The `av1C` box body (it is a plain box: marker and version are in the record).
    pub(crate) fn record(&self) -> Result<Vec<u8>> {
        let bad = |reason| Error::InvalidParameterSet {
            codec: "AV1",
            reason,
        };
        if self.profile > 7 || self.level_idx > 31 || self.chroma_sample_position > 3 {
            return Err(bad("profile, level or chroma sample position out of range"));
        }
        // OBU header: forbidden bit 0, obu_type 1 (OBU_SEQUENCE_HEADER).
        if self
            .sequence_header
            .first()
            .is_none_or(|h| h >> 3 & 0x0f != 1)
        {
            return Err(bad("configOBUs must start with a sequence header OBU"));
        }
        let (high_bitdepth, twelve_bit) = match self.bit_depth {
            8 => (false, false),
            10 => (true, false),
            12 => (true, true),
            _ => return Err(bad("bit depth must be 8, 10 or 12")),
        };
        let mut out = Vec::with_capacity(4 + self.sequence_header.len());
        out.push(0x81); // marker 1, version 1
        out.push(self.profile << 5 | self.level_idx);
        out.push(
            u8::from(self.high_tier) << 7
                | u8::from(high_bitdepth) << 6
                | u8::from(twelve_bit) << 5
                | u8::from(self.monochrome) << 4
                | u8::from(self.chroma_subsampling.0) << 3
                | u8::from(self.chroma_subsampling.1) << 2
                | self.chroma_sample_position,
        );
        out.push(0); // no initial_presentation_delay
        out.extend_from_slice(&self.sequence_header);
        Ok(out)
    }

    /// The RFC 6381 `codecs` string: `av01.P.LLT.DD`.
    pub(crate) fn codec_string(&self) -> String {
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.profile,
            self.level_idx,
            if self.high_tier { 'H' } else { 'M' },
            self.bit_depth
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpcc_golden_bytes() {
        let r = VpConfig::default().record().unwrap();
        assert_eq!(r, [1, 0, 0, 0, 0, 10, 0x82, 1, 1, 1, 0, 0]);
        assert_eq!(VpConfig::default().codec_string("vp09"), "vp09.00.10.08");
    }

    #[test]
    fn av1c_golden_bytes_and_refusals() {
        let seq = Bytes::from_static(&[0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24]);
        let c = Av1Config::new(8, seq.clone());
        let r = c.record().unwrap();
        assert_eq!(&r[..4], &[0x81, 0x08, 0x0c, 0x00]);
        assert_eq!(&r[4..], &seq[..]);
        assert_eq!(c.codec_string(), "av01.0.08M.08");
        let not_seq = Av1Config::new(8, Bytes::from_static(&[0x12, 0x00]));
        assert!(not_seq.record().is_err());
        assert_eq!(Av1Config::from_record(&r).unwrap(), c);
        assert!(Av1Config::from_record(&r[..3]).is_err());
    }

    #[test]
    fn vpcc_record_reads_back() {
        let c = VpConfig {
            profile: 2,
            bit_depth: 10,
            full_range: true,
            ..VpConfig::default()
        };
        let r = c.record().unwrap();
        // The record follows version and flags.
        assert_eq!(VpConfig::from_record(&r[4..]).unwrap(), c);
        assert!(VpConfig::from_record(&[0, 10, 0x92]).is_err());
        // A bit depth of 9 is refused.
        assert!(VpConfig::from_record(&[0, 10, 0x92, 1, 1, 1, 0, 0]).is_err());
    }
}
