//! One WHEP viewer: a str0m `Rtc` that answers the viewer's offer and sends the
//! stream's frames (sans-I/O: datagrams and time in, datagrams and deadlines out).
//! The server side is ICE-lite (RFC 8445 §2.5): it has one host candidate and answers
//! the browser's connectivity checks, which is enough on loopback and a LAN.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Event, IceConnectionState, Output, RtcConfig};

use crate::media::{Frame, StreamCodecs};
use crate::peer::{Peer, mids};
use crate::sending::Sending;
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

/// One WHEP viewer; see the module docs.
pub struct Viewer {
    peer: Peer,
    sending: Sending,
    connected: bool,
    closed: bool,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("local", &self.peer.local)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
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

/// str0m's standard header extensions without transport-wide congestion control
/// (draft-holmer-rmcat-transport-wide-cc-extensions): this server passes frames through
/// and never adapts a bitrate, so the per-packet sequence numbers and each viewer's
/// feedback reports (several a second, each matched against the packets sent) were work
/// for nothing: 4 % of the server's time with 32 viewers (perf).
fn without_twcc(config: RtcConfig) -> RtcConfig {
    let mut extensions = ExtensionMap::empty();
    for (id, extension) in ExtensionMap::standard().iter() {
        if !matches!(extension, Extension::TransportSequenceNumber) {
            extensions.set(id, extension.clone());
        }
    }
    config.set_extension_map(extensions)
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
        let mut peer = Peer::new(
            without_twcc(crate::sending::config(&codecs).set_ice_lite(true)),
            local,
            now,
        )?;
        // str0m asserts some invariants of what the offer says with panics; no input
        // may panic us, so a panicking offer is refused like an invalid one.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            peer.rtc.sdp_api().accept_offer(offer)
        }))
        .map_err(|_| Error::NoCommonCodec {
            ours: format!("{} (the WebRTC stack refused the offer)", codecs.describe()),
        })?
        .map_err(Error::rtc)?;
        let answer = fill_rejected_media(&answer.to_sdp_string(), offer_text);
        let mut sending = Sending::new(codecs);
        for mid in mids(&answer) {
            sending.negotiate(&mut peer.rtc, mid);
        }
        if sending.is_empty() {
            return Err(Error::NoCommonCodec {
                ours: codecs.describe(),
            });
        }
        let viewer = Viewer {
            peer,
            sending,
            connected: false,
            closed: false,
        };
        Ok((viewer, answer))
    }

    /// The address its datagrams arrive at.
    pub fn local_addr(&self) -> SocketAddr {
        self.peer.local
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
        self.peer.handle_datagram(now, source, contents)
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.peer.handle_timeout(now)
    }

    /// Sends a frame (ignored before the connection, or if its track was not
    /// negotiated).
    pub fn write(&mut self, frame: &Frame, now: Instant) -> Result<(), Error> {
        if !self.connected {
            return Ok(());
        }
        let now = self.peer.advance(now);
        self.sending.write(&mut self.peer.rtc, frame, now)
    }

    /// What to do next; call until it gives a [`ViewerOutput::Timeout`].
    pub fn poll(&mut self) -> Result<ViewerOutput, Error> {
        loop {
            if self.closed {
                return Ok(ViewerOutput::Closed);
            }
            match self.peer.poll_output()? {
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
        self.peer.rtc.disconnect();
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::client::{ClientOutput, WhepClient};
    use crate::media::{TrackKind, VideoCodec};

    /// A viewer and a WHEP client connected in memory: datagrams handed across, a clock
    /// of our own. Then frames written as a server writes them: after each, the deadline
    /// the viewer gives its adapter lies ahead. str0m alone asks for a timeout at the
    /// time of the packet it just let out (its null pacer), which cost a timer wake-up
    /// per frame per viewer; `Peer::poll_output` handles those itself.
    #[test]
    fn after_a_frame_the_next_deadline_lies_ahead() {
        let server: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let mut now = Instant::now();
        let (mut client, offer) = WhepClient::offer(local, now).unwrap();
        let codecs = StreamCodecs::new(Some(VideoCodec::Vp8), None);
        let (mut viewer, answer) = Viewer::accept(&offer, server, codecs, now).unwrap();
        client.accept_answer(&answer).unwrap();
        for _ in 0..400 {
            if viewer.is_connected() && client.is_connected() {
                break;
            }
            while let ViewerOutput::Transmit { contents, .. } = viewer.poll().unwrap() {
                client.handle_datagram(now, server, &contents).unwrap();
            }
            loop {
                match client.poll().unwrap() {
                    ClientOutput::Transmit { contents, .. } => {
                        viewer.handle_datagram(now, local, &contents).unwrap()
                    }
                    ClientOutput::Timeout(_) => break,
                    _ => {}
                }
            }
            now += Duration::from_millis(5);
            viewer.handle_timeout(now).unwrap();
            client.handle_timeout(now).unwrap();
        }
        assert!(viewer.is_connected() && client.is_connected());
        let data: Arc<[u8]> = vec![0x10; 5000].into();
        for i in 0..10u64 {
            now += Duration::from_millis(40);
            let frame = Frame::new(TrackKind::Video, i * 3600, i == 0, data.clone());
            viewer.write(&frame, now).unwrap();
            let mut packets = 0;
            let deadline = loop {
                match viewer.poll().unwrap() {
                    ViewerOutput::Transmit { .. } => packets += 1,
                    ViewerOutput::Timeout(t) => break t,
                    // The client asks for a key frame as soon as it has none (str0m 0.25
                    // sends such requests at once): not what this test is about.
                    ViewerOutput::KeyframeRequest => {}
                    other => panic!("{other:?}"),
                }
            };
            assert!(packets >= 4, "frame {i}: {packets} packets");
            assert!(
                deadline > now,
                "frame {i}: the next deadline is {:?} before now",
                now - deadline
            );
        }
    }
}
