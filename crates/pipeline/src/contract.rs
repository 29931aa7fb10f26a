//! The one contract between sources and sinks. It depends on nothing else in the crate
//! but the error type, so any source can reach any sink whose codecs fit.
//!
//! A source sends [`InputEvent`]s through a bounded channel: the tracks first, then
//! packets (with their arrival time), and maybe track updates, losses and
//! discontinuities, and last an [`InputEvent::End`]. The bound is the backpressure: a
//! slow sink slows a file source down, and makes a live camera's packets wait in the
//! socket buffer. The recorder selects tracks, cuts files and hands the packets to a
//! [`Sink`], one per output file or stream, which a [`SinkFactory`] opens; the factory
//! first [checks](SinkFactory::check) that it can take the tracks, so a misfit fails at
//! once with one line naming the codec, the track and the endpoint.

use std::path::PathBuf;
use std::time::SystemTime;

use media_core::{Packet, Track};

use crate::Error;

/// What a source tells the recorder.
#[derive(Debug)]
pub(crate) enum InputEvent {
    /// The tracks, before the first packet (again after a reconnection).
    Tracks(Vec<Track>),
    /// A track's configuration changed; the next packet of that track uses it.
    TrackUpdated {
        /// Index in the last [`InputEvent::Tracks`].
        index: usize,
        /// The new description.
        track: Track,
    },
    /// A packet and the wall-clock time it arrived.
    Packet(Packet, SystemTime),
    /// What follows does not continue what came before (a reconnection).
    Discontinuity,
    /// A track's timestamps jumped within the session and the source re-based them, so
    /// what follows continues in time; a recorder that rotates starts a new file at the
    /// next key frame.
    TimestampJump {
        /// Index in the last [`InputEvent::Tracks`].
        track: usize,
    },
    /// Packets were lost in the network.
    Loss(u64),
    /// The source ended: normally or with an error.
    End(Result<(), Error>),
    /// Several events in order, sent at once by a file reader (see
    /// `source::FileSender`): the recorder wakes once for them, not once per packet.
    Batch(Vec<InputEvent>),
}

/// One output file or stream. Its methods run on the recorder's blocking thread, so a
/// sink may block (file writes; waiting is the backpressure).
pub(crate) trait Sink: Send {
    /// Writes a packet (track indices are those of the tracks the sink was opened with).
    fn write(&mut self, packet: Packet) -> Result<(), Error>;
    /// A track's codec configuration changed; the next packet of that track uses it.
    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error>;
    /// Finalizes the output; returns the finished file's path, if it is a file.
    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error>;
}

/// Opens sinks for one output endpoint.
pub(crate) trait SinkFactory: Send {
    /// Whether this output can take these tracks; called when the tracks are known,
    /// before the first file is opened. The error names codec, track and endpoint.
    fn check(&self, tracks: &[Track]) -> Result<(), Error>;
    /// Opens an output for these tracks; `wall` is the arrival time of its first packet
    /// (for time-based file names).
    fn open(&mut self, tracks: &[Track], wall: SystemTime) -> Result<Box<dyn Sink>, Error>;
    /// The tracks (indices) this output would leave out, with a log line, although
    /// `check` takes the set: a WebRTC output sends one video and one audio track of the
    /// codecs browsers play and goes on without the others. The transcoder turns such a
    /// track into a codec the output sends (`codec` feature). None by default.
    #[cfg(feature = "codec")]
    fn left_out(&self, _tracks: &[Track]) -> Vec<usize> {
        Vec::new()
    }
}

/// A track as people name it in a misfit message: "track 0 is H.264 video".
pub(crate) fn describe(index: usize, track: &Track) -> String {
    let kind = match track.kind {
        media_core::MediaKind::Video => "video",
        media_core::MediaKind::Audio => "audio",
        _ => "media",
    };
    format!("track {index} is {} {kind}", track.codec.name())
}

/// A sink's way back to its source: a viewer asked for a key frame (a WebRTC viewer's
/// PLI), and a source that can ask its sender for one (a WHIP publisher) does. One per
/// running pipeline; requests in between the source's checks merge into one.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyframeRequests(std::sync::Arc<tokio::sync::Notify>);

impl KeyframeRequests {
    /// A sink asks.
    pub(crate) fn ask(&self) {
        self.0.notify_one();
    }

    /// Completes when a sink asked (since the last completion).
    pub(crate) async fn asked(&self) {
        self.0.notified().await;
    }
}
