//! The limits of a receiving connection.

use std::time::Duration;

/// Limits of a receiving connection. Every one has a default and its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest frame ([`crate::Error::FrameTooLarge`]); used by the transport adapters.
    pub max_frame_size: usize,
    /// Largest encoded header packet ([`crate::Error::HeaderTooLarge`]).
    pub max_header_size: usize,
    /// Largest chunk content ([`crate::Error::ChunkTooLarge`]); also the size of the pieces a
    /// compressed stream is inflated in (at most 1 MiB).
    pub max_chunk_size: usize,
    /// Largest total content of one stream, announced or received ([`crate::Error::StreamTooLarge`]).
    pub max_stream_size: u64,
    /// Most streams open at once; more are refused ([`crate::Error::TooManyStreams`]).
    pub max_open_streams: usize,
    /// Time without a packet after which a stream fails ([`crate::Error::InactivityTimeout`]).
    pub inactivity_timeout: Option<Duration>,
    /// Chunks buffered per reader before the transport is no longer read (backpressure);
    /// used by the transport adapters.
    pub stream_buffer_chunks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: crate::framing::DEFAULT_MAX_FRAME_SIZE,
            max_header_size: 64 * 1024,
            max_chunk_size: 64 * 1024,
            max_stream_size: 5_000_000_000,
            max_open_streams: 256,
            inactivity_timeout: Some(Duration::from_secs(30)),
            stream_buffer_chunks: 16,
        }
    }
}
