//! No secret reaches the terminal: the `pipeline` binary run through every input and output
//! path with a password in the URL's user information AND a secret query parameter (and
//! a `--token`), each run failing; neither marker may appear on stdout or stderr, at the
//! default log level, with `-v`/`-vv` or with `RUST_LOG=debug`.
//!
//! The markers are distinct so that a failure tells which secret leaked: [`USERINFO`] is
//! only ever in the user information, [`QUERY`] only in the query or in `--token`. Where
//! an HTTP Basic header could be logged (RTSP Basic auth, Icecast), its base64 form counts
//! as a leak too. Failure messages print the output with every secret replaced by a
//! label, never the secret itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::icecast::{Icecast, IcecastOptions};
use test_support::nginx_rtmp::NginxRtmp;
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};
use test_support::{ChildGuard, require_peer};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// The password in the user information of every URL.
const USERINFO: &str = "hunter2";
/// The secret in the query (`password=`, `token=`) and in `--token`.
const QUERY: &str = "s3cretq";
/// How long one failing run may take before it counts as hanging (and is killed).
const LIMIT: Duration = Duration::from_secs(30);

/// What a run of the binary printed, and how it ended.
struct Output {
    /// Exit code; `None` when it was killed (hung past its limit, or signalled).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A secret and the label it is shown as in failure messages.
struct Secret {
    text: String,
    label: &'static str,
}

fn secret(text: impl Into<String>, label: &'static str) -> Secret {
    Secret {
        text: text.into(),
        label,
    }
}

/// The two markers.
fn markers() -> Vec<Secret> {
    vec![
        secret(USERINFO, "<USERINFO-PASSWORD>"),
        secret(QUERY, "<QUERY-SECRET>"),
    ]
}

/// The markers plus the HTTP Basic credentials `user:USERINFO` in base64.
fn markers_with_basic(user: &str) -> Vec<Secret> {
    let mut secrets = markers();
    let basic = base64(format!("{user}:{USERINFO}").as_bytes());
    secrets.push(secret(basic, "<BASIC-AUTH-BASE64>"));
    secrets
}

/// RFC 4648 base64 with padding (what an `Authorization: Basic` header carries).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `text` with every secret replaced by its label: safe to print.
fn masked(text: &str, secrets: &[Secret]) -> String {
    secrets
        .iter()
        .fold(text.to_owned(), |t, s| t.replace(&s.text, s.label))
}

/// Log settings a case runs under.
#[derive(Clone, Copy, Debug)]
enum Logs {
    /// No flag, `RUST_LOG` unset (info).
    Default,
    /// `-v` (debug).
    Verbose,
    /// `-vv` (trace).
    Trace,
    /// `RUST_LOG=debug` (every crate's debug logs, retina's included).
    RustLogDebug,
}

impl Logs {
    const ALL: [Logs; 4] = [
        Logs::Default,
        Logs::Verbose,
        Logs::Trace,
        Logs::RustLogDebug,
    ];
}

/// The binary with `args` under `logs`, stdin closed, stdout and stderr captured.
fn command(args: &[&str], logs: Logs) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG");
    match logs {
        Logs::Default => {}
        Logs::Verbose => {
            cmd.arg("-v");
        }
        Logs::Trace => {
            cmd.arg("-vv");
        }
        Logs::RustLogDebug => {
            cmd.env("RUST_LOG", "debug");
        }
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end, killed (by PID) after `limit`.
fn run_for(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.spawn().expect("start pipeline");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let mut child = ChildGuard::new("pipeline", child);
    let (code, stderr) = child.wait_with_stderr(limit);
    Output {
        code,
        stdout: reader.join().unwrap_or_default(),
        stderr,
    }
}

/// Asserts that neither stream shows a secret, that the run failed (exit code non-zero,
/// not killed) and that it said why in one last `pipeline: ` line.
fn assert_fails_without_secrets(case: &str, out: &Output, secrets: &[Secret]) {
    assert_no_secrets(case, out, secrets);
    let stderr = masked(&out.stderr, secrets);
    assert!(
        matches!(out.code, Some(code) if code != 0),
        "{case}: expected a failure exit code, got {:?} (None: killed after {LIMIT:?}); stderr:\n{stderr}",
        out.code
    );
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("pipeline: "),
        "{case}: the cause should be the last line; stderr:\n{stderr}"
    );
}

/// Asserts that neither stdout nor stderr shows a secret; the message names the secret
/// by its label and shows where it was.
fn assert_no_secrets(case: &str, out: &Output, secrets: &[Secret]) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let leaked: Vec<&str> = secrets
            .iter()
            .filter(|s| text.contains(&s.text))
            .map(|s| s.label)
            .collect();
        assert!(
            leaked.is_empty(),
            "{case}: {leaked:?} printed on {stream} (shown as the label):\n{}",
            masked(text, secrets)
        );
    }
}

/// `rtsp://admin:USERINFO@HOST/PATH?user=admin&password=QUERY`.
fn rtsp_url(host_port: &str, path: &str) -> String {
    format!("rtsp://admin:{USERINFO}@{host_port}/{path}?user=admin&password={QUERY}")
}

fn mp4_out(dir: &Path) -> String {
    dir.join("out.mp4").to_str().unwrap().to_owned()
}

#[test]
fn rtsp_to_a_closed_port() {
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let url = rtsp_url(&format!("127.0.0.1:{port}"), "x");
    let out_file = mp4_out(dir.path());
    for logs in Logs::ALL {
        let out = run_for(command(&[&url, &out_file], logs), LIMIT);
        assert_fails_without_secrets(&format!("rtsp to closed port, {logs:?}"), &out, &markers());
    }
}

#[test]
fn rtsp_to_a_host_that_does_not_exist() {
    let dir = test_support::temp_dir();
    let url = rtsp_url("nonexistent.invalid:554", "x");
    let out_file = mp4_out(dir.path());
    for logs in [Logs::Default, Logs::Verbose, Logs::RustLogDebug] {
        let out = run_for(command(&[&url, &out_file], logs), LIMIT);
        assert_fails_without_secrets(
            &format!("rtsp to nonexistent.invalid, {logs:?}"),
            &out,
            &markers(),
        );
    }
}

#[test]
fn rtsp_camera_refuses_the_credentials() {
    require_peer!(
        "gst-rtsp-server",
        "gst-base",
        "gst-good",
        "gst-ugly",
        "gst-libav"
    );
    let dir = test_support::temp_dir();
    let out_file = mp4_out(dir.path());
    for (name, auth) in [
        (
            "Basic",
            RtspAuth::Basic {
                user: "admin".into(),
                password: "right".into(),
            },
        ),
        (
            "Digest",
            RtspAuth::Digest {
                user: "admin".into(),
                password: "right".into(),
            },
        ),
    ] {
        let camera = RtspServer::start(RtspServerOptions {
            auth: Some(auth),
            ..RtspServerOptions::default()
        });
        let url = rtsp_url(&format!("127.0.0.1:{}", camera.port()), "h264");
        // Also the password given as an option instead of in the URL.
        let option_url = format!("rtsp://127.0.0.1:{}/h264?token={QUERY}", camera.port());
        for logs in Logs::ALL {
            let out = run_for(command(&[&url, &out_file], logs), LIMIT);
            let case = format!("rtsp {name} auth refused, {logs:?}");
            assert_fails_without_secrets(&case, &out, &markers_with_basic("admin"));
            assert!(
                out.stderr.contains("401") && out.stderr.contains("refused the credentials"),
                "{case}: the refusal is named; stderr:\n{}",
                masked(&out.stderr, &markers_with_basic("admin"))
            );
            // retina says "after trying digest auth" whatever the scheme.
            assert!(
                !out.stderr.contains("digest"),
                "{case}: stderr:\n{}",
                masked(&out.stderr, &markers_with_basic("admin"))
            );
            let args = [
                "--user",
                "admin",
                "--password",
                USERINFO,
                &option_url,
                &out_file,
            ];
            let out = run_for(command(&args, logs), LIMIT);
            let case = format!("rtsp {name} auth refused, --password, {logs:?}");
            assert_fails_without_secrets(&case, &out, &markers_with_basic("admin"));
        }
    }
}

#[test]
fn tcp_with_a_token_in_the_query() {
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let url = format!("tcp://127.0.0.1:{port}?token={QUERY}");
    let out_file = mp4_out(dir.path());
    for logs in [Logs::Default, Logs::Verbose, Logs::RustLogDebug] {
        let out = run_for(command(&[&url, &out_file], logs), LIMIT);
        assert_fails_without_secrets(
            &format!("tcp:// with ?token=, closed port, {logs:?}"),
            &out,
            &markers(),
        );
    }
}

/// `tcp://` retries a refused connection for ever (the server may come back), so this run
/// cannot fail by itself: it is stopped with SIGTERM after a few reconnections and only
/// its output is checked.
#[test]
fn tcp_with_a_token_option_to_a_closed_port() {
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let out_file = mp4_out(dir.path());
    for logs in [Logs::Verbose, Logs::RustLogDebug] {
        let mut child = command(&["--token", QUERY, &url, &out_file], logs)
            .stdout(Stdio::null())
            .spawn()
            .expect("start pipeline");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut child = ChildGuard::new("pipeline", child);
        // Backoff 0.5 s, 1 s, 2 s: three attempts in 3.5 s.
        std::thread::sleep(Duration::from_millis(3500));
        child.stop();
        let out = Output {
            code: None,
            stdout: String::new(),
            stderr: reader.join().unwrap_or_default(),
        };
        let case = format!("tcp:// --token, closed port, {logs:?}");
        assert_no_secrets(&case, &out, &markers());
        assert!(
            out.stderr.contains("reconnecting"),
            "{case}: it tried again; stderr:\n{}",
            masked(&out.stderr, &markers())
        );
    }
}

#[test]
fn tcp_token_refused_by_a_real_server() {
    require_peer!(
        "gst-rtsp-server",
        "gst-base",
        "gst-good",
        "gst-ugly",
        "gst-libav"
    );
    let camera = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let listen = format!("tcp-listen://127.0.0.1:{port}");
    let remote = format!("tcp://127.0.0.1:{port}");
    let camera_url = camera.url("/h264aac");
    // The server's log goes to a file: it must not show the refused token either.
    let server_log = dir.path().join("server.log");
    let server = Command::new(BIN)
        .args(["-v", "--token", "t0ken", &camera_url, &listen])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&server_log).unwrap())
        .spawn()
        .expect("start the pipeline server");
    let mut server = ChildGuard::new("pipeline server", server);
    wait_for_listener(port, &mut server, &server_log);

    let out_file = mp4_out(dir.path());
    for logs in Logs::ALL {
        let out = run_for(
            command(&["--token", QUERY, &remote, &out_file], logs),
            LIMIT,
        );
        let case = format!("tcp:// --token refused by the server, {logs:?}");
        assert_fails_without_secrets(&case, &out, &markers());
        assert!(
            out.stderr.contains("wrong token"),
            "{case}: the refusal is named; stderr:\n{}",
            masked(&out.stderr, &markers())
        );
    }
    server.stop();
    let log = std::fs::read_to_string(&server_log).unwrap_or_default();
    assert!(
        !log.contains(QUERY),
        "the server printed the refused token (shown as the label):\n{}",
        masked(&log, &markers())
    );
}

/// Waits (bounded) until something accepts connections on 127.0.0.1:`port`.
fn wait_for_listener(port: u16, server: &mut ChildGuard, log: &Path) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        assert!(
            server.is_running(),
            "the server exited: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the server did not listen within 20 s: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn icecast_url(port: u16, mount: &str) -> String {
    format!("icecast://source:{USERINFO}@127.0.0.1:{port}/{mount}?token={QUERY}")
}

#[test]
fn icecast_to_a_closed_port() {
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let mp3 = mp3.to_str().unwrap();
    let url = icecast_url(test_support::free_port(), "live");
    for logs in Logs::ALL {
        let out = run_for(command(&[mp3, &url], logs), LIMIT);
        assert_fails_without_secrets(
            &format!("icecast to closed port, {logs:?}"),
            &out,
            &markers_with_basic("source"),
        );
    }
    // http:// with --icecast takes the same path.
    let http = url.replace("icecast://", "http://");
    let out = run_for(command(&[mp3, &http, "--icecast"], Logs::Verbose), LIMIT);
    assert_fails_without_secrets(
        "icecast http:// to closed port, Verbose",
        &out,
        &markers_with_basic("source"),
    );
}

#[test]
fn icecast_refuses_the_password() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let mp3 = mp3.to_str().unwrap();
    let url = icecast_url(server.port(), "stream");
    for logs in Logs::ALL {
        let out = run_for(command(&[mp3, &url], logs), LIMIT);
        let case = format!("icecast wrong password, {logs:?}");
        let secrets = markers_with_basic("source");
        assert_fails_without_secrets(&case, &out, &secrets);
        assert!(
            out.stderr.contains("wrong credentials"),
            "{case}: the refusal is named; stderr:\n{}",
            masked(&out.stderr, &secrets)
        );
    }
}

/// `rtmp://127.0.0.1:PORT/APP/QUERY`: the stream key is the query marker.
fn rtmp_url(port: u16, app: &str) -> String {
    format!("rtmp://127.0.0.1:{port}/{app}/{QUERY}")
}

/// `rtmp://` to a closed port, and to nginx-rtmp closing on an app it does not have
/// (`nope`) and on a publisher its access rules deny (`private`): one line naming the
/// cause; then published to `live` (3 s of MP3) at trace level. The key is the secret.
#[test]
fn rtmp_refused_and_published() {
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let mp3 = mp3.to_str().unwrap();
    let mut cases = vec![(
        rtmp_url(test_support::free_port(), "live"),
        "Connection refused",
    )];
    let server = test_support::peers_present("rtmp", &["nginx-rtmp"]).then(NginxRtmp::start);
    if let Some(server) = &server {
        cases.push((
            rtmp_url(server.port(), "nope"),
            "the server closed the connection",
        ));
        cases.push((
            rtmp_url(server.port(), "private"),
            "the server closed the connection",
        ));
    }
    for ((url, cause), logs) in cases.iter().flat_map(|c| Logs::ALL.map(|l| (c, l))) {
        let out = run_for(command(&[mp3, url.as_str()], logs), LIMIT);
        let case = format!("rtmp {}, {logs:?}", masked(url, &markers()));
        assert_fails_without_secrets(&case, &out, &markers());
        let stderr = masked(&out.stderr, &markers());
        assert!(
            stderr.contains(cause),
            "{case}: {cause:?} missing:\n{stderr}"
        );
    }
    for logs in server
        .as_ref()
        .map_or(vec![], |_| vec![Logs::Trace, Logs::RustLogDebug])
    {
        let url = rtmp_url(server.as_ref().map_or(0, NginxRtmp::port), "live");
        let out = run_for(command(&[mp3, &url], logs), LIMIT);
        let case = format!("rtmp published, {logs:?}");
        assert_no_secrets(&case, &out, &markers());
        let stderr = masked(&out.stderr, &markers());
        assert_eq!(out.code, Some(0), "{case}: stderr:\n{stderr}");
    }
}

#[test]
fn base64_is_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(
        base64(b"Aladdin:open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
}

/// Endpoints refused before anything connects: the error names the string, masked.
#[test]
fn refused_endpoints_are_named_masked() {
    let dir = test_support::temp_dir();
    let out_file = mp4_out(dir.path());
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let mp3 = mp3.to_str().unwrap();
    let rtsp = rtsp_url("127.0.0.1:9", "x");
    let http = format!("http://source:{USERINFO}@127.0.0.1:9/live?token={QUERY}");
    let ftp = format!("ftp://admin:{USERINFO}@127.0.0.1:9/x?password={QUERY}");
    let icecast = icecast_url(9, "live");
    let rtmp = rtmp_url(9, "live");
    let cases: [(&str, Vec<&str>); 6] = [
        ("unsupported input", vec![&ftp, &out_file]),
        ("rtmp:// as an input", vec![&rtmp, &out_file]),
        ("RTSP input to an rtmp:// output", vec![&rtsp, &rtmp]),
        ("http:// output without --icecast", vec![mp3, &http]),
        ("RTSP input to an icecast output", vec![&rtsp, &icecast]),
        ("a playlist to an MP4 file", vec![&rtsp, &rtsp, &out_file]),
    ];
    for (name, args) in cases {
        for logs in [Logs::Default, Logs::Verbose] {
            let out = run_for(command(&args, logs), LIMIT);
            let case = format!("{name}, {logs:?}");
            assert_fails_without_secrets(&case, &out, &markers_with_basic("source"));
        }
    }
}

/// The URLs of issue 14: an invalid port, `rtsps://` (retina quoted it with its query, in
/// a warning and again in the last line, and it was retried), `tcp://` and `icecast://`
/// that do not parse, each with a password and query secrets.
#[test]
fn urls_that_do_not_parse_are_refused_masked() {
    let dir = test_support::temp_dir();
    let out_file = mp4_out(dir.path());
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let mp3 = mp3.to_str().unwrap();
    let query = format!("password={QUERY}&token={QUERY}");
    let bad_port = format!("rtsp://admin:{USERINFO}@127.0.0.1:99999/x?{query}");
    let rtsps = format!("rtsps://admin:{USERINFO}@127.0.0.1:9/x?{query}");
    let tcp = format!("tcp://127.0.0.1:99999?token={QUERY}");
    let tcp_path = format!("tcp://u:{USERINFO}@127.0.0.1:9000/x?token={QUERY}");
    let icecast = format!("icecast://source:{USERINFO}@127.0.0.1:99999/live?token={QUERY}");
    let icecast_host = format!("icecast://source:{USERINFO}@[bad/live?token={QUERY}");
    let rtmp_port = format!("rtmp://127.0.0.1:99999/live/{QUERY}");
    let rtmps = format!("rtmps://127.0.0.1:443/live/{QUERY}?sig={QUERY}");
    let cases: [(&str, Vec<&str>); 8] = [
        ("rtsp:// with an invalid port", vec![&bad_port, &out_file]),
        ("rtsps://", vec![&rtsps, &out_file]),
        ("tcp:// with an invalid port", vec![&tcp, &out_file]),
        ("tcp:// with a path", vec![&tcp_path, &out_file]),
        ("icecast:// with an invalid port", vec![mp3, &icecast]),
        ("icecast:// with a bad host", vec![mp3, &icecast_host]),
        ("rtmp:// with an invalid port", vec![mp3, &rtmp_port]),
        ("rtmps:// (not taken)", vec![mp3, &rtmps]),
    ];
    for (name, args) in cases {
        for logs in Logs::ALL {
            let out = run_for(command(&args, logs), LIMIT);
            let case = format!("{name}, {logs:?}");
            assert_fails_without_secrets(&case, &out, &markers_with_basic("source"));
            let stderr = masked(&out.stderr, &markers_with_basic("source"));
            assert!(
                !stderr.contains("reconnecting") && !stderr.contains("Bad URL"),
                "{case}: refused at once, in our words; stderr:\n{stderr}"
            );
        }
    }
}
