//! Track descriptions and their sample entries (ISO/IEC 14496-12 §8.5.2 `stsd`,
//! §12.1.3 `VisualSampleEntry`, §12.2.3 `AudioSampleEntry`), with the codec
//! configuration boxes of ISO/IEC 14496-15 (`avcC` §5.3.3, `hvcC` §8.3.3),
//! ISO/IEC 14496-1 §7.2.6.5 (`esds` descriptors) and the Opus-in-ISOBMFF mapping (`dOps`).

use bytes::Bytes;

use crate::boxes::{BoxWriter, FourCc};
use crate::record::{
    HevcTag, ParameterSets, avc_record, avc_sps, hevc_codec_string, hevc_record, hevc_sps,
};
use crate::vp_av1::{Av1Config, VpConfig};
use crate::{Error, Result};

/// Opus decoder setup, the fields of `dOps` (Opus in ISOBMFF §4.3.2), as in an `OpusHead`:
/// [`OpusConfig::from_opus_head`], or [`OpusConfig::new`] and fields set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpusConfig {
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard at the start.
    pub pre_skip: u16,
    /// Sample rate of the original input, informational.
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family; 0 needs no table.
    pub mapping_family: u8,
    /// For a non-zero family: stream count, coupled count, then one mapping byte per channel.
    pub mapping_table: Bytes,
}

impl OpusConfig {
    /// `channels` output channels (mapping family 0: mono or stereo) after `pre_skip`
    /// samples at 48 kHz; input rate 48 kHz, no output gain.
    pub fn new(channels: u8, pre_skip: u16) -> Self {
        OpusConfig {
            channels,
            pre_skip,
            input_sample_rate: 48_000,
            output_gain: 0,
            mapping_family: 0,
            mapping_table: Bytes::new(),
        }
    }

    /// Reads an `OpusHead` packet (RFC 7845 §5.1, little-endian fields).
    pub fn from_opus_head(head: &[u8]) -> Result<Self> {
        let bad = |reason| Error::InvalidParameterSet {
            codec: "Opus",
            reason,
        };
        if head.len() < 19 || &head[..8] != b"OpusHead" {
            return Err(bad("not an OpusHead of at least 19 bytes"));
        }
        Ok(Self {
            channels: head[9],
            pre_skip: u16::from_le_bytes([head[10], head[11]]),
            input_sample_rate: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
            output_gain: i16::from_le_bytes([head[16], head[17]]),
            mapping_family: head[18],
            mapping_table: Bytes::copy_from_slice(&head[19..]),
        })
    }
}

/// The codec of a track and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 (`avc1` + `avcC`). Samples are 4-byte length-prefixed NAL units.
    Avc(ParameterSets),
    /// H.265 (`hvc1`/`hev1` + `hvcC`). Samples are 4-byte length-prefixed NAL units.
    Hevc {
        /// The parameter sets or a ready record.
        parameters: ParameterSets,
        /// The sample entry type.
        tag: HevcTag,
    },
    /// AAC (`mp4a` + `esds`, object type 0x40). Samples are raw access units (no ADTS).
    Aac {
        /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
        audio_specific_config: Bytes,
    },
    /// MP3 (`mp4a` + `esds`, object type 0x6B above 24 kHz, 0x69 for 16–24 kHz). One
    /// frame per sample.
    Mp3,
    /// Opus (`Opus` + `dOps`). One packet per sample; the track timescale should be 48000.
    Opus(OpusConfig),
    /// AC-3 (`ac-3` + `dac3`, ETSI TS 102 366 Annex F). One sync frame (1536 samples) per
    /// sample; the track timescale should be the sample rate.
    Ac3 {
        /// The `dac3` body (3 bytes: fscod, bsid, bsmod, acmod, lfeon, bit_rate_code).
        dac3: Bytes,
    },
    /// Enhanced AC-3 (`ec-3` + `dec3`, ETSI TS 102 366 Annex F). One access unit (1536
    /// samples, every substream) per sample.
    Eac3 {
        /// The `dec3` body (data rate, then each independent substream's fields).
        dec3: Bytes,
    },
    /// VP8 (`vp08` + `vpcC`). One frame per sample.
    Vp8(VpConfig),
    /// VP9 (`vp09` + `vpcC`). One frame (superframe) per sample.
    Vp9(VpConfig),
    /// AV1 (`av01` + `av1C`). One temporal unit per sample, low-overhead OBUs without
    /// temporal delimiters.
    Av1(Av1Config),
    /// A caller-built sample entry box (e.g. retina's `mp4_sample_entry()`), written as is.
    Raw {
        /// The whole box, size and type included.
        entry: Bytes,
        /// Whether it is a video or an audio entry (chooses `vmhd`/`smhd` and `hdlr`).
        kind: TrackKind,
    },
}

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackKind {
    /// A visual track (`vide` handler).
    Video,
    /// A sound track (`soun` handler).
    Audio,
}

/// One track's description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackConfig {
    /// Codec and decoder configuration. It can change later with `set_codec`.
    pub codec: Codec,
    /// Ticks per second of this track's timestamps (e.g. the RTP clock rate).
    pub timescale: u32,
    /// Video: width in pixels.
    pub width: u16,
    /// Video: height in pixels.
    pub height: u16,
    /// Video: pixel aspect ratio (h_spacing, v_spacing) written as `pasp`.
    pub pixel_aspect: Option<(u32, u32)>,
    /// Video: the `tkhd` matrix (ISO/IEC 14496-12 §8.3.2), e.g. a phone's 90° rotation.
    pub display_matrix: Option<[i32; 9]>,
    /// Audio: sample rate in Hz.
    pub sample_rate: u32,
    /// Audio: channel count.
    pub channels: u16,
    /// Duration of the last sample when the recording ends and it cannot be derived
    /// (only one sample); otherwise the last sample repeats the previous duration.
    pub default_duration: Option<u32>,
}

impl TrackConfig {
    /// A video track of `width`×`height` pixels with timestamps in `timescale` ticks/s.
    pub fn video(codec: Codec, timescale: u32, width: u16, height: u16) -> Self {
        Self {
            codec,
            timescale,
            width,
            height,
            pixel_aspect: None,
            display_matrix: None,
            sample_rate: 0,
            channels: 0,
            default_duration: None,
        }
    }

    /// An audio track; the timescale is the sample rate (use [`with_timescale`] for
    /// another clock, e.g. 90 kHz for MP3 over RTP).
    ///
    /// [`with_timescale`]: Self::with_timescale
    pub fn audio(codec: Codec, sample_rate: u32, channels: u16) -> Self {
        Self {
            codec,
            timescale: sample_rate,
            width: 0,
            height: 0,
            pixel_aspect: None,
            display_matrix: None,
            sample_rate,
            channels,
            default_duration: None,
        }
    }

    /// Sets the timescale (the caller's clock rate).
    pub fn with_timescale(mut self, timescale: u32) -> Self {
        self.timescale = timescale;
        self
    }

    /// Sets the pixel aspect ratio (`pasp`).
    pub fn with_pixel_aspect(mut self, h_spacing: u32, v_spacing: u32) -> Self {
        self.pixel_aspect = Some((h_spacing, v_spacing));
        self
    }

    /// Sets [`TrackConfig::display_matrix`].
    pub fn with_display_matrix(mut self, matrix: [i32; 9]) -> Self {
        self.display_matrix = Some(matrix);
        self
    }

    /// Sets the duration used for a lone last sample.
    pub fn with_default_duration(mut self, ticks: u32) -> Self {
        self.default_duration = Some(ticks);
        self
    }

    /// Video or audio.
    pub fn kind(&self) -> TrackKind {
        match &self.codec {
            Codec::Avc(_) | Codec::Hevc { .. } | Codec::Vp8(_) | Codec::Vp9(_) | Codec::Av1(_) => {
                TrackKind::Video
            }
            Codec::Aac { .. }
            | Codec::Mp3
            | Codec::Opus(_)
            | Codec::Ac3 { .. }
            | Codec::Eac3 { .. } => TrackKind::Audio,
            Codec::Raw { kind, .. } => *kind,
        }
    }

    /// The RFC 6381 `codecs` parameter for this track (`avc1.64001f`, `mp4a.40.2`...), for
    /// HLS playlists and `MediaSource.isTypeSupported`. `None` for raw entries.
    pub fn codec_string(&self) -> Result<Option<String>> {
        Ok(match &self.codec {
            Codec::Avc(p) => {
                let sps = avc_sps(p)?;
                Some(format!(
                    "avc1.{:02x}{:02x}{:02x}",
                    sps.profile_idc, sps.constraint_flags, sps.level_idc
                ))
            }
            Codec::Hevc { parameters, tag } => {
                let sps = hevc_sps(parameters)?;
                Some(hevc_codec_string(*tag, &sps))
            }
            Codec::Aac {
                audio_specific_config,
            } => {
                let aot = audio_specific_config.first().map_or(2, |b| b >> 3);
                Some(format!("mp4a.40.{aot}"))
            }
            Codec::Mp3 => Some(format!("mp4a.{:02X}", mp3_object_type(self.sample_rate)?)),
            Codec::Opus(_) => Some("opus".to_owned()),
            Codec::Ac3 { .. } => Some("ac-3".to_owned()),
            Codec::Eac3 { .. } => Some("ec-3".to_owned()),
            Codec::Vp8(c) => Some(c.codec_string("vp08")),
            Codec::Vp9(c) => Some(c.codec_string("vp09")),
            Codec::Av1(c) => Some(c.codec_string()),
            Codec::Raw { .. } => None,
        })
    }

    /// Checks the description without building it fully.
    pub(crate) fn validate(&self, track: usize) -> Result<()> {
        let bad = |reason: &'static str| Error::InvalidTrack { track, reason };
        if self.timescale == 0 {
            return Err(bad("timescale is 0"));
        }
        let raw = matches!(self.codec, Codec::Raw { .. });
        match self.kind() {
            TrackKind::Video if !raw && (self.width == 0 || self.height == 0) => {
                return Err(bad("video width or height is 0"));
            }
            TrackKind::Audio if !raw && (self.sample_rate == 0 || self.channels == 0) => {
                return Err(bad("audio sample rate or channel count is 0"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Builds the sample entry box for `stsd`. `track_id` goes into the `esds` ES_ID.
    pub(crate) fn sample_entry(&self, track_id: u32) -> Result<Bytes> {
        let mut w = BoxWriter::with_capacity(256);
        match &self.codec {
            Codec::Raw { entry, .. } => {
                if entry.len() < 8
                    || u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize
                        != entry.len()
                {
                    return Err(Error::InvalidTrack {
                        track: track_id as usize - 1,
                        reason: "raw sample entry's size field does not match its length",
                    });
                }
                return Ok(entry.clone());
            }
            Codec::Avc(p) => {
                let record = avc_record(p)?;
                self.visual_entry(&mut w, b"avc1", b"avcC", &record)?;
            }
            Codec::Hevc { parameters, tag } => {
                let record = hevc_record(parameters, *tag)?;
                let fourcc = match tag {
                    HevcTag::Hvc1 => b"hvc1",
                    HevcTag::Hev1 => b"hev1",
                };
                self.visual_entry(&mut w, fourcc, b"hvcC", &record)?;
            }
            Codec::Vp8(c) => self.visual_entry(&mut w, b"vp08", b"vpcC", &c.record()?)?,
            Codec::Vp9(c) => self.visual_entry(&mut w, b"vp09", b"vpcC", &c.record()?)?,
            Codec::Av1(c) => self.visual_entry(&mut w, b"av01", b"av1C", &c.record()?)?,
            Codec::Aac {
                audio_specific_config,
            } => {
                if audio_specific_config.len() < 2 {
                    return Err(Error::MissingParameterSets {
                        codec: "AAC",
                        what: "an AudioSpecificConfig of at least 2 bytes",
                    });
                }
                let m = self.audio_entry_start(&mut w, b"mp4a", self.channels)?;
                esds(&mut w, track_id, 0x40, Some(audio_specific_config))?;
                w.end(m)?;
            }
            Codec::Mp3 => {
                let oti = mp3_object_type(self.sample_rate)?;
                let m = self.audio_entry_start(&mut w, b"mp4a", self.channels)?;
                esds(&mut w, track_id, oti, None)?;
                w.end(m)?;
            }
            Codec::Ac3 { dac3: config } | Codec::Eac3 { dec3: config } => {
                let (entry, config_box, codec, what, fits) = match &self.codec {
                    Codec::Ac3 { .. } => (b"ac-3", b"dac3", "AC-3", "a dac3 body of 3 bytes", 3..4),
                    _ => (
                        b"ec-3",
                        b"dec3",
                        "E-AC-3",
                        "a dec3 body of at least 5 bytes",
                        5..usize::MAX,
                    ),
                };
                if !fits.contains(&config.len()) {
                    return Err(Error::MissingParameterSets { codec, what });
                }
                // ChannelCount 2 whatever the stream holds, as ffmpeg writes it: readers
                // take the channels from `dac3`/`dec3` (ETSI TS 102 366 F.3: ignored).
                let m = self.audio_entry_start(&mut w, entry, 2)?;
                let d = w.begin(config_box);
                w.bytes(config);
                w.end(d)?;
                w.end(m)?;
            }
            Codec::Opus(o) => {
                let m = self.audio_entry_start(&mut w, b"Opus", u16::from(o.channels))?;
                let d = w.begin(b"dOps");
                w.u8(0);
                w.u8(o.channels);
                w.u16(o.pre_skip);
                w.u32(o.input_sample_rate);
                w.u16(o.output_gain as u16);
                w.u8(o.mapping_family);
                if o.mapping_family != 0 {
                    if o.mapping_table.len() != 2 + usize::from(o.channels) {
                        return Err(Error::InvalidParameterSet {
                            codec: "Opus",
                            reason: "channel mapping table must be 2 + channels bytes",
                        });
                    }
                    w.bytes(&o.mapping_table);
                }
                w.end(d)?;
                w.end(m)?;
            }
        }
        Ok(Bytes::from(w.into_vec()))
    }

    fn visual_entry(
        &self,
        w: &mut BoxWriter,
        fourcc: &FourCc,
        config: &FourCc,
        record: &[u8],
    ) -> Result<()> {
        let m = w.begin(fourcc);
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(16); // pre_defined, reserved
        w.u16(self.width);
        w.u16(self.height);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x0018); // depth
        w.u16(0xffff); // pre_defined = -1
        let c = w.begin(config);
        w.bytes(record);
        w.end(c)?;
        if let Some((h, v)) = self.pixel_aspect {
            let p = w.begin(b"pasp");
            w.u32(h);
            w.u32(v);
            w.end(p)?;
        }
        w.end(m)
    }

    fn audio_entry_start(
        &self,
        w: &mut BoxWriter,
        fourcc: &FourCc,
        channels: u16,
    ) -> Result<crate::boxes::Mark> {
        let m = w.begin(fourcc);
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(8); // version 0, reserved
        w.u16(channels);
        w.u16(16); // samplesize
        w.u32(0); // pre_defined, reserved
        let rate = if fourcc == b"Opus" {
            48000
        } else {
            self.sample_rate
        };
        // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0 (the
        // real rate is in the timescale and the decoder configuration).
        w.u32(if rate <= 0xffff { rate << 16 } else { 0 });
        Ok(m)
    }
}

/// The MPEG-4 objectTypeIndication for MP3 at `sample_rate` (as ffmpeg's movenc).
fn mp3_object_type(sample_rate: u32) -> Result<u8> {
    match sample_rate {
        r if r > 24000 => Ok(0x6b), // ISO/IEC 11172-3
        16000..=24000 => Ok(0x69),  // ISO/IEC 13818-3
        r => Err(Error::UnsupportedSampleRate {
            codec: "MP3",
            sample_rate: r,
        }),
    }
}

/// Writes an `esds` box: ES_Descriptor with DecoderConfigDescriptor, optional
/// DecoderSpecificInfo and SLConfigDescriptor (ISO/IEC 14496-1 §7.2.6.5–7.2.6.8), with
/// 4-byte descriptor lengths as ffmpeg writes them.
fn esds(w: &mut BoxWriter, track_id: u32, object_type: u8, dsi: Option<&Bytes>) -> Result<()> {
    fn descriptor(w: &mut BoxWriter, tag: u8, len: usize) {
        w.u8(tag);
        w.u8(0x80 | ((len >> 21) & 0x7f) as u8);
        w.u8(0x80 | ((len >> 14) & 0x7f) as u8);
        w.u8(0x80 | ((len >> 7) & 0x7f) as u8);
        w.u8((len & 0x7f) as u8);
    }
    let dsi_len = dsi.map_or(0, |d| 5 + d.len());
    if dsi_len > 0x0fff_ffff - 64 {
        return Err(Error::NotRepresentable {
            what: "DecoderSpecificInfo length",
            value: dsi_len as u128,
        });
    }
    let dcd_len = 13 + dsi_len;
    let es_len = 3 + 5 + dcd_len + 5 + 1;
    let m = w.begin_full(b"esds", 0, 0);
    descriptor(w, 0x03, es_len);
    w.u16(track_id as u16);
    w.u8(0); // no dependency, URL or OCR stream
    descriptor(w, 0x04, dcd_len);
    w.u8(object_type);
    w.u8(0x15); // streamType audio (5) << 2 | upStream 0 | reserved 1
    w.u24(0); // bufferSizeDB
    w.u32(0); // maxBitrate: unknown
    w.u32(0); // avgBitrate: variable
    if let Some(d) = dsi {
        descriptor(w, 0x05, d.len());
        w.bytes(d);
    }
    descriptor(w, 0x06, 1);
    w.u8(0x02); // predefined: MP4 file
    w.end(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac3_entry_is_laid_out_as_ffmpeg_writes_it() {
        // 5.1 at 48 kHz, 384 kbit/s (ffmpeg's own dac3 for that stream).
        let dac3 = Bytes::from_static(&[0x10, 0x3d, 0xc0]);
        let t = TrackConfig::audio(Codec::Ac3 { dac3 }, 48_000, 6);
        let e = t.sample_entry(1).unwrap();
        assert_eq!(&e[4..8], b"ac-3");
        assert_eq!(
            &e[24..26],
            &[0, 2],
            "ChannelCount 2 (the channels are in dac3)"
        );
        assert_eq!(&e[32..36], &(48_000u32 << 16).to_be_bytes());
        assert_eq!(
            &e[36..],
            &[0, 0, 0, 11, b'd', b'a', b'c', b'3', 0x10, 0x3d, 0xc0]
        );
        assert_eq!(t.codec_string().unwrap().as_deref(), Some("ac-3"));
        let bad = TrackConfig::audio(
            Codec::Ac3 {
                dac3: Bytes::from_static(&[1, 2]),
            },
            48_000,
            6,
        );
        assert!(bad.sample_entry(1).is_err());
    }

    #[test]
    fn mp3_object_type_follows_the_sample_rate() {
        assert_eq!(mp3_object_type(44100).unwrap(), 0x6b);
        assert_eq!(mp3_object_type(24000).unwrap(), 0x69);
        assert_eq!(mp3_object_type(16000).unwrap(), 0x69);
        assert!(matches!(
            mp3_object_type(11025),
            Err(Error::UnsupportedSampleRate { .. })
        ));
    }

    #[test]
    fn aac_esds_golden_bytes() {
        let t = TrackConfig::audio(
            Codec::Aac {
                audio_specific_config: Bytes::from_static(&[0x11, 0x90]),
            },
            48000,
            2,
        );
        let e = t.sample_entry(2).unwrap();
        assert_eq!(&e[4..8], b"mp4a");
        assert_eq!(u16::from_be_bytes([e[24], e[25]]), 2);
        assert_eq!(
            u32::from_be_bytes([e[32], e[33], e[34], e[35]]),
            48000 << 16
        );
        let esds = &e[36..];
        assert_eq!(&esds[4..8], b"esds");
        // ES_Descriptor tag, 4-byte length, ES_ID = track id.
        assert_eq!(&esds[12..20], &[0x03, 0x80, 0x80, 0x80, 34, 0, 2, 0]);
        // DecoderConfigDescriptor: OTI 0x40, audio stream.
        assert_eq!(&esds[20..27], &[0x04, 0x80, 0x80, 0x80, 20, 0x40, 0x15]);
        assert!(esds.ends_with(&[
            0x05, 0x80, 0x80, 0x80, 2, 0x11, 0x90, 0x06, 0x80, 0x80, 0x80, 1, 2
        ]));
        assert_eq!(t.codec_string().unwrap().unwrap(), "mp4a.40.2");
    }

    #[test]
    fn missing_parameter_sets_are_errors() {
        let t = TrackConfig::video(
            Codec::Avc(ParameterSets::Nal {
                vps: vec![],
                sps: vec![],
                pps: vec![],
            }),
            90000,
            320,
            240,
        );
        assert!(matches!(
            t.sample_entry(1),
            Err(Error::MissingParameterSets { codec: "H.264", .. })
        ));
        let t = TrackConfig::video(
            Codec::Hevc {
                parameters: ParameterSets::Nal {
                    vps: vec![],
                    sps: vec![],
                    pps: vec![],
                },
                tag: HevcTag::Hvc1,
            },
            90000,
            320,
            240,
        );
        assert!(matches!(
            t.sample_entry(1),
            Err(Error::MissingParameterSets { codec: "H.265", .. })
        ));
    }

    #[test]
    fn opus_head_is_read() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let o = OpusConfig::from_opus_head(&head).unwrap();
        assert_eq!(
            (o.channels, o.pre_skip, o.input_sample_rate),
            (2, 312, 48000)
        );
        assert!(OpusConfig::from_opus_head(b"OpusHead").is_err());
    }
}
