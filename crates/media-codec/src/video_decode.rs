//! H.264 and H.265 decoding (libavcodec's native decoders) to frames in a chosen pixel
//! format and size.
//!
//! Packets come as the contract carries them: length-prefixed NAL units (ISO/IEC
//! 14496-15 §5.3.2) and a decoder configuration record. The decoder is fed Annex B
//! (ITU-T H.264 Annex B) with the record's parameter sets before each key frame, so it
//! needs no `extradata` and the crate no unsafe code.

use bytes::{Bytes, BytesMut};
use elementary::{AnnexBWriter, VideoCodec};
use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::{Rational, decoder, frame};
use media_core::{Codec, Packet, Track};

use crate::error::{Error, Result};
use crate::frame::{VideoFormat, VideoFrame};
use crate::picture::{Converter, pack};

/// Decodes one H.264 or H.265 track (push packets, pull frames).
pub struct VideoDecoder {
    decoder: decoder::Video,
    annexb: AnnexBWriter,
    codec: VideoCodec,
    timescale: u32,
    output: VideoFormat,
    converter: Converter,
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("codec", &self.codec)
            .field("timescale", &self.timescale)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl VideoDecoder {
    /// A decoder of `track` (H.264 or H.265) giving frames in `output`. It decodes on
    /// one thread, as `ffmpeg -threads 1`; see [`VideoDecoder::with_threads`].
    pub fn new(track: &Track, output: VideoFormat) -> Result<VideoDecoder> {
        VideoDecoder::with_threads(track, output, 1)
    }

    /// The same, decoding on `threads` threads (0: as many as FFmpeg chooses). More
    /// threads add frames of delay.
    pub fn with_threads(
        track: &Track,
        output: VideoFormat,
        threads: usize,
    ) -> Result<VideoDecoder> {
        crate::init()?;
        let (codec, id, record, name) = match &track.codec {
            Codec::H264 { config } => (VideoCodec::H264, Id::H264, config, "H.264"),
            Codec::H265 { config } => (VideoCodec::H265, Id::HEVC, config, "H.265"),
            other => {
                return Err(Error::Unsupported {
                    codec: other.name().to_owned(),
                    action: "decoded",
                });
            }
        };
        let annexb = AnnexBWriter::new(codec, record).map_err(|source| Error::Config {
            codec: name,
            source,
        })?;
        let found = decoder::find(id).ok_or(Error::Missing(if codec == VideoCodec::H264 {
            "H.264 decoder"
        } else {
            "H.265 decoder"
        }))?;
        let mut context = codec::Context::new_with_codec(found);
        context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: threads,
            safe: false,
        });
        let mut opening = context.decoder();
        let timescale = track.timescale.max(1);
        opening.set_packet_time_base(Rational::new(1, timescale as i32));
        let decoder = opening
            .open_as(found)
            .and_then(|o| o.video())
            .map_err(Error::ffmpeg("video decoder open"))?;
        Ok(VideoDecoder {
            decoder,
            annexb,
            codec,
            timescale,
            output,
            converter: Converter::default(),
        })
    }

    /// The track's decoder configuration changed (new parameter sets).
    pub fn set_config(&mut self, codec: &Codec) -> Result<()> {
        let (Codec::H264 { config } | Codec::H265 { config }) = codec else {
            return Err(Error::Unsupported {
                codec: codec.name().to_owned(),
                action: "decoded",
            });
        };
        self.annexb
            .set_record(config)
            .map_err(|source| Error::Config {
                codec: codec.name(),
                source,
            })
    }

    /// Gives the decoder one packet. Pull every frame before the next push.
    pub fn push(&mut self, packet: &Packet) -> Result<()> {
        let pieces = self
            .annexb
            .access_unit(&packet.data, packet.keyframe)
            .map_err(|source| Error::Config {
                codec: self.name(),
                source,
            })?;
        let mut data = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
        for piece in &pieces {
            data.extend_from_slice(piece);
        }
        let mut av = ffmpeg_next::Packet::copy(&data);
        av.set_pts(Some(packet.dts + i64::from(packet.cts_offset)));
        av.set_dts(Some(packet.dts));
        if packet.keyframe {
            av.set_flags(ffmpeg_next::packet::Flags::KEY);
        }
        self.decoder
            .send_packet(&av)
            .map_err(Error::ffmpeg("video decode"))
    }

    /// No more packets: the frames still held (reordering) come out of `pull`.
    pub fn finish(&mut self) -> Result<()> {
        self.decoder
            .send_eof()
            .map_err(Error::ffmpeg("video decode"))
    }

    /// The next decoded frame, converted to the output format; `None` when the decoder
    /// needs more input.
    pub fn pull(&mut self) -> Result<Option<VideoFrame>> {
        let mut decoded = frame::Video::empty();
        match self.decoder.receive_frame(&mut decoded) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => return Ok(None),
            Err(ffmpeg_next::Error::Other { errno })
                if errno == ffmpeg_next::util::error::EAGAIN =>
            {
                return Ok(None);
            }
            Err(e) => return Err(Error::ffmpeg("video decode")(e)),
        }
        let (width, height) = self
            .output
            .size
            .unwrap_or((decoded.width(), decoded.height()));
        let pixel = self.output.pixel.to_ffmpeg();
        let data = if decoded.format() == pixel
            && (width, height) == (decoded.width(), decoded.height())
        {
            pack(&decoded, self.output.pixel)?
        } else {
            let converted = self.converter.convert(&decoded, pixel, width, height)?;
            pack(&converted, self.output.pixel)?
        };
        let pts = decoded.timestamp().or(decoded.pts()).unwrap_or(0);
        VideoFrame::new(width, height, self.output.pixel, data, pts, self.timescale)
            .map(Some)
            .ok_or_else(|| Error::Invalid(format!("decoded frame of {width}x{height}")))
    }

    fn name(&self) -> &'static str {
        match self.codec {
            VideoCodec::H264 => "H.264",
            _ => "H.265",
        }
    }
}
