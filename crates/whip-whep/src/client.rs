//! The client sides, sans-I/O: [`WhepClient`] pulls a stream from a WHEP server
//! (draft-ietf-wish-whep: a recvonly offer for video and audio), [`WhipClient`] pushes
//! one to a WHIP server (RFC 9725: a sendonly offer for the stream's codecs). Both are
//! full ICE agents in the controlling role (RFC 8445 §6.1.1: the offerer controls,
//! and against an ICE-lite server the full agent always does) with one host candidate
//! on the adapter's UDP socket; the server's candidates come in its answer.
//!
//! The media sides are those of the servers: a WHEP client gives frames as
//! [`crate::Publisher`] does, a WHIP client writes them as [`crate::Viewer`] does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::RtcConfig;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Event, IceConnectionState, Output};

use crate::media::{Frame, StreamCodecs};
use crate::peer::{Peer, has_live_media, mids};
use crate::receiving::{self, ReceivedFrame};
use crate::sending::{self, Sending};
use crate::{Error, StackError};

/// What a client asks of its I/O adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientOutput {
    /// Send this datagram.
    Transmit {
        /// Where to.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Call `handle_timeout` at this time (or earlier with a datagram).
    Timeout(Instant),
    /// ICE and DTLS completed: media flows.
    Connected,
    /// A frame arrived (WHEP).
    Frame(ReceivedFrame),
    /// The server asked for a key frame (WHIP: RTCP PLI/FIR).
    KeyframeRequest,
    /// The session is over (ICE disconnected or DTLS closed).
    Closed,
}

/// What both clients share: the session, the offer waiting for its answer, the media.
struct Session {
    peer: Peer,
    pending: Option<SdpPendingOffer>,
    /// Our offer, for what the answer refers to.
    offer: String,
    mids: Vec<Mid>,
    /// The media sections the answer accepted: (video, audio).
    accepted: (bool, bool),
    sending: Option<Sending>,
    connected: bool,
    closed: bool,
}

impl Session {
    fn offer(
        mut peer: Peer,
        kinds: &[MediaKind],
        direction: Direction,
        sending: Option<Sending>,
    ) -> Result<(Session, String), Error> {
        let mut api = peer.rtc.sdp_api();
        for &kind in kinds {
            api.add_media(kind, direction, None, None, None);
        }
        let (offer, pending) = api.apply().ok_or_else(|| Error::NoCommonCodec {
            ours: "nothing (no track to offer)".into(),
        })?;
        let offer = offer.to_sdp_string();
        let session = Session {
            offer: offer.clone(),
            peer,
            pending: Some(pending),
            mids: Vec::new(),
            accepted: (false, false),
            sending,
            connected: false,
            closed: false,
        };
        Ok((session, offer))
    }

    fn accept_answer(&mut self, text: &str) -> Result<(), Error> {
        let pending = self.pending.take().ok_or_else(|| Error::BadAnswer {
            reason: "an answer was taken already".into(),
            source: None,
        })?;
        let answer = SdpAnswer::from_sdp_string(&complete_rejected_media(text, &self.offer))
            .map_err(|e| Error::BadAnswer {
                reason: "cannot be parsed".into(),
                source: Some(StackError::new(e)),
            })?;
        // As with offers: str0m's assertions on what an answer says must not panic us.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.peer.rtc.sdp_api().accept_answer(pending, answer)
        }))
        .map_err(|_| Error::BadAnswer {
            reason: "the WebRTC stack refused it".into(),
            source: None,
        })?
        .map_err(|e| Error::BadAnswer {
            reason: "does not fit the offer".into(),
            source: Some(StackError::new(e)),
        })?;
        if !has_live_media(text) {
            return Err(Error::NoCommonCodec {
                ours: "the offer's codecs (the server rejected every media section)".into(),
            });
        }
        self.accepted = accepted_kinds(text);
        self.mids = mids(text);
        if let Some(sending) = self.sending.as_mut() {
            for &mid in &self.mids {
                sending.negotiate(&mut self.peer.rtc, mid);
            }
            if sending.is_empty() {
                return Err(Error::NoCommonCodec {
                    ours: "the offer's codecs (the answer has none of them)".into(),
                });
            }
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<ClientOutput, Error> {
        loop {
            if self.closed {
                return Ok(ClientOutput::Closed);
            }
            match self.peer.poll_output()? {
                Output::Timeout(t) => return Ok(ClientOutput::Timeout(t)),
                Output::Transmit(t) => {
                    return Ok(ClientOutput::Transmit {
                        destination: t.destination,
                        contents: t.contents.into(),
                    });
                }
                Output::Event(Event::Connected) => {
                    self.connected = true;
                    // A receiver starts at a key frame: ask for one at once.
                    if self.sending.is_none() {
                        receiving::request_keyframe(&mut self.peer.rtc, &self.mids);
                    }
                    return Ok(ClientOutput::Connected);
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => self.closed = true,
                Output::Event(Event::MediaData(d)) => {
                    if let Some(frame) = receiving::frame(&d) {
                        return Ok(ClientOutput::Frame(frame));
                    }
                }
                Output::Event(Event::KeyframeRequest(_)) => {
                    return Ok(ClientOutput::KeyframeRequest);
                }
                Output::Event(_) => {}
            }
        }
    }

    fn close(&mut self) {
        self.peer.rtc.disconnect();
        self.closed = true;
    }
}

/// A rejected media section (port 0) that names a format needs that format's
/// `a=rtpmap` for str0m's parser (servers put the offer's first format there for
/// browsers, see `fill_rejected_media`, without its map): it is taken from our offer.
fn complete_rejected_media(answer: &str, offer: &str) -> String {
    let mut out = String::with_capacity(answer.len() + 64);
    let mut missing: Option<String> = None;
    let flush = |out: &mut String, missing: &mut Option<String>| {
        if let Some(pt) = missing.take() {
            let prefix = format!("a=rtpmap:{pt} ");
            if let Some(map) = offer.lines().find(|l| l.starts_with(&prefix)) {
                out.push_str(map.trim_end());
                out.push_str("\r\n");
            }
        }
    };
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if body.starts_with("m=") {
            flush(&mut out, &mut missing);
            let words: Vec<&str> = body.split_whitespace().collect();
            if words.get(1) == Some(&"0") && words.len() > 3 {
                missing = Some(words[3].to_owned());
            }
        } else if let Some(pt) = &missing
            && body.starts_with(&format!("a=rtpmap:{pt} "))
        {
            missing = None;
        }
        out.push_str(line);
    }
    flush(&mut out, &mut missing);
    out
}

/// A client's ICE timing: a server that is gone (WHEP has no way to tell a client that
/// its session ended; str0m's `disconnect` sends nothing) is noticed when its answers to
/// our connectivity checks stop: with str0m's defaults (retransmits up to 3 s apart,
/// 9 of them) after about 21 s, with these (up to 1.5 s apart, 7 of them) after about
/// 10 s, a third of RFC 7675's 30 s consent lifetime.
fn client_config(mut config: RtcConfig) -> RtcConfig {
    config.set_max_stun_rto(Duration::from_millis(1500));
    config.set_max_stun_retransmits(7);
    config
}

/// (video, audio): whether the SDP has a live media section of that kind.
fn accepted_kinds(sdp: &str) -> (bool, bool) {
    let live = |kind: &str| {
        sdp.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(kind) && words.next().is_some_and(|p| p != "0")
        })
    };
    (live("m=video"), live("m=audio"))
}

/// The methods both clients have, the same way.
macro_rules! session_methods {
    () => {
        /// Takes the server's SDP answer (the body of its `201 Created`).
        pub fn accept_answer(&mut self, answer: &str) -> Result<(), Error> {
            self.session.accept_answer(answer)
        }

        /// The address its datagrams arrive at.
        pub fn local_addr(&self) -> SocketAddr {
            self.session.peer.local
        }

        /// Whether ICE and DTLS completed (media flows).
        pub fn is_connected(&self) -> bool {
            self.session.connected
        }

        /// A datagram arrived.
        pub fn handle_datagram(
            &mut self,
            now: Instant,
            source: SocketAddr,
            contents: &[u8],
        ) -> Result<(), Error> {
            self.session.peer.handle_datagram(now, source, contents)
        }

        /// Time passed.
        pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
            self.session.peer.handle_timeout(now)
        }

        /// What to do next; call until it gives a [`ClientOutput::Timeout`].
        pub fn poll(&mut self) -> Result<ClientOutput, Error> {
            self.session.poll()
        }

        /// Ends the session (DTLS close alert on the next polls).
        pub fn close(&mut self) {
            self.session.close()
        }
    };
}

/// A WHEP client: pulls a stream; see the module docs.
pub struct WhepClient {
    session: Session,
}

impl std::fmt::Debug for WhepClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepClient")
            .field("local", &self.session.peer.local)
            .field("connected", &self.session.connected)
            .finish_non_exhaustive()
    }
}

impl WhepClient {
    /// A client whose datagrams arrive at `local`, and its offer (recvonly video and
    /// audio: H.264 in every profile str0m knows, VP8, VP9, AV1, Opus) to POST to the
    /// server.
    pub fn offer(local: SocketAddr, now: Instant) -> Result<(WhepClient, String), Error> {
        let config = receiving::config(&receiving::VIDEO_CODECS);
        let peer = Peer::new(client_config(config), local, now)?;
        let kinds = [MediaKind::Video, MediaKind::Audio];
        let (session, offer) = Session::offer(peer, &kinds, Direction::RecvOnly, None)?;
        Ok((WhepClient { session }, offer))
    }

    /// Whether the answer accepted video.
    pub fn has_video(&self) -> bool {
        self.session.accepted.0
    }

    /// Whether the answer accepted audio.
    pub fn has_audio(&self) -> bool {
        self.session.accepted.1
    }

    /// Asks the server for a key frame (RTCP PLI), after a loss.
    pub fn request_keyframe(&mut self) {
        receiving::request_keyframe(&mut self.session.peer.rtc, &self.session.mids);
    }

    session_methods!();
}

/// A WHIP client: pushes a stream; see the module docs.
pub struct WhipClient {
    session: Session,
}

impl std::fmt::Debug for WhipClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipClient")
            .field("local", &self.session.peer.local)
            .field("connected", &self.session.connected)
            .finish_non_exhaustive()
    }
}

impl WhipClient {
    /// A client whose datagrams arrive at `local` that sends a stream of `codecs`
    /// (H.264 with packetization-mode 1 and the SPS's profile-level-id, Opus, PCMA,
    /// PCMU), and its sendonly offer to POST to the server.
    pub fn offer(
        codecs: StreamCodecs,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(WhipClient, String), Error> {
        let peer = Peer::new(client_config(sending::config(&codecs)), local, now)?;
        let mut kinds = Vec::new();
        if codecs.video.is_some() {
            kinds.push(MediaKind::Video);
        }
        if codecs.audio.is_some() {
            kinds.push(MediaKind::Audio);
        }
        let sending = Some(Sending::new(codecs));
        let (session, offer) = Session::offer(peer, &kinds, Direction::SendOnly, sending)?;
        Ok((WhipClient { session }, offer))
    }

    /// Sends a frame (ignored before the connection, or if its track was not
    /// negotiated).
    pub fn write(&mut self, frame: &Frame, now: Instant) -> Result<(), Error> {
        match &mut self.session.sending {
            Some(sending) if self.session.connected => {
                let now = self.session.peer.advance(now);
                sending.write(&mut self.session.peer.rtc, frame, now)
            }
            _ => Ok(()),
        }
    }

    session_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::VideoCodec;

    #[test]
    fn a_video_only_server_answers_a_video_and_audio_offer() {
        let now = Instant::now();
        let (mut client, offer) =
            WhepClient::offer("127.0.0.1:5000".parse().unwrap(), now).unwrap();
        let codecs = StreamCodecs::new(
            Some(VideoCodec::H264 {
                profile_level_id: 0x42c01e,
            }),
            None,
        );
        let (_viewer, answer) =
            crate::Viewer::accept(&offer, "127.0.0.1:5001".parse().unwrap(), codecs, now).unwrap();
        eprintln!("{offer}\n----\n{answer}");
        client.accept_answer(&answer).unwrap();
        assert!(client.has_video() && !client.has_audio());
        // An answer goes once.
        assert!(client.accept_answer(&answer).is_err());
    }

    fn a_real_answer() -> String {
        let now = Instant::now();
        let (_, offer) = WhepClient::offer("127.0.0.1:5000".parse().unwrap(), now).unwrap();
        let codecs = StreamCodecs::new(
            Some(VideoCodec::H264 {
                profile_level_id: 0x42c01e,
            }),
            Some(crate::AudioCodec::Opus),
        );
        crate::Viewer::accept(&offer, "127.0.0.1:5001".parse().unwrap(), codecs, now)
            .unwrap()
            .1
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// A server's answer, cut short or with a line dropped or replaced: taken or
        /// refused, never a panic.
        #[test]
        fn damaged_answers_are_refused_cleanly(
            cut in 0usize..4000,
            drop_line in 0usize..60,
            junk in "[ -~]{0,40}",
        ) {
            let answer = a_real_answer();
            let mut lines: Vec<&str> = answer.lines().collect();
            if drop_line < lines.len() {
                lines[drop_line] = &junk;
            }
            let damaged = lines.join("\r\n");
            for text in [&damaged[..], &answer[..cut.min(answer.len())], &junk[..]] {
                let (mut client, _) =
                    WhepClient::offer("127.0.0.1:5000".parse().unwrap(), Instant::now()).unwrap();
                let _ = client.accept_answer(text);
            }
        }
    }
}
