//! The crate's one error type.

/// What went wrong decoding, encoding or converting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// FFmpeg could not be initialised.
    #[error("FFmpeg initialisation failed: {0}")]
    Init(#[source] FfmpegError),
    /// The codec is not one this crate decodes or encodes.
    #[error("{codec} cannot be {action} by media-codec")]
    Unsupported {
        /// The codec's name.
        codec: String,
        /// "decoded" or "encoded".
        action: &'static str,
    },
    /// The linked FFmpeg has no decoder or encoder of that name (e.g. built without
    /// libx264 or libopus).
    #[error("this FFmpeg build has no {0}")]
    Missing(&'static str),
    /// A call into FFmpeg failed.
    #[error("{what}: {source}")]
    Ffmpeg {
        /// What was being done (e.g. "H.264 decode").
        what: &'static str,
        /// FFmpeg's error.
        #[source]
        source: FfmpegError,
    },
    /// The track's decoder configuration could not be read.
    #[error("{codec} configuration: {source}")]
    Config {
        /// The codec's name.
        codec: &'static str,
        /// Why.
        #[source]
        source: elementary::Error,
    },
    /// A frame or setting that does not fit (size, format, rate).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn ffmpeg(what: &'static str) -> impl FnOnce(ffmpeg_next::Error) -> Error {
        move |source| Error::Ffmpeg {
            what,
            source: FfmpegError(source),
        }
    }
}

/// An error of FFmpeg (through `ffmpeg-next`), kept opaque so that upgrading the binding is
/// not a breaking change for users of this crate: its `Display` is FFmpeg's message
/// (`av_strerror`).
pub struct FfmpegError(pub(crate) ffmpeg_next::Error);

impl std::fmt::Display for FfmpegError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for FfmpegError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for FfmpegError {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
