//! The pipeline's one error type. Sources' and sinks' errors are carried with
//! `#[source]`; [`Error::is_permanent`] tells a supervisor what retrying cannot fix.

use crate::Direction;

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named part of the pipeline is not built yet.
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
    /// An endpoint string that no endpoint accepts in this direction.
    #[error("unsupported {direction} endpoint {endpoint:?}")]
    UnsupportedEndpoint {
        /// The string, credentials masked.
        endpoint: String,
        /// Input or output.
        direction: Direction,
    },
    /// An output that cannot take one of the input's tracks, found when the tracks are
    /// known: "icecast:// takes MP3 or AAC audio; track 0 is H.264 video, use --no-video".
    #[error("{endpoint} takes {takes}; {found}")]
    Misfit {
        /// The output, credentials masked.
        endpoint: String,
        /// What it takes.
        takes: String,
        /// The track that does not fit, and what to do about it.
        found: String,
    },
    /// A URL that cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, credentials masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Icecast output failed: a refusal (credentials, busy mount), a lost connection
    /// that did not come back, or a frame it cannot stream.
    #[error("{0}")]
    Icecast(#[from] icecast_source::Error),
    /// An MP3 parsing error.
    #[error("{context}: {source}")]
    Mp3 {
        /// What we were doing.
        context: String,
        /// The error.
        source: mp3_frames::Error,
    },
    /// The RTSP input failed.
    #[error(transparent)]
    Rtsp(#[from] rtsp_source::Error),
    /// A remote endpoint (`tcp://`, `tcp-listen://`) failed: media-remote's error.
    #[error("{endpoint}: {source}")]
    Remote {
        /// The endpoint.
        endpoint: String,
        /// media-remote's error.
        #[source]
        source: media_remote::Error,
    },
    /// The RTSP server (`rtsp-listen://`) could not start: rtsp-server's error.
    #[error("{endpoint}: {source}")]
    RtspServer {
        /// The endpoint.
        endpoint: String,
        /// rtsp-server's error.
        #[source]
        source: rtsp_server::Error,
    },
    /// A WebRTC endpoint (`whep-listen://`, `whip-listen://`) failed: whip-whep's error.
    #[error("{endpoint}: {source}")]
    Webrtc {
        /// The endpoint.
        endpoint: String,
        /// whip-whep's error.
        #[source]
        source: whip_whep::Error,
    },
    /// The MP4 writer refused a sample or configuration, or could not write.
    #[error("{output}: {source}")]
    Mp4 {
        /// The output (file, directory or stream).
        output: String,
        /// The writer's error.
        source: bmff_writer::Error,
    },
    /// The MPEG-TS muxer or demuxer failed (`.ts` files).
    #[error("{endpoint}: {source}")]
    Ts {
        /// The input or output.
        endpoint: String,
        /// mpeg-ts's error.
        source: mpeg_ts::Error,
    },
    /// An SRT endpoint failed: resolving, connecting (refused, no listener, passphrase
    /// mismatch), listening, or the connection broke.
    #[error("{endpoint}: {what}: {source}")]
    Srt {
        /// The endpoint, passphrase masked.
        endpoint: String,
        /// What we were doing.
        what: String,
        /// srt-tokio's error.
        #[source]
        source: std::io::Error,
    },
    /// An input that cannot be read as it is.
    #[error("{input}: {reason}")]
    Input {
        /// The input's name.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// An output that cannot be written as asked.
    #[error("{output}: {reason}")]
    Output {
        /// The output's name.
        output: String,
        /// What is wrong.
        reason: String,
    },
    /// Options that do not go together, or an endpoint used twice.
    #[error("{0}")]
    InvalidOptions(String),
    /// A raw output's reader went away.
    #[error("the raw output's reader was closed")]
    OutputClosed,
    /// The pipeline was killed; its output is not finalized.
    #[error("killed; the output was not finalized")]
    Killed,
    /// Waiting for something took too long.
    #[error("timed out {what}")]
    Timeout {
        /// What we were waiting for.
        what: String,
    },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// Decoding or encoding failed (decoded raw endpoints, transcoding; `codec` feature).
    #[cfg(feature = "codec")]
    #[error("{context}: {source}")]
    Codec {
        /// What was being done ("decoding track 0", "encoding audio for track 1").
        context: String,
        /// media-codec's error.
        #[source]
        source: media_codec::Error,
    },
}

impl Error {
    /// Whether retrying cannot help: bad credentials, a missing or unsupported input, a
    /// codec the output cannot take, invalid options. Network failures and servers that
    /// restart are not permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Rtsp(e) => e.is_permanent(),
            Error::Remote { source, .. } => source.is_permanent(),
            Error::Webrtc { source, .. } => source.is_permanent(),
            Error::Icecast(e) => e.is_permanent(),
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
            ),
            Error::Timeout { .. } | Error::Srt { .. } => false,
            _ => true,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
