//! rtsp-source targets: what the crate itself parses or decides (RTSP, SDP and RTP parsing
//! is retina's and fuzzed there).
//!
//! - `rtsp_url`: camera URLs and option strings; a password never shows in `Display`,
//!   `Debug` or an error.
//! - `rtsp_select`: stream selection over any SDP offer, and the keyframe gate over any
//!   frame sequence.

use rtsp_source::select::{Offer, select};
use rtsp_source::start::{Admit, StartGate};
use rtsp_source::{
    CameraUrl, InitialTimestamp, MediaKind, Pick, SessionIdPolicy, StreamSelection, Teardown,
    Transport, UnknownRtcpSsrc,
};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[("rtsp_url", rtsp_url), ("rtsp_select", rtsp_select)];

/// URL splitting and redaction; option parsing.
pub fn rtsp_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<Pick>();
    let _ = text.parse::<Transport>();
    let _ = text.parse::<InitialTimestamp>();
    let _ = text.parse::<Teardown>();
    let _ = text.parse::<UnknownRtcpSsrc>();
    let _ = text.parse::<SessionIdPolicy>();
    match CameraUrl::parse(&text) {
        Ok(url) => {
            let shown = [url.to_string(), format!("{url:?}"), url.authority()];
            assert!(url.url().username().is_empty() && url.url().password().is_none());
            if let Some(c) = url.credentials() {
                // A password that occurs once in the input, and is long enough not to be
                // part of the host or path by chance, must not be shown.
                let p = &c.password;
                if p.len() >= 6 && text.matches(p.as_str()).count() == 1 {
                    for s in &shown {
                        assert!(!s.contains(p.as_str()), "{p:?} shown in {s:?}");
                    }
                    assert!(!format!("{c:?}").contains(p.as_str()));
                }
            }
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
}

/// Selection and the start gate.
pub fn rtsp_select(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    const MEDIA: [&str; 4] = ["video", "audio", "image", "application"];
    const NAMES: [&str; 8] = [
        "h264",
        "h265",
        "jpeg",
        "mpeg4-generic",
        "pcma",
        "opus",
        "l16",
        "g726-32",
    ];
    const CLOCKS: [u32; 4] = [90_000, 8_000, 48_000, 0];
    let offers: Vec<Offer> = rest
        .iter()
        .take(16)
        .enumerate()
        .map(|(index, b)| Offer {
            index,
            media: MEDIA[usize::from(b & 3)].to_owned(),
            encoding_name: NAMES[usize::from((b >> 2) & 7)].to_owned(),
            clock_rate: CLOCKS[usize::from((b >> 5) & 3)],
            has_parameters: b & 0x80 != 0,
        })
        .collect();
    let pick = |bits: u8| match bits & 3 {
        0 => Pick::FirstSupported,
        1 => Pick::Off,
        2 => Pick::Index(usize::from(bits >> 2)),
        _ => Pick::Codecs(vec![NAMES[usize::from((bits >> 2) & 7)].to_owned()]),
    };
    let selection = StreamSelection {
        video: pick(head),
        audio: pick(head >> 4),
    };
    let Ok(selected) = select(&offers, &selection) else {
        return;
    };
    assert_eq!(selected.chosen.len() + selected.skipped.len(), offers.len());
    for (i, codec) in &selected.chosen {
        assert_eq!(offers[*i].support(), Ok(*codec));
    }

    // Feed the rest as frames: (track, keyframe) pairs.
    let kinds: Vec<MediaKind> = selected.chosen.iter().map(|(_, c)| c.kind()).collect();
    let mut gate = StartGate::new(kinds.clone(), head & 1 == 0);
    let mut firsts = 0;
    let mut video_started = vec![false; kinds.len()];
    for b in rest.iter().skip(16) {
        let track = usize::from(b & 7);
        let keyframe = b & 8 != 0;
        match gate.admit(track, keyframe) {
            Admit::Pass { first } => {
                firsts += usize::from(first);
                if head & 1 == 0 && kinds.get(track) == Some(&MediaKind::Video) {
                    // With waiting on, video passes only from its first keyframe.
                    video_started[track] |= keyframe;
                    assert!(video_started[track]);
                }
            }
            Admit::Drop => assert!(track >= kinds.len() || head & 1 == 0),
        }
    }
    assert!(firsts <= 1);
    assert_eq!(firsts == 1, gate.opened());
}
