//! The `pipeline` binary: SIGINT finishes the file; errors are one line, non-zero, and
//! never show a password.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;
use test_support::ffprobe::{self, num};
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

#[test]
fn sigint_stops_gracefully_and_the_file_is_complete() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("sigint", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let out = dir.path().join("stopped.mp4");
    let child = Command::new(BIN)
        .arg(server.url("/h264aac"))
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    // Wait until recording has started (the .partial file exists), bounded, then record
    // for a while (the data is buffered, so the file's size says little).
    let partial = dir.path().join("stopped.mp4.partial");
    let started = Instant::now();
    while !partial.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "recording did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    child.signal("INT");
    let started = Instant::now();
    while child.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(out.exists() && !partial.exists(), "finalized and renamed");
    let probe = ffprobe::probe(&out);
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2, "{probe}");
    assert!(num(&probe["format"]["duration"]) > 1.0, "{probe}");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

#[test]
fn refused_credentials_fail_in_one_line_without_the_password() {
    if !test_support::peers_present("credentials", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start(RtspServerOptions {
        auth: Some(RtspAuth::Digest {
            user: "admin".into(),
            password: "right".into(),
        }),
        ..RtspServerOptions::default()
    });
    let url = server
        .url("/h264")
        .replace("rtsp://", "rtsp://admin:hunter2@");
    let dir = test_support::temp_dir();
    let out = Command::new(BIN)
        .args(["-v", &url])
        .arg(dir.path().join("x.mp4"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "password shown: {stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("pipeline: ") && last.contains("401"),
        "{stderr}"
    );
    assert!(last.contains("admin:***@"), "{last}");
}

#[test]
fn unknown_endpoints_name_the_string_and_direction() {
    let out = Command::new(BIN)
        .args(["notes.txt", "out.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("input"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = Command::new(BIN).args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--fragmented",
        "--fragment-duration",
        "--faststart",
        "--segment",
        "--duration",
        "--no-video",
        "--no-audio",
        "--transport",
        "--fail-on-loss",
        "--teardown",
        "--initial-timestamp",
        "--user",
        "--password",
        "--verbose",
        "--quiet",
        "<INPUTS>... <OUTPUT>",
    ] {
        assert!(
            help.contains(option),
            "{option} missing from --help:\n{help}"
        );
    }
}

#[test]
fn dash_writes_fragmented_mp4_to_stdout() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mp3-44100.mp3");
    let out = Command::new(BIN)
        .arg("-q")
        .arg(&mp3)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&out.stdout[4..8], b"ftyp");
    assert!(out.stdout.windows(4).any(|w| w == b"moof"), "fragmented");
    let file = dir.path().join("stdout.mp4");
    std::fs::write(&file, &out.stdout).unwrap();
    let probe = ffprobe::probe(&file);
    assert_eq!(probe["streams"][0]["codec_name"], "mp3", "{probe}");
    let expected = num(&ffprobe::probe(&mp3)["format"]["duration"]);
    assert!(
        (num(&probe["format"]["duration"]) - expected).abs() < 0.0011,
        "{probe}"
    );
    assert!(ffprobe::decode_errors(&file).is_empty());
}

/// A client joining the shared mount makes gst-rtsp-server restart the stream for the
/// others (a sequence gap and timestamps starting over). By default the recording goes on
/// and exits 0 with a complete file; `--fail-on-loss` ends it with exit 1 and one line.
#[test]
fn loss_is_counted_by_default_and_fatal_with_fail_on_loss() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("fail_on_loss", &peers) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let url = server.url("/h264aac");
    let spawn = |name: &str, strict: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--duration", "5"]);
        if strict {
            cmd.arg("--fail-on-loss");
        }
        cmd.arg(&url)
            .arg(dir.path().join(name))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        ChildGuard::new("pipeline", cmd.spawn().unwrap())
    };
    let mut default = spawn("default.mp4", false);
    let mut strict = spawn("strict.mp4", true);
    // Both must be recording before the joiner comes (each sees its jump). A CI run under
    // load once saw neither start within 20 s: a recorder that ended or did not start now
    // fails with what it printed.
    let started = Instant::now();
    for (name, child) in [("default.mp4", &mut default), ("strict.mp4", &mut strict)] {
        while !dir.path().join(format!("{name}.partial")).exists() {
            if !child.is_running() || started.elapsed() > Duration::from_secs(40) {
                let (code, log) = child.wait_with_stderr(Duration::ZERO);
                panic!("{name}: recording did not start (exit {code:?}): {log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    // The joining client: ffmpeg reading one second.
    let joined = Command::new("timeout")
        .args([
            "20",
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
        ])
        .arg(&url)
        .args(["-t", "1", "-f", "null", "-"])
        .status()
        .unwrap();
    assert!(joined.success());
    let finish = |mut child: ChildGuard| child.wait_with_stderr(Duration::from_secs(30));
    let (code, log) = finish(default);
    assert_eq!(code, Some(0), "default: {log}");
    assert!(
        log.contains("timestamps jumped by"),
        "the jump is logged: {log}"
    );
    let file = dir.path().join("default.mp4");
    let d = num(&ffprobe::probe(&file)["format"]["duration"]);
    assert!((d - 5.0).abs() <= 0.2, "default recording lasts {d} s");
    assert!(ffprobe::decode_errors(&file).is_empty());
    let (code, log) = finish(strict);
    assert_eq!(code, Some(1), "strict: {log}");
    // The loss is ours to count ("… lost") or, when the restarted sequence numbers reach
    // retina first, retina's own ("Out-of-order packet or large loss"): either way one
    // line naming it, and exit code 1 (a CI run saw the second).
    let last = log.lines().last().unwrap_or("");
    assert!(
        last.starts_with("pipeline: ") && (last.contains("lost") || last.contains("large loss")),
        "strict: {log}"
    );
}

/// `pipeline tcp://host:9000 --token s3cret out.mp4`, as the README writes it (an option
/// between the input and the output), records from a real `tcp-listen://` server serving
/// the test camera. It exited 2 with "unexpected argument 'out.mp4'".
#[test]
fn options_between_the_input_and_the_output_as_the_readme_writes_them() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("options_between", &peers) {
        return;
    }
    let camera = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let server = Command::new(BIN)
        .args(["--duration", "3", &camera.url("/h264aac")])
        .arg(format!("tcp-listen://127.0.0.1:{port}"))
        .args(["--token", "t0ken"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = ChildGuard::new("pipeline server", server);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(server.is_running(), "the server exited");
        assert!(started.elapsed() < Duration::from_secs(20), "no listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.path().join("remote.mp4");
    let recorder = Command::new(BIN)
        .arg(format!("tcp://127.0.0.1:{port}"))
        .args(["--token", "t0ken"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut recorder = ChildGuard::new("pipeline recorder", recorder);
    let (code, stderr) = recorder.wait_with_stderr(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    server.stop();
    let probe = ffprobe::probe(&out);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    assert!(num(&probe["format"]["duration"]) > 0.5, "{probe}");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}

/// A plain TCP server that answers an RTSP request with an HTTP error page (as a web
/// server on the camera's port would): the last line says briefly what came back. It was
/// 964 bytes, mostly retina's hex dump.
#[test]
fn a_server_that_does_not_speak_rtsp_is_named_briefly() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>400 Bad Request</title></head>\n<body>{}</body></html>\n",
        "<p>This is a web server, not a camera.</p>\n".repeat(12)
    );
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // Answers every connection (the pipeline may try more than once), for a bounded time.
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(40);
        while Instant::now() < until {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut request = [0u8; 4096];
                    let _ = conn.read(&mut request);
                    let _ = conn.write_all(answer.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let dir = test_support::temp_dir();
    let child = Command::new(BIN)
        .arg(format!("rtsp://127.0.0.1:{port}/stream"))
        .arg(dir.path().join("x.mp4"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("pipeline: "), "{stderr}");
    assert!(last.contains("not RTSP"), "{last}");
    assert!(last.len() < 250, "{} bytes: {last}", last.len());
    assert!(!last.contains("0000:"), "a hex dump: {last}");
}
