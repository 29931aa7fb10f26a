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
