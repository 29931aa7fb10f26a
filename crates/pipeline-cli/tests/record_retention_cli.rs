//! `pipeline record`'s retention against real recordings: a byte cap reached by the
//! camera's own segments, the 20 MB cap over a store that starts above it, and a
//! full disk (a small tmpfs) that recording survives.
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use test_support::ffprobe;
use test_support::rtsp::RtspServer;

/// Total size of the finished segments below `dir`, and the largest one.
fn finished_bytes(dir: &Path) -> (u64, u64) {
    let sizes: Vec<u64> = files(dir, ".mp4")
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .collect();
    (sizes.iter().sum(), sizes.iter().copied().max().unwrap_or(0))
}

/// A valid 2 s 720p MP4 of about `kbit_s` × 2 s made by ffmpeg (noise, so the encoder
/// cannot make it small): a stand-in for an old recording.
fn old_recording(dir: &Path, kbit_s: u32) -> PathBuf {
    let path = dir.join(format!("old-{kbit_s}.mp4"));
    let rate = format!("{kbit_s}k");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=25,noise=alls=30:allf=t")
        .args(["-t", "2", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-b:v", &rate, "-minrate", &rate, "-maxrate", &rate])
        .args(["-bufsize", &rate, "-pix_fmt", "yuv420p"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Copies `source` into `camera_dir` as old finished segments (named and dated a minute
/// apart in 2020, oldest first) until `count` are there or the disk is full; returns them.
fn old_segments(camera_dir: &Path, source: &Path, count: usize) -> Vec<PathBuf> {
    let day = camera_dir.join("2020/01/01");
    std::fs::create_dir_all(&day).unwrap();
    let bytes = std::fs::read(source).unwrap();
    let mut made = Vec::new();
    for i in 0..count {
        let path = day.join(format!("{:02}-{:02}-00.mp4", i / 60, i % 60));
        if let Err(e) = std::fs::write(&path, &bytes) {
            assert_eq!(e.raw_os_error(), Some(28), "{}: {e}", path.display());
            std::fs::remove_file(&path).unwrap();
            break;
        }
        let when = UNIX_EPOCH + Duration::from_secs(1_577_836_800 + 60 * i as u64);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
        made.push(path);
    }
    made
}

/// The retention decisions of a log, in order: the files deleted.
fn deleted_in(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("retention: deleted"))
        .filter_map(|l| l.split("file=").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn a_byte_cap_keeps_the_newest_segments_and_is_exceeded_by_at_most_one() {
    if !test_support::peers_present("byte_cap", &peers()) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let config = dir.path().join("cameras.toml");
    // The camera's own segments fill this cap within the run (2 s segments of some
    // 50 kB): retention deletes the camera's oldest while it records.
    let cap: u64 = 150_000;
    std::fs::write(
        &config,
        format!(
            "[store]\nroot = \"rec\"\nretention_interval_seconds = 0.5\n\n[[camera]]\nname = \"cam\"\nurl = \"{}\"\nsegment_seconds = 2\nretention = {{ max_bytes = {cap} }}\n",
            server.url("/h264aac")
        ),
    )
    .unwrap();
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["cam"]);
    let cam = root.join("cam");
    let started = Instant::now();
    let mut worst = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    while started.elapsed() < Duration::from_secs(16) {
        let (total, largest) = finished_bytes(&cam);
        if total > worst.0 {
            worst = (total, largest);
        }
        seen.extend(files(&cam, ".mp4"));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut child, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    let kept = files(&cam, ".mp4");
    let deleted: Vec<&PathBuf> = seen.iter().filter(|f| !kept.contains(f)).collect();
    assert!(
        !deleted.is_empty(),
        "the cap made retention delete (largest total {worst:?}): {seen:?}\n{text}"
    );
    // Only the newest are kept: every deleted segment is older (by name) than every kept one.
    let oldest_kept = kept.first().unwrap();
    assert!(
        deleted.iter().all(|d| *d < oldest_kept),
        "deleted {deleted:?}, kept {kept:?}"
    );
    // Never more than one segment over the cap (the check runs every 0.5 s; a segment is
    // 2 s, so at most one new segment lands between two passes).
    assert!(
        worst.0 <= cap + worst.1,
        "{} bytes finished with a cap of {cap} (largest segment {})",
        worst.0,
        worst.1
    );
    for d in &deleted {
        let name = d.display().to_string();
        assert!(
            text.lines().any(|l| l.contains("retention: deleted")
                && l.contains(&name)
                && l.contains("byte cap")),
            "no decision logged for {name}:\n{text}"
        );
    }
    for k in &kept {
        let errors = ffprobe::decode_errors(k);
        assert!(errors.is_empty(), "{}: {errors}", k.display());
    }
}

#[test]
fn a_20_mb_cap_over_a_full_store_deletes_the_oldest_and_keeps_recording() {
    if !test_support::peers_present("byte_cap_20mb", &peers()) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let cam = root.join("cam");
    // 24 MB of earlier recordings in a store capped at 20 MB (the cap).
    let cap: u64 = 20_000_000;
    let source = old_recording(dir.path(), 4000);
    let size = std::fs::metadata(&source).unwrap().len();
    assert!(size > 500_000, "the stand-in recording is {size} bytes");
    let old = old_segments(&cam, &source, (24_000_000 / size + 1) as usize);
    let config = dir.path().join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nroot = \"rec\"\nretention_interval_seconds = 0.5\n\n[[camera]]\nname = \"cam\"\nurl = \"{}\"\nsegment_seconds = 2\nretention = {{ max_bytes = {cap} }}\n",
            server.url("/h264aac")
        ),
    )
    .unwrap();
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    let started = Instant::now();
    // The first pass runs at start: from then on the cap holds to within one segment.
    let mut worst = (0, 0);
    let mut first_pass = None;
    while started.elapsed() < Duration::from_secs(10) {
        let (total, largest) = finished_bytes(&cam);
        if first_pass.is_none() && total <= cap {
            first_pass = Some(started.elapsed());
        }
        if first_pass.is_some() && total > worst.0 {
            worst = (total, largest);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut child, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        first_pass.is_some_and(|t| t < Duration::from_secs(3)),
        "the store came under its cap at {first_pass:?}:\n{text}"
    );
    assert!(
        worst.0 <= cap + worst.1,
        "{} bytes with a cap of {cap} (largest segment {})",
        worst.0,
        worst.1
    );
    let kept = files(&cam, ".mp4");
    let deleted: Vec<&PathBuf> = old.iter().filter(|o| !kept.contains(o)).collect();
    // The oldest go first, as many as the cap asks: those over it at the start, and at
    // most one more for each old one's worth of new recordings (or when the new ones fill
    // the slack the first pass left).
    let over = old.len() as u64 * size - cap;
    let new_bytes: u64 = kept
        .iter()
        .filter(|k| !old.contains(k))
        .filter_map(|k| std::fs::metadata(k).ok())
        .map(|m| m.len())
        .sum();
    let least = over.div_ceil(size).max(1);
    let most = (over + new_bytes).div_ceil(size).max(1);
    assert!(
        (least..=most).contains(&(deleted.len() as u64)),
        "{} deleted, {least}..={most} expected ({new_bytes} bytes recorded): {deleted:?}",
        deleted.len()
    );
    assert!(
        deleted.iter().zip(&old).all(|(d, o)| *d == o),
        "deleted {deleted:?} of {old:?}"
    );
    let logged = deleted_in(&text);
    for d in &deleted {
        assert!(
            logged.contains(&d.display().to_string()),
            "no decision logged for {}:\n{text}",
            d.display()
        );
    }
    let recorded: Vec<&PathBuf> = kept.iter().filter(|k| !old.contains(k)).collect();
    assert!(recorded.len() >= 3, "recorded {recorded:?}");
    for k in recorded.iter().copied().chain(kept.first()) {
        let errors = ffprobe::decode_errors(k);
        assert!(errors.is_empty(), "{}: {errors}", k.display());
    }
}

#[test]
fn a_full_disk_frees_space_and_recording_goes_on() {
    if !test_support::peers_present("full_disk_record", &peers()) {
        return;
    }
    let Some(disk) = test_support::tmpfs::Tmpfs::mount("full_disk_record", 3 << 20) else {
        return;
    };
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = disk.path().join("rec");
    let cam = root.join("cam");
    let source = old_recording(dir.path(), 800);
    let config = dir.path().join("cameras.toml");
    // A floor of 1 MB, but passes only every minute: the disk fills between two passes, as
    // it does when something else writes to it.
    std::fs::write(
        &config,
        format!(
            "[store]\nroot = \"{}\"\nmin_free_bytes = 1000000\nretention_interval_seconds = 60\n\n[[camera]]\nname = \"cam\"\nurl = \"{}\"\nsegment_seconds = 2\n",
            root.display(),
            server.url("/h264aac")
        ),
    )
    .unwrap();
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["cam"]);
    let old = old_segments(&cam, &source, 1000);
    assert!(old.len() >= 3, "{old:?}");
    let filled = SystemTime::now();
    let log_has = |needle: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(needle))
    };
    let started = Instant::now();
    while !log_has("pipeline failed") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the disk never filled:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = SystemTime::now();
    // Recording goes on: a segment started and finished after the failure.
    let after_failure = || -> Vec<PathBuf> {
        files(&cam, ".mp4")
            .into_iter()
            .filter(|f| {
                !old.contains(f)
                    && name_time(f) > failed.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
            })
            .collect()
    };
    while after_failure().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no recording after the full disk:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(&mut child, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    eprintln!("{text}");

    let failure: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pipeline failed"))
        .collect();
    assert!(
        failure[0].contains("No space left on device") && failure[0].contains("camera=cam"),
        "{failure:?}"
    );
    // Retention freed space for the floor, oldest first.
    let kept = files(&cam, ".mp4");
    let deleted: Vec<&PathBuf> = old.iter().filter(|o| !kept.contains(o)).collect();
    assert!(!deleted.is_empty(), "nothing freed:\n{text}");
    assert!(
        deleted.iter().zip(&old).all(|(d, o)| *d == o),
        "deleted {deleted:?} of {old:?}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("retention: deleted") && l.contains("free space below its floor")),
        "{text}"
    );
    // Nothing is corrupt: the segment cut by the full disk was recovered, every recording
    // decodes, nothing is left half-written.
    assert!(
        files(&root, ".partial").is_empty(),
        "{:?}",
        files(&root, ".partial")
    );
    let recorded: Vec<&PathBuf> = kept.iter().filter(|k| !old.contains(k)).collect();
    assert!(
        recorded.iter().any(|r| mtime(r)
            < failed.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
            || name_time(r) < filled.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()),
        "the recording from before the full disk is kept: {recorded:?}"
    );
    for r in recorded {
        let errors = ffprobe::decode_errors(r);
        assert!(errors.is_empty(), "{}: {errors}", r.display());
    }
    drop(disk);
}
