//! RTSP input: `rtsp_source`'s events converted to neutral tracks and packets.
//!
//! Without rotation one session is recorded and its end ends the recording (the server
//! closing the stream is a normal end, any other cause an error). With rotation
//! (`--segment`) the reconnecting supervisor keeps going and each reconnection becomes an
//! [`InputEvent::Discontinuity`] (a new file). A jump of a track's RTP timestamps within a
//! session (the camera restarted its encoder) is re-based by `rtsp_source`, so the file
//! goes on; it becomes an [`InputEvent::TimestampJump`] (a new file only when rotating).
//! Decode times and composition offsets (B-frames) come from `rtsp_source` as they are.

use std::time::Duration;

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
    // G.711 becomes a track only when it can be transcoded (`codec` feature).
    let g711 = options.transcoding.active();
    let mut tracks = TrackMap::new(g711);
    let mut end = Ok(());
    while let Some(event) = after_pause(source.next_event(), pause).await {
        let sent = match event {
            Event::Connected { session, .. } => {
                tracing::debug!(url = %url, session, "connected");
                true
            }
            Event::Tracks(t) => match tracks.reset(&t.tracks) {
                Some(list) => tx.send(InputEvent::Tracks(list)).await.is_ok(),
                None => true,
            },
            Event::TrackUpdated(info) => match tracks.update(&info) {
                Update::Known(index, track) => tx
                    .send(InputEvent::TrackUpdated { index, track })
                    .await
                    .is_ok(),
                Update::NowComplete(list) => tx.send(InputEvent::Tracks(list)).await.is_ok(),
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

    fn packet(&self, frame: &Frame) -> Option<Packet> {
        if !self.announced {
            return None;
        }
        let track = self.index_of(frame.track)?;
        Some(
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
            .with_duration(frame.duration),
        )
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

/// A G.711 track as media-codec describes it (for the transcoding stage).
#[cfg(feature = "codec")]
fn g711_track(info: &TrackInfo) -> Option<Track> {
    let law = match info.codec {
        rtsp_source::Codec::Pcma => media_codec::G711Law::ALaw,
        rtsp_source::Codec::Pcmu => media_codec::G711Law::MuLaw,
        _ => return None,
    };
    let (rate, channels) = info
        .audio
        .as_ref()
        .map_or((info.clock_rate, 1), |a| (a.sample_rate, a.channels));
    let codec = media_codec::g711_codec(law, rate, channels);
    Some(Track::audio(codec, rate, channels).with_timescale(info.clock_rate))
}

#[cfg(not(feature = "codec"))]
fn g711_track(_: &TrackInfo) -> Option<Track> {
    None
}
