//! What a crash (`kill -9`) or a full disk leaves behind when recording the RTSP test
//! camera: a fragmented MP4 holding every fragment completed before the kill, and HLS
//! directories holding only complete, listed segments. Checked with ffprobe (frame counts)
//! and ffmpeg (a full decode without errors) against the recorder's own debug lines,
//! which it prints after each fragment or segment is written.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

fn peers(test: &str) -> bool {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    test_support::peers_present(test, &peers)
}

/// Starts `pipeline URL OUTPUT ARGS` with the sinks' debug lines in `log`.
fn record(url: &str, output: &Path, args: &[&str], log: &Path) -> ChildGuard {
    let child = Command::new(BIN)
        .arg(url)
        .arg(output)
        .args(args)
        .env("RUST_LOG", "info,pipeline::sink=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    ChildGuard::new("pipeline", child)
}

/// The numeric `key=N` fields of the last log line containing `message`.
fn last_line(log: &Path, message: &str) -> Option<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text.lines().rfind(|l| l.contains(message))?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect(),
    )
}

fn field(fields: &[(String, u64)], key: &str) -> u64 {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
        .1
}

/// Waits (bounded) until the recorder has logged `count` `message`s, then kills it at
/// once: the next one is a whole fragment (~2 s) away, so the log and the files agree.
fn kill_after(child: &mut ChildGuard, log: &Path, message: &str, key: &str, count: u64) {
    let started = Instant::now();
    loop {
        if last_line(log, message).is_some_and(|f| field(&f, key) >= count) {
            break;
        }
        assert!(
            child.is_running(),
            "{}",
            std::fs::read_to_string(log).unwrap()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {count} {message} lines: {}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill();
}

/// ffmpeg's HLS demuxer only takes `.m4s` segments when told to.
fn input_args(target: &Path) -> &'static [&'static str] {
    match target.extension().and_then(|e| e.to_str()) {
        Some("m3u8") => &["-allowed_extensions", "ALL"],
        _ => &[],
    }
}

/// ffprobe's (decoded video frames, audio packets) of a file or playlist.
fn frames(target: &Path) -> (u64, u64) {
    let mut args = input_args(target).to_vec();
    args.extend(["-count_frames", "-count_packets", "-show_streams"]);
    let probe = ffprobe::probe_with(target, &args);
    let streams = probe["streams"].as_array().unwrap();
    let of = |kind: &str, what: &str| {
        streams
            .iter()
            .find(|s| s["codec_type"] == kind)
            .map_or(0, |s| num(&s[what]) as u64)
    };
    (
        of("video", "nb_read_frames"),
        of("audio", "nb_read_packets"),
    )
}

/// ffmpeg's complaints when decoding everything (empty: a clean decode).
fn decode_errors(target: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(input_args(target))
        .arg("-i")
        .arg(target)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && text.is_empty() {
        text = format!("ffmpeg exited with {}", out.status);
    }
    text
}

#[test]
fn kill_9_keeps_every_completed_fragment() {
    if !peers("kill_9_fragmented") {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let out = dir.path().join("camera.mp4");
    let log = dir.path().join("log.txt");
    // No fsync: a killed process must keep the fragments without one.
    let args = ["--fragmented", "--fsync", "none"];
    let mut child = record(&server.url("/h264aac"), &out, &args, &log);
    kill_after(&mut child, &log, "fragment written", "fragments", 2);

    let partial = dir.path().join("camera.mp4.partial");
    assert!(!out.exists(), "not finalized");
    let logged = last_line(&log, "fragment written").unwrap();
    let size = std::fs::metadata(&partial).unwrap().len();
    assert_eq!(
        size,
        field(&logged, "bytes"),
        "the file holds what was written"
    );
    let errors = decode_errors(&partial);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
    let (video, audio) = frames(&partial);
    assert_eq!(video, field(&logged, "video_frames"), "{logged:?}");
    assert_eq!(audio, field(&logged, "audio_frames"), "{logged:?}");
    assert!(video >= 30 && audio > 0, "two fragments of video and audio");
}

/// Matroska needs no repair: the Segment's size stays "unknown" until the end, so a
/// killed recording reads (ffmpeg, mkvtoolnix) up to its last whole cluster.
#[test]
fn kill_9_leaves_matroska_readable_to_its_last_cluster() {
    if !peers("kill_9_matroska") || !test_support::peers_present("kill_9_matroska", &["mkvmerge"]) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let out = dir.path().join("camera.mkv");
    let log = dir.path().join("log.txt");
    let mut child = record(&server.url("/h264aac"), &out, &["--fsync", "none"], &log);
    kill_after(&mut child, &log, "cluster written", "clusters", 2);

    let partial = dir.path().join("camera.mkv.partial");
    assert!(!out.exists(), "not finalized");
    let logged = last_line(&log, "cluster written").unwrap();
    let size = std::fs::metadata(&partial).unwrap().len();
    assert_eq!(
        size,
        field(&logged, "bytes"),
        "the file holds what was written"
    );
    let errors = decode_errors(&partial);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
    let (video, audio) = frames(&partial);
    assert_eq!(video, field(&logged, "video_frames"), "{logged:?}");
    assert_eq!(audio, field(&logged, "audio_frames"), "{logged:?}");
    assert!(video >= 15 && audio > 0, "two clusters of video and audio");
    test_support::mkvtoolnix::identify(&partial);
}

/// The segments in `dir` (sorted) and the playlist's segment lines.
fn segments(dir: &Path, playlist: &Path) -> (Vec<String>, Vec<String>, String) {
    let name = playlist.file_name().unwrap().to_string_lossy();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "init.mp4" && *n != name)
        .collect();
    on_disk.sort();
    let text = std::fs::read_to_string(playlist).unwrap_or_default();
    let listed = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    (on_disk, listed, text)
}

fn check_listed(dir: &Path, playlist: &Path, log: &Path) -> Vec<String> {
    let (on_disk, listed, text) = segments(dir, playlist);
    assert_eq!(on_disk, listed, "every file is a listed segment:\n{text}");
    for name in &listed {
        let len = std::fs::metadata(dir.join(name)).unwrap().len();
        assert!(len > 0, "{name} is empty");
    }
    let logged = last_line(log, "segment written").unwrap();
    assert_eq!(listed.len() as u64, field(&logged, "segments"), "{text}");
    // A live playlist cut off by the crash: ffmpeg would wait for more segments, so read
    // a copy that says it has ended (absolute URIs: the copy lives elsewhere, since a full
    // disk takes no copy).
    let copy = log.with_file_name("ended.m3u8");
    let absolute = |uri: &str| dir.join(uri).display().to_string();
    let mut ended = String::new();
    for line in text.lines() {
        let line = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
            Some(rest) => format!("#EXT-X-MAP:URI=\"{}", absolute(rest)),
            None if !line.starts_with('#') && !line.is_empty() => absolute(line),
            None => line.to_owned(),
        };
        ended.push_str(&line);
        ended.push('\n');
    }
    ended.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(&copy, ended).unwrap();
    let errors = decode_errors(&copy);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
    let (video, audio) = frames(&copy);
    assert_eq!(video, field(&logged, "video_frames"), "{logged:?}");
    assert_eq!(audio, field(&logged, "audio_frames"), "{logged:?}");
    listed
}

#[test]
fn kill_9_leaves_hls_with_complete_listed_segments() {
    if !peers("kill_9_hls") {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let hls = dir.path().join("hls");
    let playlist = hls.join("index.m3u8");
    let log = dir.path().join("log.txt");
    let mut child = record(
        &server.url("/h264aac"),
        &playlist,
        &["--fsync", "none"],
        &log,
    );
    kill_after(&mut child, &log, "segment written", "segments", 2);
    let listed = check_listed(&hls, &playlist, &log);
    assert_eq!(listed.len(), 2);
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(!text.contains("#EXT-X-ENDLIST"), "killed, not ended");
}

/// A real full disk (a 96 KiB tmpfs: the init segment and about two 2 s segments of the
/// test camera): the recorder stops with one line naming the cause, and leaves only
/// complete segments, all listed.
#[test]
fn a_full_disk_leaves_hls_with_complete_listed_segments() {
    if !peers("full_disk_hls") {
        return;
    }
    let Some(disk) = test_support::tmpfs::Tmpfs::mount("full_disk_hls", 96 << 10) else {
        return;
    };
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let playlist: PathBuf = disk.path().join("index.m3u8");
    let log = dir.path().join("log.txt");
    let mut child = record(
        &server.url("/h264aac"),
        &playlist,
        &["--fsync", "fragment"],
        &log,
    );
    let started = Instant::now();
    while child.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "still recording into a full disk: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("pipeline: ") && last.contains("No space left"),
        "{text}"
    );
    let listed = check_listed(disk.path(), &playlist, &log);
    assert!(
        !listed.is_empty(),
        "a segment fitted before the disk was full"
    );
}
