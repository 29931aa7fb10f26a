//! `pipeline record CONFIG.toml`: many cameras in one process, checked with ffprobe/ffmpeg
//! against real gst-rtsp-server cameras. Kept short for CI: 3 s segments over ~15 s
//! (the issue's full run is 10 s segments over 30 s).
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use test_support::ffprobe;
use test_support::rtsp::RtspServer;
#[test]
fn check_prints_every_problem_with_its_line_and_no_secret() {
    let dir = test_support::temp_dir();
    let config = dir.path().join("cameras.toml");
    std::fs::write(
        &config,
        "[[camera]]\nname = \"front door\"\nurl = \"rtsp://admin:hunter2@192.0.2.7/a\"\n\n[[camera]]\nname = \"b\"\nurl = \"rtsp://192.0.2.7/b\"\npassword_env = \"NVR_CLI_TEST_UNSET\"\nsegment_seconds = 0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["record", "--check"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].contains("cameras.toml:2:8: ") && lines[0].contains("front door"),
        "{stderr}"
    );
    assert!(
        lines[1].contains(":8:") && lines[1].contains("NVR_CLI_TEST_UNSET"),
        "{stderr}"
    );
    assert!(
        lines[2].contains(":9:") && lines[2].contains("segment_seconds"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    std::fs::write(
        &config,
        "[[camera]]\nname = \"a\"\nurl = \"rtsp://admin:hunter2@192.0.2.7/a\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["record", "--check"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok, 1 camera(s): a") && !stdout.contains("hunter2"),
        "{stdout}"
    );
}

#[test]
fn four_cameras_record_segments_and_one_camera_down_leaves_the_others_alone() {
    if !test_support::peers_present("four_cameras", &peers()) {
        return;
    }
    let shared = RtspServer::start_default();
    let mut own = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let config = dir.path().join("cameras.toml");
    let dead_port = test_support::free_port();
    std::fs::write(
        &config,
        format!(
            r#"[store]
root = "rec"

[[camera]]
name = "cam1"
url = "{}"
segment_seconds = 3

[[camera]]
name = "cam2"
url = "{}"
segment_seconds = 3

[[camera]]
name = "cam3"
url = "{}"
segment_seconds = 3
audio = false  # the PCMA track is left out

[[camera]]
name = "cam4"
url = "{}"
segment_seconds = 3

# Nothing listens here: this camera fails again and again, alone.
[[camera]]
name = "dead"
url = "rtsp://127.0.0.1:{dead_port}/nothing"
segment_seconds = 3
"#,
            shared.url("/h264"),
            shared.url("/h264aac"),
            shared.url("/h264pcma"),
            own.url("/h264"),
        ),
    )
    .unwrap();
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["cam1", "cam2", "cam3", "cam4"]);
    let started = SystemTime::now();
    std::thread::sleep(Duration::from_secs(5));
    own.kill();
    std::thread::sleep(Duration::from_secs(4));
    own.restart();
    let restarted = Instant::now();
    // Back when the supervisor logs the end of cam4's gap (its backoff may take a while).
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("media resumed after a gap") && l.contains("camera=cam4"))
    {
        assert!(
            restarted.elapsed() < Duration::from_secs(45),
            "cam4 did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut child, &log);
    let recorded = started.elapsed().unwrap().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap();

    assert!(
        files(&root, ".partial").is_empty(),
        "every segment finalized: {:?}",
        files(&root, ".partial")
    );
    for cam in ["cam1", "cam2", "cam3"] {
        let (segments, total, span) = check_segments(&root.join(cam));
        assert!(segments.len() >= 3, "{cam}: {segments:?}");
        // The names have whole seconds, so the span is known to a second; a lost segment
        // (two seconds or more, a GOP) shows.
        assert!(
            (span - total).abs() < 1.5 && total > recorded - 1.0,
            "{cam}: {total:.2} s of media in {} segments over a span of {span:.2} s ({recorded:.1} s recorded)",
            segments.len()
        );
        assert!(
            !text.lines().any(
                |l| l.contains("gap in the recording") && l.ends_with(&format!("camera={cam}"))
            ),
            "{cam} had a gap:\n{text}"
        );
    }
    let (cam4, total4, span4) = check_segments(&root.join("cam4"));
    assert!(
        cam4.len() >= 2,
        "cam4 before and after its server's restart: {cam4:?}"
    );
    assert!(
        span4 - total4 > 2.0,
        "cam4 has a gap: {total4:.2} s of media over {span4:.2} s"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("gap in the recording") && l.contains("camera=cam4")),
        "cam4's gap is logged:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("media resumed after a gap") && l.contains("camera=cam4")),
        "{text}"
    );
    assert!(
        files(&root.join("dead"), "").is_empty(),
        "the dead camera wrote nothing"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("camera=dead") && l.contains("no media yet")),
        "{text}"
    );
}

/// Total size of the finished segments below `dir`, and the largest one.
fn finished_bytes(dir: &Path) -> (u64, u64) {
    let sizes: Vec<u64> = files(dir, ".mp4")
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .collect();
    (sizes.iter().sum(), sizes.iter().copied().max().unwrap_or(0))
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
    // The issue's cap is 20 MB; the test camera's 2 s segments are some 50 kB, so the cap
    // here is scaled down to hold a few of them and the run kept short for CI.
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
fn sighup_restarts_only_the_changed_camera() {
    if !test_support::peers_present("sighup", &peers()) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let config = dir.path().join("cameras.toml");
    let camera = |name: &str, mount: &str, segment: u32| {
        format!(
            "[[camera]]\nname = \"{name}\"\nurl = \"{}\"\nsegment_seconds = {segment}\n\n",
            server.url(mount)
        )
    };
    let first = format!(
        "[store]\nroot = \"rec\"\n\n{}{}",
        camera("still", "/h264", 2),
        camera("changed", "/h264aac", 2)
    );
    std::fs::write(&config, &first).unwrap();
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["still", "changed"]);
    std::thread::sleep(Duration::from_secs(3));
    // A broken file is refused: nothing restarts.
    std::fs::write(&config, "[[camera]]\nname = \n").unwrap();
    child.signal("HUP");
    let wait_log = |needle: &str| {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no {needle:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_log("reload refused");
    std::fs::write(
        &config,
        format!(
            "[store]\nroot = \"rec\"\n\n{}{}{}",
            camera("still", "/h264", 2),
            camera("changed", "/h264aac", 4),
            camera("added", "/h264pcma", 2)
                .replace("segment_seconds", "audio = false\nsegment_seconds")
        ),
    )
    .unwrap();
    child.signal("HUP");
    let text = wait_log("configuration reloaded");
    let line = text
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap();
    assert!(
        line.contains(r#"started=["added"]"#)
            && line.contains("stopped=[]")
            && line.contains(r#"restarted=["changed"]"#),
        "{line}"
    );
    wait_recording(&root, &["added"]);
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut child, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    // The unchanged camera's pipeline ran once, from start to stop, without a gap.
    let starts = |cam: &str| {
        text.lines()
            .filter(|l| {
                l.contains("INFO recording")
                    && l.ends_with(&format!(
                        "camera={cam} url={}",
                        server.url(match cam {
                            "still" => "/h264",
                            "changed" => "/h264aac",
                            _ => "/h264pcma",
                        })
                    ))
            })
            .count()
    };
    assert_eq!(starts("still"), 1, "{text}");
    assert_eq!(starts("changed"), 2, "{text}");
    assert_eq!(starts("added"), 1, "{text}");
    let (segments, total, span) = check_segments(&root.join("still"));
    assert!(
        segments.len() >= 3 && (span - total).abs() < 1.5,
        "still: {total:.2} s over {span:.2} s in {segments:?}"
    );
    for cam in ["changed", "added"] {
        let (segments, _, _) = check_segments(&root.join(cam));
        assert!(!segments.is_empty(), "{cam}");
    }
    assert!(files(&root, ".partial").is_empty());
}
