//! What a running stream takes (commands) and tells (events).

use std::time::Duration;

use crate::{MountStatus, Mp3Input};

/// Commands a running stream accepts (more may come).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Send silence of the stream's format instead of the input from now on (MP3, AAC, Ogg
    /// Opus and Vorbis; refused with a reason where no silence can be made).
    Mute,
    /// Resume the input where it stopped.
    Unmute,
    /// Set the stream title.
    Title(String),
    /// Stop now.
    Stop,
    /// Add a song at the end of the queue (playlist streams).
    Enqueue(Mp3Input),
    /// Add a song to play right after the current one (playlist streams).
    PlayNext(Mp3Input),
    /// End the current song now and go on with the next one (playlist streams).
    Skip,
    /// Remove every song still to play; the current one plays on (playlist streams).
    Clear,
    /// Report the queue ([`Event::Queue`]).
    List,
    /// End the stream when the queue runs dry, instead of sending silence.
    StopWhenEmpty,
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
    /// A command the stream cannot carry out (mute without silence of the stream's format,
    /// a queue command on pushed frames), and why.
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
    /// A song's first frame went out.
    TrackStarted {
        /// 0-based place of the song in the play order.
        index: u64,
        /// The song.
        input: Mp3Input,
        /// Its title, read from its tags (set on the server unless a title was given).
        title: Option<String>,
    },
    /// A song ended: its last frame went out (`completed`), or it was skipped.
    TrackFinished {
        /// Its place in the play order.
        index: u64,
        /// The song.
        input: Mp3Input,
        /// Whether it played to its end.
        completed: bool,
    },
    /// A song could not be played (unreadable, not MP3, another format than the
    /// stream's): skipped, the stream goes on.
    TrackFailed {
        /// The song.
        input: Mp3Input,
        /// Why.
        reason: String,
    },
    /// The queue ran dry: silence of the stream's format is sent until a song is added.
    QueueEmpty,
    /// The queue, as asked by [`Command::List`].
    Queue {
        /// The song playing.
        playing: Option<Mp3Input>,
        /// The songs still to play, in order.
        queued: Vec<Mp3Input>,
    },
    /// The mount's status as the server reports it (every `status_interval`).
    Status(MountStatus),
    /// The status could not be read (the stream goes on).
    StatusFailed {
        /// Why.
        reason: String,
    },
    /// The input ended (or a stop was asked) and the stream closed.
    Finished,
}
