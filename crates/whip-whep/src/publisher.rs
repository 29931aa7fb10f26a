//! One WHIP publisher (RFC 9725): a str0m `Rtc` that answers the publisher's offer
//! (ICE-lite, recvonly) and gives its depacketized frames out (sans-I/O, as
//! [`crate::Viewer`]).

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Event, IceConnectionState, Output};

use crate::peer::{Peer, has_live_media, mids};
use crate::receiving::{self, ReceivedFrame};
use crate::{Error, StackError};

/// The video codecs of [`receiving::VIDEO_CODECS`] in the order of the offer's first
/// video section (its payload types' order), those it does not name last: str0m answers
/// in its own configuration's order, and the publisher sends the answer's first codec,
/// so a page that puts VP8 first (`?codec=vp8`) gets VP8.
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
        if let Some(ours) = receiving::VIDEO_CODECS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name))
            && !preference.contains(ours)
        {
            preference.push(ours);
        }
    }
    for c in receiving::VIDEO_CODECS {
        if !preference.contains(&c) {
            preference.push(c);
        }
    }
    preference
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
    peer: Peer,
    mids: Vec<Mid>,
    closed: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("local", &self.peer.local)
            .finish_non_exhaustive()
    }
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
        let config = receiving::config(&video_preference(offer_text)).set_ice_lite(true);
        let mut peer = Peer::new(config, local, now)?;
        let ours = "H.264 (packetization-mode 1), VP8, VP9 or AV1 video, Opus audio";
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            peer.rtc.sdp_api().accept_offer(offer)
        }))
        .map_err(|_| Error::NoCommonCodec {
            ours: format!("{ours} (the WebRTC stack refused the offer)"),
        })?
        .map_err(Error::rtc)?;
        let answer = crate::viewer::fill_rejected_media(&answer.to_sdp_string(), offer_text);
        // Every media section rejected: nothing in common.
        if !has_live_media(&answer) {
            return Err(Error::NoCommonCodec { ours: ours.into() });
        }
        let mids = mids(&answer);
        Ok((
            Publisher {
                peer,
                mids,
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
        self.peer.handle_datagram(now, source, contents)
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.peer.handle_timeout(now)
    }

    /// What to do next; call until it gives a [`PublisherOutput::Timeout`].
    pub fn poll(&mut self) -> Result<PublisherOutput, Error> {
        loop {
            if self.closed {
                return Ok(PublisherOutput::Closed);
            }
            match self.peer.poll_output()? {
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
                    if let Some(frame) = receiving::frame(&d) {
                        return Ok(PublisherOutput::Frame(frame));
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Asks the publisher for a key frame (RTCP PLI on every video track).
    pub fn request_keyframe(&mut self) {
        receiving::request_keyframe(&mut self.peer.rtc, &self.mids);
    }

    /// Ends the session.
    pub fn close(&mut self) {
        self.peer.rtc.disconnect();
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_codecs_in_the_offers_order() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=rtpmap:96 VP8/90000\r\n\
                     a=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\n";
        assert_eq!(
            video_preference(offer),
            ["VP8", "H264", "H265", "VP9", "AV1"]
        );
        let h264_first = offer.replace("96 97 102", "102 96 97");
        assert_eq!(
            video_preference(&h264_first),
            ["H264", "VP8", "H265", "VP9", "AV1"]
        );
        assert_eq!(
            video_preference("garbage"),
            ["H264", "H265", "VP8", "VP9", "AV1"]
        );
    }
}
