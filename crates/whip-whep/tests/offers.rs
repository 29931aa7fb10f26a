//! Offers as Chromium makes them (a recvonly video + audio offer captured from headless
//! Chromium 1xx, `tests/data/chromium_recvonly_offer.sdp`) against the viewer's answer.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use whip_whep::{AudioCodec, StreamCodecs, VideoCodec, Viewer};

const OFFER: &str = include_str!("data/chromium_recvonly_offer.sdp");

fn accept(codecs: StreamCodecs) -> Result<String, whip_whep::Error> {
    Viewer::accept(
        OFFER,
        "127.0.0.1:40000".parse().unwrap(),
        codecs,
        Instant::now(),
    )
    .map(|(_, a)| a)
}

#[test]
fn constrained_baseline_from_a_camera_matches_chromiums_offer() {
    // x264 ultrafast: profile-level-id 42c016 (constrained baseline, level 2.2).
    let answer = accept(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c016,
        }),
        Some(AudioCodec::Opus),
    ))
    .unwrap();
    eprintln!("{answer}");
    assert!(answer.contains("H264/90000"), "{answer}");
    assert!(answer.contains("packetization-mode=1"), "{answer}");
    assert!(answer.contains("opus/48000"), "{answer}");
    assert!(answer.contains("a=ice-lite"), "{answer}");
}

#[test]
fn the_answer_leaves_out_transport_wide_congestion_control() {
    // Chromium offers the transport-wide sequence number extension; the server adapts no
    // bitrate, so it answers without it (and Chromium then sends no TWCC feedback).
    assert!(OFFER.contains("transport-wide-cc"));
    let answer = accept(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c016,
        }),
        Some(AudioCodec::Opus),
    ))
    .unwrap();
    assert!(!answer.contains("transport-wide-cc"), "{answer}");
    assert!(
        answer.contains("a=extmap:"),
        "other extensions stay: {answer}"
    );
}

#[test]
fn main_profile_and_pcma_match_too() {
    let answer = accept(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x4d0028,
        }),
        Some(AudioCodec::Pcma),
    ))
    .unwrap();
    assert!(answer.contains("H264/90000"), "{answer}");
    assert!(answer.contains("PCMA/8000"), "{answer}");
}

#[test]
fn a_rejected_section_keeps_a_format_as_chromium_needs() {
    // Video only: the audio section is rejected (port 0) but must list a format.
    let answer = accept(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c016,
        }),
        None,
    ))
    .unwrap();
    let audio = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(audio.starts_with("m=audio 0 "), "{audio}");
    assert_eq!(audio.split_whitespace().count(), 4, "{audio}");
}

#[test]
fn garbage_and_codecless_offers_are_refused_with_clear_errors() {
    let codecs = StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42e01f,
        }),
        None,
    );
    let e = Viewer::accept(
        "not sdp",
        "127.0.0.1:40000".parse().unwrap(),
        codecs,
        Instant::now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("SDP offer cannot be parsed"), "{e}");
    // High profile, which this Chromium (no proprietary codecs) does not offer, and no
    // audio: nothing in common (H.264 profiles must match exactly, RFC 6184 §8.2.2).
    let high = StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x640028,
        }),
        None,
    );
    let e = accept(high).unwrap_err();
    assert!(e.to_string().contains("no common codec"), "{e}");
}

#[test]
fn vp8_matches_chromiums_offer() {
    let answer = accept(StreamCodecs::new(
        Some(VideoCodec::Vp8),
        Some(AudioCodec::Opus),
    ))
    .unwrap();
    assert!(answer.contains("VP8/90000"), "{answer}");
    assert!(!answer.contains("H264/90000"), "{answer}");
    assert!(answer.contains("opus/48000"), "{answer}");
}

#[test]
fn vp9_and_av1_match_chromiums_offer() {
    for (codec, name) in [
        (VideoCodec::Vp9, "VP9/90000"),
        (VideoCodec::Av1, "AV1/90000"),
    ] {
        let answer = accept(StreamCodecs::new(Some(codec), Some(AudioCodec::Opus))).unwrap();
        assert!(answer.contains(name), "{answer}");
        assert!(!answer.contains("VP8/90000"), "{answer}");
    }
}

#[test]
fn h265_is_refused_to_this_chromium_which_offers_none() {
    // Main profile, main tier, level 3.1 (x265 at 640x360).
    let h265 = StreamCodecs::new(
        Some(VideoCodec::H265 {
            profile_id: 1,
            tier_flag: 0,
            level_id: 93,
        }),
        None,
    );
    let e = accept(h265).unwrap_err();
    assert!(e.to_string().contains("no common codec"), "{e}");
    assert!(e.to_string().contains("H.265"), "{e}");
}
