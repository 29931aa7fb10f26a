//! `whep-listen://[addr]:port/path`: a WHEP server ([`whip_whep::WhepServer`]) that
//! browsers watch; `GET http://addr:port/path` is the player page. Each recording of the
//! recorder is a stretch of the stream; the server lives as long as the pipeline.
//!
//! Codecs are passed through: H.264 (as Annex B, parameter sets before key frames;
//! profile-level-id from the SPS), VP8, VP9 and AV1 (frames as they are) and Opus. AAC
//! cannot go to WebRTC as it is: with transcoding (`codec` feature, `if-needed`) it becomes
//! Opus (`left_out` tells the transcoder); without, one log line, and the video goes on
//! alone.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use media_core::{Codec, G711, G711Law, MediaKind};
use whip_whep::{Frame, StreamCodecs, TrackKind, VideoCodec, WhepServer, WhepSettings};

use crate::contract::{Sink, SinkFactory, describe};
use crate::{Options, Packet, Track};

/// What `whep-listen://` and `whip://` take, for misfit messages.
pub(crate) const TAKES: &str = "H.264, H.265, VP8, VP9 or AV1 video or Opus or G.711 \
    (8 kHz mono) audio (passed through, not transcoded)";

/// Binds the server; it lives as long as the pipeline.
pub(crate) fn factory(
    addr: &str,
    path: &str,
    options: &Options,
) -> Result<Box<dyn SinkFactory>, crate::Error> {
    let mut settings = WhepSettings::default();
    settings.token = options.remote.token.clone();
    let server = WhepServer::bind(addr, path, settings).map_err(|source| crate::Error::Webrtc {
        endpoint: format!("whep-listen://{addr}/{path}"),
        source,
    })?;
    tracing::info!(
        "whep-listen: WHEP at {}, player page at http://{}/{}",
        server.endpoint_url(),
        server.local_addr(),
        path
    );
    Ok(Box::new(WhepFactory {
        server: Arc::new(server),
        endpoint: format!("whep-listen://{addr}/{path}"),
        keyframe_requests: options.keyframe_requests.clone(),
    }))
}

struct WhepFactory {
    server: Arc<WhepServer>,
    endpoint: String,
    keyframe_requests: crate::contract::KeyframeRequests,
}

/// Which of the recorder's tracks go out, and how (here and in `whip://`): H.264
/// through an Annex B writer (parameter sets before key frames), VP8, VP9 and AV1 as
/// they are (no writer).
pub(crate) struct Selection {
    pub(crate) video: Option<(usize, Option<elementary::AnnexBWriter>, u32)>,
    pub(crate) audio: Option<(usize, u32)>,
    pub(crate) codecs: StreamCodecs,
}

/// `profile-level-id` (RFC 6184 §8.1): bytes 1..4 of the `avcC` record are the SPS's
/// profile_idc, constraint flags and level_idc.
pub(crate) fn profile_level_id(avcc: &[u8]) -> Option<u32> {
    let b = avcc.get(1..4)?;
    Some(u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]))
}

/// `profile-id`, `tier-flag` and `level-id` (RFC 7798 §7.1) from an
/// `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1): byte 1 holds
/// general_profile_space (2 bits), general_tier_flag (1) and general_profile_idc (5);
/// byte 12 is general_level_idc.
pub(crate) fn h265_profile_tier_level(hvcc: &[u8]) -> Option<VideoCodec> {
    let b = *hvcc.get(1)?;
    Some(VideoCodec::H265 {
        profile_id: b & 0x1f,
        tier_flag: b >> 5 & 1,
        level_id: *hvcc.get(12)?,
    })
}

/// For a track of NAL units (H.264, H.265): its decoder record, the Annex B writer's
/// codec, and the codec as the SDP names it (`None` when the record is too short).
fn nal_video(codec: &Codec) -> Option<(&bytes::Bytes, elementary::VideoCodec, Option<VideoCodec>)> {
    match codec {
        Codec::H264 { config } => Some((
            config,
            elementary::VideoCodec::H264,
            profile_level_id(config).map(|plid| VideoCodec::H264 {
                profile_level_id: plid,
            }),
        )),
        Codec::H265 { config } => Some((
            config,
            elementary::VideoCodec::H265,
            h265_profile_tier_level(config),
        )),
        _ => None,
    }
}

/// G.711 as browsers take it (PCMA/PCMU: RTP's 8 kHz mono, payload types 8 and 0).
fn webrtc_g711(codec: &Codec) -> Option<whip_whep::AudioCodec> {
    let g711 = G711::of(codec).filter(|g| g.rate == 8000 && g.channels == 1)?;
    Some(match g711.law {
        G711Law::MuLaw => whip_whep::AudioCodec::Pcmu,
        _ => whip_whep::AudioCodec::Pcma,
    })
}

/// The video and audio tracks [`select`] does not send (for
/// [`crate::contract::SinkFactory::left_out`]).
#[cfg(feature = "codec")]
pub(crate) fn left_out(tracks: &[Track]) -> Vec<usize> {
    let s = select(tracks, None);
    let sent = [s.video.map(|v| v.0), s.audio.map(|a| a.0)];
    tracks
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            matches!(t.kind, MediaKind::Video | MediaKind::Audio) && !sent.contains(&Some(*i))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The tracks that go out; with `log`, one line per track that does not (named by the
/// endpoint's scheme).
pub(crate) fn select(tracks: &[Track], log: Option<&str>) -> Selection {
    let mut s = Selection {
        video: None,
        audio: None,
        codecs: StreamCodecs::default(),
    };
    for (index, track) in tracks.iter().enumerate() {
        match (&track.codec, track.kind) {
            (codec @ (Codec::H264 { .. } | Codec::H265 { .. }), MediaKind::Video)
                if s.video.is_none() =>
            {
                let Some((config, nal_codec, Some(video))) = nal_video(codec) else {
                    continue;
                };
                let Ok(writer) = elementary::AnnexBWriter::new(nal_codec, config) else {
                    continue;
                };
                s.video = Some((index, Some(writer), track.timescale.max(1)));
                s.codecs.video = Some(video);
            }
            (codec @ (Codec::Vp8 | Codec::Vp9 { .. } | Codec::Av1 { .. }), MediaKind::Video)
                if s.video.is_none() =>
            {
                s.video = Some((index, None, track.timescale.max(1)));
                s.codecs.video = Some(match codec {
                    Codec::Vp8 => VideoCodec::Vp8,
                    Codec::Vp9 { .. } => VideoCodec::Vp9,
                    _ => VideoCodec::Av1,
                });
            }
            (Codec::Opus { .. }, MediaKind::Audio) if s.audio.is_none() => {
                s.audio = Some((index, track.timescale.max(1)));
                s.codecs.audio = Some(whip_whep::AudioCodec::Opus);
            }
            // G.711 goes as it is; another rate or a second channel is left out.
            (codec, MediaKind::Audio) if s.audio.is_none() && webrtc_g711(codec).is_some() => {
                s.audio = Some((index, track.timescale.max(1)));
                s.codecs.audio = webrtc_g711(codec);
            }
            (Codec::Aac { .. }, MediaKind::Audio) if log.is_some() => tracing::warn!(
                "{}: {} cannot go to WebRTC without transcoding; sending the video alone",
                log.unwrap_or_default(),
                describe(index, track)
            ),
            _ if log.is_some() => tracing::warn!(
                "{}: {} is not sent (WebRTC takes H.264, H.265, VP8, VP9 or AV1 video and Opus or G.711 audio here)",
                log.unwrap_or_default(),
                describe(index, track)
            ),
            _ => {}
        }
    }
    s
}

impl SinkFactory for WhepFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), crate::Error> {
        let s = select(tracks, Some("whep-listen"));
        if s.video.is_none() && s.audio.is_none() {
            let found = tracks
                .iter()
                .enumerate()
                .map(|(i, t)| describe(i, t))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(crate::Error::Misfit {
                endpoint: self.endpoint.clone(),
                takes: TAKES.into(),
                found,
            });
        }
        Ok(())
    }

    #[cfg(feature = "codec")]
    fn left_out(&self, tracks: &[Track]) -> Vec<usize> {
        left_out(tracks)
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, crate::Error> {
        let selection = select(tracks, None);
        self.server.set_codecs(selection.codecs);
        Ok(Box::new(WhepSink {
            server: self.server.clone(),
            selection,
            endpoint: self.endpoint.clone(),
            keyframe_requests: self.keyframe_requests.clone(),
        }))
    }
}

struct WhepSink {
    server: Arc<WhepServer>,
    selection: Selection,
    endpoint: String,
    keyframe_requests: crate::contract::KeyframeRequests,
}

/// Rescales a presentation time to an RTP clock (wrapping is the RTP clock's own).
pub(crate) fn rtp_time(pts: i64, timescale: u32, rate: u32) -> u64 {
    (i128::from(pts) * i128::from(rate) / i128::from(timescale)) as u64
}

impl Sink for WhepSink {
    fn write(&mut self, packet: Packet) -> Result<(), crate::Error> {
        // A viewer's PLI goes on to the source (a WHIP publisher; other sources ignore it).
        if self.server.take_keyframe_request() {
            self.keyframe_requests.ask();
        }
        let pts = packet.dts + i64::from(packet.cts_offset);
        if let Some((index, writer, timescale)) = &self.selection.video
            && packet.track == *index
        {
            let data = video_payload(writer.as_ref(), &packet)
                .map_err(|e| crate::Error::InvalidOptions(format!("{}: {e}", self.endpoint)))?;
            self.server.send(Frame::new(
                TrackKind::Video,
                rtp_time(pts, *timescale, 90_000),
                packet.keyframe,
                data,
            ));
            return Ok(());
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
            self.server.send(Frame::new(
                TrackKind::Audio,
                rtp_time(pts, timescale, clock),
                true,
                Arc::from(&packet.data[..]),
            ));
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), crate::Error> {
        let Some((index, Some(writer), _)) = &mut self.selection.video else {
            return Ok(());
        };
        if *index != track {
            return Ok(());
        }
        let Some((record, _, video)) = nal_video(&config.codec) else {
            return Ok(());
        };
        let _ = writer.set_record(record);
        if let Some(video) = video {
            self.selection.codecs.video = Some(video);
            self.server.set_codecs(self.selection.codecs);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<std::path::PathBuf>, crate::Error> {
        Ok(None)
    }
}

/// A video packet as str0m takes it: one contiguous `Arc<[u8]>` (one copy here, shared
/// by every viewer; each viewer's SRTP output is its own anyway). H.264 goes through its
/// Annex B writer; VP8, VP9 and AV1 frames are sent as they are.
pub(crate) fn video_payload(
    writer: Option<&elementary::AnnexBWriter>,
    packet: &Packet,
) -> Result<Arc<[u8]>, elementary::Error> {
    Ok(match writer {
        Some(writer) => join(&writer.access_unit(&packet.data, packet.keyframe)?),
        None => Arc::from(&packet.data[..]),
    })
}

/// The pieces in one `Arc<[u8]>`, made in place: joining into a `Vec` first and
/// converting copied every frame twice (an `Arc` cannot take over a `Vec`'s memory).
fn join(pieces: &[Bytes]) -> Arc<[u8]> {
    let len = pieces.iter().map(Bytes::len).sum();
    // An exact-size iterator: one allocation, filled in place.
    let mut out: Arc<[u8]> = std::iter::repeat_n(0, len).collect();
    if let Some(room) = Arc::get_mut(&mut out) {
        let mut at = 0;
        for p in pieces {
            room[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use media_core::{G711, G711Law};
    use whip_whep::AudioCodec;

    use super::*;

    fn g711(law: G711Law, rate: u32, channels: u16) -> Track {
        Track::audio(G711::new(law, rate, channels).codec(), rate, channels)
    }

    #[test]
    fn g711_at_rtp_rate_goes_as_it_is() {
        let s = select(&[g711(G711Law::ALaw, 8000, 1)], None);
        assert_eq!(s.codecs.audio, Some(AudioCodec::Pcma));
        assert_eq!(s.audio, Some((0, 8000)));
        let s = select(&[g711(G711Law::MuLaw, 8000, 1)], None);
        assert_eq!(s.codecs.audio, Some(AudioCodec::Pcmu));
    }

    #[test]
    fn g711_browsers_do_not_take_is_left_out() {
        for track in [
            g711(G711Law::ALaw, 16_000, 1),
            g711(G711Law::MuLaw, 8000, 2),
        ] {
            assert_eq!(select(&[track], None).codecs.audio, None);
        }
    }
}
