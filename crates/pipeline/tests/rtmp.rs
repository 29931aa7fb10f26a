//! RTMP in against ffmpeg 5.1: `ffmpeg -re -i src.mp4 -c copy -f flv rtmp://…` into our
//! `rtmp-listen://` → MP4, compared with the source packet by packet; a wrong stream
//! key and garbage after the handshake are refused while the server goes on listening
//! for the right publisher. The same media as an `.flv` file (ffmpeg's `-f flv`, what OBS
//! records) goes through the same tag reading. (ffmpeg 5.1 predates Enhanced RTMP, so
//! H.265 over RTMP is covered by the flv crate's unit tests only.)
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline::{Direction, Endpoint, Pipeline, PipelineHandle};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use test_support::ffprobe::{self, Value, num};
use test_support::process::ChildGuard;

/// 3 s of 320x240 H.264 at 25 frames/s (B-frames, key frame every second) and AAC.
fn source(dir: &Path) -> PathBuf {
    let path = dir.join("src.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "3", "-c:v", "libx264", "-preset", "fast", "-g", "25"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no source");
    path
}

fn spawn(input: &str, output: &Path) -> PipelineHandle {
    let input = Endpoint::parse(input, Direction::Input).unwrap();
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output).spawn()
}

fn push(src: &Path, url: &str) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(src)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

/// (pts, dts) in seconds, size, key flag.
type Row = (f64, f64, u64, bool);

fn rows(packets: &[Value]) -> Vec<Row> {
    packets
        .iter()
        .map(|p| {
            let key = p["flags"].as_str().unwrap_or("").starts_with('K');
            (
                num(&p["pts_time"]),
                num(&p["dts_time"]),
                num(&p["size"]) as u64,
                key,
            )
        })
        .collect()
}

/// Times in ms from the first packet's presentation time on.
fn relative(rows: &[Row]) -> Vec<(i64, i64, u64, bool)> {
    let first = rows.first().map_or(0.0, |r| r.0);
    let ms = |t: f64| ((t - first) * 1000.0).round() as i64;
    rows.iter()
        .map(|&(pts, dts, size, key)| (ms(pts), ms(dts), size, key))
        .collect()
}

/// Video and audio equal packet by packet (pts and dts from each track's first packet,
/// sizes, key flags; with B-frames ffmpeg's FLV muxer moves every time forward, so the
/// AAC priming frame before time zero is sent too); the tracks start together as in the
/// source within one AAC frame (FLV keeps no priming information).
fn same_media(src: &Path, out: &Path) {
    let (sv, ov) = (ffprobe::packets(src, "v:0"), ffprobe::packets(out, "v:0"));
    let (sv, ov) = (rows(&sv), rows(&ov));
    assert_eq!(
        relative(&sv),
        relative(&ov),
        "video packets (pts, dts, size, key)"
    );
    let (sa, oa) = (ffprobe::packets(src, "a:0"), ffprobe::packets(out, "a:0"));
    let sa = rows(&sa);
    let oa = rows(&oa);
    assert_eq!(relative(&sa), relative(&oa), "audio packets (pts, size)");
    let start = |v: &[Row], a: &[Row]| v[0].0 - a[0].0;
    let drift = start(&sv, &sa) - start(&ov, &oa);
    assert!(drift.abs() <= 0.022, "A/V start moved by {drift} s");
    let errors = ffprobe::decode_errors(out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_publishes_into_rtmp_listen_and_the_mp4_matches_the_source() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("in.mp4");
    let port = test_support::free_port();
    let handle = spawn(&format!("rtmp-listen://:{port}/live/cam-key"), &out);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ffmpeg = push(&src, &format!("rtmp://127.0.0.1:{port}/live/cam-key"));
    let (code, stderr) = ffmpeg.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    let summary = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.files, vec![out.clone()]);
    same_media(&src, &out);
}

/// The source remuxed by ffmpeg into an `.flv` file, then by us into MP4: the same
/// packets as the source, as through RTMP (the tags are read the same way); our own
/// `.flv` too, read by ffprobe and by us. A file cut inside a tag keeps every tag before
/// the cut, and decodes.
#[tokio::test(flavor = "multi_thread")]
async fn flv_files_in_and_out_and_a_cut_one_keeps_what_came_before() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let flv = dir.path().join("src.flv");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&src)
        .args(["-c", "copy", "-f", "flv"])
        .arg(&flv)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("from-flv.mp4");
    let summary = spawn(flv.to_str().unwrap(), &out).wait().await.unwrap();
    assert_eq!(summary.files, vec![out.clone()]);
    same_media(&src, &out);
    // Our own `.flv` (the tags an RTMP publish sends, framed as a file): ffprobe reads the
    // source's packets in it, and our input reads them back.
    let ours = dir.path().join("ours.flv");
    spawn(src.to_str().unwrap(), &ours).wait().await.unwrap();
    for stream in ["v:0", "a:0"] {
        let theirs = relative(&rows(&ffprobe::packets(&src, stream)));
        let got = relative(&rows(&ffprobe::packets(&ours, stream)));
        assert_eq!(got.len(), theirs.len(), "{stream}");
        for (g, t) in got.iter().zip(&theirs) {
            // FLV counts milliseconds: each time rounded on its own, within 1 ms.
            let near = (g.0 - t.0).abs() <= 1 && (g.1 - t.1).abs() <= 1;
            assert!(
                near && (g.2, g.3) == (t.2, t.3),
                "{stream}: {g:?} against {t:?}"
            );
        }
    }
    assert!(ffprobe::decode_errors(&ours).is_empty());
    let back = dir.path().join("from-ours.mp4");
    spawn(ours.to_str().unwrap(), &back).wait().await.unwrap();
    same_media(&src, &back);
    let bytes = std::fs::read(&flv).unwrap();
    let cut = dir.path().join("cut.flv");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let out = dir.path().join("from-cut.mp4");
    spawn(cut.to_str().unwrap(), &out).wait().await.unwrap();
    let video = ffprobe::packets(&out, "v:0").len();
    assert!((25..75).contains(&video), "{video} of 75 pictures");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

/// Flash-era FLV files: H.264 with MP3 (every frame of both reaches the MP4); Sorenson
/// video with Nellymoser audio, which we do not read (one line naming the codecs read).
#[tokio::test(flavor = "multi_thread")]
async fn flv_files_with_mp3_are_read_and_older_codecs_named() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let make = |name: &str, codecs: &[&str]| {
        let path = dir.path().join(name);
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=320x240:rate=25")
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", "2"])
            .args(codecs)
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg made no {name}");
        path
    };
    let mp3 = make("mp3.flv", &["-c:v", "libx264", "-c:a", "libmp3lame"]);
    let out = dir.path().join("mp3.mp4");
    spawn(mp3.to_str().unwrap(), &out).wait().await.unwrap();
    for stream in ["v:0", "a:0"] {
        let (theirs, ours) = (
            ffprobe::packets(&mp3, stream),
            ffprobe::packets(&out, stream),
        );
        assert_eq!(ours.len(), theirs.len(), "{stream}");
    }
    assert_eq!(ffprobe::probe(&out)["streams"][1]["codec_name"], "mp3");
    assert!(ffprobe::decode_errors(&out).is_empty());
    let old = make("old.flv", &["-c:v", "flv1", "-c:a", "nellymoser"]);
    let error = spawn(old.to_str().unwrap(), &dir.path().join("old.mp4"))
        .wait()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no H.264, H.265, AAC or MP3 tag"),
        "{error}"
    );
}

/// A client that completes the RTMP handshake, then sends what is not RTMP chunks.
fn handshake_then_garbage(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut handshake = Handshake::new(PeerType::Client);
    stream
        .write_all(&handshake.generate_outbound_p0_and_p1().unwrap())
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed during the handshake");
        match handshake.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).unwrap()
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                stream.write_all(&response_bytes).unwrap();
                break;
            }
        }
    }
    // A chunk header announcing a 16 MB message on chunk stream 3, then noise.
    let mut garbage = vec![0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0];
    garbage.extend((0..20_000u32).map(|i| (i * 7919 % 251) as u8));
    let _ = stream.write_all(&garbage);
    // The server hangs up on us (or waits for more); either way, no crash.
    let _ = stream.read(&mut buf);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_and_garbage_are_refused_and_the_right_publisher_is_recorded() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path());
    let out = dir.path().join("in.mp4");
    let port = test_support::free_port();
    let handle = spawn(
        &format!("rtmp-listen://127.0.0.1:{port}/live/right-key"),
        &out,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut wrong = push(&src, &format!("rtmp://127.0.0.1:{port}/live/wrong-key"));
    let (code, _) = wrong.wait_with_stderr(Duration::from_secs(20));
    assert_ne!(code, Some(0), "a publisher with the wrong key got through");
    let mut wrong_app = push(&src, &format!("rtmp://127.0.0.1:{port}/other/right-key"));
    let (code, _) = wrong_app.wait_with_stderr(Duration::from_secs(20));
    assert_ne!(code, Some(0), "a publisher of another app got through");
    tokio::task::spawn_blocking(move || handshake_then_garbage(port))
        .await
        .unwrap();

    let mut right = push(&src, &format!("rtmp://127.0.0.1:{port}/live/right-key"));
    let (code, stderr) = right.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap();
    same_media(&src, &out);
}

#[test]
fn the_stream_key_never_shows() {
    let endpoint =
        Endpoint::parse("rtmp-listen://:1935/live/s3cr3t-key", Direction::Input).unwrap();
    let shown = format!("{endpoint} {endpoint:?}");
    assert!(!shown.contains("s3cr3t-key"), "{shown}");
    assert!(
        shown.contains("rtmp-listen://127.0.0.1:1935/live"),
        "{shown}"
    );
    let error = Endpoint::parse("rtmp-listen://:1935/nokey", Direction::Input)
        .unwrap_err()
        .to_string();
    assert!(error.contains("app/key"), "{error}");
}
