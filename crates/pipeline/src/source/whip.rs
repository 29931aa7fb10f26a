//! `whip-listen://[addr]:port/path`: a WHIP server ([`whip_whep::WhipServer`]) that a
//! browser, OBS or ffmpeg publishes to at `http://addr:port/path/whip` (the publisher
//! page at `http://addr:port/path`). Its H.264, VP8, VP9 or AV1 and Opus tracks become
//! the pipeline's tracks; the input ends when the publisher leaves, so a recording is one
//! publish.
//!
//! The tracks are announced at the first H.264 key frame with its parameter sets, or
//! the first VP8/VP9/AV1 key frame (its header, for AV1 its sequence header OBU, gives
//! the picture size and the configuration record; the server asks the publisher for
//! one by PLI), or after 2 s of audio without video. Each track's times are its RTP
//! times from its first frame, offset by when that frame arrived, so audio and video
//! share one origin. RTP times are presentation times: an H.264 or H.265 publisher that
//! sends B-frames (ffmpeg, our `whip://` output from a file) gets decode times derived as
//! an RTSP camera's are (`rtsp_source::timeline`) and composition offsets.

use std::time::{Duration, Instant, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use elementary::VideoCodec;
use rtsp_source::timeline::TrackTimeline;
use tokio::sync::{mpsc, watch};
use whip_whep::{PublishedCodec, ReceivedFrame, TrackKind, WhipServer, WhipSettings};

use crate::contract::InputEvent;
use crate::{Codec, Error, Options, Packet, Track};

/// Per track of the pipeline: index, first RTP time and its offset in ticks; for H.264
/// and H.265, the decode times (see [`TrackTimeline`]).
struct Timing {
    index: usize,
    first_rtp: Option<u64>,
    offset: i64,
    timeline: Option<TrackTimeline>,
}

impl Timing {
    fn new(index: usize) -> Timing {
        Timing {
            index,
            first_rtp: None,
            offset: 0,
            timeline: None,
        }
    }
}

/// Added to every track's times, so that the first decode times of a stream with B-frames,
/// placed before their presentation, stay positive (as the RTP input does).
const LEAD_SECONDS: f64 = 1.0;

pub(crate) struct Publish {
    started: Instant,
    /// Whether an audio track is announced (a WHEP answer may have rejected audio).
    audio_expected: bool,
    sets: elementary::ParameterSets,
    video: Option<Timing>,
    audio: Option<Timing>,
    announced: bool,
    pending_audio: Vec<(ReceivedFrame, Instant)>,
}

pub(crate) async fn run(
    addr: &str,
    path: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let endpoint = format!("whip-listen://{addr}/{path}");
    let mut settings = WhipSettings::default();
    settings.token = options.remote.token.clone();
    let mut server = WhipServer::bind(addr, path, settings).map_err(|source| Error::Webrtc {
        endpoint: endpoint.clone(),
        source,
    })?;
    tracing::info!(
        "whip-listen: WHIP at {}, publisher page at http://{}/{}",
        server.endpoint_url(),
        server.local_addr(),
        path
    );
    let mut publish: Option<Publish> = None;
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return Ok(()),
            // A WHEP viewer of this pipeline asked for a key frame: ask the publisher.
            _ = options.keyframe_requests.asked() => {
                server.request_keyframe();
                continue;
            }
            e = server.next() => e,
        };
        match event {
            None => return Ok(()),
            Some(whip_whep::Published::Started) => publish = Some(Publish::new(true)),
            Some(whip_whep::Published::Frame(frame)) => {
                if let Some(p) = publish.as_mut() {
                    p.take(frame, &endpoint, tx).await?;
                }
            }
            Some(whip_whep::Published::Ended) => {
                if publish.as_ref().is_some_and(|p| p.announced) {
                    return Ok(());
                }
                publish = None;
            }
            Some(_) => {}
        }
    }
}

impl Publish {
    /// Frames of a session that started now.
    pub(crate) fn new(audio_expected: bool) -> Publish {
        Publish {
            started: Instant::now(),
            audio_expected,
            sets: elementary::ParameterSets::default(),
            video: None,
            audio: None,
            announced: false,
            pending_audio: Vec::new(),
        }
    }

    /// Takes a frame: the tracks are announced at the first key frame with its
    /// parameter sets (or after 2 s of audio alone), then packets follow.
    pub(crate) async fn take(
        &mut self,
        frame: ReceivedFrame,
        endpoint: &str,
        tx: &mpsc::Sender<InputEvent>,
    ) -> Result<(), Error> {
        let now = Instant::now();
        match (frame.track, frame.codec) {
            (TrackKind::Video, codec @ (PublishedCodec::H264 | PublishedCodec::H265)) => {
                let nal_codec = match codec {
                    PublishedCodec::H264 => VideoCodec::H264,
                    _ => VideoCodec::H265,
                };
                let nals: Vec<Bytes> = whip_whep::split_annex_b(&frame.data)
                    .map(|n| frame.data.slice_ref(n))
                    .collect();
                for nal in &nals {
                    self.sets.take(nal_codec, nal);
                }
                if !self.announced {
                    if !frame.keyframe || !self.sets.complete(nal_codec) {
                        return Ok(());
                    }
                    let track = self.nal_track(nal_codec, endpoint)?;
                    self.announce(Some(track), tx).await?;
                    if let Some(t) = self.video.as_mut() {
                        let sps = self.sets.sps.first().map(|sps| &sps[..]);
                        t.timeline = Some(super::video_timeline(nal_codec, sps, 90_000));
                    }
                }
                let Some(t) = self.video.as_mut() else {
                    return Ok(());
                };
                // Parameter sets and delimiters stay out of the samples (they are in the
                // record; a new SPS would update the track).
                let delimiter = |n: &Bytes| {
                    matches!(
                        (nal_codec, nal_codec.nal_type(n)),
                        (VideoCodec::H264, Some(9)) | (VideoCodec::H265, Some(35))
                    )
                };
                let mut sample = BytesMut::new();
                for nal in nals
                    .iter()
                    .filter(|n| !nal_codec.is_parameter_set(n) && !delimiter(n))
                {
                    sample.put_u32(nal.len() as u32);
                    sample.put_slice(nal);
                }
                if sample.is_empty() {
                    return Ok(());
                }
                // RTP times are presentation times, frames come in decode order: with
                // B-frames the decode times are derived, as for an RTSP camera.
                let pts = time(t, &frame, self.started, now);
                let (dts, cts, jump) = match t.timeline.as_mut() {
                    Some(timeline) => {
                        let timing = timeline.push(pts, now);
                        let cts = i32::try_from(timing.presentation - timing.decode).unwrap_or(0);
                        (timing.decode, cts, timing.jump.is_some())
                    }
                    None => (pts, 0, false),
                };
                if jump {
                    send(tx, InputEvent::TimestampJump { track: t.index }).await?;
                }
                let packet = Packet::new(t.index, dts, frame.keyframe, sample.freeze());
                let packet = packet.with_cts_offset(cts);
                send(tx, InputEvent::Packet(packet, SystemTime::now())).await
            }
            (
                TrackKind::Video,
                codec @ (PublishedCodec::Vp8 | PublishedCodec::Vp9 | PublishedCodec::Av1),
            ) => {
                if !self.announced {
                    // The track starts at a key frame, which says what the track is.
                    let Some(track) = frame
                        .keyframe
                        .then(|| key_frame_track(codec, &frame.data))
                        .flatten()
                    else {
                        return Ok(());
                    };
                    self.announce(Some(track), tx).await?;
                }
                let Some(t) = self.video.as_mut() else {
                    return Ok(());
                };
                let dts = time(t, &frame, self.started, now);
                let packet = Packet::new(t.index, dts, frame.keyframe, frame.data);
                send(tx, InputEvent::Packet(packet, SystemTime::now())).await
            }
            (TrackKind::Audio, PublishedCodec::Opus) => {
                if !self.announced {
                    self.pending_audio.push((frame, now));
                    if self.started.elapsed() > Duration::from_secs(2) {
                        // No video: an audio-only publish.
                        self.announce(None, tx).await?;
                        for (f, at) in std::mem::take(&mut self.pending_audio) {
                            self.audio_packet(f, at, tx).await?;
                        }
                    }
                    return Ok(());
                }
                self.audio_packet(frame, now, tx).await
            }
            (TrackKind::Video, codec) => Err(Error::Input {
                input: endpoint.to_owned(),
                reason: format!(
                    "{codec:?} video cannot be carried yet (publish H.264, H.265, VP8, VP9 or AV1)"
                ),
            }),
            _ => Ok(()),
        }
    }

    async fn audio_packet(
        &mut self,
        frame: ReceivedFrame,
        at: Instant,
        tx: &mpsc::Sender<InputEvent>,
    ) -> Result<(), Error> {
        let started = self.started;
        let Some(t) = self.audio.as_mut() else {
            return Ok(());
        };
        let dts = time(t, &frame, started, at);
        let mut packet = Packet::new(t.index, dts, true, frame.data.clone());
        packet.duration = elementary::opus_packet_samples(&frame.data);
        send(tx, InputEvent::Packet(packet, SystemTime::now())).await
    }

    /// The H.264 track its parameter sets describe.
    /// The H.264 or H.265 track of the parameter sets gathered so far.
    fn nal_track(&self, codec: VideoCodec, endpoint: &str) -> Result<Track, Error> {
        let bad = |e: elementary::Error| Error::Input {
            input: endpoint.to_owned(),
            reason: format!("the publisher's {codec:?} parameter sets: {e}"),
        };
        let record = elementary::record(codec, &self.sets).map_err(bad)?;
        let sps = self.sets.sps.first().cloned().unwrap_or_default();
        let info = elementary::sps_info(codec, &sps).map_err(bad)?;
        let config = match codec {
            VideoCodec::H264 => Codec::H264 { config: record },
            _ => Codec::H265 { config: record },
        };
        Ok(Track::video(config, 90_000, info.width, info.height))
    }

    /// Announces the video track (if any) and the Opus track.
    async fn announce(
        &mut self,
        video: Option<Track>,
        tx: &mpsc::Sender<InputEvent>,
    ) -> Result<(), Error> {
        let mut tracks = Vec::new();
        let has_video = video.is_some();
        if let Some(track) = video {
            self.video = Some(Timing::new(tracks.len()));
            tracks.push(track);
        }
        // The Opus track when the session has audio, or when there is nothing else.
        if self.audio_expected || !has_video {
            self.audio = Some(Timing::new(tracks.len()));
            tracks.push(Track::audio(
                Codec::Opus {
                    head: elementary::opus_head(2, 0),
                },
                48_000,
                2,
            ));
        }
        self.announced = true;
        self.started = Instant::now();
        send(tx, InputEvent::Tracks(tracks)).await
    }
}

/// The track a VP8, VP9 or AV1 key frame starts: its picture size and, for VP9 and AV1,
/// the decoder configuration its header (AV1: its sequence header OBU) gives.
fn key_frame_track(codec: PublishedCodec, data: &[u8]) -> Option<Track> {
    let (codec, width, height) = match codec {
        PublishedCodec::Vp8 => {
            let (width, height) = elementary::vp8_key_frame_size(data)?;
            (Codec::Vp8, width, height)
        }
        PublishedCodec::Vp9 => {
            let key = elementary::vp9_key_frame(data)?;
            let config = key.record();
            (Codec::Vp9 { config }, key.width, key.height)
        }
        PublishedCodec::Av1 => {
            let sequence = elementary::av1_sequence_header(data)?;
            let config = sequence.record();
            (Codec::Av1 { config }, sequence.width, sequence.height)
        }
        _ => return None,
    };
    Some(Track::video(codec, 90_000, width, height))
}

/// A frame's time on its track: RTP time since the track's first frame, plus when that
/// first frame arrived after the publish's origin.
fn time(t: &mut Timing, frame: &ReceivedFrame, origin: Instant, at: Instant) -> i64 {
    let first = *t.first_rtp.get_or_insert_with(|| {
        let since = at.saturating_duration_since(origin).as_secs_f64() + LEAD_SECONDS;
        t.offset = (since * f64::from(frame.clock_rate)) as i64;
        frame.rtp_time
    });
    frame.rtp_time.wrapping_sub(first) as i64 + t.offset
}

async fn send(tx: &mpsc::Sender<InputEvent>, event: InputEvent) -> Result<(), Error> {
    tx.send(event).await.map_err(|_| Error::Input {
        input: "whip-listen".into(),
        reason: "the pipeline stopped".into(),
    })
}
