//! `whip://host:port/path`: pushes the stream to a WHIP server (ours, MediaMTX, a
//! service) at `http://host:port/path` with [`whip_whep::WhipPush`]. The tracks go as
//! `whep-listen://` sends them (see [`super::whep`]): H.264 as Annex B with the
//! parameter sets before key frames and the SPS's profile-level-id in the offer, VP8,
//! VP9, AV1 and Opus as they are; AAC gets one log line and the video goes on alone. The bearer token is
//! `Options::remote.token` (`--token`).
//!
//! The session starts when the tracks are known (the offer names their codecs): the
//! signalling and ICE/DTLS are waited for on the recorder's thread (at most twice the
//! client's 10 s timeout), so a refusal fails the pipeline at once with the server's
//! status and one-line reason. Frames then go through a bounded queue (the wait is the
//! backpressure); at the end the session is closed and DELETEd.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::runtime::Handle;
use whip_whep::{ClientSettings, Frame, TrackKind, WhipPush};

use super::whep::{Selection, TAKES, profile_level_id, rtp_time, select, video_payload};
use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Options, Packet, Track};

pub(crate) fn factory(url: &str, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    let endpoint = format!("whip{}", url.strip_prefix("http").unwrap_or(url));
    let runtime = Handle::try_current().map_err(|e| Error::Output {
        output: endpoint.clone(),
        reason: format!("needs a tokio runtime: {e}"),
    })?;
    let mut settings = ClientSettings::default();
    settings.token = options.remote.token.clone();
    Ok(Box::new(WhipFactory {
        url: url.to_owned(),
        endpoint,
        settings,
        runtime,
    }))
}

struct WhipFactory {
    url: String,
    endpoint: String,
    settings: ClientSettings,
    runtime: Handle,
}

impl SinkFactory for WhipFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        let s = select(tracks, Some("whip"));
        if s.video.is_none() && s.audio.is_none() {
            let found = tracks
                .iter()
                .enumerate()
                .map(|(i, t)| describe(i, t))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::Misfit {
                endpoint: self.endpoint.clone(),
                takes: TAKES.into(),
                found,
            });
        }
        Ok(())
    }

    #[cfg(feature = "codec")]
    fn left_out(&self, tracks: &[Track]) -> Vec<usize> {
        super::whep::left_out(tracks)
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let selection = select(tracks, None);
        // On the recorder's blocking thread: waiting here is allowed.
        let push = self
            .runtime
            .block_on(WhipPush::connect(
                &self.url,
                selection.codecs,
                self.settings.clone(),
            ))
            .map_err(|source| Error::Webrtc {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        tracing::info!("{}: publishing", self.endpoint);
        Ok(Box::new(WhipSink {
            push: Some(push),
            selection,
            endpoint: self.endpoint.clone(),
            runtime: self.runtime.clone(),
        }))
    }
}

struct WhipSink {
    push: Option<WhipPush>,
    selection: Selection,
    endpoint: String,
    runtime: Handle,
}

impl WhipSink {
    fn send(&self, frame: Frame) -> Result<(), Error> {
        let Some(push) = &self.push else {
            return Ok(());
        };
        push.blocking_send(frame).map_err(|source| Error::Webrtc {
            endpoint: self.endpoint.clone(),
            source,
        })
    }
}

impl Sink for WhipSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let pts = packet.dts + i64::from(packet.cts_offset);
        if let Some((index, writer, timescale)) = &self.selection.video
            && packet.track == *index
        {
            let data = video_payload(writer.as_ref(), &packet).map_err(|e| Error::Output {
                output: self.endpoint.clone(),
                reason: e.to_string(),
            })?;
            let rtp = rtp_time(pts, *timescale, 90_000);
            return self.send(Frame::new(TrackKind::Video, rtp, packet.keyframe, data));
        }
        if let Some((index, timescale)) = self.selection.audio
            && packet.track == index
        {
            // Opus's RTP clock is 48 kHz, G.711's 8 kHz.
            let clock = self
                .selection
                .codecs
                .audio
                .map_or(48_000, |a| a.clock_rate());
            let rtp = rtp_time(pts, timescale, clock);
            let data: Arc<[u8]> = Arc::from(&packet.data[..]);
            return self.send(Frame::new(TrackKind::Audio, rtp, true, data));
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        if let (Some((index, Some(writer), _)), media_core::Codec::H264 { config: avcc }) =
            (&mut self.selection.video, &config.codec)
            && *index == track
        {
            // The new parameter sets go in band before the next key frame; a new
            // profile would need a new offer (not done: the session goes on).
            let _ = writer.set_record(avcc);
            if profile_level_id(avcc).is_none() {
                tracing::warn!("{}: the new H.264 record has no profile", self.endpoint);
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Option<std::path::PathBuf>, Error> {
        if let Some(push) = self.push.take() {
            self.runtime
                .block_on(push.close())
                .map_err(|source| Error::Webrtc {
                    endpoint: self.endpoint.clone(),
                    source,
                })?;
            tracing::info!("{}: finished", self.endpoint);
        }
        Ok(None)
    }
}
