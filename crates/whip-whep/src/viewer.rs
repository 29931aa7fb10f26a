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
    use crate::receiving::ReceivedFrame;

    const SERVER: &str = "127.0.0.1:40000";
    const CLIENT: &str = "127.0.0.1:40001";

    /// A viewer of `codecs` and a WHEP client connected in memory: datagrams handed
    /// across, a clock of our own.
    fn connected(codecs: StreamCodecs, now: &mut Instant) -> (Viewer, WhepClient) {
        let server: SocketAddr = SERVER.parse().unwrap();
        let local: SocketAddr = CLIENT.parse().unwrap();
        let (mut client, offer) = WhepClient::offer(local, *now).unwrap();
        let (mut viewer, answer) = Viewer::accept(&offer, server, codecs, *now).unwrap();
        client.accept_answer(&answer).unwrap();
        for _ in 0..400 {
            if viewer.is_connected() && client.is_connected() {
                break;
            }
            exchange(&mut viewer, &mut client, *now, &mut Vec::new());
            *now += Duration::from_millis(5);
            viewer.handle_timeout(*now).unwrap();
            client.handle_timeout(*now).unwrap();
        }
        assert!(viewer.is_connected() && client.is_connected());
        (viewer, client)
    }

    /// Hands every datagram waiting on either side to the other; the client's frames go
    /// to `frames`.
    fn exchange(
        viewer: &mut Viewer,
        client: &mut WhepClient,
        now: Instant,
        frames: &mut Vec<ReceivedFrame>,
    ) {
        let server: SocketAddr = SERVER.parse().unwrap();
        let local: SocketAddr = CLIENT.parse().unwrap();
        loop {
            match viewer.poll().unwrap() {
                ViewerOutput::Transmit { contents, .. } => {
                    client.handle_datagram(now, server, &contents).unwrap()
                }
                ViewerOutput::Timeout(_) => break,
                _ => {}
            }
        }
        loop {
            match client.poll().unwrap() {
                ClientOutput::Transmit { contents, .. } => {
                    viewer.handle_datagram(now, local, &contents).unwrap()
                }
                ClientOutput::Frame(frame) => frames.push(frame),
                ClientOutput::Timeout(_) => break,
                _ => {}
            }
        }
    }

    /// Frames written as a server writes them: after each, the deadline the viewer gives
    /// its adapter lies ahead. str0m alone asks for a timeout at the time of the packet
    /// it just let out (its null pacer), which cost a timer wake-up per frame per viewer;
    /// `Peer::poll_output` handles those itself.
    #[test]
    fn after_a_frame_the_next_deadline_lies_ahead() {
        let mut now = Instant::now();
        let codecs = StreamCodecs::new(Some(VideoCodec::Vp8), None);
        let (mut viewer, _client) = connected(codecs, &mut now);
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

    /// H.264 frames cut once (`payloads.rs`) and written to two viewers: each client puts
    /// back every frame's NAL units (the access unit delimiter left out), at its RTP time,
    /// key frames told; the second viewer got the very payloads the first did.
    #[test]
    fn h264_frames_cut_once_reach_two_viewers_whole() {
        let mut now = Instant::now();
        let codecs = StreamCodecs::new(
            Some(VideoCodec::H264 {
                profile_level_id: 0x42e01f,
            }),
            None,
        );
        let mut pairs = [connected(codecs, &mut now), connected(codecs, &mut now)];
        let annex_b = |units: &[Vec<u8>]| -> Arc<[u8]> {
            let mut out = Vec::new();
            for unit in units {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(unit);
            }
            out.into()
        };
        let sps = vec![0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50];
        let pps = vec![0x68, 0xce, 0x3c, 0x80];
        let mut sent = Vec::new();
        for i in 0..6u64 {
            now += Duration::from_millis(40);
            let keyframe = i == 0;
            // Slices of several sizes: whole, cut in two, cut in many.
            let slice: Vec<u8> = std::iter::once(if keyframe { 0x65 } else { 0x41 })
                .chain((0..[3000, 200, 1119, 1121, 9000, 5][i as usize]).map(|b| (b * 7 + i) as u8))
                .collect();
            let mut units = vec![vec![0x09, 0xf0]];
            if keyframe {
                units.extend([sps.clone(), pps.clone()]);
            }
            units.push(slice);
            let frame = Frame::new(
                TrackKind::Video,
                90_000 + i * 3600,
                keyframe,
                annex_b(&units),
            );
            let mut received = Vec::new();
            for (viewer, client) in &mut pairs {
                viewer.write(&frame, now).unwrap();
                exchange(viewer, client, now, &mut received);
            }
            let cut = crate::payloads::Cut::Nal(rtp_media::Format::H264);
            let copy = frame.clone();
            let (first, again) = (frame.payloads(cut), copy.payloads(cut));
            assert!(
                Arc::ptr_eq(&first[0].data, &again[0].data),
                "cut once, shared"
            );
            sent.push((units[1..].to_vec(), frame.rtp_time, keyframe));
            assert_eq!(received.len(), 2, "frame {i}: one for each client");
            for got in received {
                let nals: Vec<Vec<u8>> = crate::split_annex_b(&got.data)
                    .map(<[u8]>::to_vec)
                    .collect();
                let (units, rtp_time, keyframe) = sent.last().unwrap();
                assert_eq!(&nals, units, "frame {i}");
                assert_eq!(got.rtp_time % (1 << 32), *rtp_time);
                assert_eq!(got.keyframe, *keyframe);
                assert!(!got.after_loss);
            }
        }
    }
}
