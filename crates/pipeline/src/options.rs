//! What a pipeline is told: [`Options`] (with [`RtspSettings`] and [`HlsMode`]), and what
//! it tells back: live [`Status`] and the final [`Summary`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bmff_writer::FsyncPolicy;
use rtsp_source::{InitialTimestamp, Teardown, Transport};

/// How HLS playlists are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HlsMode {
    /// Rewritten after every segment (players can follow the recording), ended with
    /// `EXT-X-ENDLIST` when it stops.
    #[default]
    Live,
    /// Written once, complete, when the recording ends.
    Vod,
}

/// RTSP input settings, with the spellings of retina's example client.
#[derive(Clone)]
#[non_exhaustive]
pub struct RtspSettings {
    /// TCP (interleaved, the default) or UDP.
    pub transport: Transport,
    /// Keep going when RTP packets are lost (the default, as ffmpeg and NVRs do: the loss
    /// is counted in [`Status::lost`] and logged); `false` ends the recording at the first
    /// loss (`--fail-on-loss`).
    pub allow_loss: bool,
    /// When to send TEARDOWN.
    pub teardown: Teardown,
    /// How to read `RTP-Info`'s initial timestamps.
    pub initial_timestamp: InitialTimestamp,
    /// User name (overrides the URL's).
    pub user: Option<String>,
    /// Password (overrides the URL's). Never shown.
    pub password: Option<String>,
}

impl Default for RtspSettings {
    fn default() -> Self {
        RtspSettings {
            transport: Transport::default(),
            allow_loss: true,
            teardown: Teardown::default(),
            initial_timestamp: InitialTimestamp::default(),
            user: None,
            password: None,
        }
    }
}

impl fmt::Debug for RtspSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspSettings")
            .field("transport", &self.transport)
            .field("allow_loss", &self.allow_loss)
            .field("teardown", &self.teardown)
            .field("initial_timestamp", &self.initial_timestamp)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How a pipeline records.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// MP4 file output: fragmented (`moof`/`mdat`) instead of plain.
    pub fragmented: bool,
    /// Target fragment (and HLS segment) duration.
    pub fragment_duration: Duration,
    /// Plain MP4: move `moov` in front of the media data when finishing.
    pub faststart: bool,
    /// MP4 and HLS files: when written data is synced to the storage device. Every
    /// fragment, segment or plain-MP4 chunk reaches the file when complete whatever this
    /// says (a killed process loses at most the one being built); the `fsync` is what a
    /// power cut or kernel crash needs. `None` (default): `Interval(1 s)` for a live input
    /// (a camera, a network peer), which with the default 2 s fragments syncs every
    /// fragment and segment and otherwise caps the cost at one `fsync` per second per file;
    /// `Never` for a file input, as ffmpeg does: the input file is the copy a power cut
    /// cannot take (run again), and a remux then never waits for the disk. Unless the
    /// policy is `Never`, a finished file is synced before its rename.
    pub fsync: Option<FsyncPolicy>,
    /// `rtp://` output: where to write the session description (SDP) that a receiver
    /// opens (`ffmpeg -protocol_whitelist file,udp,rtp -i FILE`); it is also logged.
    pub sdp_file: Option<PathBuf>,
    /// Rotation: a new file at the first key frame after each multiple of this length.
    pub segment: Option<Duration>,
    /// Stop after this much media time.
    pub duration: Option<Duration>,
    /// Record video tracks.
    pub video: bool,
    /// Record audio tracks.
    pub audio: bool,
    /// RTSP input settings.
    pub rtsp: RtspSettings,
    /// HLS playlist mode. `None` (default): VOD for a file read at full speed (its media
    /// is complete, and the playlist is written once rather than after each of its
    /// segments, as fast as ffmpeg's `-hls_playlist_type vod` is not), live otherwise: a
    /// live input, or a file paced in real time (`realtime`, `loop_input`), which
    /// players follow.
    pub hls: Option<HlsMode>,
    /// Packets that may wait between the source and the recorder (256): room for a live
    /// source while the recorder waits for the disk. A file input, which loses nothing
    /// by waiting, is read at most 64 packets ahead (one batch queued, one being read):
    /// a remux then holds a few MB of media rather than seconds of it.
    pub queue: usize,
    /// `tcp-listen://` server and `tcp://` client settings (token, clients, queues).
    pub remote: crate::remote::RemoteSettings,
    /// `icecast://` output: stream description (`ice-*` headers), User-Agent, pacing
    /// and reconnection.
    pub icecast: IcecastSettings,
    /// `https://` input: a PEM file of CA certificates trusted besides the webpki roots (a
    /// server's self-signed certificate).
    pub tls_ca: Option<std::path::PathBuf>,
    /// RTSP input to a file output (MP4, HLS, stdout): handle packets in bursts. Whenever
    /// nothing is ready the source sleeps this long (and the recorder, when its queue is
    /// empty), so that the packets arriving meanwhile are read and written together: one
    /// wake-up per burst instead of one per packet, about half the CPU (crate README), for
    /// at most this much more delay before a packet reaches the file. Default 200 ms: a
    /// tenth of a fragment or segment (2 s), against 50 ms before, the recording CPU fell
    /// from ~0.3 to ~0.15 CPU s per minute of 720p (pipeline-cli README). The source then
    /// runs on a thread and runtime of its own. `None`: each packet as it arrives (always
    /// so for raw and `tcp-listen://` outputs, which are live, and over UDP, where packets
    /// beyond the socket buffer would be lost; over TCP the server waits).
    pub burst: Option<Duration>,
    /// Annex B input (`.h264`, `.h265`), which has no timestamps: frames per second.
    /// `None`: the SPS's VUI timing when present (H.264), else 25.
    pub frame_rate: Option<f64>,
    /// MP4 input: the `tkhd` track ids to read, in file order. Empty: the first video
    /// and the first audio track.
    pub track_ids: Vec<u32>,
    /// File input: send each packet when its time comes, as a live source would.
    pub realtime: bool,
    /// File input: start again at the end, times continuing, until the duration limit
    /// or a stop.
    pub loop_input: bool,
    /// Which tracks are decoded and encoded again (`codec` feature; without it, as
    /// `never`).
    pub transcoding: crate::transcoding::Transcoding,
    /// The input has a time zero (a file, packets from code; set by the pipeline when it
    /// starts): what it presents before that zero (AAC priming, B-frame delay) is hidden
    /// by an edit list. A live source has no such zero: its file starts at the first
    /// packet written.
    pub(crate) hide_before_zero: bool,
    /// Key frame requests from the sink to the source (set by the pipeline when it
    /// starts, so two pipelines never share one).
    pub(crate) keyframe_requests: crate::contract::KeyframeRequests,
    /// A source makes tracks of G.711 (set by the pipeline: the output plays it, or the
    /// transcoding stage turns it into AAC).
    pub(crate) g711_tracks: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fragmented: false,
            fragment_duration: Duration::from_secs(2),
            faststart: false,
            fsync: None,
            segment: None,
            duration: None,
            video: true,
            audio: true,
            rtsp: RtspSettings::default(),
            hls: None,
            sdp_file: None,
            queue: 256,
            remote: crate::remote::RemoteSettings::default(),
            icecast: IcecastSettings::default(),
            tls_ca: None,
            burst: Some(Duration::from_millis(200)),
            frame_rate: None,
            track_ids: Vec::new(),
            realtime: false,
            loop_input: false,
            transcoding: crate::transcoding::Transcoding::default(),
            hide_before_zero: false,
            keyframe_requests: crate::contract::KeyframeRequests::default(),
            g711_tracks: false,
        }
    }
}

impl Options {
    /// The sync policy for files written from `input` (see [`Options::fsync`]).
    pub(crate) fn fsync_for(&self, input: &crate::Endpoint) -> FsyncPolicy {
        self.fsync.unwrap_or(if input.is_file_input() {
            FsyncPolicy::Never
        } else {
            FsyncPolicy::Interval(Duration::from_secs(1))
        })
    }

    /// The HLS playlist mode for `input` (see [`Options::hls`]).
    pub(crate) fn hls_for(&self, input: &crate::Endpoint) -> HlsMode {
        self.hls.unwrap_or(
            if input.is_file_input() && !self.realtime && !self.loop_input {
                HlsMode::Vod
            } else {
                HlsMode::Live
            },
        )
    }

    /// Messages that may wait between the source and the recorder (see
    /// [`Options::queue`]): packets; for a file input read at full speed, batches of
    /// `FileSender::PACKETS` packets. A paced file (`realtime`, `loop_input`) reaches the
    /// recorder packet by packet from the pacing stage, so its queue counts packets (one
    /// batch's worth: with a queue of one packet the two woke each other for every packet,
    /// a quarter of the speed of a looped raw output).
    pub(crate) fn queue_for(&self, input: &crate::Endpoint) -> usize {
        if !input.is_file_input() {
            self.queue.max(1)
        } else if self.realtime || self.loop_input {
            self.queue.clamp(1, Self::FILE_READ_AHEAD)
        } else {
            self.file_batches()
        }
    }

    /// A file input is read at most this many packets ahead (see [`Options::queue`]).
    const FILE_READ_AHEAD: usize = 64;

    /// Batches a file source may queue ahead of the stage that takes them (the recorder,
    /// or the pacing stage).
    pub(crate) fn file_batches(&self) -> usize {
        (self.queue.clamp(1, Self::FILE_READ_AHEAD) / crate::source::FileSender::PACKETS).max(1)
    }

    /// The sync policy of the sinks (resolved by the pipeline when it starts).
    pub(crate) fn fsync_policy(&self) -> FsyncPolicy {
        self.fsync
            .unwrap_or(FsyncPolicy::Interval(Duration::from_secs(1)))
    }
}

/// Live figures of a running pipeline (more may come: read the fields, build it with
/// `default()`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// Media time recorded, in seconds.
    pub media_seconds: f64,
    /// Packets written.
    pub packets: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Packets lost in the network (RTSP).
    pub lost: u64,
    /// Files finished.
    pub files: u64,
    /// Times the source reconnected and went on (RTSP with rotation).
    pub reconnections: u64,
}

/// What a finished pipeline did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Summary {
    /// The files written, finalized, in order.
    pub files: Vec<PathBuf>,
    /// The last status.
    pub status: Status,
}

/// Settings of an `icecast://` output. `Debug` masks the admin password.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct IcecastSettings {
    /// The stream's public description (`ice-name`, `ice-genre`, …); sample rate and
    /// channels are filled in from the track.
    pub info: icecast_source::StreamInfo,
    /// The User-Agent sent to the server (`None`: icecast-source's).
    pub user_agent: Option<String>,
    /// The stream title at the start (ICY `StreamTitle`).
    pub title: Option<String>,
    /// Pacing lead, timeouts and reconnection.
    pub stream: icecast_source::StreamOptions,
    /// Connect with TLS (also implied by an `icecasts://` URL or `tls_ca`).
    pub tls: bool,
    /// A PEM file of CA certificates trusted besides the built-in roots (a server's
    /// self-signed certificate).
    pub tls_ca: Option<std::path::PathBuf>,
    /// Admin credentials for the listener counts read from `status-json.xsl`; never shown.
    pub admin: Option<(String, String)>,
}

impl std::fmt::Debug for IcecastSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcecastSettings")
            .field("info", &self.info)
            .field("user_agent", &self.user_agent)
            .field("title", &self.title)
            .field("stream", &self.stream)
            .field("tls", &self.tls)
            .field("tls_ca", &self.tls_ca)
            .field("admin", &self.admin.as_ref().map(|(user, _)| (user, "***")))
            .finish()
    }
}
