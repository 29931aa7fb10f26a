//! The `pipeline` binary streaming to a real icecast2: a playlist with a title, commands on
//! stdin (title, mute, stop), and one-line errors that never show the password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ChildGuard, require_peer};

fn pipeline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.env("RUST_LOG", "info");
    cmd
}

fn url(server: &Icecast, password: &str) -> String {
    format!(
        "icecast://source:{password}@127.0.0.1:{}/stream",
        server.port()
    )
}

fn title_of(status: &serde_json::Value) -> Option<&str> {
    status["icestats"]["source"]["title"].as_str()
}

#[test]
fn playlist_with_title_and_stdin_commands() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let child = pipeline()
        .arg(&mp3)
        .arg(&mp3)
        .arg(url(&server, "hackme"))
        .args(["--title", "Först – Song", "--stream-name", "Test radio"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let status = server.wait_for_status(|s| title_of(s) == Some("Först – Song"));
    assert_eq!(title_of(&status), Some("Först – Song"), "{status}");
    assert_eq!(
        status["icestats"]["source"]["server_name"].as_str(),
        Some("Test radio")
    );
    // Audio info taken from the stream itself.
    let info = status["icestats"]["source"]["audio_info"]
        .as_str()
        .unwrap_or("");
    for part in ["bitrate=128", "samplerate=44100", "channels=2"] {
        assert!(info.contains(part), "audio_info {info:?}");
    }

    // A second source on the same mount: a clear error at once, no retry loop.
    let started = Instant::now();
    let stderr = failure(pipeline().arg(&mp3).arg(url(&server, "hackme")));
    assert!(stderr.contains("mount in use"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let stdin = child.stdin();
    writeln!(stdin, "mute").unwrap();
    writeln!(stdin, "title Zweiter Titel ♫").unwrap();
    let status = server.wait_for_status(|s| title_of(s) == Some("Zweiter Titel ♫"));
    assert_eq!(title_of(&status), Some("Zweiter Titel ♫"), "{status}");
    writeln!(stdin, "stop").unwrap();
    let started = Instant::now();
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("muted") && stderr.contains("connected (PUT)"),
        "{stderr}"
    );
    assert!(!stderr.contains("hackme"), "password printed: {stderr}");
}

/// Runs the binary to its end, expecting a failure; returns its stderr.
fn failure(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure: {stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("pipeline: "),
        "one-line cause last: {stderr}"
    );
    stderr
}

#[test]
fn wrong_password_and_non_mp3_input_are_one_line_errors() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    // http:// names an Icecast server with --icecast.
    let http = url(&server, "s3cret-wrong").replace("icecast://", "http://");
    let stderr = failure(pipeline().arg(&mp3).arg(&http).arg("--icecast"));
    assert!(stderr.contains("wrong credentials"), "{stderr}");
    assert!(
        !stderr.contains("s3cret-wrong"),
        "password printed: {stderr}"
    );
    // icecast2 logs a request when it ends; one source request, not a retry loop.
    let mut log = server.access_log();
    for _ in 0..40 {
        if log.contains("PUT /stream") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        log = server.access_log();
    }
    assert_eq!(log.matches("PUT /stream").count(), 1, "access.log: {log}");

    // An MP4 is an input now, but its video track is no stream for Icecast: the misfit
    // line names it; an MP4 named .mp3 is not MP3 either.
    let mp4 = test_support::fixture("h264.mp4");
    let stderr = failure(pipeline().arg(&mp4).arg(url(&server, "hackme")));
    assert!(
        stderr.contains("takes one MP3, AAC or Opus audio track; track 0 is H.264 video"),
        "{stderr}"
    );
    let dir = test_support::temp_dir();
    let fake = dir.path().join("fake.mp3");
    std::fs::copy(&mp4, &fake).unwrap();
    let stderr = failure(pipeline().arg(&fake).arg(url(&server, "hackme")));
    assert!(stderr.contains("fake.mp3: not MP3"), "{stderr}");
}

#[test]
fn mp3_on_stdin_streams_to_the_end() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mp3 = std::fs::read(test_support::fixture("sine-44100-cbr128.mp3")).unwrap();
    let child = pipeline()
        .arg("-")
        .arg(url(&server, "hackme"))
        .args(["--user-agent", "stdin-test/1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    // Two copies of a 3 s file on stdin: one stream, no gap.
    child.stdin().write_all(&mp3).unwrap();
    child.stdin().write_all(&mp3).unwrap();
    let status = server.wait_for_status(|s| s["icestats"].get("source").is_some());
    assert!(status["icestats"].get("source").is_some(), "{status}");
    let started = Instant::now();
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(15));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    // About 6 s of audio minus what already played while we waited for the mount.
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(stderr.contains("finished"), "{stderr}");
    // The source's request, with our User-Agent, is logged when it ends.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.access_log();
        if log.contains("stdin-test/1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        log.contains("PUT /stream") && log.contains("stdin-test/1"),
        "access.log: {log}"
    );
}

#[test]
fn camera_audio_goes_to_icecast_with_its_title() {
    let mut peers = test_support::rtsp::RtspServer::PEERS.to_vec();
    peers.push("icecast2");
    if !test_support::peers_present("camera_audio_goes_to_icecast_with_its_title", &peers) {
        return;
    }
    let camera = test_support::rtsp::RtspServer::start_default();
    let server = Icecast::start(IcecastOptions::default());
    // A video track does not fit: one line naming codec, track and what to do.
    let stderr = failure(
        pipeline()
            .arg(camera.url("/h264aac"))
            .arg(url(&server, "hackme")),
    );
    assert!(
        stderr.lines().last().unwrap().ends_with(
            "takes one MP3, AAC or Opus audio track; track 0 is H.264 video, use --no-video"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hackme"), "{stderr}");
    // With --no-video the camera's AAC audio streams as audio/aac, with its title.
    let child = pipeline()
        .arg(camera.url("/h264aac"))
        .arg(url(&server, "hackme"))
        .args(["--no-video", "--duration", "4", "--title", "Camera 1"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let status = server.wait_for_status(|s| title_of(s) == Some("Camera 1"));
    assert_eq!(title_of(&status), Some("Camera 1"), "{status}");
    assert_eq!(
        status["icestats"]["source"]["server_type"].as_str(),
        Some("audio/aac"),
        "{status}"
    );
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn stdin_queue_commands_queue_list_skip_and_end_when_stdin_closes() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let first = test_support::fixture("sine-44100-cbr128.mp3");
    let second = test_support::fixture("noxing-44100-cbr128.mp3");
    let other_format = test_support::fixture("mpeg2-24000-mono-cbr64.mp3");
    let child = pipeline()
        .arg(&first)
        .arg(url(&server, "hackme"))
        .args(["--admin", "admin:adminpw"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let status = server.wait_for_status(|s| s["icestats"].get("source").is_some());
    assert!(status["icestats"].get("source").is_some(), "{status}");
    // One listener, counted by the status read 1 s after connecting.
    let mut listener = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(listener, "GET /stream HTTP/1.0\r\n\r\n").unwrap();
    let stdin = child.stdin();
    writeln!(stdin, "queue {}", second.display()).unwrap();
    writeln!(stdin, "next {}", other_format.display()).unwrap();
    writeln!(stdin, "list").unwrap();
    writeln!(stdin, "skip").unwrap();
    stdin.flush().unwrap();
    // Closing stdin: nothing more can be queued, so the stream ends when the queue is dry
    // (the 2 s second song), not at once.
    let started = Instant::now();
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "ended after {:?}: {stderr}",
        started.elapsed()
    );
    let (first, second, other) = (
        first.display().to_string(),
        second.display().to_string(),
        other_format.display().to_string(),
    );
    for line in [
        format!("song 1: {first}"),
        format!("queued: [{other}, {second}]"),
        format!("skipped {first}"),
        format!("not played: {other}: format change"),
        format!("song 2: {second}"),
        "finished".to_string(),
        "1 listening".to_string(),
    ] {
        assert!(stderr.contains(&line), "no {line:?} in {stderr}");
    }
    assert!(!stderr.contains("queue empty"), "{stderr}");
    assert!(
        !stderr.contains("adminpw"),
        "admin password printed: {stderr}"
    );
    drop(listener);
}

#[test]
fn tls_with_a_self_signed_certificate_and_tls_ca() {
    require_peer!("icecast2", "openssl");
    let certs = test_support::temp_dir();
    let (server_pem, cert) = test_support::icecast::self_signed_certificate(certs.path());
    let server = Icecast::start(IcecastOptions {
        tls_certificate: Some(server_pem),
        ..IcecastOptions::default()
    });
    let mp3 = test_support::fixture("noxing-44100-cbr128.mp3");
    let tls_url = format!(
        "icecasts://source:hackme@127.0.0.1:{}/stream",
        server.tls_port().unwrap()
    );
    let stderr = failure(pipeline().arg(&mp3).arg(&tls_url));
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .contains("invalid peer certificate"),
        "{stderr}"
    );
    assert!(!stderr.contains("hackme"), "{stderr}");
    // The same server with --tls and an http:// URL, trusting the certificate.
    let http = tls_url.replace("icecasts://", "http://");
    let child = pipeline()
        .arg(&mp3)
        .arg(&http)
        .args(["--icecast", "--tls", "--title", "Sicher ♫", "--tls-ca"])
        .arg(&cert)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    let status = server.wait_for_status(|s| title_of(s) == Some("Sicher ♫"));
    assert_eq!(title_of(&status), Some("Sicher ♫"), "{status}");
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("connected (PUT)") && stderr.contains("finished"),
        "{stderr}"
    );
}

/// Streams `songs` (made by ffmpeg with `codec`) as a playlist to `mount`; a listener
/// records it. Returns the server's content type, the listener's body and the command's
/// stderr.
/// The source on `mount` in a `status-json.xsl` answer (one source is an object, several
/// an array).
fn source_of<'a>(status: &'a serde_json::Value, mount: &str) -> Option<&'a serde_json::Value> {
    let sources = &status["icestats"]["source"];
    let on_mount = |s: &&serde_json::Value| {
        s["listenurl"]
            .as_str()
            .is_some_and(|url| url.ends_with(mount))
    };
    match sources {
        serde_json::Value::Array(all) => all.iter().find(on_mount),
        one => Some(one).filter(on_mount),
    }
}

fn play_files(server: &Icecast, mount: &str, songs: &[&Path]) -> (String, Vec<u8>, String) {
    let url = url(server, "hackme").replace("/stream", mount);
    let child = pipeline()
        .args(songs)
        .arg(&url)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard::new("pipeline", child);
    // This mount's source: the server may still list the previous play's for a moment.
    let status = server.wait_for_status(|s| source_of(s, mount).is_some());
    let content_type = source_of(&status, mount)
        .and_then(|source| source["server_type"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mut listener = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(listener, "GET {mount} HTTP/1.0\r\n\r\n").unwrap();
    let (code, stderr) = child.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let mut all = Vec::new();
    let _ = listener.read_to_end(&mut all);
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (content_type, all[end..].to_vec(), stderr)
}

fn make_song(path: &Path, hz: u32, codec: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration=1"))
        .args(codec)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Seconds of audio ffmpeg decodes from `body` (saved as `name`), after checking that it
/// decodes without error.
fn decodes(dir: &Path, name: &str, body: &[u8]) -> f64 {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    assert_eq!(test_support::ffprobe::decode_errors(&path), "");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    out.stdout.len() as f64 / 96_000.0
}

#[test]
fn aac_and_opus_files_play_as_a_playlist() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    let aac = ["-ac", "2", "-c:a", "aac", "-b:a", "96k"];
    let (a, b) = (dir.path().join("a.aac"), dir.path().join("b.aac"));
    make_song(&a, 440, &aac);
    make_song(&b, 660, &aac);
    let (content_type, body, stderr) = play_files(&server, "/aac", &[&a, &b]);
    assert_eq!(content_type, "audio/aac");
    assert!(stderr.contains("song 2:"), "{stderr}");
    // Whole ADTS frames only: icecast may cut the last block at the end.
    let mut complete = 0;
    while let Some(h) = body.get(complete..complete + 7)
        && h[0] == 0xFF
        && h[1] & 0xF6 == 0xF0
    {
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        if complete + len > body.len() || len < 7 {
            break;
        }
        complete += len;
    }
    let seconds = decodes(dir.path(), "heard.aac", &body[..complete]);
    assert!(seconds > 1.9, "decoded {seconds:.2} s of 2");

    let opus = ["-ac", "2", "-c:a", "libopus", "-b:a", "64k"];
    let (c, d) = (dir.path().join("c.opus"), dir.path().join("d.ogg"));
    make_song(&c, 440, &opus);
    make_song(&d, 660, &opus);
    let (content_type, body, stderr) = play_files(&server, "/ogg", &[&c, &d]);
    assert_eq!(content_type, "application/ogg");
    assert!(stderr.contains("song 2:"), "{stderr}");
    let first_pages = body
        .windows(6)
        .filter(|w| w.starts_with(b"OggS\0") && w[5] & 0x02 != 0)
        .count();
    assert_eq!(first_pages, 2, "a logical stream per song");
    let seconds = decodes(dir.path(), "heard.ogg", &body);
    assert!(seconds > 1.9, "decoded {seconds:.2} s of 2");
}
