//! One WHEP viewer: a str0m [`Rtc`] that answers the viewer's offer and sends the
//! stream's frames (sans-I/O: datagrams and time in, datagrams and deadlines out).
//! The server side is ICE-lite (RFC 8445 §2.5): it has one host candidate and answers
//! the browser's connectivity checks, which is enough on loopback and a LAN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::media::{AudioCodec, Frame, StreamCodecs, TrackKind, VideoCodec};
use crate::{Error, StackError};

/// What a viewer asks of its I/O adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum ViewerOutput {
    /// Send this datagram.
    Transmit {
        /// Where to.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Call [`Viewer::handle_timeout`] at this time (or earlier with a datagram).
    Timeout(Instant),
    /// The viewer asked for a key frame (RTCP PLI/FIR).
    KeyframeRequest,
    /// The session is over (ICE disconnected or DTLS closed).
    Closed,
}

/// A negotiated track: where to write and with which payload type.
#[derive(Debug, Clone, Copy)]
struct Negotiated {
    mid: Mid,
    pt: str0m::format::PayloadParams,
}

/// One WHEP viewer; see the module docs.
pub struct Viewer {
    rtc: Rtc,
    local: SocketAddr,
    codecs: StreamCodecs,
    video: Option<Negotiated>,
    audio: Option<Negotiated>,
    connected: bool,
    closed: bool,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("local", &self.local)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

/// The str0m configuration for a stream of these codecs (only these, so a browser
/// that offers none of them gets a clear refusal instead of a session without media).
pub(crate) fn config(codecs: &StreamCodecs) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs();
    match codecs.video {
        // One payload type, with the SPS's profile-level-id: str0m matches it to the
        // offer's compatible profile (two of ours matching one of theirs would clash).
        Some(VideoCodec::H264 { profile_level_id }) => {
            config
                .codec_config()
                .add_h264(102.into(), None, true, profile_level_id);
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

/// A rejected media section (port 0) still needs a format (RFC 4566 §5.14, RFC 3264
/// §6): str0m writes none, which Chromium refuses to parse; put the offer's first one.
pub(crate) fn fill_rejected_media(answer: &str, offer: &str) -> String {
    let mut offered = offer.lines().filter(|l| l.starts_with("m="));
    let mut out = String::with_capacity(answer.len() + 16);
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if body.starts_with("m=") {
            let theirs = offered.next();
            if body.split_whitespace().count() == 3 {
                let pt = theirs
                    .and_then(|m| m.split_whitespace().nth(3))
                    .unwrap_or("0");
                out.push_str(body.trim_end());
                out.push(' ');
                out.push_str(pt);
                out.push_str(&line[body.len()..]);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

impl Viewer {
    /// Answers `offer` (an SDP) for a viewer whose datagrams arrive at `local`; returns
    /// the viewer and the SDP answer.
    pub fn accept(
        offer: &str,
        local: SocketAddr,
        codecs: StreamCodecs,
        now: Instant,
    ) -> Result<(Viewer, String), Error> {
        let offer_text = offer;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| Error::BadOffer {
            source: StackError::new(e),
        })?;
        let mut rtc = config(&codecs).build(now);
        let candidate = Candidate::host(local, "udp").map_err(Error::rtc)?;
        rtc.add_local_candidate(candidate);
        // str0m asserts some invariants of what the offer says with panics; no input
        // may panic us, so a panicking offer is refused like an invalid one.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rtc.sdp_api().accept_offer(offer)
        }))
        .map_err(|_| Error::NoCommonCodec {
            ours: format!("{} (the WebRTC stack refused the offer)", codecs.describe()),
        })?
        .map_err(Error::rtc)?;
        let mut viewer = Viewer {
            rtc,
            local,
            codecs,
            video: None,
            audio: None,
            connected: false,
            closed: false,
        };
        let answer = fill_rejected_media(&answer.to_sdp_string(), offer_text);
        // The media of the answer (str0m tells them by events only later, on poll).
        let mids: Vec<Mid> = answer
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a=mid:"))
            .map(Mid::from)
            .collect();
        for mid in mids {
            viewer.negotiate(mid);
        }
        if viewer.video.is_none() && viewer.audio.is_none() {
            return Err(Error::NoCommonCodec {
                ours: codecs.describe(),
            });
        }
        Ok((viewer, answer))
    }

    fn negotiate(&mut self, mid: Mid) {
        let Some(writer) = self.rtc.writer(mid) else {
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
                    *slot = Some(Negotiated { mid, pt });
                }
            }
        }
    }

    /// The address its datagrams arrive at.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether ICE and DTLS completed (media flows).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// A datagram arrived.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        contents: &[u8],
    ) -> Result<(), Error> {
        let Ok(contents) = contents.try_into() else {
            // Not STUN, DTLS or (S)RTP: ignore it.
            return Ok(());
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input).map_err(Error::rtc)?;
        }
        Ok(())
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.rtc
            .handle_input(Input::Timeout(now))
            .map_err(Error::rtc)?;
        Ok(())
    }

    /// Sends a frame (ignored before the connection, or if its track was not
    /// negotiated).
    pub fn write(&mut self, frame: &Frame, now: Instant) -> Result<(), Error> {
        if !self.connected {
            return Ok(());
        }
        let (negotiated, rate) = match frame.track {
            TrackKind::Video => (self.video, Frequency::NINETY_KHZ),
            TrackKind::Audio => (
                self.audio,
                match self.codecs.audio {
                    Some(AudioCodec::Opus) => Frequency::FORTY_EIGHT_KHZ,
                    _ => Frequency::EIGHT_KHZ,
                },
            ),
        };
        let Some(n) = negotiated else {
            return Ok(());
        };
        let Some(writer) = self.rtc.writer(n.mid) else {
            return Ok(());
        };
        writer
            .write(
                n.pt.pt(),
                now,
                MediaTime::new(frame.rtp_time, rate),
                frame.data.clone(),
            )
            .map_err(Error::rtc)?;
        Ok(())
    }

    /// What to do next; call until it gives a [`ViewerOutput::Timeout`].
    pub fn poll(&mut self) -> Result<ViewerOutput, Error> {
        loop {
            if self.closed {
                return Ok(ViewerOutput::Closed);
            }
            match self.rtc.poll_output().map_err(Error::rtc)? {
                Output::Timeout(t) => return Ok(ViewerOutput::Timeout(t)),
                Output::Transmit(t) => {
                    return Ok(ViewerOutput::Transmit {
                        destination: t.destination,
                        contents: t.contents.into(),
                    });
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => {
                    self.closed = true;
                }
                Output::Event(Event::KeyframeRequest(_)) => {
                    return Ok(ViewerOutput::KeyframeRequest);
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Ends the session (DTLS close alert on the next polls).
    pub fn close(&mut self) {
        self.rtc.disconnect();
        self.closed = true;
    }
}
