//! Fragmented output played by headless Chromium through Media Source Extensions
//! (`test_support::mse`): a test page appends the init segment and the fragments; it
//! passes only when the video element plays past a given time with no SourceBuffer or
//! media error.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bmff_writer::{
    FragmentOptions, InitSegment, MediaSegment, Sample, SegmentSink, SegmentWriter, TrackConfig,
};
use common::{fixture_track, interleave};
use test_support::mse;

/// Collects segments in memory, in output order, as URL paths.
#[derive(Default)]
struct Memory {
    files: Vec<(String, Vec<u8>)>,
}

impl SegmentSink for Memory {
    fn init_segment(&mut self, init: &InitSegment) -> std::io::Result<()> {
        self.files
            .push((format!("/init-{}.mp4", init.number), init.bytes.to_vec()));
        Ok(())
    }
    fn media_segment(&mut self, s: &MediaSegment) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(s.size as usize);
        bmff_writer::write_all_vectored(&mut bytes, &s.parts)?;
        self.files
            .push((format!("/segment-{}.m4s", s.sequence_number), bytes));
        Ok(())
    }
}

fn segments(
    tracks: &[(TrackConfig, Vec<Sample>)],
    change: Option<(usize, TrackConfig, Vec<Sample>)>,
) -> Vec<(String, Vec<u8>)> {
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let opts = FragmentOptions::new(Duration::from_millis(500));
    let mut w = SegmentWriter::new(Memory::default(), configs, opts).unwrap();
    for s in interleave(tracks) {
        w.push(s).unwrap();
    }
    if let Some((track, config, samples)) = change {
        w.set_codec(track, config.codec).unwrap();
        for s in samples {
            w.push(s).unwrap();
        }
    }
    w.finish().unwrap().files
}

#[test]
fn h264_and_aac_play_through_media_source_extensions() {
    test_support::require_peer!("chromium");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let codecs: Vec<String> = tracks
        .iter()
        .map(|(c, _)| c.codec_string().unwrap().unwrap())
        .collect();
    let mime = format!("video/mp4; codecs=\"{}\"", codecs.join(","));
    let result = mse::play(segments(&tracks, None), &mime, 1.0);
    assert!(result.starts_with("ok "), "Chromium MSE: {result}");
}

#[test]
fn codec_change_plays_through_a_new_init_segment() {
    test_support::require_peer!("chromium");
    let (c1, s1) = fixture_track("h264.mp4", 0);
    let (c2, s2) = fixture_track("rtsp-file.mp4", 0);
    let step = s1[1].dts - s1[0].dts;
    let end = s1.last().unwrap().dts + step;
    let second: Vec<Sample> = s2
        .into_iter()
        .take(30)
        .map(|mut s| {
            s.dts = end + s.dts * i64::from(c1.timescale) / i64::from(c2.timescale);
            s
        })
        .collect();
    let mime = format!(
        "video/mp4; codecs=\"{}\"",
        c1.codec_string().unwrap().unwrap()
    );
    let files = segments(&[(c1, s1)], Some((0, c2, second)));
    assert!(files.iter().any(|(p, _)| p == "/init-2.mp4"));
    // Past the 2 s switch point into the second configuration (640x360).
    let result = mse::play(files, &mime, 2.3);
    assert!(
        result.starts_with("ok ") && result.contains("width=640"),
        "Chromium MSE: {result}"
    );
}

#[test]
fn the_page_reports_a_corrupt_fragment() {
    // Negative control: the harness must see Chromium reject bad data.
    test_support::require_peer!("chromium");
    let tracks = [fixture_track("h264.mp4", 0)];
    let mime = format!(
        "video/mp4; codecs=\"{}\"",
        tracks[0].0.codec_string().unwrap().unwrap()
    );
    let mut files = segments(&tracks, None);
    let seg = &mut files[1].1;
    seg[12..16].copy_from_slice(b"junk"); // the mfhd inside the first moof
    let result = mse::play(files, &mime, 1.0);
    assert!(
        result.starts_with("fail "),
        "Chromium accepted a corrupt fragment: {result}"
    );
}

#[test]
fn vp9_and_av1_play_through_media_source_extensions() {
    test_support::require_peer!("chromium");
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let vp9 = common::ivf::encode(
        dir.path(),
        "libvpx-vp9",
        &["-deadline", "realtime", "-b:v", "300k"],
    );
    let (av1_config, av1) = common::ivf::av1_stream(dir.path());
    for (codec, frames) in [
        (
            bmff_writer::Codec::Vp9(bmff_writer::VpConfig::default()),
            vp9,
        ),
        (bmff_writer::Codec::Av1(av1_config), av1),
    ] {
        let config = TrackConfig::video(codec, 90_000, 320, 240);
        let mime = format!(
            "video/mp4; codecs=\"{}\"",
            config.codec_string().unwrap().unwrap()
        );
        let tracks = [(config, common::ivf::samples(&frames))];
        let result = mse::play(segments(&tracks, None), &mime, 1.5);
        assert!(result.starts_with("ok "), "Chromium MSE ({mime}): {result}");
    }
}
