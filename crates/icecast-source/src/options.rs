//! How a stream runs: pacing lead, timeouts, reconnection, the end of a playlist.

use std::time::Duration;

use media_core::Backoff;

use crate::Pacer;

/// How to stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamOptions {
    /// How far ahead of real time the stream may run.
    pub lead: Duration,
    /// Bound of each connect and each answer.
    pub timeout: Duration,
    /// Delays between reconnection attempts after a lost connection.
    pub reconnect: Backoff,
    /// Give up after this long without a connection.
    pub give_up_after: Duration,
    /// Silence sent after the last frame so that the server relays the whole stream
    /// (at least the server's queue block size; MP3 only).
    pub flush_bytes: usize,
    /// A playlist stream ends when its queue runs dry (the default: a list of files is
    /// streamed once). A radio sets it to `false`: the mount then carries silence of
    /// the stream's format until a song is queued ([`crate::Command::StopWhenEmpty`] ends it
    /// later).
    pub stop_when_empty: bool,
    /// Each song of a playlist stream sets the title to `Artist – Title` from its tags
    /// (ID3v2, APE, ID3v1) when it starts (the default). A title set by command holds until
    /// the next song; `false` keeps titles to the commands (a fixed title).
    pub title_from_tags: bool,
    /// How often the mount's status (listeners, title) is read from the server's
    /// `status-json.xsl` and reported as [`crate::Event::Status`]; `None`: never.
    pub status_interval: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            lead: Pacer::DEFAULT_LEAD,
            timeout: Duration::from_secs(5),
            reconnect: Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
            give_up_after: Duration::from_secs(120),
            flush_bytes: 4096,
            stop_when_empty: true,
            title_from_tags: true,
            status_interval: Some(Duration::from_secs(5)),
        }
    }
}
