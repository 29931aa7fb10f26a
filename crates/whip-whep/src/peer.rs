//! What every session of this crate (server or client, sending or receiving) does the
//! same way with its str0m [`Rtc`]: one host candidate on the adapter's UDP socket,
//! datagrams and time in, the media of a completed negotiation out.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Output, Rtc, RtcConfig};

use crate::Error;

/// Timeouts already due that [`Peer::poll_output`] handles in a row before it hands one
/// to the adapter (a bound, in case a deadline stays in the past).
const DUE_IN_A_ROW: u32 = 64;

/// A str0m session and the address its datagrams arrive at.
pub(crate) struct Peer {
    pub(crate) rtc: Rtc,
    pub(crate) local: SocketAddr,
    /// The latest time the session was given (a datagram, a timeout, a frame written).
    now: Instant,
}

impl Peer {
    /// A session with one host candidate at `local`.
    pub(crate) fn new(config: RtcConfig, local: SocketAddr, now: Instant) -> Result<Peer, Error> {
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(Error::rtc)?;
        rtc.add_local_candidate(candidate);
        Ok(Peer { rtc, local, now })
    }

    /// Notes the time (see [`Peer::poll_output`]) and returns it, never earlier than a
    /// time given before: a frame may be written on another thread than the one that
    /// handles the datagrams and timers, with an instant read a moment earlier.
    pub(crate) fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// str0m's next output, with the timeouts that are already due handled here. Without
    /// a pacer str0m asks for a timeout at the time of each packet it just let out, so
    /// after every frame the adapter got a deadline in the past, and a tokio timer
    /// (millisecond ticks) woke the session once more a millisecond later for it: one
    /// wake-up per frame per viewer, for nothing (strace of a server with one viewer).
    pub(crate) fn poll_output(&mut self) -> Result<Output, Error> {
        for _ in 0..DUE_IN_A_ROW {
            match self.rtc.poll_output().map_err(Error::rtc)? {
                Output::Timeout(t) if t <= self.now => self.handle_timeout(self.now)?,
                output => return Ok(output),
            }
        }
        self.rtc.poll_output().map_err(Error::rtc)
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
        let now = self.advance(now);
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
        let now = self.advance(now);
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
