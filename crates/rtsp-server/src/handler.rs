//! One RTSP connection's requests, without I/O: a request and the stream's description
//! in, the response and what the server must do out (start sending, stop). RFC 2326
//! (RTSP 1.0) as clients speak it: `OPTIONS`, `DESCRIBE`, `SETUP` (RTP over the RTSP
//! connection, `RTP/AVP/TCP;interleaved=a-b`, or over UDP, `client_port=a-b`), `PLAY`,
//! `TEARDOWN`, and `GET_PARAMETER`/`SET_PARAMETER` as keep-alives. One session per
//! connection, as ffmpeg, GStreamer, VLC and retina use it.

use std::net::{IpAddr, SocketAddr};

use rtsp_types::headers::{self, Transport, Transports};
use rtsp_types::{Method, Request, Response, StatusCode, Version};

use crate::auth;

/// Where a track's packets go for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// On the RTSP connection, in `$`-framed interleaved data on these channels.
    Interleaved {
        /// The RTP channel.
        rtp: u8,
        /// The RTCP channel (sender reports).
        rtcp: u8,
    },
    /// Over UDP to the client's ports.
    Udp {
        /// Where RTP goes.
        rtp: SocketAddr,
        /// Where RTCP goes.
        rtcp: SocketAddr,
    },
}

/// What the server does after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Start sending: each set-up track (by index) and where its packets go.
    Play(Vec<(usize, Delivery)>),
    /// The client paused: stop sending until its next PLAY, which starts it again at
    /// the last key frame (a live stream does not wait for it).
    Pause,
    /// The client ended its session: stop sending, close the connection.
    Teardown,
    /// A publisher starts sending (ingest): its SDP, and which interleaved channel
    /// carries each of its media sections' RTP (by index in the SDP).
    Record {
        /// The SDP it announced.
        sdp: String,
        /// (RTP channel, media section index), one per set-up section.
        channels: Vec<(u8, usize)>,
    },
}

/// The stream as the handler answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Description {
    /// The stream's path, without slashes at either end (may be empty).
    pub path: String,
    /// The SDP, each media section with `a=control:trackID=N`.
    pub sdp: String,
    /// How many tracks (media sections) it has.
    pub tracks: usize,
}

impl Description {
    /// A stream at `path` (no slashes at either end) described by `sdp` (each media
    /// section with `a=control:trackID=N`) with `tracks` tracks.
    pub fn new(path: &str, sdp: String, tracks: usize) -> Description {
        Description {
            path: path.to_owned(),
            sdp,
            tracks,
        }
    }
}

/// One connection's session state.
#[derive(Debug)]
pub struct Handler {
    session: String,
    peer: IpAddr,
    /// The server's RTP and RTCP UDP ports, when it sends over UDP.
    server_ports: Option<(u16, u16)>,
    setup: Vec<(usize, Delivery)>,
    /// The password every request but OPTIONS must prove, and this connection's nonce.
    password: Option<(String, String)>,
    /// Ingest: the path a publisher announces to, and what it announced (the SDP and
    /// each media section's control).
    ingest: Option<Ingest>,
}

#[derive(Debug, Default)]
struct Ingest {
    path: String,
    announced: Option<(String, Vec<Option<String>>)>,
    channels: Vec<(u8, usize)>,
}

/// The response type: bodies are bytes.
pub type Reply = Response<Vec<u8>>;

const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

impl Handler {
    /// A handler for a connection from `peer`; `session` is its session id.
    pub fn new(session: String, peer: IpAddr, server_ports: Option<(u16, u16)>) -> Handler {
        Handler {
            session,
            peer,
            server_ports,
            setup: Vec::new(),
            password: None,
            ingest: None,
        }
    }

    /// Makes this connection a publisher's (ingest): `ANNOUNCE` to `path` (no slashes at
    /// either end), `SETUP` of each section over TCP, `RECORD`. Playing is refused.
    pub fn ingest(&mut self, path: &str) {
        self.ingest = Some(Ingest {
            path: path.to_owned(),
            ..Ingest::default()
        });
    }

    /// Requires `password` (any user name) of every request but OPTIONS, challenged
    /// with `nonce` (random, per connection).
    pub fn require_password(&mut self, password: String, nonce: String) {
        self.password = Some((password, nonce));
    }

    /// Answers `request`; `stream` is `None` while the stream's tracks are not known yet.
    pub fn handle(
        &mut self,
        request: &Request<Vec<u8>>,
        stream: Option<&Description>,
    ) -> (Reply, Option<Action>) {
        let cseq = request
            .header(&headers::CSEQ)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| "0".into());
        let reply = |status: StatusCode| {
            Response::builder(Version::V1_0, status)
                .header(headers::CSEQ, cseq.as_str())
                .header(headers::SERVER, "media-toolkit")
        };
        let path = request
            .request_uri()
            .map(|u| u.path().trim_matches('/').to_owned());
        let session_ok = || {
            request
                .typed_header::<headers::Session>()
                .ok()
                .flatten()
                .is_some_and(|s| s.0 == self.session)
        };
        if let Some((password, nonce)) = &self.password
            && request.method() != Method::Options
        {
            let proof = request.header(&headers::AUTHORIZATION);
            let method: &str = request.method().into();
            if !proof.is_some_and(|p| auth::authorized(p.as_str(), method, password, nonce)) {
                let answer = reply(StatusCode::Unauthorized)
                    .header(headers::WWW_AUTHENTICATE, auth::challenge(nonce))
                    .build(Vec::new());
                return (answer, None);
            }
        }
        if self.ingest.is_some() {
            let same_session = session_ok();
            let (status, action) = self.handle_ingest(request, path.as_deref(), same_session);
            let mut answer = reply(status);
            if status == StatusCode::Ok && request.method() == Method::Setup {
                if let Some((rtp, _)) = self.ingest.as_ref().and_then(|i| i.channels.last()) {
                    let transport = format!(
                        "RTP/AVP/TCP;unicast;interleaved={rtp}-{};mode=record",
                        rtp.saturating_add(1)
                    );
                    answer = answer.header(headers::TRANSPORT, transport);
                }
                answer = answer.header(headers::SESSION, format!("{};timeout=60", self.session));
            } else if status == StatusCode::Ok && request.method() == Method::Record {
                answer = answer.header(headers::SESSION, self.session.as_str());
            } else if request.method() == Method::Options {
                answer = answer.header(headers::PUBLIC, INGEST_PUBLIC);
            }
            return (answer.build(Vec::new()), action);
        }
        match request.method() {
            Method::Options => (
                reply(StatusCode::Ok)
                    .header(headers::PUBLIC, PUBLIC)
                    .build(Vec::new()),
                None,
            ),
            Method::GetParameter | Method::SetParameter => {
                (reply(StatusCode::Ok).build(Vec::new()), None)
            }
            Method::Describe => {
                let Some(stream) = stream else {
                    return (unavailable(reply(StatusCode::ServiceUnavailable)), None);
                };
                if path.as_deref() != Some(stream.path.as_str()) {
                    return (reply(StatusCode::NotFound).build(Vec::new()), None);
                }
                let base = match request.request_uri() {
                    Some(uri) => format!("{}/", uri.as_str().trim_end_matches('/')),
                    None => String::new(),
                };
                let response = reply(StatusCode::Ok)
                    .header(headers::CONTENT_TYPE, "application/sdp")
                    .header(headers::CONTENT_BASE, base)
                    .build(stream.sdp.clone().into_bytes());
                (response, None)
            }
            Method::Setup => {
                let Some(stream) = stream else {
                    return (unavailable(reply(StatusCode::ServiceUnavailable)), None);
                };
                let Some(track) = path.as_deref().and_then(|p| track_of(p, stream)) else {
                    return (reply(StatusCode::NotFound).build(Vec::new()), None);
                };
                let transports = request.typed_header::<Transports>().ok().flatten();
                let chosen = transports
                    .as_ref()
                    .and_then(|list| list.as_ref().iter().find_map(|t| self.delivery(t, track)));
                let Some((delivery, answer)) = chosen else {
                    return (
                        reply(StatusCode::UnsupportedTransport).build(Vec::new()),
                        None,
                    );
                };
                self.setup.retain(|(t, _)| *t != track);
                self.setup.push((track, delivery));
                let response = reply(StatusCode::Ok)
                    .header(headers::TRANSPORT, answer)
                    .header(headers::SESSION, format!("{};timeout=60", self.session))
                    .build(Vec::new());
                (response, None)
            }
            Method::Play | Method::Pause => {
                let play = request.method() == Method::Play;
                if play && stream.is_none() {
                    return (unavailable(reply(StatusCode::ServiceUnavailable)), None);
                }
                if !session_ok() {
                    return (reply(StatusCode::SessionNotFound).build(Vec::new()), None);
                }
                if self.setup.is_empty() {
                    let status = StatusCode::MethodNotValidInThisState;
                    return (reply(status).build(Vec::new()), None);
                }
                let response =
                    reply(StatusCode::Ok).header(headers::SESSION, self.session.as_str());
                if !play {
                    return (response.build(Vec::new()), Some(Action::Pause));
                }
                let response = response
                    .header(headers::RANGE, "npt=0.000-")
                    .build(Vec::new());
                let mut tracks = self.setup.clone();
                tracks.sort_by_key(|(t, _)| *t);
                (response, Some(Action::Play(tracks)))
            }
            Method::Teardown => {
                let response = reply(StatusCode::Ok).build(Vec::new());
                (response, Some(Action::Teardown))
            }
            _ => (
                reply(StatusCode::NotImplemented)
                    .header(headers::PUBLIC, PUBLIC)
                    .build(Vec::new()),
                None,
            ),
        }
    }

    /// The delivery for one offered transport, and the Transport header that answers it;
    /// `None` for what is not served (multicast, other profiles).
    fn delivery(&self, offered: &Transport, track: usize) -> Option<(Delivery, String)> {
        let Transport::Rtp(rtp) = offered else {
            return None;
        };
        let params = &rtp.params;
        if rtp.profile != headers::RtpProfile::Avp || params.multicast {
            return None;
        }
        let channel = |n: usize| u8::try_from(n).ok();
        match rtp.lower_transport {
            Some(headers::RtpLowerTransport::Tcp) => {
                let (a, b) = match params.interleaved {
                    Some((a, Some(b))) => (a, b),
                    Some((a, None)) => (a, a.checked_add(1)?),
                    None => (channel(2 * track)?, channel(2 * track + 1)?),
                };
                let answer = format!("RTP/AVP/TCP;unicast;interleaved={a}-{b}");
                Some((Delivery::Interleaved { rtp: a, rtcp: b }, answer))
            }
            _ => {
                let (server_rtp, server_rtcp) = self.server_ports?;
                let (a, b) = match params.client_port {
                    Some((a, Some(b))) => (a, b),
                    Some((a, None)) => (a, a.checked_add(1)?),
                    None => return None,
                };
                let answer = format!(
                    "RTP/AVP;unicast;client_port={a}-{b};server_port={server_rtp}-{server_rtcp}"
                );
                let delivery = Delivery::Udp {
                    rtp: SocketAddr::new(self.peer, a),
                    rtcp: SocketAddr::new(self.peer, b),
                };
                Some((delivery, answer))
            }
        }
    }
}

const INGEST_PUBLIC: &str =
    "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

impl Handler {
    /// A publisher's request: its status, and `Action::Record` once it records.
    fn handle_ingest(
        &mut self,
        request: &Request<Vec<u8>>,
        path: Option<&str>,
        same_session: bool,
    ) -> (StatusCode, Option<Action>) {
        let Some(ingest) = self.ingest.as_mut() else {
            return (StatusCode::InternalServerError, None);
        };
        match request.method() {
            Method::Options | Method::GetParameter | Method::SetParameter => (StatusCode::Ok, None),
            Method::Announce => {
                if path != Some(ingest.path.as_str()) {
                    return (StatusCode::NotFound, None);
                }
                let sdp = String::from_utf8_lossy(request.body()).into_owned();
                match rtp_media::Session::parse(&sdp) {
                    Ok(session) if !session.media.is_empty() => {
                        let controls = session.media.iter().map(|m| m.control.clone()).collect();
                        ingest.announced = Some((sdp, controls));
                        ingest.channels.clear();
                        (StatusCode::Ok, None)
                    }
                    _ => (StatusCode::BadRequest, None),
                }
            }
            Method::Setup => {
                let Some((_, controls)) = &ingest.announced else {
                    return (StatusCode::MethodNotValidInThisState, None);
                };
                let uri = request.request_uri().map(|u| u.as_str().to_owned());
                let Some(index) = uri.and_then(|uri| section_of(&uri, controls)) else {
                    return (StatusCode::NotFound, None);
                };
                let transports = request.typed_header::<Transports>().ok().flatten();
                let interleaved = transports.as_ref().and_then(|list| {
                    list.as_ref().iter().find_map(|t| match t {
                        Transport::Rtp(rtp)
                            if rtp.lower_transport == Some(headers::RtpLowerTransport::Tcp) =>
                        {
                            Some(rtp.params.interleaved.map_or(2 * index as u8, |(a, _)| a))
                        }
                        _ => None,
                    })
                });
                // Over TCP only: a publisher offered UDP first tries TCP next (ffmpeg).
                let Some(channel) = interleaved else {
                    return (StatusCode::UnsupportedTransport, None);
                };
                ingest.channels.retain(|(_, i)| *i != index);
                ingest.channels.push((channel, index));
                (StatusCode::Ok, None)
            }
            Method::Record => {
                if !same_session {
                    return (StatusCode::SessionNotFound, None);
                }
                match (&ingest.announced, ingest.channels.is_empty()) {
                    (Some((sdp, _)), false) => {
                        let action = Action::Record {
                            sdp: sdp.clone(),
                            channels: ingest.channels.clone(),
                        };
                        (StatusCode::Ok, Some(action))
                    }
                    _ => (StatusCode::MethodNotValidInThisState, None),
                }
            }
            Method::Teardown => (StatusCode::Ok, Some(Action::Teardown)),
            Method::Describe | Method::Play => (StatusCode::MethodNotValidInThisState, None),
            _ => (StatusCode::NotImplemented, None),
        }
    }
}

/// The media section a publisher's SETUP URL names: the one whose control the URL ends
/// with (controls are relative, `streamid=0`, or whole URLs).
fn section_of(uri: &str, controls: &[Option<String>]) -> Option<usize> {
    let uri = uri.trim_end_matches('/');
    controls.iter().position(|c| {
        c.as_deref()
            .map(|c| c.trim_end_matches('/'))
            .is_some_and(|c| {
                !c.is_empty() && c != "*" && (uri == c || uri.ends_with(&format!("/{c}")))
            })
    })
}

/// The answer to a PLAY the server cannot take (as many clients as allowed, or the
/// stream changed since its DESCRIBE): 503.
pub fn refused(request: &Request<Vec<u8>>) -> Reply {
    let cseq = request
        .header(&headers::CSEQ)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| "0".into());
    Response::builder(Version::V1_0, StatusCode::ServiceUnavailable)
        .header(headers::CSEQ, cseq)
        .header(headers::SERVER, "media-toolkit")
        .build(Vec::new())
}

/// 503 with a hint to retry: the stream's tracks are not known yet.
fn unavailable(builder: rtsp_types::ResponseBuilder) -> Reply {
    builder.header(headers::RETRY_AFTER, "1").build(Vec::new())
}

/// The track a SETUP path names: `{stream}/trackID=N` (or the stream itself when it has
/// one track).
fn track_of(path: &str, stream: &Description) -> Option<usize> {
    let rest = if stream.path.is_empty() {
        path
    } else {
        let rest = path.strip_prefix(stream.path.as_str())?;
        if rest.is_empty() {
            return (stream.tracks == 1).then_some(0);
        }
        rest.strip_prefix('/')?
    };
    let n: usize = rest.strip_prefix("trackID=")?.parse().ok()?;
    (n < stream.tracks).then_some(n)
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
