//! RTSP out: `pipeline in.mp4 rtsp-listen://127.0.0.1:PORT/live/cam`, played by real
//! RTSP clients over TCP (interleaved) and UDP: ffmpeg (records with `-c copy`), GStreamer's
//! `rtspsrc` with its own depayloaders and decoder, and our own `rtsp://` input (retina),
//! which needs RTP-Info; H.264 with and without B-frames + AAC, H.265 + Opus; several
//! clients at once beside one that never reads; bad requests answered with their status;
//! rtspsrc paused (PAUSE: nothing sent) and playing again (PLAY: from a key frame).
#![allow(clippy::unwrap_used)]

mod rtp_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline, Summary};
use rtp_common::{decoded, source, streams};
use test_support::ffprobe;
use test_support::process::ChildGuard;

const PEERS: &[&str] = &[
    "ffmpeg",
    "ffprobe",
    "gst-launch",
    "gst-good",
    "gst-bad",
    "gst-libav",
];

/// `input` looped to `rtsp-listen://127.0.0.1:PORT/live/cam` on its own runtime;
/// `clients` runs once the server answers, given the stream's URL, and the server is
/// closed when they are done. `seconds` is what the clients need: the server stops by
/// itself only at three times that (a bound), so slow clients on a loaded machine do not
/// meet a server that ended under them (GStreamer's rtspsrc then fails its PAUSE at
/// shutdown with "Received end-of-file").
fn serve<T>(input: &Path, seconds: u64, clients: impl FnOnce(&str) -> T) -> (T, Summary) {
    serve_with(input, seconds, None, clients)
}

/// [`serve`] with `--token` (the password players give).
fn serve_with<T>(
    input: &Path,
    seconds: u64,
    token: Option<&str>,
    clients: impl FnOnce(&str) -> T,
) -> (T, Summary) {
    let port = test_support::free_port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut options = Options::default();
    options.remote.token = token.map(str::to_owned);
    options.loop_input = true;
    options.duration = Some(Duration::from_secs(seconds * 3));
    let output = format!("rtsp-listen://127.0.0.1:{port}/live/cam");
    let pipeline = runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap(),
            Endpoint::parse(&output, Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn()
    });
    let url = format!("rtsp://127.0.0.1:{port}/live/cam");
    let started = Instant::now();
    let ready =
        |answer: String| answer.starts_with("RTSP/1.0 200") || answer.starts_with("RTSP/1.0 401");
    while !ready(request(
        port,
        &format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
    )) {
        assert!(started.elapsed() < Duration::from_secs(10), "no answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = clients(&url);
    pipeline.close();
    let summary = runtime.block_on(pipeline.wait()).unwrap();
    (result, summary)
}

/// One request on a new connection: the whole answer (headers and body).
fn request(port: u16, text: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream.write_all(text.as_bytes()).unwrap();
    read_answer(&mut stream)
}

/// An answer read up to its blank line and its Content-Length (empty when closed).
fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => return String::from_utf8_lossy(&got).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

/// ffmpeg records `seconds` of `url` over `transport` with `-c copy` into `out`.
fn ffmpeg_record(url: &str, transport: &str, seconds: &str, out: &Path) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-i",
            url,
        ])
        .args(["-t", seconds, "-c", "copy", "-y"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

/// GStreamer's rtspsrc over `protocols`, its H.264 depayloader, parser and decoder:
/// `frames` decoded frames, then EOS; `Err` with what it printed when the EOS never came.
///
/// Judged by the EOS reaching the pipeline, not by gst-launch's exit code: at EOS
/// gst-launch takes the pipeline straight to NULL, and GStreamer 1.22's rtspsrc now and
/// then cancels its own PAUSE (sent only to a server that lists PAUSE, as ours does) with
/// its TEARDOWN command. `GST_DEBUG=rtspsrc:6` shows "sending cmd CLOSE … connection
/// flush busy PAUSE", then the PAUSE failing 0.2 ms later with "Could not send message.
/// (Received end-of-file)" before it left (the server never sees it, and answers the
/// TEARDOWN on the same connection), and gst-launch exits 1 after its EOS.
fn gstreamer_decodes(url: &str, protocols: &str, frames: u32) -> Result<(), String> {
    let stdout = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new("gst-launch-1.0")
        .arg("rtspsrc")
        .arg(format!("location={url}"))
        .arg(format!("protocols={protocols}"))
        .args([
            "!",
            "rtph264depay",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
        ])
        .args(["fakesink", &format!("num-buffers={frames}")])
        .stdout(stdout.reopen().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) =
        ChildGuard::new("gst-launch-1.0", child).wait_with_stderr(Duration::from_secs(20));
    let printed = std::fs::read_to_string(stdout.path()).unwrap();
    if printed.contains("Got EOS from element \"pipeline0\"") {
        Ok(())
    } else {
        Err(format!("exit {code:?}, no EOS: {printed}{stderr}"))
    }
}

/// Our own `rtsp://` input records `seconds` of `url` over `transport` into `out`.
fn ours_record(url: &str, transport: &str, seconds: u64, out: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(seconds));
    options.rtsp.transport = match transport {
        "udp" => rtsp_source::Transport::Udp,
        _ => rtsp_source::Transport::Tcp,
    };
    let summary = runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(url, Direction::Input).unwrap(),
            Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn()
        .wait()
        .await
    });
    assert!(summary.is_ok(), "{transport}: {summary:?}");
}

fn codecs(file: &Path) -> Vec<String> {
    streams(file)
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ffmpeg_and_our_input_record_over_tcp_and_udp() {
    if !test_support::peers_present("rtsp_listen_record", PEERS) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-bf", "0"],
        &["-c:a", "aac", "-ac", "1"],
        "plain.mp4",
    );
    let ((), _) = serve(&input, 9, |url| {
        // Two ffmpeg clients at once, one per transport, and ours after them.
        let out = |name: &str| dir.path().join(name);
        let tcp = ffmpeg_record(url, "tcp", "2", &out("tcp.mkv"));
        let udp = ffmpeg_record(url, "udp", "2", &out("udp.mkv"));
        for (name, mut child) in [("tcp", tcp), ("udp", udp)] {
            let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
            assert_eq!(code, Some(0), "ffmpeg over {name}: {stderr}");
        }
        ours_record(url, "tcp", 2, &out("ours-tcp.mp4"));
        ours_record(url, "udp", 2, &out("ours-udp.mp4"));
    });
    for name in ["tcp.mkv", "udp.mkv", "ours-tcp.mp4", "ours-udp.mp4"] {
        let file = dir.path().join(name);
        assert_eq!(codecs(&file), ["h264", "aac"], "{name}");
        // 2 s at 25 frames/s, starting at the key frame held for joiners.
        let frames = decoded(&file, "v:0");
        assert!((45.0..=60.0).contains(&frames), "{name}: {frames} frames");
        assert!(decoded(&file, "a:0") > 70.0, "{name}: audio");
        assert_eq!(ffprobe::decode_errors(&file), "", "{name}");
    }
}

#[test]
fn b_frames_play_in_gstreamer_and_our_input_and_h265_with_opus_in_ffmpeg() {
    if !test_support::peers_present("rtsp_listen_b_frames", PEERS) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-bf", "2"],
        &["-c:a", "aac"],
        "b-frames.mp4",
    );
    let out = dir.path().join("ours.mp4");
    let ((), _) = serve(&input, 9, |url| {
        for protocols in ["tcp", "udp"] {
            let decoded = gstreamer_decodes(url, protocols, 50);
            decoded.unwrap_or_else(|e| panic!("rtspsrc over {protocols}: {e}"));
        }
        ours_record(url, "tcp", 2, &out);
    });
    assert_eq!(codecs(&out), ["h264", "aac"]);
    assert_eq!(streams(&out)[0]["has_b_frames"], 2);
    assert!(decoded(&out, "v:0") >= 45.0);
    assert_eq!(ffprobe::decode_errors(&out), "");

    let hevc = source(
        dir.path(),
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "bframes=0:log-level=error",
        ],
        &["-c:a", "libopus"],
        "hevc.mkv",
    );
    let probed = dir.path().join("hevc-out.mkv");
    let ((), _) = serve(&hevc, 6, |url| {
        let mut child = ffmpeg_record(url, "tcp", "2", &probed);
        let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
        assert_eq!(code, Some(0), "{stderr}");
    });
    assert_eq!(codecs(&probed), ["hevc", "opus"]);
    assert!(decoded(&probed, "v:0") >= 45.0);
}

#[test]
fn a_client_that_never_reads_does_not_slow_the_others_and_bad_requests_get_their_status() {
    if !test_support::peers_present("rtsp_listen_hostile", PEERS) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-bf", "0", "-b:v", "2M"],
        &["-c:a", "aac"],
        "in.mp4",
    );
    let ((), _) = serve(&input, 8, |url| {
        let port: u16 = url[17..].split('/').next().unwrap().parse().unwrap();
        // A client that plays over TCP and then reads nothing.
        let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut send = |text: String| {
            stalled.write_all(text.as_bytes()).unwrap();
            read_answer(&mut stalled)
        };
        send(format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
        let setup = send(format!(
            "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n\
             Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        ));
        let session = setup
            .lines()
            .find_map(|l| l.strip_prefix("Session: "))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let play = send(format!(
            "PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n"
        ));
        assert!(play.starts_with("RTSP/1.0 200"), "{play}");
        assert!(play.contains("RTP-Info: url="), "{play}");
        // Two clients beside it get every frame of their 3 s.
        let tcp = ffmpeg_record(url, "tcp", "3", &dir.path().join("a.mkv"));
        let udp = ffmpeg_record(url, "udp", "3", &dir.path().join("b.mkv"));
        for mut child in [tcp, udp] {
            let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
            assert_eq!(code, Some(0), "{stderr}");
        }
        // Bad requests: each its status, the server still serving.
        let status = |text: &str| {
            let answer = request(port, text);
            answer.lines().next().unwrap_or("").to_owned()
        };
        let other = format!("rtsp://127.0.0.1:{port}/other");
        assert_eq!(
            status(&format!("DESCRIBE {other} RTSP/1.0\r\nCSeq: 5\r\n\r\n")),
            "RTSP/1.0 404 Not Found"
        );
        assert_eq!(
            status(&format!(
                "PLAY {url} RTSP/1.0\r\nCSeq: 6\r\nSession: x\r\n\r\n"
            )),
            "RTSP/1.0 454 Session Not Found"
        );
        assert_eq!(
            status(&format!(
                "SETUP {url}/trackID=9 RTSP/1.0\r\nCSeq: 7\r\n\
                 Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
            )),
            "RTSP/1.0 404 Not Found"
        );
        assert_eq!(
            status(&format!(
                "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 8\r\n\
                 Transport: RTP/AVP;multicast\r\n\r\n"
            )),
            "RTSP/1.0 461 Unsupported Transport"
        );
        assert_eq!(
            status("\u{1}\u{2}garbage\r\n\r\n"),
            "RTSP/1.0 400 Bad Request"
        );
        // A request that never ends is cut at 64 KiB (the connection closed).
        let mut endless = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let header = format!("OPTIONS {url} RTSP/1.0\r\nX: {}", "a".repeat(100_000));
        let _ = endless.write_all(header.as_bytes());
        assert_eq!(read_answer(&mut endless), "");
        drop(stalled);
    });
    for name in ["a.mkv", "b.mkv"] {
        let file = dir.path().join(name);
        let frames = decoded(&file, "v:0");
        assert!((70.0..=85.0).contains(&frames), "{name}: {frames} frames");
    }
}

#[test]
fn with_a_token_players_give_it_as_their_password_and_off_loopback_it_is_required() {
    if !test_support::peers_present("rtsp_listen_auth", PEERS) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-bf", "0"],
        &["-c:a", "aac"],
        "in.mp4",
    );
    let ours = dir.path().join("ours.mp4");
    let theirs = dir.path().join("ffmpeg.mkv");
    let ((), _) = serve_with(&input, 8, Some("s3cret"), |url| {
        let port: u16 = url[17..].split('/').next().unwrap().parse().unwrap();
        let answer = request(port, &format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
        assert!(answer.starts_with("RTSP/1.0 401"), "{answer}");
        assert!(answer.contains("WWW-Authenticate: Digest"), "{answer}");
        let with =
            |password: &str| url.replacen("rtsp://", &format!("rtsp://viewer:{password}@"), 1);
        // ffmpeg answers the Digest challenge; a wrong password is refused.
        let (code, stderr) = ffmpeg_record(&with("s3cret"), "tcp", "2", &theirs)
            .wait_with_stderr(Duration::from_secs(20));
        assert_eq!(code, Some(0), "{stderr}");
        let (code, stderr) = ffmpeg_record(&with("wrong"), "tcp", "2", &dir.path().join("x.mkv"))
            .wait_with_stderr(Duration::from_secs(20));
        assert_ne!(code, Some(0));
        assert!(stderr.contains("401"), "{stderr}");
        // GStreamer's rtspsrc and retina (our input) too.
        gstreamer_decodes(&with("s3cret"), "tcp", 25).unwrap();
        ours_record(&with("s3cret"), "tcp", 2, &ours);
    });
    for file in [&ours, &theirs] {
        assert!(decoded(file, "v:0") >= 45.0, "{}", file.display());
    }
    // Off loopback without a token: one line, before anything starts.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let output = format!("rtsp-listen://0.0.0.0:{}/cam", test_support::free_port());
    let result = runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap(),
            Endpoint::parse(&output, Direction::Output).unwrap(),
        )
        .spawn()
        .wait()
        .await
    });
    let error = result.unwrap_err().to_string();
    assert!(error.contains("not a loopback address"), "{error}");
}

#[test]
fn gstreamer_pauses_and_plays_again_from_a_key_frame() {
    test_support::require_peer!("ffmpeg", "gst-rtsp-server", "gst-good", "gst-libav");
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-bf", "2"],
        &["-c:a", "aac"],
        "in.mp4",
    );
    // The client takes about 5 s (at most 27); the server runs 15.
    let (phases, _) = serve(&input, 15, test_support::rtsp::gstreamer_pauses_and_plays);
    let seen = phases.unwrap();
    assert!(seen.before >= 25, "{seen:?}");
    // rtspsrc paused us (our OPTIONS answer lists PAUSE; without it rtspsrc sends none)
    // and played again; nothing came while paused but what was on its way.
    assert!(
        seen.sent
            .ends_with(&["PLAY", "PAUSE", "PLAY"].map(String::from)),
        "{seen:?}"
    );
    assert!(seen.paused <= 5, "{seen:?}");
    assert!(seen.after >= 25, "{seen:?}");
}
