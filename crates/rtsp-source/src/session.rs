//! One RTSP session: DESCRIBE, SETUP, PLAY (RFC 2326 sections 10.2, 10.4, 10.5), then
//! frames until the server closes, an error, or the idle timeout.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use retina::client::{Demuxed, PlayOptions, SessionGroup, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat};
use tokio::time::{Instant, Sleep};

use crate::Error;
use crate::convert;
use crate::event::{Event, Frame};
use crate::options::{
    InitialTimestamp, RtspOptions, SessionIdPolicy, Teardown, Transport, UnknownRtcpSsrc,
};
use crate::reorder::reorder_depth;
use crate::select::{self, Offer};
use crate::start::{Admit, StartGate};
use crate::timeline::TrackTimeline;
use crate::track::{MediaKind, TrackInfo, Tracks};

/// One RTSP session, as a [`Stream`] of [`Event`]s.
///
/// The stream yields [`Event::Connected`], then [`Event::Tracks`] just before the first
/// frame, then [`Event::Frame`]s (and [`Event::TrackUpdated`] when parameters change), and
/// ends with one [`Event::Disconnected`] carrying the reason. It does not reconnect: see
/// [`crate::ReconnectingSource`]. Call [`RtspSource::close`] to send `TEARDOWN` and wait for
/// it; dropping the source tears down in the background.
pub struct RtspSource {
    url: String,
    options: RtspOptions,
    group: Arc<SessionGroup>,
    demuxed: Option<Pin<Box<Demuxed>>>,
    /// Track index per retina stream index.
    track_of_stream: Vec<Option<usize>>,
    tracks: Tracks,
    gate: StartGate,
    pending: VecDeque<Event>,
    idle: Pin<Box<Sleep>>,
    frames: u64,
    lost: u64,
    /// Per track: a frame was received (before the start gate), so later loss is real.
    received_any: Vec<bool>,
    /// Per track: decode times and jumps, from its first emitted frame on.
    timelines: Vec<Option<TrackTimeline>>,
    ended: bool,
}

impl std::fmt::Debug for RtspSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSource")
            .field("url", &self.url)
            .field("tracks", &self.tracks.tracks.len())
            .field("frames", &self.frames)
            .field("ended", &self.ended)
            .finish()
    }
}

impl RtspSource {
    /// Connects and starts playing, within the open timeout.
    pub async fn connect(options: RtspOptions) -> Result<Self, Error> {
        let group = Arc::new(SessionGroup::default().named(options.url.authority()));
        Self::connect_in(options, group, 1).await
    }

    /// Connects as session number `session` of `group` (the supervisor shares one group
    /// across reconnections so it can wait out stale sessions).
    pub(crate) async fn connect_in(
        options: RtspOptions,
        group: Arc<SessionGroup>,
        session: u64,
    ) -> Result<Self, Error> {
        let url = options.redacted_url();
        let deadline = Instant::now() + options.open_timeout;
        let timed_out = |stage| Error::OpenTimeout {
            url: url.clone(),
            timeout: options.open_timeout,
            stage,
        };

        let session_options = SessionOptions::default()
            .creds(
                options
                    .credentials
                    .as_ref()
                    .map(|c| retina::client::Credentials {
                        username: c.username.clone(),
                        password: c.password.clone(),
                    }),
            )
            .user_agent(options.user_agent.clone())
            .session_group(group.clone())
            .teardown(teardown(options.teardown))
            .session_id(session_id(options.session_id));
        tracing::debug!(url = %url, "DESCRIBE");
        let mut described = tokio::time::timeout_at(
            deadline,
            retina::client::Session::describe(options.url.url().clone(), session_options),
        )
        .await
        .map_err(|_| timed_out("DESCRIBE"))?
        .map_err(|e| Error::from_retina(&url, "DESCRIBE", e))?;

        let offers: Vec<Offer> = described
            .streams()
            .iter()
            .enumerate()
            .map(|(i, s)| convert::offer(i, s))
            .collect();
        let selected = select::select(&offers, &options.selection).map_err(|offered| {
            Error::NoSupportedStream {
                url: url.clone(),
                offered,
            }
        })?;
        for s in &selected.skipped {
            if !s.supported && matches!(s.media.as_str(), "video" | "audio") {
                tracing::warn!(url = %url, stream = s.stream_index, "skipping {}/{}: {}",
                    s.media, s.encoding_name, s.reason);
            } else {
                tracing::debug!(url = %url, stream = s.stream_index, "not recording {}/{}: {}",
                    s.media, s.encoding_name, s.reason);
            }
        }

        let transport = match options.transport {
            Transport::Udp => retina::client::Transport::Udp(Default::default()),
            _ => retina::client::Transport::Tcp(Default::default()),
        };
        for (stream_index, _) in &selected.chosen {
            tokio::time::timeout_at(
                deadline,
                described.setup(
                    *stream_index,
                    SetupOptions::default()
                        .transport(transport.clone())
                        .frame_format(FrameFormat::MP4),
                ),
            )
            .await
            .map_err(|_| timed_out("SETUP"))?
            .map_err(|e| Error::from_retina(&url, "SETUP", e))?;
        }

        // The sequence starts at the first packet, not at the PLAY answer's RTP-Info (as
        // ffmpeg and gortsplib do): a server that shares one stream among its clients
        // (gst-rtsp-server, and cameras built on it) answers with its payloader's next
        // number while packets numbered before it are still queued for the new client;
        // over TCP retina ended the session at the first of them ("out-of-order packet").
        let mut play = PlayOptions::default()
            .initial_seq(retina::client::InitialSequenceNumberPolicy::Ignore)
            .initial_timestamp(initial_timestamp(options.initial_timestamp))
            .unknown_rtcp_ssrc(unknown_rtcp_ssrc(options.unknown_rtcp_ssrc));
        if let Some(secs) = options
            .max_timestamp_jump
            .and_then(std::num::NonZeroU32::new)
        {
            play = play.enforce_timestamps_with_max_jump_secs(secs);
        }
        let playing = tokio::time::timeout_at(deadline, described.play(play))
            .await
            .map_err(|_| timed_out("PLAY"))?
            .map_err(|e| Error::from_retina(&url, "PLAY", e))?;
        let demuxed = playing
            .demuxed()
            .map_err(|e| Error::from_retina(&url, "PLAY", e))?;

        let mut track_of_stream = vec![None; demuxed.streams().len()];
        let mut tracks = Vec::with_capacity(selected.chosen.len());
        for (index, (stream_index, codec)) in selected.chosen.iter().enumerate() {
            if let (Some(slot), Some(stream)) = (
                track_of_stream.get_mut(*stream_index),
                demuxed.streams().get(*stream_index),
            ) {
                *slot = Some(index);
                tracks.push(convert::track_info(index, *stream_index, *codec, stream));
            }
        }
        let server_tool = demuxed.tool().map(|t| t.to_string());
        tracing::info!(url = %url, session, tracks = tracks.len(), "playing");
        let gate = StartGate::new(
            tracks.iter().map(|t| t.kind).collect(),
            options.wait_for_keyframe,
        );
        let idle = Box::pin(tokio::time::sleep(options.idle_timeout));
        let mut pending = VecDeque::new();
        pending.push_back(Event::Connected {
            url: url.clone(),
            session,
            server_tool: server_tool.clone(),
        });
        let received_any = vec![false; tracks.len()];
        let timelines = vec![None; tracks.len()];
        Ok(RtspSource {
            url,
            options,
            group,
            demuxed: Some(Box::pin(demuxed)),
            track_of_stream,
            tracks: Tracks {
                tracks,
                skipped: selected.skipped,
                server_tool,
            },
            gate,
            pending,
            idle,
            frames: 0,
            lost: 0,
            received_any,
            timelines,
            ended: false,
        })
    }

    /// The tracks as known now (video parameters may still be missing before the first
    /// keyframe; [`Event::Tracks`] carries the complete list).
    pub fn tracks(&self) -> &Tracks {
        &self.tracks
    }

    /// Frames emitted so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// RTP packets reported lost so far.
    pub fn lost_packets(&self) -> u64 {
        self.lost
    }

    /// Frames dropped while waiting for the first keyframe.
    pub fn dropped_before_start(&self) -> u64 {
        self.gate.dropped()
    }

    /// Ends the session: sends `TEARDOWN` (per the teardown policy) and waits for it, at
    /// most the teardown timeout.
    pub async fn close(mut self) -> Result<(), Error> {
        self.demuxed = None; // dropping the session starts the TEARDOWN
        teardown_group(&self.group, &self.url, self.options.teardown_timeout).await
    }

    /// Ends the stream with `reason`.
    fn end(&mut self, reason: Error) -> Event {
        self.ended = true;
        self.demuxed = None;
        tracing::info!(url = %self.url, frames = self.frames, "disconnected: {reason}");
        Event::Disconnected {
            reason,
            frames: self.frames,
        }
    }

    fn idle_end(&mut self) -> Event {
        let reason = Error::IdleTimeout {
            url: self.url.clone(),
            timeout: self.options.idle_timeout,
            frames: self.frames,
        };
        self.end(reason)
    }

    /// Turns one retina item into zero or more events.
    fn on_item(&mut self, item: CodecItem) {
        let received = match item {
            CodecItem::VideoFrame(f) => convert::video_frame(f),
            CodecItem::AudioFrame(f) => convert::audio_frame(&f),
            _ => return, // RTCP and ONVIF metadata are not recorded
        };
        let Some(track) = self
            .track_of_stream
            .get(received.stream_id)
            .copied()
            .flatten()
        else {
            return;
        };
        let mut frame = received.frame;
        frame.track = track;
        let first = self
            .received_any
            .get_mut(track)
            .map(|seen| !std::mem::replace(seen, true))
            .unwrap_or(false);
        if first && frame.loss > 0 {
            // The gap is between RTP-Info's `seq` and the stream's first packet: the server
            // started later than announced (gst-rtsp-server does, by one), nothing was sent
            // that this client could have received.
            tracing::debug!(url = %self.url, track, gap = frame.loss,
                "first packet after the RTP-Info sequence number: not counted as loss");
            frame.loss = 0;
        }
        if frame.loss > 0 {
            self.lost += u64::from(frame.loss);
            if !self.options.allow_loss {
                let reason = Error::PacketLoss {
                    url: self.url.clone(),
                    track,
                    lost: frame.loss,
                };
                let ev = self.end(reason);
                self.pending.push_back(ev);
                return;
            }
            tracing::warn!(url = %self.url, track, lost = frame.loss, total = self.lost,
                "RTP packets lost");
        }
        self.idle
            .as_mut()
            .reset(Instant::now() + self.options.idle_timeout);
        match self.gate.admit(track, received.keyframe) {
            Admit::Drop => {
                tracing::trace!(url = %self.url, track, "dropped before the first keyframe");
            }
            Admit::Pass { first } => {
                if first {
                    self.refresh_all();
                    self.pending.push_back(Event::Tracks(self.tracks.clone()));
                } else if received.new_parameters
                    && let Some(info) = self.refresh(track)
                {
                    // New parameter sets may declare a deeper reordering (B-frames on).
                    if let (Some(v), Some(Some(timeline))) =
                        (&info.video, self.timelines.get_mut(track))
                        && let Some(depth) = reorder_depth(&v.parameter_sets)
                    {
                        timeline.declare_reorder(depth);
                    }
                    self.pending.push_back(Event::TrackUpdated(Box::new(info)));
                }
                self.time(&mut frame);
                self.frames += 1;
                self.pending.push_back(Event::Frame(frame));
            }
        }
    }

    /// Sets the frame's presentation and decode times on its track's timeline; a jump is
    /// logged once and announced before the frame.
    fn time(&mut self, frame: &mut Frame) {
        let Some(slot) = self.timelines.get_mut(frame.track) else {
            return;
        };
        let timeline = slot.get_or_insert_with(|| match self.tracks.tracks.get(frame.track) {
            Some(info) if info.kind == MediaKind::Video => {
                let video = info.video.as_ref();
                let reorder = video.and_then(|v| reorder_depth(&v.parameter_sets));
                let frame_duration = video
                    .and_then(|v| v.frame_rate)
                    .filter(|(num, _)| *num > 0)
                    .and_then(|(num, den)| {
                        u32::try_from(u64::from(frame.clock_rate) * u64::from(den) / u64::from(num))
                            .ok()
                    });
                tracing::debug!(url = %self.url, track = frame.track, ?reorder, "video timeline");
                TrackTimeline::video(frame.clock_rate, reorder, frame_duration)
            }
            _ => TrackTimeline::audio(frame.clock_rate, frame.duration),
        });
        let timing = timeline.push(frame.timestamp, frame.received);
        if let Some(ticks) = timing.jump {
            let seconds = ticks as f64 / f64::from(frame.clock_rate.max(1));
            tracing::warn!(url = %self.url, track = frame.track, ticks,
                "timestamps jumped by {seconds:+.3} s; re-based to continue the track");
            self.pending.push_back(Event::TimestampJump {
                track: frame.track,
                ticks,
                clock_rate: frame.clock_rate,
            });
        }
        frame.timestamp = timing.presentation;
        frame.decode_timestamp = timing.decode;
    }

    /// Re-reads every track's parameters from retina (they may have arrived in-band).
    fn refresh_all(&mut self) {
        for i in 0..self.tracks.tracks.len() {
            self.refresh(i);
        }
    }

    /// Re-reads one track; returns it when it changed.
    fn refresh(&mut self, track: usize) -> Option<TrackInfo> {
        let demuxed = self.demuxed.as_ref()?;
        let old = self.tracks.tracks.get(track)?;
        let stream = demuxed.streams().get(old.stream_index)?;
        let new = convert::track_info(track, old.stream_index, old.codec, stream);
        if &new == old {
            return None;
        }
        self.tracks.tracks[track] = new.clone();
        Some(new)
    }
}

impl Stream for RtspSource {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        loop {
            if let Some(ev) = this.pending.pop_front() {
                return Poll::Ready(Some(ev));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let Some(demuxed) = this.demuxed.as_mut() else {
                return Poll::Ready(None);
            };
            match demuxed.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(item))) => {
                    this.on_item(item);
                    // A server may keep sending RTCP with no media: that is idle too.
                    if this.pending.is_empty() && Instant::now() >= this.idle.deadline() {
                        return Poll::Ready(Some(this.idle_end()));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let reason = Error::from_retina(&this.url, "streaming", e);
                    return Poll::Ready(Some(this.end(reason)));
                }
                Poll::Ready(None) => {
                    let reason = Error::ServerClosed {
                        url: this.url.clone(),
                        frames: this.frames,
                    };
                    return Poll::Ready(Some(this.end(reason)));
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(this.idle_end()));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Waits for the group's pending `TEARDOWN`s, at most `timeout`.
pub(crate) async fn teardown_group(
    group: &SessionGroup,
    url: &str,
    timeout: Duration,
) -> Result<(), Error> {
    match tokio::time::timeout(timeout, group.await_teardown()).await {
        Ok(Ok(())) => Ok(()),
        // A server that died refuses the TEARDOWN connection: nothing is left to clean.
        Ok(Err(e)) => {
            tracing::debug!(url = %url, "TEARDOWN failed: {e}");
            Err(Error::from_retina(url, "TEARDOWN", e))
        }
        Err(_) => Err(Error::TeardownTimeout {
            url: url.to_owned(),
            timeout,
        }),
    }
}

fn teardown(p: Teardown) -> retina::client::TeardownPolicy {
    use retina::client::TeardownPolicy as T;
    match p {
        Teardown::Always => T::Always,
        Teardown::Never => T::Never,
        _ => T::Auto,
    }
}

fn session_id(p: SessionIdPolicy) -> retina::client::SessionIdPolicy {
    use retina::client::SessionIdPolicy as S;
    match p {
        SessionIdPolicy::RequireMatch => S::RequireMatch,
        SessionIdPolicy::UseFirst => S::UseFirst,
        _ => S::Default,
    }
}

fn initial_timestamp(p: InitialTimestamp) -> retina::client::InitialTimestampPolicy {
    use retina::client::InitialTimestampPolicy as I;
    match p {
        InitialTimestamp::Require => I::Require,
        InitialTimestamp::Ignore => I::Ignore,
        InitialTimestamp::Permissive => I::Permissive,
        _ => I::Default,
    }
}

fn unknown_rtcp_ssrc(p: UnknownRtcpSsrc) -> retina::client::UnknownRtcpSsrcPolicy {
    use retina::client::UnknownRtcpSsrcPolicy as U;
    match p {
        UnknownRtcpSsrc::AbortSession => U::AbortSession,
        UnknownRtcpSsrc::DropPackets => U::DropPackets,
        UnknownRtcpSsrc::ProcessPackets => U::ProcessPackets,
        _ => U::Default,
    }
}
