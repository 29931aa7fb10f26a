//! AAC, MP3, AC-3, E-AC-3, Opus and G.711 decoding (libavcodec's native decoders) to interleaved PCM,
//! resampled and remixed by libswresample when asked.
//!
//! AAC access units are given to the decoder behind an ADTS header built from the
//! AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1, §1.A.2.2), Opus packets with the
//! channel count of the `OpusHead` (RFC 7845 §5.1), whose pre-skip is dropped here: the
//! decoder then needs no `extradata`, and the crate no unsafe code.

use bytes::{BufMut, Bytes, BytesMut};
use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::software::resampling;
use ffmpeg_next::{ChannelLayout, decoder, frame};
use media_core::{Codec, Packet, Track};

use crate::error::{Error, Result};
use crate::frame::{AudioFormat, AudioFrame};

/// G.711 companding law (ITU-T G.711); `media_core`'s, named here too.
pub use media_core::G711Law;

/// An audio codec this crate decodes, with what its decoder needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioCodec {
    /// AAC; raw access units and their AudioSpecificConfig.
    Aac {
        /// The AudioSpecificConfig.
        config: Bytes,
    },
    /// MPEG audio layer I/II/III; whole frames.
    Mp3,
    /// AC-3 (Dolby Digital); whole sync frames, which say their own rate and channels.
    Ac3,
    /// E-AC-3 (Dolby Digital Plus); access units of sync frames, as AC-3.
    Eac3,
    /// Opus; the `OpusHead` gives channels and pre-skip (2 channels, no pre-skip without).
    Opus {
        /// The `OpusHead`, if known.
        head: Option<Bytes>,
    },
    /// G.711 (8-bit companded samples), which has no codec of its own in `media_core`.
    G711 {
        /// A-law or µ-law.
        law: G711Law,
        /// Samples per second (8000 in RTP).
        rate: u32,
        /// Channels.
        channels: u16,
    },
}

impl AudioCodec {
    /// The codec of a `media_core` track.
    pub fn from_codec(codec: &Codec) -> Result<AudioCodec> {
        match codec {
            Codec::Aac { config } => Ok(AudioCodec::Aac {
                config: config.clone(),
            }),
            Codec::Mp3 => Ok(AudioCodec::Mp3),
            Codec::Ac3 { .. } => Ok(AudioCodec::Ac3),
            Codec::Eac3 { .. } => Ok(AudioCodec::Eac3),
            Codec::Opus { head } => Ok(AudioCodec::Opus {
                head: Some(head.clone()),
            }),
            Codec::SampleEntry { .. } => g711_of_sample_entry(codec).ok_or(Error::Unsupported {
                codec: codec.name().to_owned(),
                action: "decoded",
            }),
            other => Err(Error::Unsupported {
                codec: other.name().to_owned(),
                action: "decoded",
            }),
        }
    }

    /// Whether this is G.711, which MP4 players do not take (transcode it).
    pub fn is_g711(codec: &Codec) -> bool {
        media_core::G711::of(codec).is_some()
    }

    fn name(&self) -> &'static str {
        match self {
            AudioCodec::Aac { .. } => "AAC",
            AudioCodec::Mp3 => "MP3",
            AudioCodec::Ac3 => "AC-3",
            AudioCodec::Eac3 => "E-AC-3",
            AudioCodec::Opus { .. } => "Opus",
            AudioCodec::G711 { .. } => "G.711",
        }
    }
}

/// G.711 as a `media_core` codec ([`media_core::G711::codec`]: an `alaw`/`ulaw`
/// sample description). Packets are the raw 8-bit samples.
pub fn g711_codec(law: G711Law, rate: u32, channels: u16) -> Codec {
    media_core::G711::new(law, rate, channels).codec()
}

fn g711_of_sample_entry(codec: &Codec) -> Option<AudioCodec> {
    let g711 = media_core::G711::of(codec)?;
    Some(AudioCodec::G711 {
        law: g711.law,
        rate: g711.rate,
        channels: g711.channels,
    })
}

/// Decodes one audio track (push packets, pull PCM).
pub struct AudioDecoder {
    decoder: decoder::Audio,
    codec: AudioCodec,
    /// The fixed ADTS header fields of an AAC track.
    adts: Option<[u8; 4]>,
    timescale: u32,
    output: AudioFormat,
    resampler: Option<(resampling::Context, (ffmpeg_next::format::Sample, u64, u32))>,
    /// Samples still to drop at the start (Opus pre-skip), at the decoder's rate.
    skip: usize,
    /// Presentation time of the first output sample, and samples given out since.
    start: Option<i64>,
    given: u64,
    finished: bool,
}

impl std::fmt::Debug for AudioDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioDecoder")
            .field("codec", &self.codec.name())
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl AudioDecoder {
    /// A decoder of a `media_core` track (AAC, MP3, Opus) giving PCM in `output`.
    pub fn for_track(track: &Track, output: AudioFormat) -> Result<AudioDecoder> {
        AudioDecoder::new(
            AudioCodec::from_codec(&track.codec)?,
            track.timescale,
            output,
        )
    }

    /// A decoder of `codec` whose packet times are in `timescale` ticks per second.
    pub fn new(codec: AudioCodec, timescale: u32, output: AudioFormat) -> Result<AudioDecoder> {
        crate::init()?;
        let (id, missing) = match &codec {
            AudioCodec::Aac { .. } => (Id::AAC, "AAC decoder"),
            AudioCodec::Mp3 => (Id::MP3, "MP3 decoder"),
            AudioCodec::Ac3 => (Id::AC3, "AC-3 decoder"),
            AudioCodec::Eac3 => (Id::EAC3, "E-AC-3 decoder"),
            AudioCodec::Opus { .. } => (Id::OPUS, "Opus decoder"),
            AudioCodec::G711 {
                law: G711Law::ALaw, ..
            } => (Id::PCM_ALAW, "G.711 A-law decoder"),
            AudioCodec::G711 { .. } => (Id::PCM_MULAW, "G.711 µ-law decoder"),
        };
        let found = decoder::find(id).ok_or(Error::Missing(missing))?;
        // The decoder's rate and channels are set on an unopened context, whose parameters
        // then open the decoder (ffmpeg-next has no safe setter on a decoder before open).
        let mut setup = codec::Context::new_with_codec(found)
            .encoder()
            .audio()
            .map_err(Error::ffmpeg("audio decoder"))?;
        let mut adts = None;
        let mut skip = 0;
        match &codec {
            AudioCodec::Aac { config } => adts = Some(adts_fields(config)?),
            AudioCodec::Opus { head } => {
                let head = head.as_deref().unwrap_or_default();
                let channels = head.get(9).copied().filter(|c| *c > 0).unwrap_or(2);
                if channels > 2 {
                    return Err(Error::Invalid(format!(
                        "Opus with {channels} channels (a mapping family) is not decoded"
                    )));
                }
                skip = head
                    .get(10..12)
                    .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
                setup.set_rate(48_000);
                setup.set_channel_layout(ChannelLayout::default(i32::from(channels)));
            }
            AudioCodec::G711 { channels, rate, .. } => {
                setup.set_rate(i32::try_from(*rate).unwrap_or(8000));
                setup.set_channel_layout(ChannelLayout::default(i32::from((*channels).max(1))));
            }
            AudioCodec::Mp3 | AudioCodec::Ac3 | AudioCodec::Eac3 => {}
        }
        let parameters = codec::Parameters::from(&setup);
        let decoder = codec::Context::from_parameters(parameters)
            .and_then(|c| c.decoder().open_as(found))
            .and_then(|o| o.audio())
            .map_err(Error::ffmpeg("audio decoder open"))?;
        Ok(AudioDecoder {
            decoder,
            codec,
            adts,
            timescale: timescale.max(1),
            output,
            resampler: None,
            skip,
            start: None,
            given: 0,
            finished: false,
        })
    }

    /// Gives the decoder one packet. Pull every frame before the next push.
    pub fn push(&mut self, packet: &Packet) -> Result<()> {
        let mut av = match self.adts {
            Some(fields) => {
                let mut data = BytesMut::with_capacity(packet.data.len() + 7);
                data.put_slice(&adts_header(fields, packet.data.len())?);
                data.put_slice(&packet.data);
                ffmpeg_next::Packet::copy(&data)
            }
            None => ffmpeg_next::Packet::copy(&packet.data),
        };
        av.set_pts(Some(packet.dts + i64::from(packet.cts_offset)));
        av.set_dts(Some(packet.dts));
        self.decoder
            .send_packet(&av)
            .map_err(Error::ffmpeg("audio decode"))
    }

    /// No more packets: what the decoder and resampler hold comes out of `pull`.
    pub fn finish(&mut self) -> Result<()> {
        self.finished = true;
        self.decoder
            .send_eof()
            .map_err(Error::ffmpeg("audio decode"))
    }

    /// The next PCM frame in the output format; `None` when more input is needed.
    pub fn pull(&mut self) -> Result<Option<AudioFrame>> {
        loop {
            let mut decoded = frame::Audio::empty();
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => return self.drain(),
                Err(ffmpeg_next::Error::Other { errno })
                    if errno == ffmpeg_next::util::error::EAGAIN =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(Error::ffmpeg("audio decode")(e)),
            }
            if self.start.is_none() {
                let pts = decoded.timestamp().or(decoded.pts()).unwrap_or(0);
                // The dropped pre-skip moves the first sample's time on.
                let rate = i64::from(self.input_rate(&decoded).max(1));
                self.start = Some(pts + self.skip as i64 * i64::from(self.timescale) / rate);
            }
            if let Some(frame) = self.convert(&decoded)? {
                return Ok(Some(frame));
            }
        }
    }

    fn input_rate(&self, decoded: &frame::Audio) -> u32 {
        match self.codec {
            AudioCodec::G711 { rate, .. } => rate,
            _ => decoded.rate(),
        }
    }

    /// Resamples one decoded frame into the output format; drops the pre-skip.
    fn convert(&mut self, decoded: &frame::Audio) -> Result<Option<AudioFrame>> {
        let rate = self.input_rate(decoded);
        let channels = decoded.channels();
        let layout = ChannelLayout::default(i32::from(channels));
        let key = (decoded.format(), layout.bits(), rate);
        let out_rate = self.output.rate.unwrap_or(rate);
        let out_channels = self.output.channels.unwrap_or(channels);
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let context = resampling::Context::get(
                key.0,
                layout,
                rate,
                self.output.sample.to_ffmpeg(),
                ChannelLayout::default(i32::from(out_channels)),
                out_rate,
            )
            .map_err(Error::ffmpeg("swresample setup"))?;
            self.resampler = Some((context, key));
        }
        let capacity = decoded.samples() * out_rate as usize / rate.max(1) as usize + 256;
        let mut out = frame::Audio::new(
            self.output.sample.to_ffmpeg(),
            capacity,
            ChannelLayout::default(i32::from(out_channels)),
        );
        let mut input = decoded.clone();
        input.set_channel_layout(layout);
        input.set_rate(rate);
        if let Some((context, _)) = self.resampler.as_mut() {
            context
                .run(&input, &mut out)
                .map_err(Error::ffmpeg("swresample"))?;
        }
        self.emit(&out, out_rate, out_channels)
    }

    /// What the resampler still holds, once the decoder is drained.
    fn drain(&mut self) -> Result<Option<AudioFrame>> {
        let Some((context, _)) = self.resampler.as_mut() else {
            return Ok(None);
        };
        if !self.finished || context.delay().is_none() {
            return Ok(None);
        }
        let out_rate = context.output().rate;
        let out_channels = context.output().channel_layout.channels() as u16;
        let mut out = frame::Audio::new(
            self.output.sample.to_ffmpeg(),
            4096,
            ChannelLayout::default(i32::from(out_channels)),
        );
        context
            .flush(&mut out)
            .map_err(Error::ffmpeg("swresample"))?;
        if out.samples() == 0 {
            return Ok(None);
        }
        self.emit(&out, out_rate, out_channels)
    }

    fn emit(&mut self, out: &frame::Audio, rate: u32, channels: u16) -> Result<Option<AudioFrame>> {
        let bytes_per = usize::from(channels) * self.output.sample.bytes();
        let mut samples = out.samples();
        let mut data = out.data(0).get(..samples * bytes_per).unwrap_or_default();
        if self.skip > 0 {
            // Pre-skip is counted at 48 kHz (RFC 7845 §4.2); the output may be resampled.
            let drop = (self.skip * rate as usize / 48_000).min(samples);
            let skip_left = self
                .skip
                .saturating_sub(samples * 48_000 / rate.max(1) as usize);
            data = data.get(drop * bytes_per..).unwrap_or_default();
            samples -= drop;
            self.skip = skip_left;
        }
        if samples == 0 {
            return Ok(None);
        }
        let start = self.start.unwrap_or(0);
        let pts = start
            + (u128::from(self.given) * u128::from(self.timescale) / u128::from(rate.max(1)))
                as i64;
        self.given += samples as u64;
        let frame = AudioFrame::new(
            Bytes::copy_from_slice(data),
            rate,
            channels,
            self.output.sample,
            pts,
            self.timescale,
        );
        frame.map(Some).ok_or_else(|| {
            Error::Invalid(format!(
                "decoded {} audio of {channels} channels at {rate} Hz",
                self.codec.name()
            ))
        })
    }
}

/// Profile, sampling frequency index and channel configuration of an
/// AudioSpecificConfig, as the fixed part of an ADTS header (ISO/IEC 14496-3 §1.A.2.2).
fn adts_fields(config: &[u8]) -> Result<[u8; 4]> {
    let bits = config
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| Error::Invalid("AAC AudioSpecificConfig shorter than 2 bytes".into()))?;
    let object = (bits >> 11) as u8;
    let frequency = ((bits >> 7) & 0xF) as u8;
    let channels = ((bits >> 3) & 0xF) as u8;
    if object == 31 || frequency == 15 || channels > 7 {
        return Err(Error::Invalid(format!(
            "AAC AudioSpecificConfig {config:02x?} has an escape value ADTS cannot carry"
        )));
    }
    // ADTS profiles are object types 1-4; SBR and PS streams (5, 29) signal LC with
    // implicit extensions, which the decoder finds in the payload.
    let profile = match object {
        1..=4 => object - 1,
        _ => 1,
    };
    Ok([profile, frequency, channels, 0])
}

fn adts_header(fields: [u8; 4], payload: usize) -> Result<[u8; 7]> {
    let length = payload + 7;
    if length >= 1 << 13 {
        return Err(Error::Invalid(format!(
            "AAC access unit of {payload} bytes"
        )));
    }
    let [profile, frequency, channels, _] = fields;
    Ok([
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (frequency << 2) | (channels >> 2),
        ((channels & 3) << 6) | ((length >> 11) as u8),
        (length >> 3) as u8,
        (((length & 7) as u8) << 5) | 0x1F,
        0xFC, // buffer fullness 0x7FF (VBR), one raw data block
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_through_its_sample_entry() {
        let codec = g711_codec(G711Law::ALaw, 8000, 1);
        assert!(AudioCodec::is_g711(&codec));
        assert_eq!(
            AudioCodec::from_codec(&codec).expect("G.711"),
            AudioCodec::G711 {
                law: G711Law::ALaw,
                rate: 8000,
                channels: 1
            }
        );
        assert!(!AudioCodec::is_g711(&Codec::Mp3));
    }

    #[test]
    fn adts_header_from_an_lc_config() {
        // AAC-LC, 44.1 kHz (index 4), stereo.
        let fields = adts_fields(&[0x12, 0x10]).expect("valid config");
        assert_eq!(fields[..3], [1, 4, 2]);
        let header = adts_header(fields, 100).expect("fits");
        assert_eq!(header[..2], [0xFF, 0xF1]);
        let length = (usize::from(header[3] & 3) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        assert_eq!(length, 107);
        assert!(adts_fields(&[0x12]).is_err());
        assert!(adts_header(fields, 9000).is_err());
    }
}
