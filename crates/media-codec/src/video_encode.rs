//! H.264 encoding with libx264 (through libavcodec) from frames in any of our pixel
//! formats; packets come out length-prefixed with their `avcC` record, as the contract
//! carries them.
//!
//! No global header is asked for: x264 writes SPS and PPS in-band before each key frame
//! (Annex B), and the record is built from them by `elementary` (ISO/IEC 14496-15
//! §5.3.3.1), which spares the crate reading `extradata` through unsafe code.

use std::collections::VecDeque;

use bytes::Bytes;
use elementary::{AccessUnit, AnnexBReader, ParameterSets, VideoCodec};
use ffmpeg_next::{Dictionary, Rational, encoder, format::Pixel};
use media_core::{Codec, Packet};

use crate::error::{Error, Result};
use crate::frame::{PixelFormat, VideoFrame};
use crate::picture::{Converter, unpack};

/// How to encode H.264.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoEncoderSettings {
    /// Width of the frames pushed (and of the stream).
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Ticks per second of the frames' `pts` (and of the packets).
    pub timescale: u32,
    /// Nominal frame rate (numerator, denominator) for rate control.
    pub frame_rate: (u32, u32),
    /// Target bitrate in bits per second (default 2 Mbit/s).
    pub bitrate: u64,
    /// Frames between key frames (default 2 s worth).
    pub gop: u32,
    /// B-frames between reference frames (default 0: no reordering, for live use).
    pub b_frames: u32,
    /// x264 preset (default `veryfast`: real time several times over at 720p on one core).
    pub preset: String,
    /// Encoder threads (default 1; 0 lets x264 choose).
    pub threads: usize,
}

impl VideoEncoderSettings {
    /// `width`×`height` at 25 fps, timestamps in 90 kHz, with the defaults above.
    pub fn new(width: u32, height: u32) -> VideoEncoderSettings {
        VideoEncoderSettings {
            width,
            height,
            timescale: 90_000,
            frame_rate: (25, 1),
            bitrate: 2_000_000,
            gop: 50,
            b_frames: 0,
            preset: "veryfast".to_owned(),
            threads: 1,
        }
    }
}

/// Encodes frames to H.264 (push frames, pull packets).
pub struct VideoEncoder {
    encoder: encoder::Video,
    settings: VideoEncoderSettings,
    converter: Converter,
    sets: ParameterSets,
    record: Option<Bytes>,
    ready: VecDeque<Packet>,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl VideoEncoder {
    /// Opens libx264 with `settings`.
    pub fn new(settings: VideoEncoderSettings) -> Result<VideoEncoder> {
        crate::init()?;
        let (w, h) = (settings.width, settings.height);
        if w == 0 || h == 0 || w % 2 == 1 || h % 2 == 1 || settings.timescale == 0 {
            return Err(Error::Invalid(format!(
                "H.264 encoding needs an even size and a timescale, not {w}x{h} at {}",
                settings.timescale
            )));
        }
        let codec = encoder::find_by_name("libx264").ok_or(Error::Missing("libx264 encoder"))?;
        let mut context = ffmpeg_next::codec::Context::new_with_codec(codec);
        context.set_threading(ffmpeg_next::codec::threading::Config {
            kind: ffmpeg_next::codec::threading::Type::Frame,
            count: settings.threads,
            safe: false,
        });
        let mut video = context
            .encoder()
            .video()
            .map_err(Error::ffmpeg("H.264 encoder"))?;
        video.set_width(w);
        video.set_height(h);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(Rational::new(1, settings.timescale as i32));
        let (num, den) = settings.frame_rate;
        video.set_frame_rate(Some(Rational::new(num.max(1) as i32, den.max(1) as i32)));
        video.set_bit_rate(settings.bitrate as usize);
        video.set_max_bit_rate(settings.bitrate as usize * 3 / 2);
        video.set_gop(settings.gop.max(1));
        video.set_max_b_frames(settings.b_frames as usize);
        let mut options = Dictionary::new();
        options.set("preset", &settings.preset);
        options.set("forced-idr", "1");
        let encoder = video
            .open_as_with(codec, options)
            .map_err(Error::ffmpeg("H.264 encoder open"))?;
        Ok(VideoEncoder {
            encoder,
            settings,
            converter: Converter::default(),
            sets: ParameterSets::default(),
            record: None,
            ready: VecDeque::new(),
        })
    }

    /// The codec (`avcC` record) an encoder with `settings` will give, before any frame:
    /// a twin encoder encodes one grey frame. x264 derives SPS and PPS from the settings
    /// alone, so the real encoder's are the same (and its key frames carry them in-band
    /// anyway). For tracks that must be declared before the first frame.
    pub fn probe(settings: &VideoEncoderSettings) -> Result<Codec> {
        let mut twin = VideoEncoder::new(settings.clone())?;
        let (w, h) = (settings.width, settings.height);
        let grey = Bytes::from(vec![128u8; PixelFormat::I420.frame_len(w, h)]);
        let frame = VideoFrame::new(w, h, PixelFormat::I420, grey, 0, settings.timescale)
            .ok_or_else(|| Error::Invalid(format!("{w}x{h} probe frame")))?;
        twin.push(&frame)?;
        twin.finish()?;
        twin.codec()
            .ok_or_else(|| Error::Invalid("libx264 gave no parameter sets".into()))
    }

    /// The track's codec (`avcC` record) once the first key frame came out.
    pub fn codec(&self) -> Option<Codec> {
        self.record.clone().map(|config| Codec::H264 { config })
    }

    /// Encodes one frame (converted to I420 if need be). Its size must be the settings'.
    pub fn push(&mut self, frame: &VideoFrame) -> Result<()> {
        if (frame.width, frame.height) != (self.settings.width, self.settings.height) {
            return Err(Error::Invalid(format!(
                "frame of {}x{} pushed to a {}x{} encoder",
                frame.width, frame.height, self.settings.width, self.settings.height
            )));
        }
        let picture = unpack(frame)?;
        let mut picture = if frame.format == PixelFormat::I420 {
            picture
        } else {
            self.converter
                .convert(&picture, Pixel::YUV420P, frame.width, frame.height)?
        };
        let pts = rescale(frame.pts, frame.timescale, self.settings.timescale);
        picture.set_pts(Some(pts));
        self.encoder
            .send_frame(&picture)
            .map_err(Error::ffmpeg("H.264 encode"))?;
        self.receive()
    }

    /// No more frames: the rest comes out of `pull`.
    pub fn finish(&mut self) -> Result<()> {
        self.encoder
            .send_eof()
            .map_err(Error::ffmpeg("H.264 encode"))?;
        self.receive()
    }

    /// The next encoded packet (track 0, times in the settings' timescale).
    pub fn pull(&mut self) -> Result<Option<Packet>> {
        Ok(self.ready.pop_front())
    }

    fn receive(&mut self) -> Result<()> {
        loop {
            let mut out = ffmpeg_next::Packet::empty();
            match self.encoder.receive_packet(&mut out) {
                Ok(()) => self.take(&out)?,
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno })
                    if errno == ffmpeg_next::util::error::EAGAIN =>
                {
                    return Ok(());
                }
                Err(e) => return Err(Error::ffmpeg("H.264 encode")(e)),
            }
        }
    }

    /// One Annex B packet from x264 into a length-prefixed sample.
    fn take(&mut self, out: &ffmpeg_next::Packet) -> Result<()> {
        let Some(data) = out.data() else {
            return Ok(());
        };
        let mut reader = AnnexBReader::new(VideoCodec::H264);
        reader.push(data);
        reader.finish();
        let mut unit = AccessUnit::default();
        while let Some(next) = reader.pull() {
            unit.nals.extend(next.nals);
        }
        let mut new_sets = false;
        for nal in &unit.nals {
            new_sets |= self.sets.take(VideoCodec::H264, nal);
        }
        if (new_sets || self.record.is_none()) && self.sets.complete(VideoCodec::H264) {
            let record = elementary::record(VideoCodec::H264, &self.sets).map_err(|source| {
                Error::Config {
                    codec: "H.264",
                    source,
                }
            })?;
            self.record = Some(record);
        }
        let sample = unit
            .to_length_prefixed()
            .ok_or_else(|| Error::Invalid("H.264 NAL unit over 4 GiB".into()))?;
        let pts = out.pts().unwrap_or(0);
        let dts = out.dts().unwrap_or(pts);
        let mut packet = Packet::new(0, dts, out.is_key(), sample);
        packet.cts_offset = i32::try_from(pts - dts).unwrap_or(0);
        let duration = out.duration();
        packet.duration = (duration > 0).then(|| u32::try_from(duration).unwrap_or(u32::MAX));
        self.ready.push_back(packet);
        Ok(())
    }
}

/// `ticks` of `from` per second in `to` per second, rounded down.
pub(crate) fn rescale(ticks: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return ticks;
    }
    (i128::from(ticks) * i128::from(to)).div_euclid(i128::from(from)) as i64
}
