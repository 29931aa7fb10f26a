//! rtsp-server target: what a client can send to the server.
//!
//! - `rtsp_server_requests`: any bytes read as the connection reads them (RTSP messages
//!   and interleaved data back to back) and answered by one connection's [`Handler`]: no
//!   panic, every answer serializes and echoes the request's CSeq, and a PLAY starts only
//!   tracks the stream has; half the inputs go through the password check (Digest and
//!   Basic parsed).

use rtsp_server::{Action, Description, Handler};
use rtsp_types::{Message, ParseError};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[("rtsp_server_requests", rtsp_server_requests)];

pub fn rtsp_server_requests(data: &[u8]) {
    let stream = Description::new("live/cam", "v=0\r\n".into(), 2);
    let peer = "127.0.0.1".parse().expect("an address");
    let mut handler = Handler::new("s1".into(), peer, Some((6000, 6001)));
    // A quarter as a publisher's connection (ANNOUNCE, SETUP, RECORD).
    if data.get(1).is_some_and(|b| b % 4 == 1) {
        handler.ingest("live/cam");
    }
    // Half the inputs against a password: the Authorization parsers (Digest, Basic) too.
    if data.first().is_some_and(|b| b % 2 == 1) {
        handler.require_password("s3cret".into(), "n0nce".into());
    }
    let mut rest = data;
    // At most as many messages as bytes: each parse consumes at least one.
    while !rest.is_empty() {
        let (message, consumed) = match Message::<Vec<u8>>::parse(rest) {
            Ok(parsed) => parsed,
            Err(ParseError::Incomplete(_) | ParseError::Error) => return,
        };
        assert!(consumed > 0 && consumed <= rest.len());
        rest = &rest[consumed..];
        let Message::Request(request) = message else {
            continue;
        };
        // Before the tracks are known, then with them.
        let described = rest.len().is_multiple_of(2);
        let (answer, action) = handler.handle(&request, described.then_some(&stream));
        let mut wire = Vec::new();
        answer.write(&mut wire).expect("an answer serializes");
        if let Some(cseq) = request.header(&rtsp_types::headers::CSEQ) {
            let line = format!("CSeq: {}\r\n", cseq.as_str());
            let text = String::from_utf8_lossy(&wire);
            assert!(text.contains(&line), "{text}");
        }
        match action {
            Some(Action::Play(tracks)) => {
                assert!(described);
                assert!(tracks.iter().all(|(t, _)| *t < stream.tracks));
            }
            // What was recorded was announced: an SDP that parses, its sections set up.
            Some(Action::Record { sdp, channels }) => {
                let session = rtp_media::Session::parse(&sdp).expect("the announced SDP");
                assert!(channels.iter().all(|(_, m)| *m < session.media.len()));
            }
            _ => {}
        }
    }
}
