//! A `tcp://` input that never connects (issue 14, point 6), on 127.0.0.1 with a closed
//! port: `--retry-for 2s` gives up with one clear line, a non-zero exit and no file;
//! SIGTERM while it retries exits non-zero too, since nothing was recorded; no
//! "reconnecting" line follows the decision to exit.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::ChildGuard;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

fn pipeline(args: &[&str], stderr: &Path) -> ChildGuard {
    let child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    ChildGuard::new("pipeline", child)
}

/// Waits for the exit (at most `limit`, then kills: `None`): the exit code and stderr.
fn wait(guard: &mut ChildGuard, stderr: &Path, limit: Duration) -> (Option<i32>, String) {
    let (code, _) = guard.wait_with_stderr(limit);
    (code, std::fs::read_to_string(stderr).unwrap())
}

/// The files the run left in `dir` besides the stderr log.
fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".log"))
        .collect()
}

/// The one failure line (`pipeline: …`), last, with no "reconnecting" after `decided`.
fn failure_line<'a>(stderr: &'a str, decided: &str) -> &'a str {
    let lines: Vec<&str> = stderr.lines().collect();
    let failures: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline: "))
        .collect();
    assert_eq!(failures.len(), 1, "one failure line: {stderr}");
    assert_eq!(
        lines.last(),
        failures.first().copied(),
        "the failure line is the last: {stderr}"
    );
    let from = lines.iter().position(|l| l.contains(decided)).unwrap_or(0);
    assert!(
        !lines[from..].iter().any(|l| l.contains("reconnecting")),
        "a reconnecting line after {decided:?}: {stderr}"
    );
    failures[0]
}

#[test]
fn retry_for_gives_up_with_one_line_and_no_file() {
    let dir = test_support::temp_dir();
    let refusing = test_support::refusing_port(); // nothing listens there
    let port = refusing.port();
    let input = format!("tcp://127.0.0.1:{port}");
    let out = dir.path().join("out.mp4");
    let log = dir.path().join("stderr.log");
    let mut run = pipeline(&[&input, out.to_str().unwrap(), "--retry-for", "2s"], &log);
    let (code, stderr) = wait(&mut run, &log, Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    let line = failure_line(&stderr, "gave up");
    assert!(
        line.contains(&input) && line.contains("gave up after 2") && line.contains("refused"),
        "{line}"
    );
    assert!(
        stderr.matches("reconnecting").count() >= 2,
        "it retried: {stderr}"
    );
    assert_eq!(files(dir.path()), Vec::<String>::new(), "no file");
}

#[test]
fn sigterm_while_retrying_exits_non_zero_without_a_file() {
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let input = format!("tcp://127.0.0.1:{port}");
    let out = dir.path().join("out.mp4");
    let log = dir.path().join("stderr.log");
    let mut run = pipeline(&[&input, out.to_str().unwrap()], &log);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("reconnecting")
    {
        assert!(run.is_running(), "pipeline ended before retrying");
        assert!(
            Instant::now() < deadline,
            "no reconnecting line within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run.signal("TERM");
    let (code, stderr) = wait(&mut run, &log, Duration::from_secs(10));
    assert_eq!(code, Some(1), "nothing was recorded: {stderr}");
    let line = failure_line(&stderr, "stopping");
    assert!(
        line.contains(&input) && line.contains("nothing was received"),
        "{line}"
    );
    assert_eq!(files(dir.path()), Vec::<String>::new(), "no file");
}

#[test]
fn retry_for_zero_gives_up_at_the_first_failure_and_nonsense_is_a_usage_error() {
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let input = format!("tcp://127.0.0.1:{port}");
    let out = dir.path().join("out.mp4");
    let log = dir.path().join("zero.log");
    let mut run = pipeline(&[&input, out.to_str().unwrap(), "--retry-for", "0"], &log);
    let (code, stderr) = wait(&mut run, &log, Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    let line = failure_line(&stderr, "gave up");
    assert!(line.contains("gave up after 0 s and 1 attempts"), "{line}");
    assert!(!stderr.contains("reconnecting"), "no retry: {stderr}");

    let log = dir.path().join("nonsense.log");
    let mut run = pipeline(
        &[&input, out.to_str().unwrap(), "--retry-for", "soon"],
        &log,
    );
    let (code, stderr) = wait(&mut run, &log, Duration::from_secs(20));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--retry-for") && stderr.contains("30s, 500ms, 2m, 1h, or forever"),
        "{stderr}"
    );
    assert_eq!(files(dir.path()), Vec::<String>::new(), "no file");
}
