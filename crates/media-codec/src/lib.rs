//! Decoded media and transcoding on the system FFmpeg (libavcodec, libswscale,
//! libswresample through `ffmpeg-next`).
//!
//! - [`VideoDecoder`]: H.264 / H.265 packets (length-prefixed, as the workspace's
//!   `media_core::Packet` carries them) to [`VideoFrame`]s in I420, NV12, RGB24 or RGBA,
//!   scaled if asked.
//! - [`AudioDecoder`]: AAC, MP3, AC-3, Opus and G.711 to interleaved PCM ([`AudioFrame`], f32 or
//!   s16), resampled and remixed if asked.
//! - [`VideoEncoder`]: frames to H.264 (libx264: bitrate, GOP, no B-frames by default) with
//!   its `avcC` record; [`AudioEncoder`]: PCM to AAC-LC, Opus or MP3.
//!
//! Every type is sans-I/O: push packets or frames in, pull frames or packets out.
//! Timestamps stay in the track's clock (exact); `pts_ms` gives milliseconds.
//!
//! ```
//! use media_codec::{AudioEncoder, AudioEncoderSettings, AudioFrame, EncodedAudio, SampleFormat};
//! # fn main() -> Result<(), media_codec::Error> {
//! let settings = AudioEncoderSettings::new(EncodedAudio::Aac, 48_000, 1);
//! let mut encoder = AudioEncoder::new(settings)?;
//! let silence = bytes::Bytes::from(vec![0u8; 4800 * 4]); // 0.1 s of f32 mono
//! let frame = AudioFrame::new(silence, 48_000, 1, SampleFormat::F32, 0, 48_000).expect("whole samples");
//! encoder.push(&frame)?;
//! encoder.finish()?;
//! let mut packets = 0;
//! while let Some(_packet) = encoder.pull()? {
//!     packets += 1;
//! }
//! assert!(packets >= 4); // 1024 samples per AAC frame
//! # Ok(()) }
//! ```

mod audio_decode;
mod audio_encode;
mod error;
mod frame;
mod picture;
mod video_decode;
mod video_encode;

pub use audio_decode::{AudioCodec, AudioDecoder, G711Law, g711_codec};
pub use audio_encode::{AudioEncoder, AudioEncoderSettings, EncodedAudio};
pub use error::{Error, FfmpegError, Result};
pub use frame::{AudioFormat, AudioFrame, PixelFormat, SampleFormat, VideoFormat, VideoFrame};
pub use video_decode::VideoDecoder;
pub use video_encode::{VideoEncoder, VideoEncoderSettings};

/// Initialises FFmpeg once (idempotent) and quiets its logging to errors.
pub fn init() -> Result<()> {
    static INIT: std::sync::OnceLock<std::result::Result<(), ffmpeg_next::Error>> =
        std::sync::OnceLock::new();
    let result = INIT.get_or_init(|| {
        ffmpeg_next::init()?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        Ok(())
    });
    result.map_err(|e| Error::Init(error::FfmpegError(e)))
}

/// Whether the linked FFmpeg can encode MP3 (it has libmp3lame).
pub fn has_mp3_encoder() -> bool {
    init().is_ok() && ffmpeg_next::encoder::find_by_name("libmp3lame").is_some()
}
