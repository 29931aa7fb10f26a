//! The `mp3info` example: a failure is one line on stderr and exit code 1, also with
//! `RUST_BACKTRACE` set (anyhow printed a stack backtrace then); a good file still gives
//! its JSON summary.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// The example binary, built (or found up to date) first: `cargo test --test mp3info`
/// does not build examples.
fn mp3info() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/debug
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", "mp3-frames", "--example", "mp3info"])
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    profile_dir.join("examples").join("mp3info")
}

#[test]
fn failures_are_one_line_without_a_backtrace() {
    let binary = mp3info();
    let dir = test_support::temp_dir();
    let text = dir.path().join("notes.mp3");
    std::fs::write(&text, "not audio at all\n".repeat(50)).unwrap();
    let missing = dir.path().join("missing.mp3");
    for (case, args) in [
        ("not MP3", vec![text.to_str().unwrap()]),
        ("missing file", vec![missing.to_str().unwrap()]),
        ("no file", vec![]),
    ] {
        for backtrace in ["1", "full", "0"] {
            let out = Command::new(&binary)
                .args(&args)
                .env("RUST_BACKTRACE", backtrace)
                .env("RUST_LIB_BACKTRACE", backtrace)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let case = format!("{case}, RUST_BACKTRACE={backtrace}");
            assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{case}: {stderr}");
            assert!(stderr.starts_with("mp3info: "), "{case}: {stderr}");
            assert!(!stderr.contains("backtrace"), "{case}: {stderr}");
        }
    }
}

#[test]
fn a_good_file_gives_its_summary() {
    let out = Command::new(mp3info())
        .arg(test_support::fixture("sine-44100-cbr128.mp3"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sample_rate"], 44_100);
    assert_eq!(summary["layer"], 3);
}

/// A 60 MB file is streamed: GNU time's peak RSS of the process stays far below the file
/// size (it was file size + 2 MB when the file was read whole), and the summary still
/// counts every frame, as ffprobe does.
#[test]
fn a_large_file_is_streamed_with_bounded_memory() {
    test_support::require_peer!("time", "ffprobe");
    let binary = mp3info();
    let one = std::fs::read(test_support::fixture("noxing-44100-cbr128.mp3")).unwrap();
    let frames: Vec<&[u8]> = mp3_frames::Frames::new(&one).map(|f| f.data).collect();
    let dir = test_support::temp_dir();
    let big = dir.path().join("big.mp3");
    let count = 150_000; // about 62 MB, 65 minutes
    let data: Vec<u8> = frames
        .iter()
        .cycle()
        .take(count)
        .flat_map(|f| f.iter().copied())
        .collect();
    std::fs::write(&big, &data).unwrap();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib %M"])
        .arg(&binary)
        .arg(&big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    let file_kib = data.len() as u64 / 1024;
    assert!(
        peak_kib < 16 * 1024,
        "peak RSS {peak_kib} KiB for a {file_kib} KiB file"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["frames"], count as u64);
    assert_eq!(summary["audio_bytes"], data.len() as u64);
    // ffprobe counts the same frames (packets) in the file.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "a:0"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(&big)
        .output()
        .unwrap();
    assert!(probe.status.success());
    let packets: u64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(packets, count as u64);
}
