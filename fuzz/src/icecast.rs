//! icecast-source targets: what the client reads from a server or a caller.
//!
//! - `icecast_answer`: answer heads (100 then 200, refusals with bodies), title-update
//!   answers, refusal classification, ADTS frame splitting, and target URLs whose password
//!   must never show.

use bytes::Bytes;
use icecast_source::adts::{AdtsFrames, AdtsHeader};
use icecast_source::{IcecastConfig, IcecastRefusal, protocol};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("icecast_answer", icecast_answer),
    ("icecast_status", icecast_status),
    ("icecast_ogg_pages", icecast_ogg_pages),
];

/// Ogg pages of a song: pages are slices of the input in order, a renumbered page keeps
/// its length and parses again with the new serial, sequence and granule; a song's pages
/// are paced at its codec's granule rate; comment headers give their text; the relay of a
/// muted radio (silent Opus and Vorbis pages, the Vorbis setup header read from the
/// pages) sends whole pages; the bytes as a Vorbis setup header give a setup or an error;
/// never a panic.
pub fn icecast_ogg_pages(data: &[u8]) {
    let _ = icecast_source::fuzzing::ogg_relay(data);
    let _ = icecast_source::fuzzing::vorbis_setup(data);
    use icecast_source::ogg::{OggCodec, OggPage, OggPages, comment_text, song_frames, song_pages};
    let data = Bytes::copy_from_slice(data);
    let mut at = 0;
    for page in OggPages::new(data.clone()).map_while(Result::ok) {
        assert_eq!(page.data, data.slice(at..at + page.data.len()));
        at += page.data.len();
        let renumbered = page.with_serial(7);
        assert_eq!(renumbered.data.len(), page.data.len());
        assert_eq!(OggPage::parse(&renumbered.data).map(|p| p.serial), Ok(7));
        let rewritten = OggPage::parse(&page.rewritten(8, 3, 42).data).unwrap();
        assert_eq!(
            (rewritten.serial, rewritten.sequence(), rewritten.granule),
            (8, 3, 42)
        );
        assert_eq!(rewritten.ends_packet(), page.ends_packet());
        let _ = comment_text(page.body()).stream_title();
        if let Ok(codec) = OggCodec::identify(page.body()) {
            assert!(codec.granule_rate() > 0);
            let _ = codec.describe();
        }
    }
    if let Ok((codec, frames)) = song_pages("fuzz", data.clone(), 9) {
        assert!(frames.iter().all(|f| f.sample_rate == codec.granule_rate()));
    }
    if let Ok(frames) = song_frames("fuzz", data, 9) {
        assert!(frames.iter().all(|f| f.sample_rate > 0));
    }
}

/// The server's status page (`status-json.xsl` answers): any bytes give a status, none,
/// or a refusal, never a panic.
pub fn icecast_status(data: &[u8]) {
    for mount in ["/live", "/stream", ""] {
        let _ = icecast_source::parse_status(data, mount);
    }
}

/// Everything the client parses, on the same bytes.
pub fn icecast_answer(data: &[u8]) {
    // Consecutive answer heads, as after `Expect: 100-continue`.
    let mut at = 0;
    while let Ok(Some(head)) = protocol::parse_answer_head(&data[at..]) {
        assert!(head.len >= 4 && head.len <= data.len() - at);
        at += head.len;
    }
    let _ = protocol::parse_title_answer(data);
    if let [a, b, body @ ..] = data {
        let refusal = IcecastRefusal::from_answer(
            u16::from_be_bytes([*a, *b]),
            &String::from_utf8_lossy(body),
        );
        let _ = (refusal.is_permanent(), refusal.to_string());
    }
    let _ = AdtsHeader::parse(data);
    let mut total = 0;
    for frame in AdtsFrames::new(Bytes::copy_from_slice(data)) {
        match frame {
            Ok(f) => {
                assert!(f.samples >= 1024 && f.sample_rate > 0);
                total += f.data.len();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    assert!(total <= data.len());

    let text = String::from_utf8_lossy(data);
    match IcecastConfig::from_url(&text) {
        Ok(config) => {
            let p = &config.password;
            if p.len() >= 6 && text.matches(p.as_str()).count() == 1 {
                for shown in [config.to_string(), format!("{config:?}")] {
                    assert!(!shown.contains(p.as_str()), "{p:?} shown in {shown:?}");
                }
            }
            let _ = protocol::source_request(&config, protocol::Method::Put);
            let _ = protocol::title_request(&config, &text);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
