//! Recovery of fragmented recordings: what a kill leaves on disk is a prefix of the file
//! cut anywhere; `pipeline recover` and the next `pipeline record` start cut it after its
//! last complete fragment and rename it, and ffmpeg then decodes it without an error.
//!
//! The prefixes here are made by cutting a real recording (made by `pipeline record`) at
//! chosen offsets, not by SIGKILL: today the MP4 sink keeps up to 1 MiB in its write buffer,
//! so a killed low-bitrate recording has nothing on disk yet (fragment flushing is another
//! engineer's pending change; a SIGKILL test belongs with it).
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

/// Writes the first `len` bytes of `from` to `to`.
fn cut(from: &Path, to: &Path, len: u64) {
    let data = std::fs::read(from).unwrap();
    std::fs::write(to, &data[..len as usize]).unwrap();
}

fn duration(file: &Path) -> f64 {
    num(&ffprobe::probe(file)["format"]["duration"])
}

#[test]
fn cut_fragmented_files_recover_by_hand_and_at_start_and_play() {
    if !test_support::peers_present("recover", &peers()) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let config = one_camera(dir.path(), &server.url("/h264aac"), "fragmented = true\n");
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["cam"]);
    std::thread::sleep(Duration::from_secs(7));
    stop(&mut child, &log);
    // One file, or two when the 7 s straddle a wall-clock boundary: segments are cut at
    // multiples of `segment_seconds` since the epoch (two CI runs crossed a minute mark
    // with 60 s segments: 12-54-57.mp4 and 12-55-01.mp4). The longest is cut.
    let recorded = files(&root.join("cam"), ".mp4");
    let size_of = |f: &std::path::PathBuf| std::fs::metadata(f).unwrap().len();
    let whole = recorded
        .iter()
        .max_by_key(|f| size_of(f))
        .unwrap_or_else(|| {
            panic!(
                "no recording; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    let (size, full) = (size_of(whole), duration(whole));
    assert!(
        full > 3.0,
        "{full:.2} s in {recorded:?}; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // By hand: cut at 70 % (inside a fragment), recover, play.
    let by_hand = dir.path().join("by-hand.mp4.partial");
    cut(whole, &by_hand, size * 7 / 10);
    let out = Command::new(BIN)
        .arg("recover")
        .arg(&by_hand)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recovered = dir.path().join("by-hand.mp4");
    assert!(!by_hand.exists() && recovered.exists());
    let errors = ffprobe::decode_errors(&recovered);
    assert!(errors.is_empty(), "{errors}");
    let kept = duration(&recovered);
    assert!(kept > 0.5 && kept < full, "{kept:.2} s of {full:.2} s kept");
    eprintln!("cut at 70 % of {size} bytes: {kept:.2} s of {full:.2} s kept");

    // Cut inside the first fragment: nothing to keep; the file is removed, exit 1.
    let headless = dir.path().join("headless.mp4.partial");
    cut(whole, &headless, 1500);
    let out = Command::new(BIN)
        .arg("recover")
        .arg(&headless)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no complete fragment") && !headless.exists(),
        "{stderr}"
    );

    // A plain MP4 without moov is refused and left as it is.
    let plain = dir.path().join("plain.mp4.partial");
    std::fs::write(
        &plain,
        [
            0, 0, 0, 16, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 0, 0, 0, 0, 0, 8,
            b'm', b'd', b'a', b't',
        ],
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("recover")
        .arg(&plain)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("without moov") && plain.exists(),
        "{stderr}"
    );

    // At start: a leftover in the camera's directory is recovered before recording.
    let leftover = whole.with_file_name("00-00-00.mp4.partial");
    cut(whole, &leftover, size / 2);
    let log2 = dir.path().join("record2.log");
    let mut child = record(&config, &log2);
    wait_log(&log2, "recovered a file");
    stop(&mut child, &log2);
    let recovered = whole.with_file_name("00-00-00.mp4");
    assert!(!leftover.exists() && recovered.exists());
    let errors = ffprobe::decode_errors(&recovered);
    assert!(errors.is_empty(), "{errors}");
    assert!(duration(&recovered) > 0.5);
}
