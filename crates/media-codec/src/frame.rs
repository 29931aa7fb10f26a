//! Decoded media: video frames (tightly packed planes) and PCM audio (interleaved).
//!
//! Timestamps are kept exact in the track's clock (`pts` ticks of `timescale` per second)
//! and shown in milliseconds as Boombox does (`pts_ms`).

use bytes::Bytes;

/// How the pixels of a [`VideoFrame`] are laid out. Every plane is tightly packed (the
/// stride is the plane's width in bytes), planes follow each other in `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// Planar YUV 4:2:0: Y, then U, then V at half width and height (rounded up).
    I420,
    /// Semi-planar YUV 4:2:0: Y, then interleaved U/V at half height.
    Nv12,
    /// Packed RGB, 3 bytes per pixel.
    Rgb24,
    /// Packed RGBA, 4 bytes per pixel (alpha 255 from decoders).
    Rgba,
}

impl PixelFormat {
    /// The FFmpeg name (`-pix_fmt`), also used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::I420 => "yuv420p",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Rgb24 => "rgb24",
            PixelFormat::Rgba => "rgba",
        }
    }

    /// The format named `name` (`yuv420p`/`i420`, `nv12`, `rgb24`, `rgba`).
    pub fn from_name(name: &str) -> Option<PixelFormat> {
        match name.to_ascii_lowercase().as_str() {
            "yuv420p" | "i420" => Some(PixelFormat::I420),
            "nv12" => Some(PixelFormat::Nv12),
            "rgb24" | "rgb" => Some(PixelFormat::Rgb24),
            "rgba" => Some(PixelFormat::Rgba),
            _ => None,
        }
    }

    /// Widths and heights (bytes × rows) of the planes of a `width`×`height` frame.
    pub fn planes(self, width: u32, height: u32) -> Vec<(usize, usize)> {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self {
            PixelFormat::I420 => vec![(w, h), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => vec![(w, h), (2 * cw, ch)],
            PixelFormat::Rgb24 => vec![(3 * w, h)],
            PixelFormat::Rgba => vec![(4 * w, h)],
        }
    }

    /// Bytes of a whole `width`×`height` frame.
    pub fn frame_len(self, width: u32, height: u32) -> usize {
        self.planes(width, height).iter().map(|(w, h)| w * h).sum()
    }

    pub(crate) fn to_ffmpeg(self) -> ffmpeg_next::format::Pixel {
        use ffmpeg_next::format::Pixel;
        match self {
            PixelFormat::I420 => Pixel::YUV420P,
            PixelFormat::Nv12 => Pixel::NV12,
            PixelFormat::Rgb24 => Pixel::RGB24,
            PixelFormat::Rgba => Pixel::RGBA,
        }
    }
}

/// How the samples of an [`AudioFrame`] are stored (interleaved, native endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleFormat {
    /// 32-bit float in [-1, 1].
    F32,
    /// Signed 16-bit integer.
    S16,
}

impl SampleFormat {
    /// Bytes of one sample of one channel.
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::F32 => 4,
            SampleFormat::S16 => 2,
        }
    }

    /// The FFmpeg name (`f32le`-style names are accepted by `from_name` too).
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::F32 => "f32",
            SampleFormat::S16 => "s16",
        }
    }

    /// The format named `name` (`f32`, `flt`, `f32le`, `s16`, `s16le`).
    pub fn from_name(name: &str) -> Option<SampleFormat> {
        match name.to_ascii_lowercase().as_str() {
            "f32" | "flt" | "f32le" => Some(SampleFormat::F32),
            "s16" | "s16le" => Some(SampleFormat::S16),
            _ => None,
        }
    }

    pub(crate) fn to_ffmpeg(self) -> ffmpeg_next::format::Sample {
        use ffmpeg_next::format::sample::{Sample, Type};
        match self {
            SampleFormat::F32 => Sample::F32(Type::Packed),
            SampleFormat::S16 => Sample::I16(Type::Packed),
        }
    }
}

/// One decoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of `data`.
    pub format: PixelFormat,
    /// The planes, tightly packed, one after the other (`format.frame_len(width, height)`
    /// bytes).
    pub data: Bytes,
    /// Presentation time in ticks of `timescale`.
    pub pts: i64,
    /// Ticks per second of `pts` (the track's clock).
    pub timescale: u32,
}

impl VideoFrame {
    /// A frame; `None` if `data` is not `format.frame_len(width, height)` bytes or
    /// `timescale` is 0.
    pub fn new(
        width: u32,
        height: u32,
        format: PixelFormat,
        data: Bytes,
        pts: i64,
        timescale: u32,
    ) -> Option<VideoFrame> {
        (data.len() == format.frame_len(width, height) && timescale > 0 && width > 0 && height > 0)
            .then_some(VideoFrame {
                width,
                height,
                format,
                data,
                pts,
                timescale,
            })
    }

    /// Presentation time in milliseconds (rounded down), as Boombox's `VideoPacket`.
    pub fn pts_ms(&self) -> i64 {
        ticks_to_ms(self.pts, self.timescale)
    }
}

/// Decoded audio: interleaved samples of every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioFrame {
    /// Interleaved samples (`frames() × channels × format.bytes()` bytes).
    pub samples: Bytes,
    /// Samples per second of one channel.
    pub rate: u32,
    /// Channels.
    pub channels: u16,
    /// Storage of one sample.
    pub format: SampleFormat,
    /// Presentation time of the first sample in ticks of `timescale`.
    pub pts: i64,
    /// Ticks per second of `pts` (the track's clock).
    pub timescale: u32,
}

impl AudioFrame {
    /// A frame; `None` if the byte count is not a whole number of sample frames, or
    /// rate, channels or timescale is 0.
    pub fn new(
        samples: Bytes,
        rate: u32,
        channels: u16,
        format: SampleFormat,
        pts: i64,
        timescale: u32,
    ) -> Option<AudioFrame> {
        let frame = usize::from(channels) * format.bytes();
        (rate > 0 && frame > 0 && timescale > 0 && samples.len().is_multiple_of(frame)).then_some(
            AudioFrame {
                samples,
                rate,
                channels,
                format,
                pts,
                timescale,
            },
        )
    }

    /// Sample frames (samples per channel).
    pub fn frames(&self) -> usize {
        let frame = usize::from(self.channels) * self.format.bytes();
        self.samples.len().checked_div(frame).unwrap_or(0)
    }

    /// Presentation time in milliseconds (rounded down), as Boombox's `AudioPacket`.
    pub fn pts_ms(&self) -> i64 {
        ticks_to_ms(self.pts, self.timescale)
    }

    /// The samples as `f32` (converted from s16 if need be).
    pub fn to_f32(&self) -> Vec<f32> {
        match self.format {
            SampleFormat::F32 => self
                .samples
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            SampleFormat::S16 => self
                .samples
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_ne_bytes([b[0], b[1]])) / 32768.0)
                .collect(),
        }
    }
}

fn ticks_to_ms(ticks: i64, timescale: u32) -> i64 {
    if timescale == 0 {
        return 0;
    }
    (i128::from(ticks) * 1000).div_euclid(i128::from(timescale)) as i64
}

/// What a decoder gives out for video: pixel format and, optionally, a size to scale to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoFormat {
    /// Pixel format of the frames.
    pub pixel: PixelFormat,
    /// Width and height to scale to; `None` keeps the coded size.
    pub size: Option<(u32, u32)>,
}

impl VideoFormat {
    /// Frames in `pixel` at the stream's own size.
    pub fn new(pixel: PixelFormat) -> VideoFormat {
        VideoFormat { pixel, size: None }
    }

    /// The same, scaled to `width`×`height`.
    pub fn scaled(self, width: u32, height: u32) -> VideoFormat {
        VideoFormat {
            size: Some((width, height)),
            ..self
        }
    }
}

impl Default for VideoFormat {
    fn default() -> Self {
        VideoFormat::new(PixelFormat::Rgb24)
    }
}

/// What a decoder gives out for audio: sample format and, optionally, a rate and a
/// channel count to resample to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioFormat {
    /// Sample format of the frames.
    pub sample: SampleFormat,
    /// Rate to resample to; `None` keeps the stream's.
    pub rate: Option<u32>,
    /// Channels to mix to; `None` keeps the stream's.
    pub channels: Option<u16>,
}

impl AudioFormat {
    /// Samples in `sample` format at the stream's rate and channel count.
    pub fn new(sample: SampleFormat) -> AudioFormat {
        AudioFormat {
            sample,
            rate: None,
            channels: None,
        }
    }

    /// The same, resampled to `rate` Hz with `channels` channels.
    pub fn resampled(self, rate: u32, channels: u16) -> AudioFormat {
        AudioFormat {
            rate: Some(rate),
            channels: Some(channels),
            ..self
        }
    }
}

impl Default for AudioFormat {
    fn default() -> Self {
        AudioFormat::new(SampleFormat::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_round_chroma_up() {
        assert_eq!(PixelFormat::I420.frame_len(4, 2), 8 + 2 + 2);
        assert_eq!(PixelFormat::I420.frame_len(3, 3), 9 + 4 + 4);
        assert_eq!(PixelFormat::Nv12.frame_len(3, 3), 9 + 8);
        assert_eq!(PixelFormat::Rgb24.frame_len(2, 2), 12);
        assert!(
            VideoFrame::new(2, 2, PixelFormat::Rgba, Bytes::from(vec![0; 15]), 0, 90_000).is_none()
        );
    }

    #[test]
    fn milliseconds_from_the_track_clock() {
        let f = AudioFrame::new(
            Bytes::from(vec![0; 8]),
            8000,
            2,
            SampleFormat::S16,
            12_000,
            8000,
        );
        let f = f.expect("valid frame");
        assert_eq!((f.frames(), f.pts_ms()), (2, 1500));
        assert_eq!(ticks_to_ms(-1, 90_000), -1);
    }
}
