//! What every session of this crate (server or client, sending or receiving) does the
//! same way with its str0m [`Rtc`]: one host candidate on the adapter's UDP socket,
//! datagrams and time in, the media of a completed negotiation out.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Rtc, RtcConfig};

use crate::Error;

/// A str0m session and the address its datagrams arrive at.
pub(crate) struct Peer {
    pub(crate) rtc: Rtc,
    pub(crate) local: SocketAddr,
}

impl Peer {
    /// A session with one host candidate at `local`.
    pub(crate) fn new(config: RtcConfig, local: SocketAddr, now: Instant) -> Result<Peer, Error> {
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(Error::rtc)?;
        rtc.add_local_candidate(candidate);
        Ok(Peer { rtc, local })
    }

    /// A datagram arrived (one that is not STUN, DTLS or (S)RTP is ignored).
    pub(crate) fn handle_datagram(
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
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.rtc
            .handle_input(Input::Timeout(now))
            .map_err(Error::rtc)
    }
}

/// The media sections of an SDP (str0m tells them by events only later, on poll).
pub(crate) fn mids(sdp: &str) -> Vec<Mid> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(Mid::from)
        .collect()
}

/// Whether an SDP has a media section that is not rejected (port 0).
pub(crate) fn has_live_media(sdp: &str) -> bool {
    sdp.lines()
        .any(|l| l.starts_with("m=") && l.split_whitespace().nth(1).is_none_or(|p| p != "0"))
}
