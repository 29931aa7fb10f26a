//! `pipeline record` with a camera that is not RTSP: an `srt-listen://` camera that
//! ffmpeg pushes MPEG-TS to (as SRT cameras and encoders do), recorded into segments;
//! the publisher goes away and comes back, and the camera's listener is started again,
//! so its second push is a second file. And a camera served by its `also` output while
//! it records (ffmpeg plays it from `rtsp-listen://`).
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

/// A camera's `also` server: ffmpeg plays the camera from `rtsp-listen://` while it is
/// recorded, over the recorder's one connection to the camera.
#[test]
fn a_camera_is_served_by_its_also_output_while_it_records() {
    if !test_support::peers_present(module_path!(), &common::peers()) {
        return;
    }
    let camera = test_support::rtsp::RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let also = format!("also = [\"rtsp-listen://127.0.0.1:{port}/front\"]\n");
    let config = one_camera(dir.path(), &camera.url("/h264aac"), &also);
    let log = dir.path().join("record.log");
    let mut nvr = record(&config, &log);
    common::wait_recording(&dir.path().join("rec"), &["cam"]);
    let played = dir.path().join("played.mkv");
    let ffmpeg =
        test_support::rtsp::ffmpeg_plays(&format!("rtsp://127.0.0.1:{port}/front"), 2, &played);
    stop(&mut nvr, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(ffmpeg, "ffmpeg never played the also output; log:\n{text}");
    let counts = packet_counts(&played);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n >= 20), "{counts:?}");
    assert_eq!(ffprobe::decode_errors(&played), "");
    // The recording went on meanwhile: one finished segment with both tracks.
    let segments = files(&dir.path().join("rec/cam"), ".mp4");
    assert_eq!(segments.len(), 1, "{segments:?}; log:\n{text}");
    assert_eq!(packet_counts(&segments[0]).len(), 2);
    assert_eq!(ffprobe::decode_errors(&segments[0]), "");
}
