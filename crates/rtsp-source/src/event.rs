//! What a source yields: frames and lifecycle events.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::Error;
use crate::track::{TrackInfo, Tracks};

/// One encoded frame (a video access unit or an audio frame).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// Index of the track in [`Tracks::tracks`].
    pub track: usize,
    /// Presentation time in ticks of [`Frame::clock_rate`], counted from the start of the
    /// session (RTP timestamps extended to 64 bits, so it never wraps). Tracks of one
    /// session share the same origin when the server sends `RTP-Info` (A/V sync). After a
    /// [`Event::TimestampJump`] the track's time is re-based to continue where it was.
    pub timestamp: i64,
    /// Decode time in the same ticks: strictly increasing along the track, at or before
    /// [`Frame::timestamp`]. Equal to it for audio and for video without B-frames; with
    /// B-frames frames arrive in decode order while RTP carries presentation times, so it is
    /// derived from the reorder depth the SPS declares (see [`crate::timeline`]).
    pub decode_timestamp: i64,
    /// Ticks per second of [`Frame::timestamp`] (the RTP clock rate).
    pub clock_rate: u32,
    /// Length of the frame in ticks when the codec fixes it (audio); `None` for video,
    /// whose duration is the gap to the next frame.
    pub duration: Option<u32>,
    /// Wall-clock time the frame's last packet arrived.
    pub received_wall: SystemTime,
    /// Monotonic time the frame's last packet arrived.
    pub received: Instant,
    /// The payload in MP4 framing: 4-byte big-endian NAL lengths (H.264/H.265, no
    /// parameter sets in-band), a raw access unit (AAC), a JPEG image, or raw samples
    /// (G.711 and other simple audio).
    pub data: Bytes,
    /// A random access point: IDR/IRAP for video; every audio frame.
    pub keyframe: bool,
    /// RTP packets lost just before this frame; always 0 on a track's first frame (a gap
    /// after `RTP-Info`'s sequence number is the server starting late, not loss).
    pub loss: u16,
    /// The codec parameters changed with this frame (a [`Event::TrackUpdated`] comes just
    /// before it): a recorder starts a new sample entry or file.
    pub new_parameters: bool,
    /// No other frame references this one (H.264 `nal_ref_idc` = 0): safe to drop.
    pub disposable: bool,
}

impl Frame {
    /// Presentation time minus decode time (the MP4 composition offset), in ticks.
    pub fn composition_offset(&self) -> i64 {
        self.timestamp.saturating_sub(self.decode_timestamp)
    }

    /// The timestamp in seconds.
    pub fn seconds(&self) -> f64 {
        if self.clock_rate == 0 {
            return 0.0;
        }
        self.timestamp as f64 / f64::from(self.clock_rate)
    }
}

/// What a source yields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A session is playing (after DESCRIBE, SETUP and PLAY).
    Connected {
        /// The camera URL, password removed.
        url: String,
        /// 1 for the first session of a source, then counting reconnections.
        session: u64,
        /// The server's `a=tool` SDP attribute.
        server_tool: Option<String>,
    },
    /// The tracks of the session; sent once per session, just before its first frame.
    Tracks(Tracks),
    /// A track's parameters changed (resolution, SPS/PPS...); the next frame of that track
    /// has [`Frame::new_parameters`] set.
    TrackUpdated(Box<TrackInfo>),
    /// A frame.
    Frame(Frame),
    /// A track's RTP timestamps jumped (the camera restarted its encoder, or the server
    /// restarted a shared stream for another client): further than B-frame reordering
    /// explains backwards, or further forwards than the time that passed. The track's time
    /// was re-based, so its frames continue one frame after the last; the session goes on.
    /// A recorder that rotates files may start a new one at the next keyframe. Sent just
    /// before the first frame after the jump.
    TimestampJump {
        /// The track.
        track: usize,
        /// The size of the jump in ticks of the track's clock (the new timestamp minus
        /// where the track would have continued): negative backwards.
        ticks: i64,
        /// Ticks per second.
        clock_rate: u32,
    },
    /// Frames after this one do not continue those before it (a reconnection): timestamps
    /// restart, tracks may differ. A recorder starts a new file or segment. Sent after
    /// [`Event::Connected`] and before the new session's [`Event::Tracks`].
    Discontinuity {
        /// The session that starts.
        session: u64,
    },
    /// The session ended.
    Disconnected {
        /// Why: [`Error::ServerClosed`], [`Error::IdleTimeout`], an RTSP error...
        reason: Error,
        /// Frames received in the session.
        frames: u64,
    },
    /// A connection attempt failed before playing (supervisor only).
    ConnectFailed {
        /// Why.
        reason: Error,
        /// Consecutive failed attempts so far.
        attempt: u32,
    },
    /// The supervisor waits before connecting again.
    Reconnecting {
        /// The attempt about to be made (1 for the first retry).
        attempt: u32,
        /// How long it waits first.
        delay: Duration,
    },
    /// The supervisor waits, before connecting again, for sessions a previous connection
    /// left on the server to be torn down or to expire (old live555 cameras keep streaming
    /// to them and refuse new ones; retina presumes one such session, for 65 s, when data
    /// arrives for an unknown stream).
    WaitingForStaleSessions {
        /// How many.
        sessions: usize,
        /// The longest it may take (until the last one expires), when known.
        at_most: Option<Duration>,
    },
    /// The supervisor stopped: `reason` is `None` when asked to stop, else the error it
    /// gave up on (permanent error or attempts exhausted). Always the last event.
    Stopped {
        /// Why it gave up, if it did.
        reason: Option<Error>,
    },
}
