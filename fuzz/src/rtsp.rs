//! rtsp-source targets: what the crate itself parses or decides (RTSP, SDP and RTP parsing
//! is retina's and fuzzed there).
//!
//! - `rtsp_url`: camera URLs and option strings; what `Display`, `Debug` and an error show
//!   does not depend on the password (the input parsed again with another password must
//!   show exactly the same).
//! - `rtsp_select`: stream selection over any SDP offer, and the keyframe gate over any
//!   frame sequence.

use rtsp_source::select::{Offer, select};
use rtsp_source::start::{Admit, StartGate};
use rtsp_source::{
    CameraUrl, Credentials, InitialTimestamp, MediaKind, Pick, SessionIdPolicy, StreamSelection,
    Teardown, Transport, UnknownRtcpSsrc,
};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[("rtsp_url", rtsp_url), ("rtsp_select", rtsp_select)];

/// URL splitting and redaction; option parsing.
///
/// The property: what is shown (Display, Debug, `authority`, an error) does not depend on
/// the password. Looking for the password's text in what is shown is not that property:
/// the text can turn up legitimately (a password that is literally `***@host`, a host
/// that percent-encodes into the password's text), and a password the output does depend
/// on can hide in a transformed form. So the input is parsed again with only the password
/// replaced, and both must show exactly the same.
pub fn rtsp_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<Pick>();
    let _ = text.parse::<Transport>();
    let _ = text.parse::<InitialTimestamp>();
    let _ = text.parse::<Teardown>();
    let _ = text.parse::<UnknownRtcpSsrc>();
    let _ = text.parse::<SessionIdPolicy>();
    let parsed = CameraUrl::parse(&text);
    // That the URL sent to the server has no user information is a unit test of
    // rtsp-source (`CameraUrl::url` is crate-private: `url::Url` is not in its API).
    if let Ok(url) = &parsed
        && let Some(c) = url.credentials()
    {
        let other = Credentials::new(c.username.clone(), REPLACEMENT);
        assert_eq!(
            format!("{c:?}"),
            format!("{other:?}"),
            "Debug shows the password"
        );
    }
    // No password (an empty one is none: `rtsp://user:@cam/`, and the URL parser drops
    // tabs and line breaks): nothing to hide, and whether there is one may show (as
    // `user:***@`, or as "empty host" instead of "no host").
    let Some(span) = password_span(&text).filter(|s| {
        text[s.clone()]
            .chars()
            .any(|c| !matches!(c, '\t' | '\n' | '\r'))
    }) else {
        return;
    };
    let mut other = text.to_string();
    other.replace_range(span, REPLACEMENT);
    match (&parsed, &CameraUrl::parse(&other)) {
        // Only when the span is what the URL parser took as the password (it drops tabs
        // and newlines, for one): then nothing else changed.
        (Ok(a), Ok(b))
            if a.credentials().is_some_and(|c| !c.password.is_empty())
                && b.credentials().is_some_and(|c| c.password == REPLACEMENT) =>
        {
            assert_eq!(shown(a), shown(b), "the password changes what is shown");
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                (a.to_string(), format!("{a:?}")),
                (b.to_string(), format!("{b:?}")),
                "the password changes the error"
            );
        }
        // A password can make a URL (in)valid (`%` escapes, brackets); not a leak.
        _ => {}
    }
}

/// What replaces the password for the second parse: valid in any user information.
const REPLACEMENT: &str = "Zz9";

/// Everything a `CameraUrl` shows.
fn shown(url: &CameraUrl) -> [String; 3] {
    [url.to_string(), format!("{url:?}"), url.authority()]
}

/// Where the password of `scheme://user:password@host` is in `text`, as the URL parser
/// (the WHATWG URL standard of the `url` crate) reads it: the authority ends at `/`, `?`
/// or `#`, and for the special schemes (`http`, `ws`, `ftp`, …) also at `\\`; the user
/// information ends at the authority's last `@`; the password starts after its first `:`.
/// `None` when the text is not that plain (a `:` before `://`).
fn password_span(text: &str) -> Option<std::ops::Range<usize>> {
    let scheme_end = text.find("://")?;
    let scheme = text[..scheme_end]
        .trim_start_matches(|c: char| c <= ' ')
        .to_ascii_lowercase();
    if scheme.contains(':') {
        return None;
    }
    let special = matches!(
        scheme.as_str(),
        "http" | "https" | "ws" | "wss" | "ftp" | "file"
    );
    let start = scheme_end + 3;
    let rest = &text[start..];
    let end = rest
        .find(|c| matches!(c, '/' | '?' | '#') || (special && c == '\\'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some(start + colon + 1..start + at)
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
        .map(|(index, b)| {
            let mut offer = Offer::new(
                index,
                MEDIA[usize::from(b & 3)],
                NAMES[usize::from((b >> 2) & 7)],
                CLOCKS[usize::from((b >> 5) & 3)],
            );
            offer.has_parameters = b & 0x80 != 0;
            offer
        })
        .collect();
    let pick = |bits: u8| match bits & 3 {
        0 => Pick::FirstSupported,
        1 => Pick::Off,
        2 => Pick::Index(usize::from(bits >> 2)),
        _ => Pick::Codecs(vec![NAMES[usize::from((bits >> 2) & 7)].to_owned()]),
    };
    let selection = StreamSelection::new(pick(head), pick(head >> 4));
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
            _ => {} // a verdict newer than these checks
        }
    }
    assert!(firsts <= 1);
    assert_eq!(firsts == 1, gate.opened());
}
