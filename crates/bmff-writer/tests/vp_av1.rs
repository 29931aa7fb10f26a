//! VP8, VP9 and AV1 in plain and fragmented MP4 (`vp08`/`vp09` + `vpcC`, `av01` +
//! `av1C`): ffmpeg encodes 2 s of 320x240 at 25 fps to IVF (libvpx, libvpx-vp9,
//! libaom-av1), we mux its frames, and ffprobe must see the codec, size, frame count and
//! duration, and ffmpeg must decode every frame without an error. Key frames come from
//! ffprobe's packet flags on the IVF (an independent reader).
#![allow(clippy::unwrap_used)]

use std::path::Path;

mod common;

use bmff_writer::{
    Bytes, Codec, FragmentOptions, FragmentedWriter, Mp4Options, Mp4Writer, TrackConfig, VpConfig,
};
use common::ivf::{av1_stream, encode, samples};
use test_support::ffprobe::{self, num};

const FRAMES: usize = 50;

/// Writes plain and fragmented files; checks both with ffprobe and ffmpeg.
fn check(dir: &Path, name: &str, codec: Codec, frames: &[(Bytes, bool)], probe_name: &str) {
    let config = TrackConfig::video(codec, 90_000, 320, 240);
    let plain = dir.join(format!("{name}.mp4"));
    let mut w = Mp4Writer::new(
        std::fs::File::create(&plain).unwrap(),
        vec![config.clone()],
        Mp4Options::default(),
    )
    .unwrap();
    for s in samples(frames) {
        w.push(s).unwrap();
    }
    w.finish().unwrap();
    let fragmented = dir.join(format!("{name}.fmp4.mp4"));
    let mut w = FragmentedWriter::new(
        std::fs::File::create(&fragmented).unwrap(),
        vec![config],
        FragmentOptions::default(),
    )
    .unwrap();
    for s in samples(frames) {
        w.push(s).unwrap();
    }
    w.finish().unwrap();
    for file in [&plain, &fragmented] {
        let p = ffprobe::probe(file);
        let v = &p["streams"][0];
        assert_eq!(v["codec_name"], probe_name, "{}: {v}", file.display());
        assert_eq!(v["width"], 320);
        assert_eq!(v["height"], 240);
        let duration = num(&p["format"]["duration"]);
        assert!(
            (duration - 2.0).abs() < 0.05,
            "{}: duration {duration}",
            file.display()
        );
        let packets = ffprobe::packets(file, "v:0");
        assert_eq!(packets.len(), FRAMES, "{}", file.display());
        let keys = packets
            .iter()
            .filter(|p| p["flags"].as_str().unwrap_or("").contains('K'))
            .count();
        assert_eq!(
            keys,
            frames.iter().filter(|f| f.1).count(),
            "{}",
            file.display()
        );
        let errors = ffprobe::decode_errors(file);
        assert!(errors.is_empty(), "{}: {errors}", file.display());
    }
}

#[test]
fn vp8_vp9_and_av1_mux_and_decode() {
    test_support::require_peer!("ffmpeg");
    test_support::require_peer!("ffprobe");
    let dir = test_support::temp_dir();
    let dir = dir.path();

    let vp8 = encode(dir, "libvpx", &["-deadline", "realtime", "-b:v", "300k"]);
    check(dir, "vp8", Codec::Vp8(VpConfig::default()), &vp8, "vp8");

    let vp9 = encode(
        dir,
        "libvpx-vp9",
        &["-deadline", "realtime", "-b:v", "300k"],
    );
    check(dir, "vp9", Codec::Vp9(VpConfig::default()), &vp9, "vp9");

    let (av1_config, av1) = av1_stream(dir);
    check(dir, "av1", Codec::Av1(av1_config), &av1, "av1");
}
