//! One WHIP publisher (RFC 9725): a str0m [`Rtc`] that answers the publisher's offer
//! (ICE-lite, recvonly) and gives its depacketized frames out (sans-I/O, as
//! [`crate::Viewer`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::format::{Codec, CodecExtra};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::media::TrackKind;
use crate::{Error, StackError};

/// The codec of a published track.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedCodec {
    /// H.264; frames are Annex B access units.
    H264,
    /// VP8; one frame per frame.
    Vp8,
    /// VP9; one frame (or superframe) per frame.
    Vp9,
    /// AV1; one temporal unit per frame: low-overhead OBUs, each with its size field,
    /// without temporal delimiters.
    Av1,
    /// Opus at 48 kHz; one packet per frame.
    Opus,
}

/// A frame the publisher sent.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Video or audio.
    pub track: TrackKind,
    /// Its codec.
    pub codec: PublishedCodec,
    /// RTP time, extended to 64 bits, at `clock_rate`.
    pub rtp_time: u64,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// A key frame (video: an IDR or VP8 key frame; audio: always).
    pub keyframe: bool,
    /// The payload.
    pub data: Bytes,
    /// Whether frames were lost before this one (the depacketizer saw a gap).
    pub after_loss: bool,
}

/// What a publisher asks of its I/O adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublisherOutput {
    /// Send this datagram.
    Transmit {
        /// Where to.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Call [`Publisher::handle_timeout`] at this time (or earlier with a datagram).
    Timeout(Instant),
    /// A frame arrived.
    Frame(ReceivedFrame),
    /// ICE and DTLS completed.
    Connected,
    /// The session is over.
    Closed,
}

/// One WHIP publisher; see the module docs.
pub struct Publisher {
    rtc: Rtc,
    mids: Vec<str0m::media::Mid>,
    local: SocketAddr,
    closed: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// The video codecs we take, by their SDP `rtpmap` names.
const VIDEO_CODECS: [&str; 4] = ["H264", "VP8", "VP9", "AV1"];

/// Our codecs, the video ones in the order the publisher prefers them: str0m answers in
/// its own configuration's order, and the publisher sends the answer's first codec, so
/// a page that puts VP8 first (`?codec=vp8`) gets VP8.
fn config(offer: &str) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs();
    for name in video_preference(offer) {
        config = match name {
            "H264" => config.enable_h264(true),
            "VP8" => config.enable_vp8(true),
            "VP9" => config.enable_vp9(true),
            _ => config.enable_av1(true),
        };
    }
    config.enable_opus(true, false)
}

/// [`VIDEO_CODECS`] in the order of the offer's first video section (its payload types'
/// order), those it does not name last.
fn video_preference(offer: &str) -> Vec<&'static str> {
    let mut lines = offer.lines().map(str::trim);
    let order: Vec<&str> = lines
        .by_ref()
        .find(|l| l.starts_with("m=video"))
        .map(|m| m.split_whitespace().skip(3).collect())
        .unwrap_or_default();
    // `a=rtpmap:PT NAME/RATE` lines of that section, up to the next one.
    let names: Vec<(&str, &str)> = lines
        .take_while(|l| !l.starts_with("m="))
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| {
            let (pt, rest) = l.split_once(' ')?;
            Some((pt, rest.split('/').next()?))
        })
        .collect();
    let mut preference: Vec<&'static str> = Vec::new();
    for pt in order {
        let Some((_, name)) = names.iter().find(|(p, _)| *p == pt) else {
            continue;
        };
        if let Some(ours) = VIDEO_CODECS.iter().find(|c| c.eq_ignore_ascii_case(name))
            && !preference.contains(ours)
        {
            preference.push(ours);
        }
    }
    for c in VIDEO_CODECS {
        if !preference.contains(&c) {
            preference.push(c);
        }
    }
    preference
}

/// Whether a VP9 frame is a key frame: frame_marker 2, profile bits (and a reserved
/// bit in profile 3), show_existing_frame 0, frame_type 0 (VP9 bitstream §6.2).
fn vp9_key_frame(data: &[u8]) -> bool {
    let Some(&b) = data.first() else {
        return false;
    };
    if b >> 6 != 2 {
        return false;
    }
    let profile = (b >> 5 & 1) | (b >> 4 & 1) << 1;
    // Bits 7-4 are the marker and profile; profile 3 adds a reserved bit 3.
    let at = if profile == 3 { 3 } else { 2 };
    let show_existing = b >> (5 - at) & 1;
    let frame_type = b >> (4 - at) & 1;
    show_existing == 0 && frame_type == 0
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5).
fn h264_idr(data: &[u8]) -> bool {
    split_annex_b(data).any(|nal| nal.first().is_some_and(|h| h & 0x1f == 5))
}

/// The NAL units of an Annex B byte string (start codes removed).
pub fn split_annex_b(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            let mut e = s - 3;
            while e > 0 && data[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

impl Publisher {
    /// Answers `offer` (an SDP) for a publisher whose datagrams arrive at `local`.
    pub fn accept(
        offer: &str,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(Publisher, String), Error> {
        let offer_text = offer;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| Error::BadOffer {
            source: StackError::new(e),
        })?;
        let mut rtc = config(offer_text).build(now);
        let candidate = Candidate::host(local, "udp").map_err(Error::rtc)?;
        rtc.add_local_candidate(candidate);
        let ours = "H.264 (packetization-mode 1), VP8, VP9 or AV1 video, Opus audio";
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rtc.sdp_api().accept_offer(offer)
        }))
        .map_err(|_| Error::NoCommonCodec {
            ours: format!("{ours} (the WebRTC stack refused the offer)"),
        })?
        .map_err(Error::rtc)?;
        let answer = crate::viewer::fill_rejected_media(&answer.to_sdp_string(), offer_text);
        // Every media section rejected: nothing in common.
        if !answer
            .lines()
            .any(|l| l.starts_with("m=") && l.split_whitespace().nth(1).is_none_or(|p| p != "0"))
        {
            return Err(Error::NoCommonCodec { ours: ours.into() });
        }
        let mids = answer
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a=mid:"))
            .map(str0m::media::Mid::from)
            .collect();
        Ok((
            Publisher {
                rtc,
                mids,
                local,
                closed: false,
            },
            answer,
        ))
    }

    /// A datagram arrived.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        contents: &[u8],
    ) -> Result<(), Error> {
        let Ok(contents) = contents.try_into() else {
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

    /// What to do next; call until it gives a [`PublisherOutput::Timeout`].
    pub fn poll(&mut self) -> Result<PublisherOutput, Error> {
        loop {
            if self.closed {
                return Ok(PublisherOutput::Closed);
            }
            match self.rtc.poll_output().map_err(Error::rtc)? {
                Output::Timeout(t) => return Ok(PublisherOutput::Timeout(t)),
                Output::Transmit(t) => {
                    return Ok(PublisherOutput::Transmit {
                        destination: t.destination,
                        contents: t.contents.into(),
                    });
                }
                Output::Event(Event::Connected) => return Ok(PublisherOutput::Connected),
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => {
                    self.closed = true;
                }
                Output::Event(Event::MediaData(d)) => {
                    let spec = d.params.spec();
                    let (track, codec) = match spec.codec {
                        Codec::H264 => (TrackKind::Video, PublishedCodec::H264),
                        Codec::Vp8 => (TrackKind::Video, PublishedCodec::Vp8),
                        Codec::Vp9 => (TrackKind::Video, PublishedCodec::Vp9),
                        Codec::Av1 => (TrackKind::Video, PublishedCodec::Av1),
                        Codec::Opus => (TrackKind::Audio, PublishedCodec::Opus),
                        _ => continue,
                    };
                    let keyframe = match codec {
                        PublishedCodec::H264 => h264_idr(&d.data),
                        // VP8 frame tag: bit 0 clear is a key frame (RFC 6386 §9.1).
                        PublishedCodec::Vp8 => d.data.first().is_some_and(|b| b & 1 == 0),
                        // VP9 uncompressed header: frame_type 0 (§6.2); the bits before
                        // it depend on the profile.
                        PublishedCodec::Vp9 => vp9_key_frame(&d.data),
                        // The RTP aggregation header's N bit: a new coded video sequence
                        // starts (AV1 RTP payload §4.4), as str0m reports it.
                        PublishedCodec::Av1 => matches!(
                            d.codec_extra,
                            CodecExtra::Av1(e) if e.is_keyframe
                        ),
                        PublishedCodec::Opus => true,
                    };
                    return Ok(PublisherOutput::Frame(ReceivedFrame {
                        track,
                        codec,
                        rtp_time: d.time.numer(),
                        clock_rate: d.time.denom(),
                        keyframe,
                        data: Bytes::copy_from_slice(&d.data),
                        after_loss: !d.contiguous,
                    }));
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Asks the publisher for a key frame (RTCP PLI on every video track).
    pub fn request_keyframe(&mut self) {
        for mid in self.mids.clone() {
            if let Some(mut w) = self.rtc.writer(mid)
                && w.is_request_keyframe_possible(str0m::media::KeyframeRequestKind::Pli)
            {
                let _ = w.request_keyframe(None, str0m::media::KeyframeRequestKind::Pli);
            }
        }
    }

    /// Ends the session.
    pub fn close(&mut self) {
        self.rtc.disconnect();
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_split_and_idr() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        let nals: Vec<&[u8]> = split_annex_b(&au).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 9, 9]]);
        assert!(h264_idr(&au));
        assert!(!h264_idr(&[0, 0, 1, 0x41, 7]));
        assert_eq!(split_annex_b(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn vp9_key_frames_by_their_header() {
        // Profile 0: 10 0 0, show_existing 0, frame_type 0 / 1.
        assert!(vp9_key_frame(&[0b1000_0010]));
        assert!(!vp9_key_frame(&[0b1000_0110]));
        // show_existing_frame: no frame of its own.
        assert!(!vp9_key_frame(&[0b1000_1000]));
        // Profile 3 has a reserved bit before show_existing_frame.
        assert!(vp9_key_frame(&[0b1011_0001]));
        assert!(!vp9_key_frame(&[0b1011_0011]));
        assert!(!vp9_key_frame(&[0b0100_0000]));
        assert!(!vp9_key_frame(&[]));
    }

    #[test]
    fn video_codecs_in_the_offers_order() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=rtpmap:96 VP8/90000\r\n\
                     a=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\n";
        assert_eq!(video_preference(offer), ["VP8", "H264", "VP9", "AV1"]);
        let h264_first = offer.replace("96 97 102", "102 96 97");
        assert_eq!(video_preference(&h264_first), ["H264", "VP8", "VP9", "AV1"]);
        assert_eq!(video_preference("garbage"), ["H264", "VP8", "VP9", "AV1"]);
    }
}
