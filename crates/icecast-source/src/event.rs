//! What a running stream takes (commands) and tells (events).

use std::time::Duration;

/// Commands a running stream accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send silence instead of the input from now on (MP3 only).
    Mute,
    /// Resume the input where it stopped.
    Unmute,
    /// Set the stream title.
    Title(String),
    /// Stop now.
    Stop,
}

/// What a running stream reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Connected as a source with this method (`PUT` or `SOURCE`).
    Connected {
        /// The HTTP method the server accepted.
        method: &'static str,
    },
    /// The connection was lost, or an attempt failed.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Reconnecting after this delay.
    Reconnecting {
        /// Delay before the attempt.
        delay: Duration,
    },
    /// Silence is being sent instead of the input.
    Muted,
    /// The input resumed.
    Unmuted,
    /// A command the stream cannot carry out (mute on an AAC stream).
    CommandRefused {
        /// The command.
        command: Command,
        /// Why.
        reason: String,
    },
    /// The title was set on the server.
    TitleSet(String),
    /// A title update failed (the stream goes on).
    TitleFailed {
        /// The title.
        title: String,
        /// Why.
        reason: String,
    },
    /// A frame of the input was sent.
    FrameSent {
        /// 0-based index of the frame in the input.
        index: u64,
        /// Frame count of the input, when known (files; not stdin or pushed frames).
        total: Option<u64>,
        /// Media time sent since the start (input and silence).
        time: Duration,
    },
    /// The input ended (or a stop was asked) and the stream closed.
    Finished,
}
