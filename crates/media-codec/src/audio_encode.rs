//! PCM encoding to AAC-LC (FFmpeg's native encoder), Opus (libopus) and MP3 (libmp3lame,
//! when the build has it).
//!
//! Input frames may come in any rate, channel count and sample format: libswresample
//! brings them to the encoder's, a FIFO cuts them into the encoder's frame size. The
//! configuration is written here (AudioSpecificConfig, ISO/IEC 14496-3 §1.6.2.1;
//! `OpusHead`, RFC 7845 §5.1) rather than read from `extradata`, so no unsafe code.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use ffmpeg_next::format::sample::{Sample, Type};
use ffmpeg_next::software::resampling;
use ffmpeg_next::{ChannelLayout, Rational, encoder, frame};
use media_core::{Codec, Packet};

use crate::error::{Error, Result};
use crate::frame::{AudioFrame, SampleFormat};
use crate::video_encode::rescale;

/// The audio codecs this crate encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodedAudio {
    /// AAC-LC.
    Aac,
    /// Opus (always 48 kHz).
    Opus,
    /// MPEG-1/2 layer III (needs libmp3lame in the FFmpeg build).
    Mp3,
}

impl EncodedAudio {
    /// The codec named `name` (`aac`, `opus`, `mp3`).
    pub fn from_name(name: &str) -> Option<EncodedAudio> {
        match name.to_ascii_lowercase().as_str() {
            "aac" => Some(EncodedAudio::Aac),
            "opus" => Some(EncodedAudio::Opus),
            "mp3" => Some(EncodedAudio::Mp3),
            _ => None,
        }
    }
}

/// How to encode audio.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioEncoderSettings {
    /// The codec.
    pub codec: EncodedAudio,
    /// Samples per second of the stream (Opus: always 48000).
    pub rate: u32,
    /// Channels of the stream (1 or 2).
    pub channels: u16,
    /// Target bitrate in bits per second (default 128 kbit/s).
    pub bitrate: u64,
}

impl AudioEncoderSettings {
    /// `codec` at `rate` Hz with `channels` channels and 128 kbit/s.
    pub fn new(codec: EncodedAudio, rate: u32, channels: u16) -> AudioEncoderSettings {
        AudioEncoderSettings {
            codec,
            rate: if codec == EncodedAudio::Opus {
                48_000
            } else {
                rate
            },
            channels,
            bitrate: 128_000,
        }
    }
}

/// Encodes PCM (push frames, pull packets).
pub struct AudioEncoder {
    encoder: encoder::Audio,
    settings: AudioEncoderSettings,
    planar: bool,
    frame_size: usize,
    resampler: Option<(resampling::Context, (SampleFormat, u16, u32))>,
    /// Interleaved f32 samples waiting for a whole encoder frame.
    fifo: Vec<f32>,
    /// Time of the next sample into the encoder, in 1/rate.
    next_pts: Option<i64>,
    codec: Option<Codec>,
    ready: VecDeque<Packet>,
}

impl std::fmt::Debug for AudioEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioEncoder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AudioEncoder {
    /// Opens the encoder.
    pub fn new(settings: AudioEncoderSettings) -> Result<AudioEncoder> {
        crate::init()?;
        if !(1..=2).contains(&settings.channels) || settings.rate == 0 {
            return Err(Error::Invalid(format!(
                "audio encoding takes 1 or 2 channels at a rate above 0, not {} at {}",
                settings.channels, settings.rate
            )));
        }
        let (name, missing, planar) = match settings.codec {
            EncodedAudio::Aac => ("aac", "AAC encoder", true),
            EncodedAudio::Opus => ("libopus", "libopus encoder", false),
            EncodedAudio::Mp3 => ("libmp3lame", "libmp3lame encoder", true),
        };
        let codec = encoder::find_by_name(name).ok_or(Error::Missing(missing))?;
        let context = ffmpeg_next::codec::Context::new_with_codec(codec);
        let mut audio = context
            .encoder()
            .audio()
            .map_err(Error::ffmpeg("audio encoder"))?;
        audio.set_rate(settings.rate as i32);
        audio.set_channel_layout(ChannelLayout::default(i32::from(settings.channels)));
        audio.set_format(Sample::F32(if planar {
            Type::Planar
        } else {
            Type::Packed
        }));
        audio.set_bit_rate(settings.bitrate as usize);
        audio.set_time_base(Rational::new(1, settings.rate as i32));
        let encoder = audio
            .open_as(codec)
            .map_err(Error::ffmpeg("audio encoder open"))?;
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        Ok(AudioEncoder {
            encoder,
            planar,
            frame_size,
            resampler: None,
            fifo: Vec::new(),
            next_pts: None,
            codec: (settings.codec == EncodedAudio::Mp3).then_some(Codec::Mp3),
            settings,
            ready: VecDeque::new(),
        })
    }

    /// The codec an encoder with `settings` will give, before any sample (a twin encoder
    /// encodes one frame of silence for Opus's pre-skip, which libopus fixes per rate).
    pub fn probe(settings: &AudioEncoderSettings) -> Result<Codec> {
        let mut twin = AudioEncoder::new(settings.clone())?;
        let channels = twin.settings.channels;
        let len = twin.frame_size * usize::from(channels) * 4;
        let silence = AudioFrame::new(
            Bytes::from(vec![0u8; len]),
            twin.settings.rate,
            channels,
            SampleFormat::F32,
            0,
            twin.settings.rate,
        )
        .ok_or_else(|| Error::Invalid("probe frame".into()))?;
        twin.push(&silence)?;
        twin.finish()?;
        twin.codec()
            .ok_or_else(|| Error::Invalid("the audio encoder gave no packet".into()))
    }

    /// Samples per encoded frame (1024 AAC, 960 Opus at 20 ms, 1152 MP3).
    pub fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// The track's codec once the first packet came out (Opus's pre-skip is known then).
    pub fn codec(&self) -> Option<Codec> {
        self.codec.clone()
    }

    /// Ticks per second of the packets' times (the encoder's rate).
    pub fn timescale(&self) -> u32 {
        self.settings.rate
    }

    /// Takes PCM; whole encoder frames are encoded at once.
    pub fn push(&mut self, frame: &AudioFrame) -> Result<()> {
        if self.next_pts.is_none() {
            self.next_pts = Some(rescale(frame.pts, frame.timescale, self.settings.rate));
        }
        let converted = self.resample(frame)?;
        self.fifo.extend(converted);
        let whole = self.frame_size * usize::from(self.settings.channels);
        while self.fifo.len() >= whole {
            let rest = self.fifo.split_off(whole);
            let chunk = std::mem::replace(&mut self.fifo, rest);
            self.encode(&chunk)?;
        }
        Ok(())
    }

    /// No more PCM: the last partial frame is encoded and the encoder drained.
    pub fn finish(&mut self) -> Result<()> {
        if !self.fifo.is_empty() {
            let chunk = std::mem::take(&mut self.fifo);
            self.encode(&chunk)?;
        }
        self.encoder
            .send_eof()
            .map_err(Error::ffmpeg("audio encode"))?;
        self.receive()
    }

    /// The next encoded packet (track 0, times in 1/rate; the first ones may be negative:
    /// the encoder's priming samples, which a player drops).
    pub fn pull(&mut self) -> Result<Option<Packet>> {
        Ok(self.ready.pop_front())
    }

    /// Interleaved f32 at the encoder's rate and channels.
    fn resample(&mut self, frame: &AudioFrame) -> Result<Vec<f32>> {
        let (rate, channels) = (self.settings.rate, self.settings.channels);
        if frame.format == SampleFormat::F32 && frame.rate == rate && frame.channels == channels {
            return Ok(frame.to_f32());
        }
        let key = (frame.format, frame.channels, frame.rate);
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let context = resampling::Context::get(
                frame.format.to_ffmpeg(),
                ChannelLayout::default(i32::from(frame.channels)),
                frame.rate,
                Sample::F32(Type::Packed),
                ChannelLayout::default(i32::from(channels)),
                rate,
            )
            .map_err(Error::ffmpeg("swresample setup"))?;
            self.resampler = Some((context, key));
        }
        let samples = frame.frames();
        let mut input = frame::Audio::new(
            frame.format.to_ffmpeg(),
            samples,
            ChannelLayout::default(i32::from(frame.channels)),
        );
        input.set_rate(frame.rate);
        let len = frame.samples.len();
        if let Some(dst) = input.data_mut(0).get_mut(..len) {
            dst.copy_from_slice(&frame.samples);
        }
        let capacity = samples * rate as usize / frame.rate.max(1) as usize + 256;
        let mut out = frame::Audio::new(
            Sample::F32(Type::Packed),
            capacity,
            ChannelLayout::default(i32::from(channels)),
        );
        if let Some((context, _)) = self.resampler.as_mut() {
            context
                .run(&input, &mut out)
                .map_err(Error::ffmpeg("swresample"))?;
        }
        let count = out.samples() * usize::from(channels);
        Ok(out
            .data(0)
            .chunks_exact(4)
            .take(count)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn encode(&mut self, interleaved: &[f32]) -> Result<()> {
        let channels = usize::from(self.settings.channels);
        let samples = interleaved.len() / channels;
        let format = Sample::F32(if self.planar {
            Type::Planar
        } else {
            Type::Packed
        });
        let mut input = frame::Audio::new(format, samples, ChannelLayout::default(channels as i32));
        input.set_rate(self.settings.rate);
        if self.planar {
            for channel in 0..channels {
                let plane = input.plane_mut::<f32>(channel);
                for (dst, src) in plane
                    .iter_mut()
                    .zip(interleaved.iter().skip(channel).step_by(channels))
                {
                    *dst = *src;
                }
            }
        } else {
            // Packed: one plane of interleaved channels.
            let bytes = input.data_mut(0);
            for (dst, src) in bytes.chunks_exact_mut(4).zip(interleaved) {
                dst.copy_from_slice(&src.to_ne_bytes());
            }
        }
        let pts = self.next_pts.unwrap_or(0);
        input.set_pts(Some(pts));
        self.next_pts = Some(pts + samples as i64);
        self.encoder
            .send_frame(&input)
            .map_err(Error::ffmpeg("audio encode"))?;
        self.receive()
    }

    fn receive(&mut self) -> Result<()> {
        loop {
            let mut out = ffmpeg_next::Packet::empty();
            match self.encoder.receive_packet(&mut out) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno })
                    if errno == ffmpeg_next::util::error::EAGAIN =>
                {
                    return Ok(());
                }
                Err(e) => return Err(Error::ffmpeg("audio encode")(e)),
            }
            let pts = out.pts().unwrap_or(0);
            if self.codec.is_none() {
                self.codec = Some(self.config(pts));
            }
            let data = Bytes::copy_from_slice(out.data().unwrap_or_default());
            let mut packet = Packet::new(0, pts, true, data);
            let duration = out.duration();
            packet.duration = (duration > 0).then(|| u32::try_from(duration).unwrap_or(u32::MAX));
            self.ready.push_back(packet);
        }
    }

    /// The codec configuration; `first_pts` (negative: priming) gives Opus's pre-skip.
    fn config(&self, first_pts: i64) -> Codec {
        let channels = self.settings.channels;
        match self.settings.codec {
            EncodedAudio::Aac => Codec::Aac {
                config: audio_specific_config(self.settings.rate, channels),
            },
            EncodedAudio::Opus => {
                let start = self.next_pts.unwrap_or(0) - self.fifo.len() as i64;
                let pre_skip = u16::try_from((start.min(first_pts) - first_pts).max(0))
                    .unwrap_or(0)
                    .max(u16::try_from(-first_pts.min(0)).unwrap_or(0));
                let mut head = BytesMut::with_capacity(19);
                head.put_slice(b"OpusHead");
                head.put_u8(1);
                head.put_u8(channels as u8);
                head.put_u16_le(pre_skip);
                head.put_u32_le(self.settings.rate);
                head.put_i16_le(0);
                head.put_u8(0);
                Codec::Opus {
                    head: head.freeze(),
                }
            }
            EncodedAudio::Mp3 => Codec::Mp3,
        }
    }
}

/// AAC-LC AudioSpecificConfig: object type 2, frequency index (or explicit), channels.
fn audio_specific_config(rate: u32, channels: u16) -> Bytes {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let mut config = BytesMut::with_capacity(5);
    match RATES.iter().position(|r| *r == rate) {
        Some(index) => {
            let bits = (2u16 << 11) | ((index as u16) << 7) | ((channels & 0xF) << 3);
            config.put_u16(bits);
        }
        None => {
            // Frequency index 15: the rate follows in 24 bits.
            let bits: u64 = (2u64 << 35)
                | (15 << 31)
                | (u64::from(rate & 0xFF_FFFF) << 7)
                | (u64::from(channels & 0xF) << 3);
            config.put_slice(&bits.to_be_bytes()[3..]);
        }
    }
    config.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_config_of_common_rates() {
        assert_eq!(&audio_specific_config(48_000, 2)[..], [0x11, 0x90]);
        assert_eq!(&audio_specific_config(44_100, 2)[..], [0x12, 0x10]);
        assert_eq!(&audio_specific_config(8_000, 1)[..], [0x15, 0x88]);
        assert_eq!(audio_specific_config(12_345, 1).len(), 5);
    }
}
