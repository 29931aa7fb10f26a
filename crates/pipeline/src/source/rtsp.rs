//! RTSP input: `rtsp_source`'s events converted to neutral tracks and packets.
//!
//! Without rotation one session is recorded and its end ends the recording (the server
//! closing the stream is a normal end, any other cause an error). With rotation
//! (`--segment`) the reconnecting supervisor keeps going and each reconnection becomes an
//! [`InputEvent::Discontinuity`] (a new file). A jump of a track's RTP timestamps within a
//! session (the camera restarted its encoder) is re-based by `rtsp_source`, so the file
//! goes on; it becomes an [`InputEvent::TimestampJump`] (a new file only when rotating).
//! Decode times and composition offsets (B-frames) come from `rtsp_source` as they are.
//!
//! Until every recorded track is known (a video track waits for its parameter sets, which
//! many cameras send only in-band with the first key frame), video frames are dropped:
//! nothing can decode them. Audio frames of that time are kept, the last
//! [`EARLY_AUDIO_FRAMES`], and sent just after the track list: the one that covers the
//! first picture's instant (a G.711 camera's frame may hold 128 ms) would otherwise be
//! lost, and the file's audio would start up to a frame after its picture.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use rtsp_source::{
    Event, Frame, ReconnectOptions, ReconnectingSource, RtspOptions, StreamSelection, TrackInfo,
};
use tokio::sync::{mpsc, watch};

use crate::burst::after_pause;
use crate::contract::InputEvent;
use crate::{Codec, MediaKind, Packet, Track};
use crate::{Error, Options, SecretUrl};

pub(crate) async fn run(
    url: &SecretUrl,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
    pause: Option<Duration>,
) -> Result<(), Error> {
    let reconnect = options.segment.is_some();
    let mut source =
        ReconnectingSource::new(rtsp_options(url, options)?, ReconnectOptions::default());
    let stopper = source.stop_handle();
    // The supervisor's own stop path tears the session down gracefully; dropping a
    // `next_event` future half-way (a `select!`) would not. So a side task forwards the
    // pipeline's stop, and the loop below always runs `next_event` to completion.
    let forward = {
        let stopper = stopper.clone();
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                stopper.stop(); // TEARDOWN, then `Stopped`
            }
        })
    };
    // G.711 becomes a track only when the output plays it or it can be transcoded
    // (`codec` feature); MP4 players do not take it.
    let g711 = options.g711_tracks;
    let mut tracks = TrackMap::new(g711);
    let mut end = Ok(());
    while let Some(event) = after_pause(source.next_event(), pause).await {
        let sent = match event {
            Event::Connected { session, .. } => {
                tracing::debug!(url = %url, session, "connected");
                true
            }
            Event::Tracks(t) => match tracks.reset(&t.tracks) {
                Some(list) => announce(tx, list, &mut tracks).await,
                None => true,
            },
            Event::TrackUpdated(info) => match tracks.update(&info) {
                Update::Known(index, track) => tx
                    .send(InputEvent::TrackUpdated { index, track })
                    .await
                    .is_ok(),
                Update::NowComplete(list) => announce(tx, list, &mut tracks).await,
                Update::Ignored => true,
            },
            Event::Frame(frame) => {
                let loss = frame.loss;
                let mut ok = loss == 0 || tx.send(InputEvent::Loss(u64::from(loss))).await.is_ok();
                if let Some(packet) = tracks.packet(&frame) {
                    ok &= tx
                        .send(InputEvent::Packet(packet, frame.received_wall))
                        .await
                        .is_ok();
                }
                ok
            }
            Event::TimestampJump { track, .. } => match tracks.index_of(track) {
                // rtsp-source logged it with its size and re-based the track's time.
                Some(index) => tx
                    .send(InputEvent::TimestampJump { track: index })
                    .await
                    .is_ok(),
                None => true,
            },
            Event::Discontinuity { session } => {
                tracing::info!(session, "reconnected: a new file starts");
                tracks = TrackMap::new(g711);
                tx.send(InputEvent::Discontinuity).await.is_ok()
            }
            Event::Disconnected { reason, frames } => {
                if reconnect {
                    tracing::warn!(frames, "disconnected: {reason}; reconnecting");
                } else {
                    if !matches!(reason, rtsp_source::Error::ServerClosed { .. }) {
                        end = Err(Error::Rtsp(reason));
                    }
                    stopper.stop();
                }
                true
            }
            Event::ConnectFailed { reason, attempt } => {
                if reconnect {
                    tracing::warn!(attempt, "connecting failed: {reason}");
                } else {
                    end = Err(Error::Rtsp(reason));
                    stopper.stop();
                }
                true
            }
            Event::Reconnecting { attempt, delay } => {
                tracing::debug!(attempt, ?delay, "reconnecting");
                true
            }
            Event::Stopped { reason } => {
                if let Some(reason) = reason {
                    end = Err(Error::Rtsp(reason));
                }
                break;
            }
            other => {
                tracing::debug!(?other, "ignored");
                true
            }
        };
        if !sent {
            // The recorder is done (duration reached, killed): tear down and stop.
            stopper.stop();
        }
    }
    forward.abort();
    if let Err(e) = source.await_teardown().await {
        tracing::debug!("teardown: {e}");
    }
    end
}

/// Sends the track list, then the audio kept while it was incomplete.
async fn announce(tx: &mpsc::Sender<InputEvent>, list: Vec<Track>, tracks: &mut TrackMap) -> bool {
    if tx.send(InputEvent::Tracks(list)).await.is_err() {
        return false;
    }
    for (packet, wall) in tracks.take_early() {
        if tx.send(InputEvent::Packet(packet, wall)).await.is_err() {
            return false;
        }
    }
    true
}

fn rtsp_options(url: &SecretUrl, options: &Options) -> Result<RtspOptions, Error> {
    let r = &options.rtsp;
    let mut o = RtspOptions::new(url.expose())?
        .transport(r.transport)
        .teardown(r.teardown)
        .initial_timestamp(r.initial_timestamp)
        .allow_loss(r.allow_loss);
    if let Some(user) = &r.user {
        o = o.credentials(user, r.password.as_deref().unwrap_or(""));
    }
    let mut selection = StreamSelection::default();
    if !options.video {
        selection.video = rtsp_source::Pick::Off;
    }
    if !options.audio {
        selection.audio = rtsp_source::Pick::Off;
    }
    Ok(o.select(selection))
}

/// The session's tracks as neutral [`Track`]s, and which RTSP track goes where.
#[derive(Debug, Default)]
struct TrackMap {
    /// Per RTSP track: its neutral index and description once known.
    slots: Vec<Slot>,
    /// Whether [`InputEvent::Tracks`] was sent for this session.
    announced: bool,
    /// Whether G.711 tracks are kept (for the transcoding stage) rather than skipped.
    g711: bool,
    /// Audio that came before the track list was complete.
    early: EarlyAudio,
}

/// Audio frames kept while the track list is incomplete, at most this many (the newest):
/// 4 s of a G.711 camera's 128 ms frames, 0.64 s of 20 ms ones. Only the frame that covers
/// the first key frame's instant ends up in the file (the recorder's lead-in); the count
/// leaves room for audio that arrives ahead of the video.
const EARLY_AUDIO_FRAMES: usize = 32;

/// A bounded queue of early audio packets, indexed by RTSP track until the neutral
/// indices are known.
#[derive(Debug, Default)]
struct EarlyAudio(VecDeque<(Packet, SystemTime)>);

impl EarlyAudio {
    fn push(&mut self, packet: Packet, wall: SystemTime) {
        if self.0.len() == EARLY_AUDIO_FRAMES {
            self.0.pop_front();
        }
        self.0.push_back((packet, wall));
    }

    /// The packets in arrival order, their RTSP track index mapped to the neutral one
    /// (a track without one drops its packets).
    fn take(&mut self, index_of: impl Fn(usize) -> Option<usize>) -> Vec<(Packet, SystemTime)> {
        self.0
            .drain(..)
            .filter_map(|(mut packet, wall)| {
                packet.track = index_of(packet.track)?;
                Some((packet, wall))
            })
            .collect()
    }
}

#[derive(Debug)]
enum Slot {
    /// Recorded as this neutral track.
    Track(Track),
    /// A video track whose parameters have not arrived yet.
    Waiting,
    /// Not recordable (no MP4 sample entry).
    Skipped,
}

enum Update {
    Known(usize, Track),
    NowComplete(Vec<Track>),
    Ignored,
}

impl TrackMap {
    fn new(g711: bool) -> TrackMap {
        TrackMap {
            g711,
            ..TrackMap::default()
        }
    }

    fn reset(&mut self, infos: &[TrackInfo]) -> Option<Vec<Track>> {
        self.slots = infos.iter().map(|i| slot(i, self.g711)).collect();
        self.announced = false;
        self.early = EarlyAudio::default();
        self.complete()
    }

    fn update(&mut self, info: &TrackInfo) -> Update {
        let Some(s) = self.slots.get_mut(info.index) else {
            return Update::Ignored;
        };
        *s = slot(info, self.g711);
        if self.announced {
            match (self.index_of(info.index), &self.slots[info.index]) {
                (Some(i), Slot::Track(t)) => Update::Known(i, t.clone()),
                _ => Update::Ignored,
            }
        } else {
            self.complete().map_or(Update::Ignored, Update::NowComplete)
        }
    }

    /// The track list, once no recorded track waits for its parameters.
    fn complete(&mut self) -> Option<Vec<Track>> {
        if self.slots.iter().any(|s| matches!(s, Slot::Waiting)) {
            return None;
        }
        self.announced = true;
        Some(
            self.slots
                .iter()
                .filter_map(|s| match s {
                    Slot::Track(t) => Some(t.clone()),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Neutral index of RTSP track `rtsp_index`.
    fn index_of(&self, rtsp_index: usize) -> Option<usize> {
        match self.slots.get(rtsp_index)? {
            Slot::Track(_) => Some(
                self.slots[..rtsp_index]
                    .iter()
                    .filter(|s| matches!(s, Slot::Track(_)))
                    .count(),
            ),
            _ => None,
        }
    }

    /// The audio kept before the track list was sent, now with neutral indices.
    fn take_early(&mut self) -> Vec<(Packet, SystemTime)> {
        let mut early = std::mem::take(&mut self.early);
        early.take(|rtsp_index| self.index_of(rtsp_index))
    }

    /// The frame as a packet of its neutral track; `None` for a frame not recorded and
    /// for every frame before the track list is complete (audio ones are kept for then).
    fn packet(&mut self, frame: &Frame) -> Option<Packet> {
        if !self.announced {
            if let Some(Slot::Track(t)) = self.slots.get(frame.track)
                && t.kind == MediaKind::Audio
            {
                let packet = Self::convert(frame.track, frame);
                self.early.push(packet, frame.received_wall);
            }
            return None;
        }
        let track = self.index_of(frame.track)?;
        Some(Self::convert(track, frame))
    }

    fn convert(track: usize, frame: &Frame) -> Packet {
        Packet::new(
            track,
            frame.decode_timestamp,
            frame.keyframe,
            frame.data.clone(),
        )
        // B-frames: shown after frames decoded later. Offsets beyond i32 (over six
        // hours at 90 kHz) cannot be real reordering; they are clamped, not wrapped.
        .with_cts_offset(
            frame
                .composition_offset()
                .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        )
        .with_duration(frame.duration)
    }
}

fn slot(info: &TrackInfo, g711: bool) -> Slot {
    if g711 && let Some(track) = g711_track(info) {
        return Slot::Track(track);
    }
    let video = |codec| match &info.video {
        Some(v) => {
            let mut t = Track::video(codec, info.clock_rate, v.width, v.height);
            t.pixel_aspect = v.pixel_aspect_ratio;
            Slot::Track(t)
        }
        None => Slot::Waiting,
    };
    let config = || {
        info.video
            .as_ref()
            .map(|v| v.decoder_config.clone())
            .unwrap_or_default()
    };
    match info.codec {
        rtsp_source::Codec::H264 => video(Codec::H264 { config: config() }),
        rtsp_source::Codec::H265 => video(Codec::H265 { config: config() }),
        rtsp_source::Codec::Aac => match &info.audio {
            Some(a) => match &a.audio_specific_config {
                Some(asc) => Slot::Track(
                    Track::audio(
                        Codec::Aac {
                            config: asc.clone(),
                        },
                        a.sample_rate,
                        a.channels,
                    )
                    .with_timescale(info.clock_rate),
                ),
                None => Slot::Skipped,
            },
            None => Slot::Skipped,
        },
        _ => match &info.sample_entry {
            Some(entry) => {
                let codec = Codec::SampleEntry {
                    entry: entry.clone(),
                };
                match (info.kind, &info.video, &info.audio) {
                    (rtsp_source::MediaKind::Video, Some(v), _) => {
                        Slot::Track(Track::video(codec, info.clock_rate, v.width, v.height))
                    }
                    (rtsp_source::MediaKind::Video, None, _) => Slot::Waiting,
                    (rtsp_source::MediaKind::Audio, _, audio) => {
                        let (rate, channels) = audio
                            .as_ref()
                            .map_or((info.clock_rate, 1), |a| (a.sample_rate, a.channels));
                        let mut t =
                            Track::audio(codec, rate, channels).with_timescale(info.clock_rate);
                        t.kind = MediaKind::Audio;
                        Slot::Track(t)
                    }
                    (other, _, _) => {
                        tracing::warn!("RTSP track of kind {other:?} left out");
                        Slot::Skipped
                    }
                }
            }
            None => {
                tracing::warn!(
                    track = info.index,
                    encoding = %info.encoding_name,
                    "not recorded: {}",
                    info.sample_entry_missing.as_deref().unwrap_or("no MP4 sample entry")
                );
                Slot::Skipped
            }
        },
    }
}

/// A G.711 track (`media_core::G711`), for an output that plays it (WebRTC, raw
/// packets) or the transcoding stage.
fn g711_track(info: &TrackInfo) -> Option<Track> {
    let law = match info.codec {
        rtsp_source::Codec::Pcma => media_core::G711Law::ALaw,
        rtsp_source::Codec::Pcmu => media_core::G711Law::MuLaw,
        _ => return None,
    };
    let (rate, channels) = info
        .audio
        .as_ref()
        .map_or((info.clock_rate, 1), |a| (a.sample_rate, a.channels));
    let codec = media_core::G711::new(law, rate, channels).codec();
    Some(Track::audio(codec, rate, channels).with_timescale(info.clock_rate))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn early_audio_is_bounded_and_released_on_its_neutral_track() {
        let mut early = EarlyAudio::default();
        for i in 0..EARLY_AUDIO_FRAMES as i64 + 5 {
            // RTSP track 1 (behind a video track) and RTSP track 2, left out.
            let track = if i % 2 == 0 { 1 } else { 2 };
            early.push(
                Packet::new(track, i * 1024, true, Bytes::from_static(b"a")),
                UNIX_EPOCH,
            );
        }
        let released = early.take(|rtsp| (rtsp == 1).then_some(0));
        // The oldest 5 went; of the newest 32, the 16 of track 1 remain, now track 0.
        assert_eq!(released.len(), EARLY_AUDIO_FRAMES / 2);
        assert_eq!(released[0].0.dts, 6 * 1024, "the newest are kept");
        assert!(released.iter().all(|(p, _)| p.track == 0));
        assert!(early.take(|_| Some(0)).is_empty(), "taken once");
    }
}
