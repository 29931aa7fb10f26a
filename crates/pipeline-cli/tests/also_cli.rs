//! `--also OUTPUT`: one input to several outputs at once. Every file output gets every
//! packet (ffprobe, ffmpeg decodes), a file is recorded while ffmpeg plays the same
//! input from `rtsp-listen://`, and an output that fails stops alone: the others are
//! finished, the exit code is 1 and the one line names it without its secret. An RTMP
//! output whose server (ffmpeg) dies is opened again once another server takes the port:
//! it starts there at a key frame, and the file output never noticed.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::ffprobe::{self, num};
use test_support::process::ChildGuard;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// (pts − first dts, dts − first dts) in seconds of every packet of `stream`.
fn times(path: &Path, stream: &str) -> Vec<(f64, f64)> {
    let packets = ffprobe::packets(path, stream);
    let origin = num(&packets[0]["dts_time"]);
    packets
        .iter()
        .map(|p| (num(&p["pts_time"]) - origin, num(&p["dts_time"]) - origin))
        .collect()
}

#[test]
fn every_output_gets_every_packet() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    // B-frames: decode and presentation order differ in every output.
    let h264_aac = ["-c:v", "libx264", "-bf", "2", "-c:a", "aac"];
    ffprobe::make_av(&source, "176x144", 3, &h264_aac);
    let (mp4, mkv, ts) = (
        dir.path().join("a.mp4"),
        dir.path().join("b.mkv"),
        dir.path().join("c.ts"),
    );
    let out = Command::new(BIN)
        .arg(&source)
        .arg(&mp4)
        .arg("--also")
        .arg(&mkv)
        .arg("--also")
        .arg(&ts)
        .args(["--also", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = dir.path().join("stdout.mp4");
    std::fs::write(&stdout, &out.stdout).unwrap();
    for stream in ["v:0", "a:0"] {
        let want = ffprobe::sizes_and_keys(&source, stream);
        assert!(want.len() > 50, "{stream}: {} packets", want.len());
        for file in [&mp4, &mkv, &ts, &stdout] {
            assert_eq!(
                ffprobe::sizes_and_keys(file, stream).len(),
                want.len(),
                "{file:?} {stream}"
            );
        }
        // The MP4 outputs hold the packets as they came, times included.
        for file in [&mp4, &stdout] {
            assert_eq!(
                ffprobe::sizes_and_keys(file, stream),
                want,
                "{file:?} {stream}"
            );
            let (got, expected) = (times(file, stream), times(&source, stream));
            for (g, e) in got.iter().zip(&expected) {
                assert!(
                    (g.0 - e.0).abs() < 0.002 && (g.1 - e.1).abs() < 0.002,
                    "{file:?} {stream}: {g:?} vs {e:?}"
                );
            }
        }
    }
    // Video sizes in Matroska and TS as well (their audio is framed differently).
    for file in [&mkv, &ts] {
        let got: Vec<_> = ffprobe::sizes_and_keys(file, "v:0")
            .iter()
            .map(|p| p.1)
            .collect();
        let want: Vec<_> = ffprobe::sizes_and_keys(&source, "v:0")
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(got, want, "{file:?}: key frames");
    }
    for file in [&mp4, &mkv, &ts, &stdout] {
        assert_eq!(ffprobe::decode_errors(file), "", "{file:?}");
    }
}

#[test]
fn a_file_is_recorded_while_ffmpeg_plays_the_input_from_rtsp_listen() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    ffprobe::make_av(
        &source,
        "320x240",
        8,
        &["-c:v", "libx264", "-g", "25", "-c:a", "aac"],
    );
    let port = test_support::free_port();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let recording = dir.path().join("recording.mp4");
    let child = Command::new(BIN)
        .arg(&source)
        .arg(&recording)
        .args(["--duration", "5", "--also"])
        .arg(format!("rtsp-listen://127.0.0.1:{port}/cam"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ours = ChildGuard::new("pipeline --also rtsp-listen", child);
    // The server is up once the file is paced (the rtsp-listen output asks for it).
    let played = dir.path().join("played.mp4");
    let ffmpeg = test_support::rtsp::ffmpeg_plays(&url, 2, &played);
    assert!(ffmpeg, "ffmpeg never played {url}");
    let (code, stderr) = ours.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr}");
    // The recording: 5 s of both tracks, paced (the live output sets the pace for all).
    let duration = num(&ffprobe::probe(&recording)["format"]["duration"]);
    assert!((duration - 5.0).abs() < 0.2, "recording of {duration} s");
    assert_eq!(ffprobe::decode_errors(&recording), "");
    // What ffmpeg played: 2 s of video and audio that decode.
    let counts = ffprobe::packet_counts(&played);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n >= 40), "{counts:?}");
    assert_eq!(ffprobe::decode_errors(&played), "");
}

#[test]
fn an_output_that_fails_stops_alone_and_the_exit_code_says_so() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    ffprobe::make_av(&source, "176x144", 2, &["-c:v", "libx264", "-c:a", "aac"]);
    let recording = dir.path().join("recording.mp4");
    // Nobody listens on that port: the RTMP output fails at once.
    let nobody = test_support::free_port();
    let out = Command::new(BIN)
        .arg(&source)
        .arg(&recording)
        .arg("--also")
        .arg(format!("rtmp://127.0.0.1:{nobody}/live/secretkey"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("pipeline: ") && last.contains(&nobody.to_string()),
        "{stderr}"
    );
    assert!(!stderr.contains("secretkey"), "{stderr}");
    // The recording went on to the end of the input.
    assert_eq!(
        ffprobe::packet_counts(&recording),
        ffprobe::packet_counts(&source),
        "{stderr}"
    );
    assert_eq!(ffprobe::decode_errors(&recording), "");
}

/// `ffmpeg -listen 1`: an RTMP server for one publisher, copying what it gets to `out`.
fn rtmp_server(url: &str, out: &Path) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-listen", "1", "-i", url])
        .args(["-c", "copy"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg -listen 1", child)
}

#[test]
fn an_rtmp_output_whose_server_died_is_opened_again_and_the_recording_goes_on() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    // A key frame every second (25 frames/s), so the new connection starts soon.
    ffprobe::make_av(
        &source,
        "176x144",
        8,
        &["-c:v", "libx264", "-g", "25", "-c:a", "aac"],
    );
    let recording = dir.path().join("recording.mp4");
    let port = test_support::free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/secretkey");
    let mut first = rtmp_server(&url, &dir.path().join("first.flv"));
    std::thread::sleep(Duration::from_millis(500));
    let pipeline = Command::new(BIN)
        .arg(&source)
        .arg(&recording)
        .args(["--also", &url])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipeline = ChildGuard::new("pipeline", pipeline);
    // The server dies 2.5 s into the 8 s input; another takes its port at once.
    std::thread::sleep(Duration::from_millis(2500));
    first.kill();
    let second_out = dir.path().join("second.flv");
    let mut second = rtmp_server(&url, &second_out);
    let (code, stderr) = pipeline.wait_with_stderr(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("opening it again"), "{stderr}");
    assert!(!stderr.contains("secretkey"), "{stderr}");
    // The second server's ffmpeg ends when the publisher leaves.
    let (_, played) = second.wait_with_stderr(Duration::from_secs(10));
    // The file output never noticed.
    assert_eq!(
        ffprobe::packet_counts(&recording),
        ffprobe::packet_counts(&source),
        "{stderr}"
    );
    // The reopened output started at a key frame and carried the rest of the input (the
    // first pause is 0.8-1.2 s; a second try, if the new server was not up yet, 1.6-2.4 s).
    let video = ffprobe::packets(&second_out, "v");
    assert!(
        !video.is_empty(),
        "nothing reached the second server: {played}"
    );
    assert_eq!(
        video[0]["flags"].as_str().unwrap().chars().next(),
        Some('K')
    );
    let seconds = video.len() as f64 / 25.0;
    assert!(
        seconds >= 1.5,
        "{seconds} s of video after the reconnection\n{stderr}"
    );
    assert!(!ffprobe::packets(&second_out, "a").is_empty());
    assert_eq!(ffprobe::decode_errors(&second_out), "");
}
