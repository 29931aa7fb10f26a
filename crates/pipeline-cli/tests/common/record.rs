//! Helpers of the `pipeline record` tests: start and stop the binary, list segments,
//! check them with ffprobe/ffmpeg.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use test_support::ChildGuard;
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

pub fn peers() -> Vec<&'static str> {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    peers
}

/// Every file below `dir` whose name ends with `suffix`, sorted by name (= start time).
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Writes `DIR/cameras.toml` for one camera `cam` recording `url` below `DIR/rec` in hour
/// segments (a short test then never crosses a wall-clock boundary: segments are cut at
/// multiples of `segment_seconds`), with `extra` lines for the camera; returns its path.
pub fn one_camera(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let config = dir.join("cameras.toml");
    let text = format!(
        "[store]\nroot = \"rec\"\n\n[[camera]]\nname = \"cam\"\nurl = \"{url}\"\nsegment_seconds = 3600\n{extra}"
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Starts `pipeline record` with stderr in `log`.
pub fn record(config: &Path, log: &Path) -> ChildGuard {
    let child = Command::new(BIN)
        .arg("record")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    ChildGuard::new("pipeline record", child)
}

/// Waits (bounded) until every camera directory has a file being written or written.
pub fn wait_recording(root: &Path, cameras: &[&str]) {
    let started = Instant::now();
    for cam in cameras {
        while files(&root.join(cam), ".partial").is_empty()
            && files(&root.join(cam), ".mp4").is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "camera {cam} did not start recording"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits (bounded, 20 s) until `log` holds `text`.
pub fn wait_log(log: &Path, text: &str) {
    let started = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no {text:?} in the log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM and wait (bounded) for the exit.
pub fn stop(child: &mut ChildGuard, log: &Path) {
    child.signal("TERM");
    let started = Instant::now();
    while child.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wall-clock start of a segment from its name `%H-%M-%S.mp4` or `%H-%M-%S-%3f.mp4` below
/// `%Y/%m/%d`.
pub fn name_time(path: &Path) -> f64 {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let parts: Vec<&str> = stem.split('-').collect();
    let hms: Vec<u64> = parts.iter().take(3).map(|x| x.parse().unwrap()).collect();
    // Milliseconds are three digits; a `-2` after them only tells names apart.
    let millis = match parts.get(3) {
        Some(ms) if ms.len() == 3 => ms.parse::<f64>().unwrap() / 1000.0,
        _ => 0.0,
    };
    let day_dir: Vec<String> = path
        .ancestors()
        .skip(1)
        .take(3)
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Seconds since the start of the day, plus the day from the file's own mtime (the
    // test never runs across midnight by more than a segment).
    let day_secs = (hms[0] * 3600 + hms[1] * 60 + hms[2]) as f64 + millis;
    let mtime = mtime(path);
    let midnight = (mtime / 86_400.0).floor() * 86_400.0;
    assert_eq!(day_dir.len(), 3, "{}", path.display());
    let t = midnight + day_secs;
    if t > mtime + 1.0 { t - 86_400.0 } else { t }
}

pub fn mtime(path: &Path) -> f64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Checks a camera's segments: each decodes cleanly with ffmpeg, starts with a key frame,
/// has no hole inside longer than a frame and a half; returns (segments, their total
/// duration, the wall-clock span from the first segment's name to the last one's finish).
pub fn check_segments(camera_dir: &Path) -> (Vec<PathBuf>, f64, f64) {
    let segments = files(camera_dir, ".mp4");
    let mut total = 0.0;
    for s in &segments {
        let errors = ffprobe::decode_errors(s);
        assert!(
            errors.is_empty(),
            "{}: ffmpeg decode errors: {errors}",
            s.display()
        );
        let packets = ffprobe::packets(s, "v:0");
        assert!(!packets.is_empty(), "{}: no video", s.display());
        let first = packets
            .iter()
            .min_by(|a, b| num(&a["dts_time"]).total_cmp(&num(&b["dts_time"])))
            .unwrap();
        assert!(
            first["flags"].as_str().unwrap_or("").contains('K'),
            "{}: starts with {first}",
            s.display()
        );
        let mut pts: Vec<f64> = packets.iter().map(|p| num(&p["pts_time"])).collect();
        pts.sort_by(f64::total_cmp);
        for w in pts.windows(2) {
            // The test camera sends 15 frames per second.
            assert!(
                w[1] - w[0] < 1.5 / 15.0,
                "{}: hole of {:.3} s at {:.3}",
                s.display(),
                w[1] - w[0],
                w[0]
            );
        }
        total += num(&ffprobe::probe(s)["format"]["duration"]);
    }
    let span = match (segments.first(), segments.last()) {
        (Some(a), Some(b)) => mtime(b) - name_time(a),
        _ => 0.0,
    };
    (segments, total, span)
}

/// `NAME` of a `NAME.partial`.
pub fn final_name(partial: &Path) -> PathBuf {
    let name = partial.to_string_lossy();
    PathBuf::from(name.strip_suffix(".partial").unwrap())
}

/// The video of a segment: (first pts, end of the last frame), in seconds of the file.
pub fn video_span(segment: &Path) -> (f64, f64) {
    let packets = ffprobe::packets(segment, "v:0");
    let start = packets
        .iter()
        .map(|p| num(&p["pts_time"]))
        .fold(f64::INFINITY, f64::min);
    let end = packets
        .iter()
        .map(|p| num(&p["pts_time"]) + num(&p["duration_time"]))
        .fold(f64::NEG_INFINITY, f64::max);
    (start, end)
}
