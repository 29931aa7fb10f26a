//! Helpers shared by the MPEG-TS tests (`ts_files.rs`, `ts_jumps.rs`): ffmpeg-made
//! `.ts` files, a conversion through the pipeline, and packet comparisons by ffprobe.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, num};

pub async fn convert(input: &Path, output: &Path, options: Options) -> Result<(), pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input)?;
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output)?;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .map(|_| ())
}

pub fn key(p: &Value) -> bool {
    p["flags"].as_str().unwrap_or("").starts_with('K')
}

pub fn decodes_cleanly(file: &Path) {
    let errors = ffprobe::decode_errors(file);
    assert!(
        errors.is_empty(),
        "{}: ffmpeg decode errors: {errors}",
        file.display()
    );
}

/// ffmpeg's test picture (H.264 with B-frames, a key frame a second) and tone (AAC).
pub const H264_AAC: [&str; 16] = [
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000",
    "-c:v",
    "libx264",
    "-bf",
    "2",
    "-g",
    "25",
    "-c:a",
    "aac",
];

/// Makes a 2 s `.ts` file with ffmpeg from its test sources.
pub fn ffmpeg_ts(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .args(["-t", "2", "-f", "mpegts"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg making {name}");
    out
}

/// The decoded frames' hashes (`-f framemd5`) of one stream: identical pictures and
/// samples whatever the container.
pub fn decoded_hashes(file: &Path, stream: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", &format!("0:{stream}"), "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg framemd5 of {}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

/// Compares ffprobe's packets of `stream` in the ffmpeg-made `.ts` and in our MP4: count,
/// times relative to `origin` (seconds, within two 90 kHz ticks), key flags, and for audio
/// the sizes (`adts` bytes of header less in MP4).
pub fn same_packets(ts: &Path, mp4: &Path, stream: &str, origins: (f64, f64), adts: Option<i64>) {
    let (a, b) = (ffprobe::packets(ts, stream), ffprobe::packets(mp4, stream));
    assert_eq!(
        a.len(),
        b.len(),
        "{stream}: packet counts of {} and {}",
        ts.display(),
        mp4.display()
    );
    // Two 90 kHz ticks of rounding; audio in MP4 counts samples, so one sample more.
    let rate = ffprobe::probe_with(mp4, &["-select_streams", stream, "-show_streams"]);
    let sample = num(&rate["streams"][0]["sample_rate"]);
    let tick = 2.0 / 90_000.0 + if sample > 0.0 { 1.0 / sample } else { 0.0 };
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        for field in ["pts_time", "dts_time"] {
            let (x, y) = (num(&p[field]) - origins.0, num(&q[field]) - origins.1);
            assert!(
                (x - y).abs() <= tick,
                "{stream} packet {i}: {field} {x} in .ts, {y} in MP4"
            );
        }
        assert_eq!(key(p), key(q), "{stream} packet {i}: key flag");
        if let Some(header) = adts {
            assert_eq!(
                num(&p["size"]) as i64 - header,
                num(&q["size"]) as i64,
                "{stream} packet {i}: size"
            );
        }
    }
}

pub fn first_pts(file: &Path) -> f64 {
    let probe = ffprobe::probe(file);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| num(&s["start_time"]))
        .fold(f64::INFINITY, f64::min)
}
