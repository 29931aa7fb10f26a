//! What a sending session (a WHEP server's [`crate::Viewer`], a [`crate::WhipClient`])
//! does with the stream's frames: one str0m payload type per codec of the stream, the
//! negotiated one found for each track, and the frame written to it. H.264 (RFC 6184
//! packetization-mode 1), H.265 (RFC 7798), Opus (RFC 7587) and G.711 are cut once per
//! frame for every session (`payloads.rs`) and written as RTP payloads through str0m's
//! direct API; VP8 (RFC 7741), VP9 (RFC 9628) and AV1 (the AOM's "RTP Payload Format
//! for AV1") go through str0m's packetizers.

use std::time::Instant;

use str0m::format::{Codec, PayloadParams};
use str0m::media::{Frequency, MediaTime, Mid};
use str0m::rtp::RtpWrite;
use str0m::{Rtc, RtcConfig};

use crate::Error;
use crate::media::{AudioCodec, Frame, StreamCodecs, TrackKind, VideoCodec};
use crate::payloads::Cut;

/// The str0m configuration for a stream of these codecs (only these, so a peer that
/// offers none of them gets a clear refusal instead of a session without media); the
/// ICE role is left to the caller.
pub(crate) fn config(codecs: &StreamCodecs) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_crypto_provider(std::sync::Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs();
    match codecs.video {
        // One payload type, with the SPS's profile-level-id: str0m matches it to the
        // peer's compatible profile (two of ours matching one of theirs would clash).
        Some(VideoCodec::H264 { profile_level_id }) => {
            config
                .codec_config()
                .add_h264(102.into(), None, true, profile_level_id);
        }
        Some(VideoCodec::H265 {
            profile_id,
            tier_flag,
            level_id,
        }) => {
            config
                .codec_config()
                .add_h265(104.into(), None, profile_id, tier_flag, level_id);
        }
        Some(VideoCodec::Vp8) => config = config.enable_vp8(true),
        Some(VideoCodec::Vp9) => config = config.enable_vp9(true),
        Some(VideoCodec::Av1) => config = config.enable_av1(true),
        None => {}
    }
    match codecs.audio {
        Some(AudioCodec::Opus) => config = config.enable_opus(true, false),
        Some(AudioCodec::Pcma) => config = config.enable_pcma(true, false),
        Some(AudioCodec::Pcmu) => config = config.enable_pcmu(true, false),
        None => {}
    }
    config
}

fn codec_of(codecs: &StreamCodecs, track: TrackKind) -> Option<Codec> {
    match track {
        TrackKind::Video => codecs.video.map(|v| match v {
            VideoCodec::H264 { .. } => Codec::H264,
            VideoCodec::H265 { .. } => Codec::H265,
            VideoCodec::Vp8 => Codec::Vp8,
            VideoCodec::Vp9 => Codec::Vp9,
            VideoCodec::Av1 => Codec::Av1,
        }),
        TrackKind::Audio => codecs.audio.map(|a| match a {
            AudioCodec::Opus => Codec::Opus,
            AudioCodec::Pcma => Codec::PCMA,
            AudioCodec::Pcmu => Codec::PCMU,
        }),
    }
}

/// How long sent packets are kept for a peer's NACK: libwebrtc's own sender keeps at
/// least one second (three round trips when longer). str0m's default, 3 s, holds about
/// 1 300 packets of a 4 Mbit/s stream per viewer, each freed 3 s after it was written, to
/// memory long out of cache (the resend cache was 10 % of a viewer's sending cost).
const RESEND_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
/// At most this many packets in that window (str0m's video default, 1 000: 12 Mbit/s).
const RESEND_PACKETS: usize = 1000;

/// How a track's frames are cut: ours, shared by every session (`None`: str0m's
/// packetizer, per session).
fn cut_of(codecs: &StreamCodecs, track: TrackKind) -> Option<Cut> {
    match track {
        TrackKind::Video => match codecs.video? {
            VideoCodec::H264 { .. } => Some(Cut::Nal(rtp_media::Format::H264)),
            VideoCodec::H265 { .. } => Some(Cut::Nal(rtp_media::Format::H265)),
            VideoCodec::Vp8 | VideoCodec::Vp9 | VideoCodec::Av1 => None,
        },
        TrackKind::Audio => match codecs.audio? {
            AudioCodec::Opus => Some(Cut::Whole),
            AudioCodec::Pcma | AudioCodec::Pcmu => Some(Cut::Samples),
        },
    }
}

/// A negotiated track: where to write and with which payload type.
#[derive(Debug, Clone, Copy)]
struct Negotiated {
    mid: Mid,
    pt: PayloadParams,
    /// Our cut, or str0m's packetizer.
    cut: Option<Cut>,
    /// The next sequence number of our cut's packets (str0m numbers its own), from the
    /// first write on.
    next_seq: Option<u64>,
}

/// The stream's tracks as negotiated with one peer.
#[derive(Debug)]
pub(crate) struct Sending {
    codecs: StreamCodecs,
    video: Option<Negotiated>,
    audio: Option<Negotiated>,
}

impl Sending {
    pub(crate) fn new(codecs: StreamCodecs) -> Sending {
        Sending {
            codecs,
            video: None,
            audio: None,
        }
    }

    /// Whether any track was negotiated.
    pub(crate) fn is_empty(&self) -> bool {
        self.video.is_none() && self.audio.is_none()
    }

    /// Finds, in the media `mid` of the completed negotiation, the payload type of each
    /// of the stream's tracks not placed yet.
    pub(crate) fn negotiate(&mut self, rtc: &mut Rtc, mid: Mid) {
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        for track in [TrackKind::Video, TrackKind::Audio] {
            let Some(codec) = codec_of(&self.codecs, track) else {
                continue;
            };
            let want = match (track, self.codecs.video) {
                (TrackKind::Video, Some(VideoCodec::H264 { profile_level_id })) => {
                    Some(profile_level_id)
                }
                _ => None,
            };
            let mut params: Vec<_> = writer
                .payload_params()
                .filter(|p| p.spec().codec == codec)
                .copied()
                .collect();
            // The exact profile first, then any packetization-mode 1 one.
            params.sort_by_key(|p| {
                let f = p.spec().format;
                (
                    f.packetization_mode != Some(1) && track == TrackKind::Video,
                    want.is_some() && f.profile_level_id != want,
                )
            });
            if let Some(pt) = params.first().copied() {
                let slot = match track {
                    TrackKind::Video => &mut self.video,
                    TrackKind::Audio => &mut self.audio,
                };
                if slot.is_none() {
                    *slot = Some(Negotiated {
                        mid,
                        pt,
                        cut: cut_of(&self.codecs, track),
                        next_seq: None,
                    });
                }
            }
        }
        if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
            stream.set_rtx_cache(RESEND_PACKETS, RESEND_WINDOW, Some(0.15));
        }
    }

    /// Writes a frame to its negotiated track (nothing if it was not negotiated).
    pub(crate) fn write(
        &mut self,
        rtc: &mut Rtc,
        frame: &Frame,
        now: Instant,
    ) -> Result<(), Error> {
        let (negotiated, rate) = match frame.track {
            TrackKind::Video => (&mut self.video, Frequency::NINETY_KHZ),
            TrackKind::Audio => (
                &mut self.audio,
                match self.codecs.audio {
                    Some(AudioCodec::Opus) => Frequency::FORTY_EIGHT_KHZ,
                    _ => Frequency::EIGHT_KHZ,
                },
            ),
        };
        let Some(n) = negotiated else {
            return Ok(());
        };
        let Some(cut) = n.cut else {
            let Some(writer) = rtc.writer(n.mid) else {
                return Ok(());
            };
            return writer
                .write(
                    n.pt.pt(),
                    now,
                    MediaTime::new(frame.rtp_time, rate),
                    frame.data.clone(),
                )
                .map_err(Error::rtc);
        };
        let mut direct = rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(n.mid, None) else {
            return Ok(());
        };
        // As str0m's packetizer would: below 65 536 (a receiver starts its rollover
        // counter at 0), unpredictable (RFC 3550 §5.1: from the random SSRC).
        let next = n
            .next_seq
            .get_or_insert_with(|| u64::from((*stream.ssrc() >> 7) as u16));
        let video = frame.track == TrackKind::Video;
        // The RTP clock wraps (RFC 3550 §5.1).
        let time = frame.rtp_time as u32;
        for payload in frame.payloads(cut).iter() {
            stream.write_rtp(
                RtpWrite::new(
                    n.pt.pt(),
                    (*next).into(),
                    time.wrapping_add(payload.time_offset),
                    now,
                    payload.data.clone(),
                )
                .marker(video && payload.last)
                // Video answers NACKs from the resend cache; audio is not resent.
                .nackable(video),
            );
            *next += 1;
        }
        Ok(())
    }
}
