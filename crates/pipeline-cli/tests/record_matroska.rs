//! `pipeline record` into Matroska (`output = "….mkv"`): killed with SIGKILL while a
//! cluster is half written, the next start recovers the leftover by cutting the half
//! cluster (without that cut ffmpeg reports the file "ended prematurely"), writing the
//! Cues, Segment size and Duration the recorder would have written, and records on;
//! `pipeline recover` does the same by hand. Every file decodes without an error.
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

/// Appends what a kill inside a cluster's write leaves: a Cluster header claiming
/// 100 000 bytes and the first 700 of them.
fn append_half_cluster(path: &Path) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    let mut half = vec![0x1F, 0x43, 0xB6, 0x75, 0x10, 0x01, 0x86, 0xA0];
    half.resize(half.len() + 700, 0x55);
    file.write_all(&half).unwrap();
}

fn duration(file: &Path) -> f64 {
    num(&ffprobe::probe(file)["format"]["duration"])
}

fn clean(file: &Path) {
    let errors = ffprobe::decode_errors(file);
    assert!(errors.is_empty(), "{}: {errors}", file.display());
}

#[test]
fn a_killed_matroska_recording_is_cut_after_its_last_cluster_and_plays() {
    let mut needed = peers();
    needed.push("mkvmerge");
    if !test_support::peers_present("record_matroska", &needed) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let root = dir.path().join("rec");
    let url = server.url("/h264aac");
    let config = one_camera(dir.path(), &url, "output = \"{camera}/%H-%M-%S.mkv\"\n");
    let log = dir.path().join("record.log");
    let mut child = record(&config, &log);
    wait_recording(&root, &["cam"]);
    std::thread::sleep(Duration::from_secs(5));
    child.kill();
    let partials = files(&root.join("cam"), ".mkv.partial");
    assert_eq!(partials.len(), 1, "{partials:?}");
    let partial = &partials[0];
    append_half_cluster(partial);
    let cut_copy = dir.path().join("by-hand.mkv.partial");
    std::fs::copy(partial, &cut_copy).unwrap();

    // By hand.
    let out = Command::new(BIN)
        .arg("recover")
        .arg(&cut_copy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let head: Vec<u8> = std::fs::read(partial)
        .unwrap()
        .into_iter()
        .take(48)
        .collect();
    assert!(
        out.status.success(),
        "{} ({} bytes: {head:02x?})",
        String::from_utf8_lossy(&out.stderr),
        std::fs::metadata(partial).unwrap().len()
    );
    assert!(
        stdout.contains("complete cluster(s) kept, 708 byte(s)"),
        "{stdout}"
    );
    let by_hand = dir.path().join("by-hand.mkv");
    assert!(!cut_copy.exists());
    clean(&by_hand);
    let kept = duration(&by_hand);
    assert!(kept > 2.0, "{kept:.2} s kept of about 5");
    test_support::mkvtoolnix::identify(&by_hand);
    // Completed as the recorder would have: a cue for each cluster's key frame.
    let info = test_support::mkvtoolnix::info(&by_hand);
    let clusters = test_support::mkvtoolnix::count(&info, "Cluster");
    assert!(clusters >= 2, "{info}");
    assert_eq!(
        test_support::mkvtoolnix::count(&info, "Cue point"),
        clusters,
        "{info}"
    );

    // At the next start.
    let log2 = dir.path().join("record2.log");
    let mut child = record(&config, &log2);
    wait_log(&log2, "recovered a file");
    std::thread::sleep(Duration::from_secs(2));
    stop(&mut child, &log2);
    let recovered = partial.with_extension("");
    assert!(!partial.exists() && recovered.exists());
    clean(&recovered);
    assert_eq!(
        std::fs::read(&recovered).unwrap(),
        std::fs::read(&by_hand).unwrap()
    );
    let finished = files(&root.join("cam"), ".mkv");
    assert!(finished.len() >= 2, "{finished:?}");
    for file in &finished {
        clean(file);
    }
    assert!(files(&root.join("cam"), ".partial").is_empty());
}
