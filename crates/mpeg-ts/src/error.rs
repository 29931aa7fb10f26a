//! The crate's one error type.

/// What went wrong, with the byte offset in the stream where it matters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No sync byte (0x47) at 188-byte spacing: not a transport stream.
    #[error(
        "not an MPEG transport stream: no sync byte 0x47 at 188-byte spacing near byte {offset}"
    )]
    NoSync {
        /// Where the search started.
        offset: u64,
    },
    /// The stream ended inside a TS packet.
    #[error("truncated transport stream: {bytes} bytes of a 188-byte packet at byte {offset}")]
    Truncated {
        /// Where the partial packet starts.
        offset: u64,
        /// How many bytes of it there are.
        bytes: usize,
    },
    /// The stream ended before a PAT and PMT named its elementary streams.
    #[error("no program found (no PAT/PMT) in {bytes} bytes of transport stream")]
    NoProgram {
        /// How many bytes were read.
        bytes: u64,
    },
    /// A PES packet grew past the limit (a missing start or garbage).
    #[error("PES packet on PID {pid:#x} exceeds {limit} bytes (at byte {offset})")]
    PesTooLarge {
        /// The PID.
        pid: u16,
        /// The limit in bytes.
        limit: usize,
        /// Where the TS packet that crossed it starts.
        offset: u64,
    },
    /// The muxer was given no streams, too many, or an unknown stream index.
    #[error("muxer: {0}")]
    Mux(String),
    /// A decoder configuration record (avcC/hvcC) or ADTS header is malformed.
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// What was being read (`avcC`, `hvcC`, `ADTS header`, …).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Whether retrying with the same input cannot help (every error here: the input is
    /// the problem).
    pub fn is_permanent(&self) -> bool {
        true
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
