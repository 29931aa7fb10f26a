//! The crate's error type: one enum, each variant with the context a person needs
//! (stream id, chunk index, sizes, limits).

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame's length prefix announces more than the configured maximum frame size.
    #[error("frame of {len} bytes at byte offset {offset} exceeds the maximum frame size {max}")]
    FrameTooLarge {
        /// Announced length.
        len: u64,
        /// Byte offset of the length prefix in the transport.
        offset: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The transport ended in the middle of a frame.
    #[error("transport ended inside a frame at byte offset {offset} ({pending} bytes pending)")]
    TruncatedFrame {
        /// Byte offset of the unfinished frame.
        offset: u64,
        /// Bytes received of it.
        pending: usize,
    },
    /// A frame is not a valid protobuf `DataPacket`.
    #[error("frame at byte offset {offset} is not a valid DataPacket: {message}")]
    Decode {
        /// Byte offset of the frame (0 when decoding a lone packet).
        offset: u64,
        /// prost's description.
        message: String,
    },
    /// A packet this crate does not handle (not a data-stream part, or encrypted).
    #[error("unsupported packet: {0}")]
    UnsupportedPacket(&'static str),
    /// A stream uses a feature this crate does not implement (e.g. v2 compression).
    #[error("stream {stream_id}: unsupported {feature}")]
    Unsupported {
        /// Stream id.
        stream_id: String,
        /// What is not supported.
        feature: &'static str,
    },
    /// A header packet exceeds the maximum header size.
    #[error("stream {stream_id}: header of {size} bytes exceeds the maximum header size {max}")]
    HeaderTooLarge {
        /// Stream id.
        stream_id: String,
        /// Encoded size of the header packet.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A header packet (without its inline content) exceeds the 15 000-byte budget of
    /// LiveKit data streams v2, almost always because of its attributes.
    #[error(
        "stream {stream_id}: header of {size} bytes ({attributes} of them attributes) exceeds the {max}-byte header budget of LiveKit data streams; reduce attribute size"
    )]
    AttributesTooLarge {
        /// Stream id.
        stream_id: String,
        /// Encoded size of the header packet, inline content left out.
        size: usize,
        /// Encoded size of the attributes map.
        attributes: usize,
        /// The budget ([`crate::packet::MAX_HEADER_BUDGET`]).
        max: usize,
    },
    /// A compressed stream's content is not a valid raw-deflate stream (corrupt, bytes
    /// after the final block, or no final block before the trailer).
    #[error("stream {stream_id}: bad compressed content: {message}")]
    Decompression {
        /// Stream id.
        stream_id: String,
        /// What is wrong.
        message: String,
    },
    /// A chunk's content exceeds the maximum chunk size.
    #[error(
        "stream {stream_id}: chunk {index} of {size} bytes exceeds the maximum chunk size {max}"
    )]
    ChunkTooLarge {
        /// Stream id.
        stream_id: String,
        /// Chunk index.
        index: u64,
        /// Content size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A stream grew past the maximum total stream size.
    #[error("stream {stream_id}: {size} bytes exceed the maximum stream size {max}")]
    StreamTooLarge {
        /// Stream id.
        stream_id: String,
        /// Bytes announced or received so far.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A header arrived while the maximum number of streams was already open.
    #[error("stream {stream_id}: refused, {max} streams are already open")]
    TooManyStreams {
        /// Stream id of the refused stream.
        stream_id: String,
        /// Configured maximum.
        max: usize,
    },
    /// A header reused the id of an open or recently ended stream.
    #[error("stream {stream_id}: duplicate stream id")]
    DuplicateStreamId {
        /// Stream id.
        stream_id: String,
    },
    /// A chunk index is not the next one (gap, duplicate or reorder).
    #[error("stream {stream_id}: chunk index {got}, expected {expected} ({kind})")]
    ChunkIndex {
        /// Stream id.
        stream_id: String,
        /// Expected index.
        expected: u64,
        /// Received index.
        got: u64,
        /// "gap" (got > expected) or "duplicate or reorder" (got < expected).
        kind: &'static str,
    },
    /// More bytes arrived than the header's total length.
    #[error("stream {stream_id}: {received} bytes received, more than the total length {total}")]
    LengthExceeded {
        /// Stream id.
        stream_id: String,
        /// Bytes received including the offending chunk.
        received: u64,
        /// Announced total length.
        total: u64,
    },
    /// The trailer arrived before the header's total length.
    #[error("stream {stream_id}: incomplete, {received} of {total} bytes received at the trailer")]
    Incomplete {
        /// Stream id.
        stream_id: String,
        /// Bytes received.
        received: u64,
        /// Announced total length.
        total: u64,
    },
    /// The trailer carried a non-empty reason: the sender aborted the stream.
    #[error("stream {stream_id}: ended abnormally: {reason}")]
    AbnormalEnd {
        /// Stream id.
        stream_id: String,
        /// The trailer's reason.
        reason: String,
    },
    /// A text stream's content is not valid UTF-8.
    #[error("stream {stream_id}: invalid UTF-8 at content byte {offset}")]
    InvalidUtf8 {
        /// Stream id.
        stream_id: String,
        /// Offset in the stream's content where the invalid sequence starts.
        offset: u64,
    },
    /// No packet arrived for a stream within the inactivity timeout.
    #[error("stream {stream_id}: no packet for {timeout_ms} ms (inactivity timeout)")]
    InactivityTimeout {
        /// Stream id.
        stream_id: String,
        /// Configured timeout in milliseconds.
        timeout_ms: u64,
    },
    /// The stream's reader took no chunk for the inactivity timeout while its buffer was
    /// full; the stream was dropped so that the other streams of the connection go on.
    #[error(
        "stream {stream_id}: reader took no chunk for {timeout_ms} ms with a full buffer (stalled)"
    )]
    ReaderStalled {
        /// Stream id.
        stream_id: String,
        /// Configured inactivity timeout in milliseconds.
        timeout_ms: u64,
    },
    /// The transport closed (or failed) while the stream was open.
    #[error("stream {stream_id}: transport closed before the trailer ({detail})")]
    TransportClosed {
        /// Stream id (empty when no stream is concerned).
        stream_id: String,
        /// What happened to the transport.
        detail: String,
    },
    /// A write or close on a stream that is already closed.
    #[error("stream {stream_id}: stream already closed")]
    StreamClosed {
        /// Stream id.
        stream_id: String,
    },
    /// A writer was asked to write more than the total length it announced.
    #[error("stream {stream_id}: writing {size} bytes exceeds the announced total length {total}")]
    WriteExceedsLength {
        /// Stream id.
        stream_id: String,
        /// Bytes that would have been written in all.
        size: u64,
        /// Announced total length.
        total: u64,
    },
    /// A chunk size under 4 bytes cannot hold every UTF-8 code point.
    #[error("chunk size {0} is too small: text streams need at least 4 bytes")]
    ChunkSizeTooSmall(usize),
    /// A handler is already registered for this kind and topic.
    #[error("a {kind} stream handler is already registered for topic {topic:?}")]
    HandlerAlreadyRegistered {
        /// "text" or "byte".
        kind: &'static str,
        /// Topic.
        topic: String,
    },
    /// An I/O error of the transport or a file.
    #[error("{context}: {kind:?}: {message}")]
    Io {
        /// What was being done (e.g. file path or "reading the transport").
        context: String,
        /// Kind of the I/O error.
        kind: std::io::ErrorKind,
        /// Its description.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, e: &std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
