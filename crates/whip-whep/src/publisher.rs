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
        let mut peer = Peer::new(receiving::config().set_ice_lite(true), local, now)?;
        let ours = "H.264 (packetization-mode 1) or VP8 video, Opus audio";
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
            match self.peer.rtc.poll_output().map_err(Error::rtc)? {
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
