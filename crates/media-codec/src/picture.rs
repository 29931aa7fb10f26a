//! Conversions between FFmpeg's strided frames and our tightly packed [`VideoFrame`]s,
//! with swscale doing pixel format conversion and scaling.

use bytes::{Bytes, BytesMut};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use ffmpeg_next::software::scaling;

use crate::error::{Error, Result};
use crate::frame::{PixelFormat, VideoFrame};

/// Copies the planes of `picture` (in `format`) into one packed buffer.
pub(crate) fn pack(picture: &frame::Video, format: PixelFormat) -> Result<Bytes> {
    let planes = format.planes(picture.width(), picture.height());
    let mut out = BytesMut::with_capacity(planes.iter().map(|(w, h)| w * h).sum());
    for (index, (width, rows)) in planes.into_iter().enumerate() {
        let stride = picture.stride(index);
        let data = picture.data(index);
        for row in 0..rows {
            let line = data
                .get(row * stride..row * stride + width)
                .ok_or_else(|| Error::Invalid(format!("decoded plane {index} is short")))?;
            out.extend_from_slice(line);
        }
    }
    Ok(out.freeze())
}

/// Copies a packed frame into a new FFmpeg frame of the same format.
pub(crate) fn unpack(frame: &VideoFrame) -> Result<frame::Video> {
    let mut picture = frame::Video::new(frame.format.to_ffmpeg(), frame.width, frame.height);
    let mut at = 0;
    for (index, (width, rows)) in frame
        .format
        .planes(frame.width, frame.height)
        .into_iter()
        .enumerate()
    {
        let stride = picture.stride(index);
        let plane = picture.data_mut(index);
        for row in 0..rows {
            let (Some(src), Some(dst)) = (
                frame.data.get(at..at + width),
                plane.get_mut(row * stride..row * stride + width),
            ) else {
                return Err(Error::Invalid(format!(
                    "{}x{} {} frame has {} bytes, not {}",
                    frame.width,
                    frame.height,
                    frame.format.name(),
                    frame.data.len(),
                    frame.format.frame_len(frame.width, frame.height)
                )));
            };
            dst.copy_from_slice(src);
            at += width;
        }
    }
    Ok(picture)
}

/// Input and output of a conversion: format, width, height of each.
type Conversion = (Pixel, u32, u32, Pixel, u32, u32);

/// A swscale context kept while the input and output stay the same.
#[derive(Default)]
pub(crate) struct Converter {
    context: Option<(scaling::Context, Conversion)>,
}

impl Converter {
    /// `input` converted to `format` at `width`×`height` (bicubic, as the ffmpeg
    /// command line's default, so its output and ours agree).
    pub(crate) fn convert(
        &mut self,
        input: &frame::Video,
        format: Pixel,
        width: u32,
        height: u32,
    ) -> Result<frame::Video> {
        let key = (
            input.format(),
            input.width(),
            input.height(),
            format,
            width,
            height,
        );
        if self.context.as_ref().is_none_or(|(_, k)| *k != key) {
            let context = scaling::Context::get(
                key.0,
                key.1,
                key.2,
                format,
                width,
                height,
                scaling::Flags::BICUBIC,
            )
            .map_err(Error::ffmpeg("swscale setup"))?;
            self.context = Some((context, key));
        }
        let mut output = frame::Video::empty();
        if let Some((context, _)) = self.context.as_mut() {
            context
                .run(input, &mut output)
                .map_err(Error::ffmpeg("swscale"))?;
        }
        Ok(output)
    }
}
