//! whip-whep targets: what WHEP/WHIP servers and clients read from the network.
//!
//! - `whep_http`: request heads and bodies as the servers read them (and the routes they
//!   ask for), responses as the clients read them (whole, partial, cut by a close), and
//!   endpoint URLs (a token in the URL is refused, never shown).
//! - `whep_offer`: the bytes as an SDP offer to a WHEP viewer (for each kind of stream),
//!   to a WHIP publisher, and as an answer to our WHEP and WHIP clients' offers: a session
//!   or a clear error, never a panic.
//! - `whep_frames`: the bytes as a frame the WHEP server cuts into RTP payloads itself
//!   (H.264 and H.265 Annex B, G.711, Opus): every payload fits, the last alone marked.

use std::net::SocketAddr;
use std::time::Instant;

use whip_whep::http::{Parsed, Request, Route};
use whip_whep::signalling::EndpointUrl;
use whip_whep::{
    AudioCodec, Publisher, StreamCodecs, VideoCodec, Viewer, WhepClient, WhipClient, fuzzing,
};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("whep_http", whep_http),
    ("whep_offer", whep_offer),
    ("whep_frames", whep_frames),
];

pub fn whep_frames(data: &[u8]) {
    fuzzing::cut_frame(data);
}

pub fn whep_http(data: &[u8]) {
    if let Parsed::Complete(request) = Request::parse(data) {
        assert!(request.body.len() <= whip_whep::http::MAX_REQUEST);
        let _ = Route::of(&request, "/cam", "whep");
        let _ = Route::of(&request, "/pub", "whip");
    }
    // Every prefix as the bytes arrive, then the whole as the server closed.
    for end in [data.len() / 3, data.len() / 2, data.len()] {
        let _ = fuzzing::parse_response(&data[..end], false);
    }
    let _ = fuzzing::parse_response(data, true);
    let text = String::from_utf8_lossy(data);
    if let Ok(url) = EndpointUrl::parse(&text) {
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains('?'), "a query never shows: {shown}");
    }
}

pub fn whep_offer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let local: SocketAddr = ([127, 0, 0, 1], 40000).into();
    let now = Instant::now();
    for codecs in [
        StreamCodecs::new(
            Some(VideoCodec::H264 {
                profile_level_id: 0x42e01f,
            }),
            Some(AudioCodec::Opus),
        ),
        StreamCodecs::new(Some(VideoCodec::Vp8), Some(AudioCodec::Pcma)),
        StreamCodecs::new(
            Some(VideoCodec::H265 {
                profile_id: 1,
                tier_flag: 0,
                level_id: 93,
            }),
            None,
        ),
    ] {
        let _ = Viewer::accept(&text, local, codecs, now);
    }
    let _ = Publisher::accept(&text, local, now);
    if let Ok((mut client, _)) = WhepClient::offer(local, now) {
        let _ = client.accept_answer(&text);
    }
    let codecs = StreamCodecs::new(Some(VideoCodec::Av1), Some(AudioCodec::Opus));
    if let Ok((mut client, _)) = WhipClient::offer(codecs, local, now) {
        let _ = client.accept_answer(&text);
    }
}
