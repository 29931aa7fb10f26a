use super::*;

fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    Config::parse(text, Path::new("/store"))
}

#[test]
fn a_full_camera_is_read_with_defaults_filled_in() {
    let config = parse(
        r#"
[store]
root = "rec"
min_free_percent = 5

[[camera]]
name = "front"
url = "rtsp://admin:secret@192.0.2.7/stream1"
segment_seconds = 3
retention = { max_bytes = 20_000_000, max_age_days = 1 }

[[camera]]
name = "back_2"
url = "rtsp://192.0.2.8/main"
transport = "udp"
audio = false
fragmented = true
fsync = "fragment"
"#,
    )
    .expect("valid");
    assert_eq!(config.store.root, Path::new("/store/rec"));
    assert_eq!(config.store.min_free_percent, Some(5.0));
    let [front, back] = config.cameras.as_slice() else {
        panic!("two cameras")
    };
    assert_eq!(front.segment, Duration::from_secs(3));
    assert_eq!(front.output, "front/%Y/%m/%d/%H-%M-%S.mp4");
    assert_eq!(front.retention.max_bytes, Some(20_000_000));
    assert_eq!(front.retention.max_age, Some(Duration::from_secs(86_400)));
    assert_eq!(
        front.directory(&config.store.root),
        Path::new("/store/rec/front")
    );
    assert!(front.audio && !front.fragmented);
    assert_eq!(back.transport, RtpTransport::Udp);
    assert_eq!(back.segment, DEFAULT_SEGMENT);
    assert!(!back.audio && back.fragmented);
    // Syncing each second by default: a power cut loses about what a kill loses.
    assert_eq!(
        front.fsync,
        pipeline::FsyncPolicy::Interval(Duration::from_secs(1))
    );
    assert_eq!(back.fsync, pipeline::FsyncPolicy::EachFragment);
    // The password never shows.
    assert!(!format!("{config:?}").contains("secret"));
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let problems = parse(
        r#"[[camera]]
name = "front door"
url = "rtsp://192.0.2.7/a"
segment_seconds = 0

[[camera]]
name = "b"
url = "doorbell.mp4"
output = "../%Y.mp4"
fsync = "always"

[[camera]]
name = "c"
url = "rtsp://192.0.2.7/c"
output = "{camera}/%Y.avi"

[[camera]]
name = "d"
url = "rtsp://192.0.2.7/d"
output = "{camera}/%Y/%H-%M-%S.mkv"
"#,
    )
    .expect_err("invalid");
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    // Camera d's Matroska output is fine; c's .avi is not.
    assert_eq!(lines, [2, 4, 8, 9, 10, 15], "{problems:?}");
    assert!(problems[0].message.contains("front door"));
    assert!(
        problems[2].message.contains("not a live input"),
        "{problems:?}"
    );
    assert!(problems[3].message.contains("relative"));
    assert!(
        problems[5].message.contains("must end with .mp4 or .mkv"),
        "{problems:?}"
    );
}

#[test]
fn toml_syntax_and_unknown_keys_have_lines_too() {
    let problems = parse("[[camera]]\nname = \"a\"\nurl = \"rtsp://h/a\"\nsegmnt = 3\n")
        .expect_err("unknown key");
    assert_eq!(
        (problems[0].line, problems[0].column),
        (4, 1),
        "{problems:?}"
    );
    assert!(problems[0].message.contains("segmnt"), "{problems:?}");
    let problems = parse("[[camera]]\nname = \"a\nurl = 1\n").expect_err("syntax");
    assert_eq!(problems[0].line, 2, "{problems:?}");
}

#[test]
fn credentials_come_from_references_and_are_never_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("pw"), "file-secret\n").expect("write");
    let text = r#"
[[camera]]
name = "a"
url = "rtsp://admin@192.0.2.7/a"
password_file = "pw"

[[camera]]
name = "b"
url = "rtsp://admin@192.0.2.7/b"
password_env = "NVR_TEST_SURELY_UNSET_VARIABLE"
"#;
    let problems = Config::parse(text, dir.path()).expect_err("unset variable");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, 10);
    assert!(
        problems[0]
            .message
            .contains("NVR_TEST_SURELY_UNSET_VARIABLE")
    );
    let ok = Config::parse(
        &text.replace("password_env = \"NVR_TEST_SURELY_UNSET_VARIABLE\"\n", ""),
        dir.path(),
    )
    .expect("valid");
    assert_eq!(
        ok.cameras[0].password.as_ref().map(Password::expose),
        Some("file-secret")
    );
    assert!(!format!("{ok:?}").contains("file-secret"));
}

#[test]
fn names_must_be_unique_and_outputs_must_keep_cameras_apart() {
    let problems = parse(
        "[[camera]]\nname = \"a\"\nurl = \"rtsp://h/a\"\n[[camera]]\nname = \"a\"\nurl = \"rtsp://h/b\"\noutput = \"%Y/{camera}.mp4\"\n",
    )
    .expect_err("invalid");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].message.contains("twice"));
    assert!(problems[1].message.contains("directory naming"));
    assert!(
        parse("")
            .expect_err("empty")
            .iter()
            .any(|p| p.message.contains("no [[camera]]"))
    );
}

#[test]
fn metrics_listen_on_loopback_by_default_and_need_a_token_elsewhere() {
    let cam = "[[camera]]\nname = \"a\"\nurl = \"rtsp://h/a\"\n";
    let config = parse(&format!("[metrics]\n{cam}")).expect("valid");
    let metrics = config.metrics.expect("metrics section");
    assert_eq!(metrics.listen.to_string(), DEFAULT_METRICS_LISTEN);
    assert!(parse(cam).expect("valid").metrics.is_none());
    let problems =
        parse(&format!("[metrics]\nlisten = \"0.0.0.0:9898\"\n{cam}")).expect_err("no token");
    assert_eq!(problems[0].line, 2, "{problems:?}");
    assert!(problems[0].message.contains("token"), "{problems:?}");
    let problems = parse(&format!("[metrics]\nlisten = \"nine\"\n{cam}")).expect_err("bad address");
    assert_eq!(problems[0].line, 2, "{problems:?}");
}

#[test]
fn any_live_input_is_a_camera_and_rtsp_credentials_stay_rtsp_s() {
    let mut text = String::new();
    for (i, url) in [
        "srt-listen://:9000",
        "rtmp-listen://:1935/live/key",
        "https://192.0.2.7/live.m3u8",
        "whep://192.0.2.7:8889/cam",
        "tcp://192.0.2.7:9000",
    ]
    .iter()
    .enumerate()
    {
        text += &format!("[[camera]]\nname = \"c{i}\"\nurl = \"{url}\"\n");
    }
    let config = parse(&text).expect("live inputs");
    assert_eq!(config.cameras.len(), 5);
    let problems =
        parse("[[camera]]\nname = \"a\"\nurl = \"srt-listen://:9000\"\npassword_env = \"HOME\"\n")
            .expect_err("credentials for SRT");
    assert!(
        problems[0].message.contains("for rtsp:// cameras"),
        "{problems:?}"
    );
}

#[test]
fn also_takes_live_outputs_each_server_address_once() {
    let config = parse(
        r#"
[[camera]]
name = "front"
url = "rtsp://192.0.2.7/stream1"
also = ["rtsp-listen://127.0.0.1:8554/front", "rtmp://192.0.2.9/live/secretkey"]
"#,
    )
    .expect("valid");
    let [front] = config.cameras.as_slice() else {
        panic!("one camera")
    };
    assert_eq!(front.also.len(), 2);
    assert!(!format!("{config:?}").contains("secretkey"));
    let problems = parse(
        r#"
[[camera]]
name = "a"
url = "rtsp://192.0.2.7/stream1"
also = ["rtsp-listen://0.0.0.0:8554/a", "copy.mp4"]

[[camera]]
name = "b"
url = "rtsp://192.0.2.8/stream1"
also = ["rtsp-listen://0.0.0.0:8554/b", "-"]
"#,
    )
    .expect_err("problems");
    let lines: Vec<_> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let messages: Vec<_> = lines.iter().map(|l| l.1).collect();
    let copy = messages[..2]
        .iter()
        .any(|m| m.contains("copy.mp4 is not a live output"));
    assert!(lines[0].0 == 5 && copy, "{lines:?}");
    // Off loopback without a token: refused (camera b's server was refused already).
    let token = "listens off loopback: a token is required (also_token_env or also_token_file)";
    assert_eq!(
        messages.iter().filter(|m| m.contains(token)).count(),
        1,
        "{lines:?}"
    );
    let twice = messages
        .iter()
        .any(|m| m.contains("0.0.0.0:8554 is served already"));
    let stdout = messages
        .iter()
        .any(|m| m.contains("camera \"b\": also - is not a live output"));
    assert!(twice && stdout, "{lines:?}");
}
