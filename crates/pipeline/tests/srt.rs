//! SRT in and out against ffmpeg built with libsrt: ffmpeg pushes MPEG-TS into our
//! `srt-listen://` (recorded to MP4, compared packet by packet with the source), our
//! `srt://` caller feeds ffmpeg listening (its recording counted and decoded), both with
//! a passphrase, a wrong passphrase (a clear error; our listener refuses that caller and
//! takes the next), and a caller that vanishes (a clear error, the file finalized).
//!
//! SRT live mode drops what arrives later than the latency: under the load of a CI
//! machine the default 120 ms lost frames, so these tests ask for 1 s (`latency=1000`,
//! which both sides then use), and ffmpeg callers linger so that their last packets are
//! sent before they close.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline::{Direction, Endpoint, Pipeline, PipelineHandle};
use test_support::ffprobe::{self, Value, num};
use test_support::process::ChildGuard;

/// 3 s of 320x240 H.264 at 25 frames/s (key frame every second) and 48 kHz AAC.
fn source(dir: &Path) -> PathBuf {
    let path = dir.join("src.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no source");
    path
}

fn spawn(input: &str, output: &str) -> PipelineHandle {
    let input = Endpoint::parse(input, Direction::Input).unwrap();
    let output = Endpoint::parse(output, Direction::Output).unwrap();
    Pipeline::new(input, output).spawn()
}

/// `ffmpeg -re -i SRC -c copy -f mpegts URL` (an SRT caller), stderr piped.
fn ffmpeg_push(src: &Path, url: &str, looped: bool) -> ChildGuard {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-re"]);
    if looped {
        cmd.args(["-stream_loop", "-1"]);
    }
    cmd.arg("-i")
        .arg(src)
        .args(["-c", "copy", "-f", "mpegts", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    ChildGuard::new("ffmpeg", cmd.spawn().unwrap())
}

/// `ffmpeg -i URL -c copy OUT` (URL an SRT listener or caller), stderr piped.
fn ffmpeg_listen(url: &str, out: &Path) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i", url, "-c", "copy"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

fn times(packets: &[Value], field: &str) -> Vec<i64> {
    packets
        .iter()
        .map(|p| (num(&p[field]) * 1000.0).round() as i64)
        .collect()
}

fn key(p: &Value) -> bool {
    p["flags"].as_str().unwrap_or("").starts_with('K')
}

/// The video of `out` equals the source's packet by packet (count, pts, dts, size, key
/// flags); the audio has every frame but those of the last tenth of a second at most.
fn same_media(src: &Path, out: &Path) {
    let (a, b) = (ffprobe::packets(src, "v:0"), ffprobe::packets(out, "v:0"));
    assert_eq!(a.len(), b.len(), "video packet counts");
    assert_eq!(times(&a, "pts_time"), times(&b, "pts_time"), "video pts");
    assert_eq!(times(&a, "dts_time"), times(&b, "dts_time"), "video dts");
    let sizes = |p: &[Value]| p.iter().map(|p| num(&p["size"]) as u64).collect::<Vec<_>>();
    assert_eq!(sizes(&a), sizes(&b), "video sizes");
    let keys = |p: &[Value]| p.iter().map(key).collect::<Vec<_>>();
    assert_eq!(keys(&a), keys(&b), "video key flags");
    // The source's first AAC frame is encoder priming before time zero, which TS input
    // leaves out; SRT may drop the last few frames at the caller's shutdown.
    let (a, b) = (ffprobe::packets(src, "a:0"), ffprobe::packets(out, "a:0"));
    assert!(
        b.len() + 5 >= a.len() && b.len() < a.len(),
        "{} audio packets of {}",
        b.len(),
        a.len()
    );
    let errors = ffprobe::decode_errors(out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_pushes_into_srt_listen_and_the_mp4_matches_the_source() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("in.mp4");
    let port = test_support::free_port();
    let handle = spawn(
        &format!("srt-listen://:{port}?latency=1000"),
        out.to_str().unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ffmpeg = ffmpeg_push(
        &src,
        &format!("srt://127.0.0.1:{port}?mode=caller&linger=5"),
        false,
    );
    let (code, stderr) = ffmpeg.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    let summary = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.files, vec![out.clone()]);
    same_media(&src, &out);
}

#[tokio::test(flavor = "multi_thread")]
async fn srt_caller_output_feeds_ffmpeg_listening_and_it_decodes() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("out.ts");
    let port = test_support::free_port();
    let mut ffmpeg = ffmpeg_listen(&format!("srt://127.0.0.1:{port}?mode=listener"), &out);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let handle = spawn(
        src.to_str().unwrap(),
        &format!("srt://127.0.0.1:{port}?latency=1000"),
    );
    let summary = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(summary.files.is_empty());
    // ffmpeg ends when we close (its "Input/output error" at the end is the close).
    let (_, stderr) = ffmpeg.wait_with_stderr(Duration::from_secs(10));
    assert!(out.exists(), "ffmpeg wrote nothing: {stderr}");
    let probe = ffprobe::probe(&out);
    assert_eq!(probe["format"]["format_name"], "mpegts", "{probe}");
    // Every video frame and every AAC frame of the source, the priming one too (the
    // recorder keeps audio that starts just before the first key frame).
    let counts = |f: &Path, s| ffprobe::packets(f, s).len();
    assert_eq!(
        counts(&out, "v:0"),
        counts(&src, "v:0"),
        "video packets (ffmpeg: {stderr})"
    );
    assert_eq!(counts(&out, "a:0"), counts(&src, "a:0"), "audio packets");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn srt_listen_output_serves_ffmpeg_calling_and_it_decodes() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("out.ts");
    let port = test_support::free_port();
    // The listener waits for its caller before the first packet goes out.
    let handle = spawn(
        src.to_str().unwrap(),
        &format!("srt-listen://127.0.0.1:{port}?latency=1000"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ffmpeg = ffmpeg_listen(&format!("srt://127.0.0.1:{port}?mode=caller"), &out);
    tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .unwrap()
        .unwrap();
    let (_, stderr) = ffmpeg.wait_with_stderr(Duration::from_secs(10));
    assert!(out.exists(), "ffmpeg wrote nothing: {stderr}");
    let counts = |f: &Path, s| ffprobe::packets(f, s).len();
    assert_eq!(counts(&out, "v:0"), counts(&src, "v:0"), "video packets");
    assert_eq!(counts(&out, "a:0"), counts(&src, "a:0"), "audio packets");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_both_ways_and_a_wrong_one_is_refused_clearly() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let secret = "correct-horse-battery";

    // Our listener with a passphrase: a caller with the wrong one is refused (and does
    // not end the listener), the next with the right one is recorded.
    let out = dir.path().join("in.mp4");
    let port = test_support::free_port();
    let handle = spawn(
        &format!("srt-listen://127.0.0.1:{port}?passphrase={secret}&latency=1000"),
        out.to_str().unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = |pass: &str| format!("srt://127.0.0.1:{port}?mode=caller&linger=5&passphrase={pass}");
    let mut wrong = ffmpeg_push(&src, &url("not-the-passphrase"), false);
    let (code, _) = wrong.wait_with_stderr(Duration::from_secs(15));
    assert_ne!(
        code,
        Some(0),
        "a caller with the wrong passphrase got through"
    );
    let mut right = ffmpeg_push(&src, &url(secret), false);
    let (code, stderr) = right.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap();
    same_media(&src, &out);

    // Our caller with a passphrase into ffmpeg listening with it.
    let ts = dir.path().join("out.ts");
    let port = test_support::free_port();
    let listener = format!("srt://127.0.0.1:{port}?mode=listener&passphrase={secret}");
    let mut ffmpeg = ffmpeg_listen(&listener, &ts);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = format!("srt://127.0.0.1:{port}?passphrase={secret}&latency=1000");
    tokio::time::timeout(
        Duration::from_secs(20),
        spawn(src.to_str().unwrap(), &caller).wait(),
    )
    .await
    .unwrap()
    .unwrap();
    ffmpeg.wait_with_stderr(Duration::from_secs(10));
    let errors = ffprobe::decode_errors(&ts);
    assert!(errors.is_empty(), "decode errors: {errors}");
    assert_eq!(ffprobe::packets(&ts, "v:0").len(), 75);

    // Our caller with the wrong passphrase: one line naming the endpoint and the refusal,
    // the passphrase masked.
    let port = test_support::free_port();
    let listener = format!("srt://127.0.0.1:{port}?mode=listener&passphrase={secret}");
    let mut ffmpeg = ffmpeg_listen(&listener, &dir.path().join("never.ts"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = format!("srt://127.0.0.1:{port}?passphrase=not-the-passphrase");
    let error = tokio::time::timeout(
        Duration::from_secs(20),
        spawn(src.to_str().unwrap(), &caller).wait(),
    )
    .await
    .unwrap()
    .unwrap_err()
    .to_string();
    ffmpeg.stop();
    assert!(error.contains("passphrase=***"), "{error}");
    assert!(!error.contains("not-the-passphrase"), "{error}");
    assert!(error.contains("wrong password"), "{error}");

    // Nobody listens: the line ends with why (srt-tokio's error has no text of its own;
    // it ended in ": " before).
    let caller = format!("srt://127.0.0.1:{}", test_support::free_port());
    let error = tokio::time::timeout(
        Duration::from_secs(20),
        spawn(src.to_str().unwrap(), &caller).wait(),
    )
    .await
    .unwrap()
    .unwrap_err()
    .to_string();
    assert!(error.ends_with("timed out"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_that_vanishes_ends_the_input_with_an_error_and_the_file_is_finalized() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("cut.mp4");
    let port = test_support::free_port();
    let handle = spawn(
        &format!("srt-listen://:{port}?latency=1000"),
        out.to_str().unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ffmpeg = ffmpeg_push(&src, &format!("srt://127.0.0.1:{port}?mode=caller"), true);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ffmpeg.kill(); // SIGKILL: no SRT shutdown reaches us
    let error = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(error.contains("stopped answering"), "{error}");
    assert!(out.exists(), "the file was not finalized");
    let video = ffprobe::packets(&out, "v:0");
    assert!(video.len() >= 25, "{} video packets", video.len());
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

#[test]
fn srt_urls_are_checked_before_anything_starts() {
    for (url, why) in [
        ("srt://127.0.0.1:9000?passphrase=short", "10 to 79"),
        ("srt-listen://:9000?latency=soon", "latency"),
    ] {
        let error = Endpoint::parse(url, Direction::Input)
            .unwrap_err()
            .to_string();
        assert!(error.contains(why), "{error}");
    }
    let endpoint = Endpoint::parse("srt://h:1?passphrase=0123456789ab", Direction::Output).unwrap();
    assert_eq!(endpoint.to_string(), "srt://h:1?passphrase=***");
}
