//! `pipeline record` with a camera that is not RTSP: an `srt-listen://` camera that
//! ffmpeg pushes MPEG-TS to (as SRT cameras and encoders do), recorded into segments;
//! the publisher goes away and comes back, and the camera's listener is started again,
//! so its second push is a second file.
#![allow(clippy::unwrap_used)]

#[path = "common/record.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{files, one_camera, record, stop};
use test_support::ChildGuard;
use test_support::ffprobe::{self, make_av, packet_counts};

/// `ffmpeg -re -i SRC -c copy -f mpegts URL` (an SRT caller). Not looped: ffmpeg's
/// `-stream_loop` overlaps the AAC frames at the seam (its own remux into Matroska then
/// has audio decode times that go back).
fn push(src: &Path, url: &str) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(src)
        .args(["-c", "copy", "-f", "mpegts", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

#[test]
fn an_srt_camera_is_recorded_and_listened_for_again_after_its_publisher_leaves() {
    if !test_support::peers_present("record_srt_camera", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let src = dir.path().join("src.ts");
    make_av(
        &src,
        "320x240",
        3,
        &["-c:v", "libx264", "-g", "25", "-c:a", "aac"],
    );
    let port = test_support::free_port();
    let config = one_camera(
        dir.path(),
        &format!("srt-listen://127.0.0.1:{port}"),
        "output = \"{camera}/%H-%M-%S-%3f.mkv\"\n",
    );
    let log = dir.path().join("record.log");
    let mut recorder = record(&config, &log);
    let url = format!("srt://127.0.0.1:{port}?mode=caller&linger=5");
    for take in 0..2 {
        // The listener may still be starting (or starting again): retry the push.
        let mut done = false;
        for _ in 0..20 {
            let (code, _) = push(&src, &url).wait_with_stderr(Duration::from_secs(20));
            if code == Some(0) {
                done = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(done, "push {take} never connected");
        // The recorder notices the end and finishes the file before the next push.
        std::thread::sleep(Duration::from_millis(1500));
    }
    stop(&mut recorder, &log);
    let log_text = std::fs::read_to_string(&log).unwrap();
    let segments = files(&dir.path().join("rec/cam"), ".mkv");
    assert_eq!(segments.len(), 2, "{segments:?}\n{log_text}");
    for segment in &segments {
        let counts = packet_counts(segment);
        let codecs: Vec<&str> = counts.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codecs, ["h264", "aac"], "{}", segment.display());
        // About 3 s at 25 frames/s each (the start waits for a key frame).
        assert!(
            (45..=80).contains(&counts[0].1),
            "{}: {counts:?}",
            segment.display()
        );
        assert_eq!(ffprobe::decode_errors(segment), "", "{}", segment.display());
    }
}
