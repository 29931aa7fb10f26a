//! `-` as output with `--format`: ffprobe and ffmpeg read our standard output from the
//! pipe itself (no file between, so nothing could be sought back and patched): every
//! packet of an ffmpeg-made source arrives, for TS, Matroska, WebM, Annex B, ADTS, MP3 and
//! Ogg Opus. A live camera to TS and Matroska reaches the reader while it records (each
//! frame, or each cluster, goes out at once), and what arrived decodes cleanly.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;
use test_support::ffprobe::{self, make_av, packet_counts};
use test_support::rtsp::RtspServer;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// `pipeline ARGS -` piped into `reader -` (ffprobe or ffmpeg): the reader's stdout and
/// stderr; both must succeed.
fn through_pipe(args: &[&str], reader: &str, reader_args: &[&str]) -> (String, String) {
    let mut ours = Command::new(BIN)
        .arg("-q")
        .args(args)
        .arg("-")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let theirs = Command::new(reader)
        .args(reader_args)
        .stdin(ours.stdout.take().unwrap())
        .output()
        .unwrap();
    let mut our_err = String::new();
    ours.stderr
        .take()
        .unwrap()
        .read_to_string(&mut our_err)
        .unwrap();
    assert!(
        ours.wait().unwrap().success(),
        "pipeline {args:?}: {our_err}"
    );
    let (out, err) = (
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
        String::from_utf8_lossy(&theirs.stderr).into_owned(),
    );
    assert!(theirs.status.success(), "{reader} after {args:?}: {err}");
    (out, err)
}

/// ffprobe counts the packets of `pipeline ARGS -` from its stdin.
fn probed_from_pipe(args: &[&str]) -> Vec<(String, u64)> {
    let mut probe_args = vec!["-v", "error"];
    probe_args.extend(ffprobe::COUNT_PACKETS);
    probe_args.extend(["-of", "json", "-i", "-"]);
    let (out, _) = through_pipe(args, "ffprobe", &probe_args);
    ffprobe::packets_read(&serde_json::from_str(&out).unwrap())
}

/// ffmpeg decodes `pipeline ARGS -` from its stdin: what it printed (empty: clean).
fn decoded_from_pipe(args: &[&str]) -> String {
    let reader = ["-nostdin", "-v", "error", "-i", "pipe:0", "-f", "null", "-"];
    through_pipe(args, "ffmpeg", &reader).1
}

#[test]
fn every_format_reaches_a_reader_through_the_pipe() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // H.264 with B-frames and AAC; VP8 and Opus; MP3.
    let av = path("av.mp4");
    let h264_aac = ["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac"];
    make_av(Path::new(&av), "160x120", 2, &h264_aac);
    let vp8 = path("vp8.webm");
    let vp8_opus = ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"];
    make_av(Path::new(&vp8), "160x120", 2, &vp8_opus);
    let mp3 = test_support::fixture("mp3-44100.mp3");
    let mp3 = mp3.to_str().unwrap();
    let source = packet_counts(Path::new(&av));
    let (video, audio) = (source[0].clone(), source[1].clone());
    assert_eq!((video.0.as_str(), audio.0.as_str()), ("h264", "aac"));

    for format in ["ts", "mkv", "mp4"] {
        let got = probed_from_pipe(&["-f", format, &av]);
        assert_eq!(got, source, "{format}");
        assert_eq!(decoded_from_pipe(&["-f", format, &av]), "", "{format}");
    }
    assert_eq!(
        probed_from_pipe(&["-f", "h264", "--no-audio", &av]),
        [video]
    );
    assert_eq!(probed_from_pipe(&["-f", "aac", "--no-video", &av]), [audio]);
    assert_eq!(
        probed_from_pipe(&["-f", "webm", &vp8]),
        packet_counts(Path::new(&vp8))
    );
    let opus = probed_from_pipe(&["-f", "opus", "--no-video", &vp8]);
    assert_eq!(opus, [packet_counts(Path::new(&vp8))[1].clone()]);
    // No Xing frame on a pipe (it is filled in at the end): the frames alone.
    assert_eq!(
        probed_from_pipe(&["-f", "mp3", mp3]),
        packet_counts(Path::new(mp3))
    );
    assert_eq!(decoded_from_pipe(&["-f", "mp3", mp3]), "");
}

#[test]
fn format_is_refused_for_a_named_output_and_a_misfit_says_what_fits() {
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mp3-44100.mp3");
    let out = Command::new(BIN)
        .args(["-f", "ts"])
        .arg(&mp3)
        .arg(dir.path().join("out.mp4"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--format is for `-`"), "{err}");
    // `--transcode never`: a build with the `codec` feature would make AAC of it.
    let out = Command::new(BIN)
        .args(["-f", "aac", "--transcode", "never"])
        .arg(&mp3)
        .arg("-")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("takes one AAC audio track"), "{err}");
    assert!(out.stdout.is_empty());
}

/// Bytes of the live recording `pipeline --duration 6 -f FORMAT URL -` read from the
/// pipe, and how many arrived in the first 4 s, while it was recording.
fn live(url: &str, format: &str) -> (Vec<u8>, usize) {
    let child = Command::new(BIN)
        .args(["-q", "--duration", "6", "-f", format, url, "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let mut stdout = child.take_stdout().unwrap();
    let started = Instant::now();
    let (mut bytes, mut early) = (Vec::new(), 0);
    let mut buf = [0u8; 65536];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        if started.elapsed() < Duration::from_secs(4) {
            early = bytes.len();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still writing");
    }
    let (code, err) = child.wait_with_stderr(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    (bytes, early)
}

#[test]
fn a_live_camera_reaches_the_reader_while_recording() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("pipe_formats", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let url = server.url("/h264aac");
    let dir = test_support::temp_dir();
    for format in ["ts", "mkv"] {
        let (bytes, early) = live(&url, format);
        // The camera's key frames come every 2 s: by 4 s a TS reader has had frames and a
        // Matroska reader its first cluster, 2 s before the recording ends.
        assert!(early > 10_000, "{format}: {early} of {} bytes", bytes.len());
        let file = dir.path().join(format!("live.{format}"));
        std::fs::write(&file, &bytes).unwrap();
        let got = packet_counts(&file);
        assert_eq!(got.len(), 2, "{format}: {got:?}");
        assert_eq!((got[0].0.as_str(), got[1].0.as_str()), ("h264", "aac"));
        assert!(got[0].1 >= 60, "{format}: {got:?}");
        assert_eq!(ffprobe::decode_errors(&file), "", "{format}");
    }
}

/// `-` as input: MPEG-TS and fragmented MP4 from ffmpeg's stdout and from ours, told from
/// MP3 by their first bytes, remuxed with every packet; a plain MP4 is refused in one
/// line.
#[test]
fn ts_and_fragmented_mp4_on_stdin_from_ffmpeg_and_from_ourselves() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let av = dir.path().join("av.mp4");
    let h264_aac = ["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac"];
    make_av(&av, "160x120", 2, &h264_aac);
    let source = packet_counts(&av);
    let piped = |writer: &mut Command, out: &Path| {
        let mut writer = writer.stdout(Stdio::piped()).spawn().unwrap();
        let ours = Command::new(BIN)
            .args(["-q", "-"])
            .arg(out)
            .stdin(writer.stdout.take().unwrap())
            .output()
            .unwrap();
        // The writer may end by SIGPIPE when we refuse its stream: not asserted.
        let _ = writer.wait();
        (
            ours.status.code(),
            String::from_utf8_lossy(&ours.stderr).into_owned(),
        )
    };
    let theirs = dir.path().join("from-ffmpeg.mp4");
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-nostdin", "-v", "error", "-i"]).arg(&av);
    ffmpeg.args(["-c", "copy", "-f", "mpegts", "-"]);
    assert_eq!(piped(&mut ffmpeg, &theirs), (Some(0), String::new()));
    assert_eq!(packet_counts(&theirs), source);
    assert_eq!(ffprobe::decode_errors(&theirs), "");

    let ours = dir.path().join("from-ours.mkv");
    let mut writer = Command::new(BIN);
    writer.args(["-q", "-f", "ts"]).arg(&av).arg("-");
    assert_eq!(piped(&mut writer, &ours), (Some(0), String::new()));
    assert_eq!(packet_counts(&ours), source);

    // Fragmented MP4 from ours (`-` writes it) and from ffmpeg's `empty_moov` muxing.
    let fragmented = dir.path().join("from-fmp4.mkv");
    let mut writer = Command::new(BIN);
    writer.args(["-q"]).arg(&av).arg("-");
    assert_eq!(piped(&mut writer, &fragmented), (Some(0), String::new()));
    assert_eq!(packet_counts(&fragmented), source);
    let fragmented = dir.path().join("from-ffmpeg-fmp4.mp4");
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-nostdin", "-v", "error", "-i"]).arg(&av);
    ffmpeg.args([
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        "-f",
        "mp4",
        "-",
    ]);
    assert_eq!(piped(&mut ffmpeg, &fragmented), (Some(0), String::new()));
    assert_eq!(packet_counts(&fragmented), source);

    // A plain MP4 indexes its samples in moov: not readable from a pipe.
    let mut cat = Command::new("cat");
    cat.arg(&av);
    let (code, err) = piped(&mut cat, &dir.path().join("never.mp4"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("stdin: a plain MP4"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
