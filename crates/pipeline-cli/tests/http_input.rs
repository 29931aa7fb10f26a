//! `http://` input against real servers: MPEG-TS and FLV from `ffmpeg -listen 1`, HLS from
//! ffmpeg's HLS muxer served by Python's `http.server` (a finished playlist, a master
//! playlist of two variants, a live playlist whose old segments are deleted), and MP3 and
//! AAC mounts of a real icecast2 fed by ffmpeg. Every packet of the source arrives where the
//! source is finite; live inputs give files of the duration asked that decode cleanly.
//! Our own fMP4 HLS, finished and live, is read back the same way. A 404 and a closed
//! port end in one line, with a token in the URL never printed.
#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;
use test_support::ffprobe::{self, ffmpeg, make_av, packet_counts};
use test_support::icecast::{Icecast, IcecastOptions};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// `pipeline -q ARGS`: its exit code and stderr.
fn pipeline(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("-q")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Python's static file server on `dir`, stopped on drop.
fn http_server(dir: &Path) -> (ChildGuard, u16) {
    let port = test_support::free_port();
    let child = Command::new(test_support::peer_list::SYSTEM_PYTHON)
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard::new("http.server", child);
    wait_for_port(port);
    (guard, port)
}

/// 4 s of H.264 (B-frames, a key frame a second) and AAC.
fn source(dir: &Path) -> PathBuf {
    let av = dir.join("av.mp4");
    let h264_aac = ["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac"];
    make_av(&av, "160x120", 4, &h264_aac);
    av
}

/// `pipeline URL OUT` against an ffmpeg that takes one connection (so no probe of its
/// port first): tried until it listens, then it must succeed quietly.
fn record_once_listening(url: &str, out: &Path) {
    let started = Instant::now();
    loop {
        let (code, err) = pipeline(&[url, out.to_str().unwrap()]);
        if err.contains("Connection refused") && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!((code, err), (Some(0), String::new()));
        break;
    }
}

#[test]
fn ts_from_ffmpeg_listening_on_http() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let av = source(dir.path());
    let port = test_support::free_port();
    let url = format!("http://127.0.0.1:{port}/live.ts");
    let server = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&av)
        .args(["-c", "copy", "-f", "mpegts", "-listen", "1", &url])
        .spawn()
        .unwrap();
    let _server = ChildGuard::new("ffmpeg", server);
    let out = dir.path().join("out.mkv");
    record_once_listening(&url, &out);
    assert_eq!(packet_counts(&out), packet_counts(&av));
    assert_eq!(ffprobe::decode_errors(&out), "");
}

/// HTTP-FLV (what SRS and nginx-http-flv serve), from ffmpeg listening: told by its `FLV`
/// header, every packet of the source arrives.
#[test]
fn flv_from_ffmpeg_listening_on_http() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let av = source(dir.path());
    let port = test_support::free_port();
    let url = format!("http://127.0.0.1:{port}/live.flv");
    let server = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&av)
        .args(["-c", "copy", "-f", "flv", "-listen", "1", &url])
        .spawn()
        .unwrap();
    let _server = ChildGuard::new("ffmpeg", server);
    let out = dir.path().join("out.mp4");
    record_once_listening(&url, &out);
    assert_eq!(packet_counts(&out), packet_counts(&av));
    assert_eq!(ffprobe::decode_errors(&out), "");
}

#[test]
fn hls_playlists_finished_master_and_live() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let av = source(dir.path());
    let www = dir.path().join("www");
    for sub in ["vod", "low", "live"] {
        std::fs::create_dir_all(www.join(sub)).unwrap();
    }
    let hls = |input: &Path, extra: &[&str], playlist: &Path| {
        let mut args = vec!["-i", input.to_str().unwrap()];
        args.extend(extra);
        args.extend(["-f", "hls", "-hls_time", "1", playlist.to_str().unwrap()]);
        ffmpeg(&args);
    };
    hls(
        &av,
        &["-c", "copy", "-hls_list_size", "0"],
        &www.join("vod/index.m3u8"),
    );
    hls(
        &av,
        &["-vn", "-c", "copy", "-hls_list_size", "0"],
        &www.join("low/index.m3u8"),
    );
    std::fs::write(
        www.join("master.m3u8"),
        "#EXTM3U\n\
         #EXT-X-STREAM-INF:BANDWIDTH=130000,CODECS=\"mp4a.40.2\"\nlow/index.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=160x120\nvod/index.m3u8\n",
    )
    .unwrap();
    // Ours: fMP4 segments.
    let ours = www.join("fmp4/index.m3u8");
    assert_eq!(
        pipeline(&[av.to_str().unwrap(), ours.to_str().unwrap()]).0,
        Some(0)
    );
    let (_server, port) = http_server(&www);
    let at = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    let source = packet_counts(&av);

    // The same playlist served as text/plain: told by its first bytes.
    std::fs::copy(www.join("vod/index.m3u8"), www.join("vod/playlist.txt")).unwrap();
    for (playlist, name) in [
        ("vod/index.m3u8", "vod.mp4"),
        ("master.m3u8", "master.mp4"),
        ("vod/playlist.txt", "text.mp4"),
    ] {
        let out = dir.path().join(name);
        assert_eq!(
            pipeline(&[&at(playlist), out.to_str().unwrap()]),
            (Some(0), String::new()),
            "{playlist}"
        );
        // The master playlist's 900 kbit/s variant: video and audio.
        assert_eq!(packet_counts(&out), source, "{playlist}");
        assert_eq!(ffprobe::decode_errors(&out), "", "{playlist}");
    }

    let never = dir.path().join("never.mp4");
    let never = never.to_str().unwrap();
    // Ours: fMP4 segments after their EXT-X-MAP.
    let out = dir.path().join("fmp4.mkv");
    let playlist = at("fmp4/index.m3u8");
    assert_eq!(
        pipeline(&[&playlist, out.to_str().unwrap()]),
        (Some(0), String::new())
    );
    assert_eq!(packet_counts(&out), source);
    let (code, err) = pipeline(&[&at("gone.m3u8?token=s3cret"), never]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    // Live: ffmpeg paces a looped source into a playlist of 4 one-second segments, the
    // older ones deleted; we join it and record 4 s.
    let live = www.join("live/index.m3u8");
    let writer = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(&av)
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "4",
        ])
        .args(["-hls_flags", "delete_segments"])
        .arg(&live)
        .spawn()
        .unwrap();
    let _writer = ChildGuard::new("ffmpeg", writer);
    let started = Instant::now();
    while !live.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no live playlist"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = dir.path().join("live.mp4");
    assert_eq!(
        pipeline(&[
            "--duration",
            "4",
            &at("live/index.m3u8"),
            out.to_str().unwrap()
        ]),
        (Some(0), String::new())
    );
    let probe = ffprobe::probe(&out);
    let seconds = ffprobe::num(&probe["format"]["duration"]);
    assert!((3.9..4.5).contains(&seconds), "{probe}");
    assert_eq!(packet_counts(&out).len(), 2);
    assert_eq!(ffprobe::decode_errors(&out), "");

    // Ours, live: fMP4 segments of a second, paced from the looped file.
    std::fs::create_dir_all(www.join("ours-live")).unwrap();
    let live = www.join("ours-live/index.m3u8");
    let writer = Command::new(BIN)
        .args(["-q", "--realtime", "--loop", "--hls-mode", "live"])
        .args(["--fragment-duration", "1"])
        .arg(&av)
        .arg(&live)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _writer = ChildGuard::new("pipeline", writer);
    let started = Instant::now();
    while !std::fs::read_to_string(&live).is_ok_and(|t| t.matches("#EXTINF").count() >= 3) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no live playlist"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = dir.path().join("ours-live.mkv");
    let url = at("ours-live/index.m3u8");
    assert_eq!(
        pipeline(&["--duration", "3", &url, out.to_str().unwrap()]),
        (Some(0), String::new())
    );
    let probe = ffprobe::probe(&out);
    let seconds = ffprobe::num(&probe["format"]["duration"]);
    assert!((2.9..3.5).contains(&seconds), "{probe}");
    assert_eq!(ffprobe::decode_errors(&out), "");
}

/// ffmpeg's MP3 encoding for an Icecast mount.
const MP3_SOURCE: [&str; 8] = [
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-content_type",
    "audio/mpeg",
    "-f",
    "mp3",
];

/// ffmpeg as the source client of `mount`, encoding a tone with `encode`.
fn icecast_source(server: &Icecast, mount: &str, encode: &[&str]) -> ChildGuard {
    let source_url = format!("icecast://source:hackme@127.0.0.1:{}{mount}", server.port());
    let writer = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=44100")
        .args(encode)
        .arg(&source_url)
        .spawn()
        .unwrap();
    let guard = ChildGuard::new("ffmpeg", writer);
    server.wait_for_status(|s| s.to_string().contains(mount));
    guard
}

#[test]
fn icecast_mounts_of_mp3_and_aac_are_recorded() {
    test_support::require_peer!("ffmpeg", "ffprobe", "icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let _mp3 = icecast_source(&server, "/stream", &MP3_SOURCE);
    let aac = [
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-content_type",
        "audio/aac",
        "-f",
        "adts",
    ];
    let _aac = icecast_source(&server, "/aac", &aac);
    let dir = test_support::temp_dir();
    for (mount, codec) in [("/stream", "mp3"), ("/aac", "aac")] {
        let out = dir.path().join(format!("radio-{codec}.m4a"));
        let url = format!("http://127.0.0.1:{}{mount}", server.port());
        assert_eq!(
            pipeline(&["--duration", "3", &url, out.to_str().unwrap()]),
            (Some(0), String::new()),
            "{mount}"
        );
        let probe = ffprobe::probe(&out);
        assert_eq!(probe["streams"][0]["codec_name"], codec, "{probe}");
        assert_eq!(probe["streams"][0]["sample_rate"], "44100", "{probe}");
        let seconds = ffprobe::num(&probe["format"]["duration"]);
        assert!((2.9..3.2).contains(&seconds), "{probe}");
        assert_eq!(ffprobe::decode_errors(&out), "", "{mount}");
    }

    let port = test_support::free_port();
    let never = dir.path().join("never.m4a");
    let (code, err) = pipeline(&[
        &format!("http://127.0.0.1:{port}/x"),
        never.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// With rotation (`--segment`) a mount that goes away is fetched again: icecast2 ends
/// the listeners when its source leaves, a new source takes the mount, and the recording
/// goes on in a second file; both decode, and SIGINT finishes the second.
#[test]
fn with_rotation_a_dropped_mount_is_fetched_again() {
    test_support::require_peer!("ffmpeg", "ffprobe", "icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mut first = icecast_source(&server, "/stream", &MP3_SOURCE);
    let dir = test_support::temp_dir();
    let pattern = dir.path().join("radio-%H%M%S.m4a");
    let url = format!("http://127.0.0.1:{}/stream", server.port());
    let recorder = Command::new(BIN)
        .args(["--segment", "3600", &url])
        .arg(&pattern)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut recorder = ChildGuard::new("pipeline", recorder);
    std::thread::sleep(Duration::from_millis(2500));
    first.stop();
    let _second = icecast_source(&server, "/stream", &MP3_SOURCE);
    let started = Instant::now();
    let files = || -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names
    };
    // The first file finished, the second being written.
    let ends = |suffix: &str| {
        files()
            .iter()
            .any(|p| p.to_string_lossy().ends_with(suffix))
    };
    while !(ends(".m4a") && ends(".m4a.partial")) {
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", files());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2000));
    recorder.signal("INT");
    let (code, log) = recorder.wait_with_stderr(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("reconnecting in"), "{log}");
    let finished: Vec<PathBuf> = files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4a"))
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}\n{log}");
    for file in &finished {
        let seconds = ffprobe::num(&ffprobe::probe(file)["format"]["duration"]);
        assert!(seconds > 1.0, "{file:?}: {seconds} s");
        assert_eq!(ffprobe::decode_errors(file), "", "{file:?}");
    }
}

/// `https://`: icecast2's TLS port with a self-signed certificate, trusted through
/// `--tls-ca`; without it the certificate is refused in one line.
#[test]
fn https_with_a_self_signed_certificate_and_tls_ca() {
    test_support::require_peer!("ffmpeg", "ffprobe", "icecast2", "openssl");
    let certs = test_support::temp_dir();
    let (server_pem, cert) = test_support::icecast::self_signed_certificate(certs.path());
    let server = Icecast::start(IcecastOptions {
        tls_certificate: Some(server_pem),
        ..IcecastOptions::default()
    });
    let _source = icecast_source(&server, "/stream", &MP3_SOURCE);
    let url = format!("https://127.0.0.1:{}/stream", server.tls_port().unwrap());
    let dir = test_support::temp_dir();
    let out = dir.path().join("tls.m4a");
    let (code, err) = pipeline(&[&url, out.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let args = ["--duration", "2", "--tls-ca", cert.to_str().unwrap(), &url];
    assert_eq!(
        pipeline(&[&args[..], &[out.to_str().unwrap()]].concat()),
        (Some(0), String::new())
    );
    assert_eq!(ffprobe::probe(&out)["streams"][0]["codec_name"], "mp3");
    assert_eq!(ffprobe::decode_errors(&out), "");
}

/// A SHOUTcast 1 server answers `ICY 200 OK`, which hyper refuses: read over our own
/// connection instead (a scripted server: no SHOUTcast 1 peer here), every MP3 frame kept.
#[test]
fn a_shoutcast_1_icy_answer_is_read() {
    test_support::require_peer!("ffprobe");
    let mp3 = test_support::fixture("mp3-44100.mp3");
    let data = std::fs::read(&mp3).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // hyper's attempt, then ours: two connections.
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut client, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut client, &mut request);
            let head = b"ICY 200 OK\r\nicy-name: test\r\ncontent-type: audio/mpeg\r\n\r\n";
            let _ = std::io::Write::write_all(&mut client, head);
            let _ = std::io::Write::write_all(&mut client, &data);
        }
    });
    let dir = test_support::temp_dir();
    let out = dir.path().join("icy.m4a");
    let url = format!("http://127.0.0.1:{port}/;stream.mp3");
    assert_eq!(
        pipeline(&[&url, out.to_str().unwrap()]),
        (Some(0), String::new())
    );
    server.join().unwrap();
    assert_eq!(packet_counts(&out)[0].1, packet_counts(&mp3)[0].1);
}
