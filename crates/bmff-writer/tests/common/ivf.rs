//! VP8, VP9 and AV1 streams from ffmpeg (libvpx, libvpx-vp9, libaom-av1) through IVF:
//! frames, key flags from ffprobe, and AV1 made ready for ISO BMFF.

use std::path::Path;
use std::process::Command;

use bmff_writer::{Av1Config, Bytes, Sample};
use test_support::ffprobe;

/// Encodes the test pattern with `encoder` into an IVF file; returns its frames and key
/// flags (from ffprobe).
pub fn encode(dir: &Path, encoder: &str, extra: &[&str]) -> Vec<(Bytes, bool)> {
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
pub fn obus(tu: &Bytes) -> Vec<(u8, Bytes)> {
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

pub fn samples(frames: &[(Bytes, bool)]) -> Vec<Sample> {
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

/// 2 s of AV1: its configuration (level 8 as a 4.0 ceiling, the first sequence header) and
/// its temporal units without temporal delimiters (AV1 ISOBMFF binding §2.4).
pub fn av1_stream(dir: &Path) -> (Av1Config, Vec<(Bytes, bool)>) {
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
    (Av1Config::new(8, sequence_header), av1)
}
