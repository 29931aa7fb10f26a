//! RTP out: `pipeline in.mp4 rtp://127.0.0.1:PORT --sdp FILE` received by ffmpeg from the
//! SDP we wrote (`ffmpeg -protocol_whitelist file,udp,rtp -i FILE -c copy out.mkv`): H.264
//! with B-frames and AAC, then H.265 and MPEG audio; what ffmpeg kept is probed and
//! decoded.
#![allow(clippy::unwrap_used)]

mod rtp_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use rtp_common::{decoded, free_ports, source, streams};
use test_support::process::ChildGuard;

/// A receiver: given our SDP and a file to write, records about 3 s and returns its exit
/// code and what it printed.
type Receiver = fn(&Path, &Path) -> (Option<i32>, String);

/// ffmpeg opens the SDP and copies 3 s into a Matroska file.
fn ffmpeg(sdp: &Path, out: &Path) -> (Option<i32>, String) {
    let child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-protocol_whitelist",
            "file,udp,rtp",
        ])
        .arg("-i")
        .arg(sdp)
        .args(["-t", "3", "-c", "copy", "-y"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child).wait_with_stderr(Duration::from_secs(20))
}

/// GStreamer's `sdpdemux` opens the SDP; H.264 and AAC are depacketized and parsed by
/// GStreamer's own elements into a Matroska file, ended by EOS after 3.5 s.
fn gstreamer(sdp: &Path, out: &Path) -> (Option<i32>, String) {
    let location = |p: &Path| format!("location={}", p.display());
    let child = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "-e",
            "filesrc",
            &location(sdp),
            "!",
            "sdpdemux",
            "name=d",
        ])
        .args([
            "d.",
            "!",
            "queue",
            "!",
            // Joining mid-stream: start at a key frame, as a player would (the frames
            // before it cannot be decoded, and ffmpeg says so).
            "rtph264depay",
            "wait-for-keyframe=true",
            "!",
            "h264parse",
            "!",
            "mux.",
        ])
        .args([
            "d.",
            "!",
            "queue",
            "!",
            "rtpmp4gdepay",
            "!",
            "aacparse",
            "!",
            "mux.",
        ])
        .args(["matroskamux", "name=mux", "!", "filesink", &location(out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gst = ChildGuard::new("gst-launch-1.0", child);
    std::thread::sleep(Duration::from_millis(3500));
    gst.signal("INT"); // -e: end of stream, the file finalized
    gst.wait_with_stderr(Duration::from_secs(20))
}

/// Sends `input` (looped, 6 s in all) to rtp://127.0.0.1:PORT while `receiver` records
/// about 3 s of it from our SDP into `file` (in `dir`); returns the receiver's file.
fn send_and_receive(input: &Path, dir: &Path, file: &str, receiver: Receiver) -> PathBuf {
    let port = free_ports();
    let received = dir.join(file);
    let sdp = received.with_extension("sdp");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut options = Options::default();
    options.loop_input = true;
    options.duration = Some(Duration::from_secs(6));
    options.sdp_file = Some(sdp.clone());
    let pipeline = runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap(),
            Endpoint::parse(&format!("rtp://127.0.0.1:{port}"), Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn()
    });
    let started = Instant::now();
    while !sdp.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no SDP written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&sdp).unwrap();
    assert!(text.starts_with("v=0\r\n"), "{text}");
    let (code, stderr) = receiver(&sdp, &received);
    let summary = runtime.block_on(pipeline.wait());
    assert!(summary.is_ok(), "the sender failed: {summary:?}");
    assert_eq!(code, Some(0), "{file}: {stderr}\nSDP:\n{text}");
    received
}

#[test]
fn h264_and_aac_over_rtp_play_in_ffmpeg_from_our_sdp() {
    if !test_support::peers_present("rtp_h264_aac", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-preset", "fast", "-bf", "2"],
        &["-c:a", "aac", "-ac", "2"],
        "h264.mp4",
    );
    let received = send_and_receive(&input, dir.path(), "h264.mkv", ffmpeg);
    let streams = streams(&received);
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(
        (&video["codec_name"], &video["width"]),
        (&"h264".into(), &320.into())
    );
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(
        (&audio["sample_rate"], &audio["channels"]),
        (&"48000".into(), &2.into())
    );
    // 3 s at 25 frames/s, less what came before the first key frame ffmpeg saw.
    let frames = decoded(&received, "v:0");
    let blocks = decoded(&received, "a:0");
    eprintln!("ffmpeg decoded {frames} pictures and {blocks} AAC frames");
    assert!(frames >= 40.0, "{frames} pictures");
    assert!(blocks >= 90.0, "{blocks} AAC frames");
    // Lip sync across the two RTP streams (the sender reports) is not measured here:
    // ffmpeg's copy starts its video at the first key frame it received, up to 1 s after
    // its audio, so the start times say nothing about it.
}

#[test]
fn h265_and_mp3_over_rtp_play_in_ffmpeg_from_our_sdp() {
    if !test_support::peers_present("rtp_h265_mp3", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &[
            "-c:v",
            "libx265",
            "-preset",
            "fast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ],
        &["-c:a", "libmp3lame", "-ac", "1"],
        "h265.mp4",
    );
    let received = send_and_receive(&input, dir.path(), "h265.mkv", ffmpeg);
    let streams = streams(&received);
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], "hevc");
    assert_eq!(audio["codec_name"], "mp3");
    let frames = decoded(&received, "v:0");
    assert!(frames >= 40.0, "{frames} pictures");
    assert!(decoded(&received, "a:0") >= 80.0);
}

#[test]
fn h264_and_aac_over_rtp_play_in_gstreamer_from_our_sdp() {
    let gst = ["gst-launch", "gst-good", "gst-bad", "gst-libav"];
    if !test_support::peers_present("rtp_gstreamer", &["ffmpeg", "ffprobe"])
        || !test_support::peers_present("rtp_gstreamer", &gst)
    {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-preset", "fast", "-bf", "2"],
        &["-c:a", "aac", "-ac", "2"],
        "h264.mp4",
    );
    let received = send_and_receive(&input, dir.path(), "gst.mkv", gstreamer);
    let streams = streams(&received);
    let codecs: Vec<_> = streams.iter().map(|s| s["codec_name"].clone()).collect();
    assert!(
        codecs.contains(&"h264".into()) && codecs.contains(&"aac".into()),
        "{codecs:?}"
    );
    let frames = decoded(&received, "v:0");
    let blocks = decoded(&received, "a:0");
    eprintln!("GStreamer kept {frames} pictures and {blocks} AAC frames");
    assert!(frames >= 40.0, "{frames} pictures");
    assert!(blocks >= 90.0, "{blocks} AAC frames");
    // Decoded into framecrc, which takes equal timestamps: GStreamer times what it
    // receives by arrival, in Matroska's milliseconds, so two frames can share one (the
    // null muxer calls that an error; it is GStreamer's timing, not the stream).
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&received)
        .args(["-f", "framecrc", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "what GStreamer kept decodes cleanly"
    );
}
