//! VP8, VP9 and AV1 in plain and fragmented MP4 (`vp08`/`vp09` + `vpcC`, `av01` +
//! `av1C`): ffmpeg encodes 2 s of 320x240 at 25 fps to IVF (libvpx, libvpx-vp9,
//! libaom-av1), we mux its frames, and ffprobe must see the codec, size, frame count and
//! duration, and ffmpeg must decode every frame without an error. Key frames come from
//! ffprobe's packet flags on the IVF (an independent reader).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use bmff_writer::{
    Av1Config, Bytes, Codec, FragmentOptions, FragmentedWriter, Mp4Options, Mp4Writer, Sample,
    TrackConfig, VpConfig,
};
use test_support::ffprobe::{self, num};

const FRAMES: usize = 50;

/// Encodes the test pattern with `encoder` into an IVF file; returns its frames and key
/// flags (from ffprobe).
fn encode(dir: &Path, encoder: &str, extra: &[&str]) -> Vec<(Bytes, bool)> {
    let ivf = dir.join(format!("{encoder}.ivf"));
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25:duration=2")
        .args(["-c:v", encoder, "-g", "25", "-pix_fmt", "yuv420p"])
        .args(extra)
        .arg(&ivf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<bool> = ffprobe::packets(&ivf, "v:0")
        .iter()
        .map(|p| p["flags"].as_str().unwrap_or("").contains('K'))
        .collect();
    // IVF: a 32-byte file header, then per frame a 12-byte header (size, timestamp).
    let bytes = std::fs::read(&ivf).unwrap();
    let header = usize::from(u16::from_le_bytes([bytes[6], bytes[7]]));
    let mut frames = Vec::new();
    let mut pos = header;
    while pos + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let data = Bytes::copy_from_slice(&bytes[pos + 12..pos + 12 + size]);
        frames.push((data, keys.get(frames.len()).copied().unwrap_or(false)));
        pos += 12 + size;
    }
    assert_eq!(frames.len(), keys.len(), "IVF frames and ffprobe packets");
    assert!(frames[0].1, "the first frame is a key frame");
    frames
}

/// AV1 low-overhead OBUs: (type, whole OBU bytes).
fn obus(tu: &Bytes) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < tu.len() {
        let header = tu[pos];
        let obu_type = header >> 3 & 0x0f;
        let mut p = pos + 1 + usize::from(header & 0x04 != 0);
        assert!(header & 0x02 != 0, "IVF AV1 OBUs carry sizes");
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = tu[p];
            p += 1;
            size |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        out.push((obu_type, tu.slice(pos..p + size)));
        pos = p + size;
    }
    out
}

fn samples(frames: &[(Bytes, bool)]) -> Vec<Sample> {
    frames
        .iter()
        .enumerate()
        .map(|(i, (data, key))| {
            let mut s = Sample::new(0, i as i64 * 3600, *key, data.clone());
            s.duration = Some(3600);
            s
        })
        .collect()
}

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

    let av1 = encode(
        dir,
        "libaom-av1",
        &["-cpu-used", "8", "-usage", "realtime", "-b:v", "300k"],
    );
    // ISO BMFF AV1 samples carry no temporal delimiters (binding §2.4); the sequence
    // header goes into av1C's configOBUs.
    let sequence_header = obus(&av1[0].0)
        .into_iter()
        .find(|(t, _)| *t == 1)
        .map(|(_, o)| o)
        .unwrap();
    let av1: Vec<(Bytes, bool)> = av1
        .iter()
        .map(|(tu, key)| {
            let kept: Vec<u8> = obus(tu)
                .into_iter()
                .filter(|(t, _)| *t != 2)
                .flat_map(|(_, o)| o.to_vec())
                .collect();
            (Bytes::from(kept), *key)
        })
        .collect();
    check(
        dir,
        "av1",
        Codec::Av1(Av1Config::new(8, sequence_header)),
        &av1,
        "av1",
    );
}
