//! The `pipeline` binary on both sides, on 127.0.0.1: `pipeline --token T rtsp://cam
//! tcp-listen://…` serves the RTSP test camera; `pipeline --token T tcp://… out.mp4`
//! records it (checked by ffprobe, decoded by ffmpeg); a wrong token fails at once with
//! the server's reason, and the recording client is not disturbed.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

const BIN: &str = env!("CARGO_BIN_EXE_pipeline");

/// A `pipeline` process with its stderr in a file; killed by PID if still running on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(args: &[&str], log: PathBuf) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    /// Waits for the exit, at most `limit`: its status and stderr.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            let stderr = || std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, stderr());
            }
            assert!(
                Instant::now() < deadline,
                "pipeline did not exit within {limit:?}: {}",
                stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn cli_serves_a_camera_and_records_it_over_tcp() {
    let mut peers = RtspServer::PEERS.to_vec();
    peers.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("cli_serves_a_camera_and_records_it_over_tcp", &peers) {
        return;
    }
    let camera = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let port = test_support::free_port();
    let listen = format!("tcp-listen://127.0.0.1:{port}");
    let remote = format!("tcp://127.0.0.1:{port}");
    let out = dir.path().join("remote.mp4");
    let logs = |name: &str| dir.path().join(format!("{name}.log"));

    let camera_url = camera.url("/h264aac");
    let mut server = Proc::spawn(
        &["--token", "t0ken", "--duration", "4", &camera_url, &listen],
        logs("server"),
    );
    let mut recorder = Proc::spawn(
        &["--token", "t0ken", &remote, out.to_str().unwrap()],
        logs("recorder"),
    );
    // A wrong token: refused by the server, no retry, a clear message.
    std::thread::sleep(Duration::from_millis(500));
    let mut intruder = Proc::spawn(
        &[
            "--token",
            "guess",
            &remote,
            dir.path().join("x.mp4").to_str().unwrap(),
        ],
        logs("intruder"),
    );
    let (status, stderr) = intruder.wait(Duration::from_secs(15));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("unauthorized") && stderr.contains("wrong token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("t0ken"),
        "the token is never shown: {stderr}"
    );

    let (status, stderr) = server.wait(Duration::from_secs(30));
    assert!(status.success(), "server: {stderr}");
    let (status, stderr) = recorder.wait(Duration::from_secs(15));
    assert!(status.success(), "recorder: {stderr}");

    let probe = ffprobe::probe(&out);
    let streams = probe["streams"].as_array().unwrap();
    let codecs: Vec<&str> = streams
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    let duration = num(&probe["format"]["duration"]);
    // 4 s served; a client that connects late starts at the last key frame before it
    // connected (the camera's GOP is 2 s).
    assert!((1.5..=4.5).contains(&duration), "duration {duration}");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "ffmpeg decode errors: {errors}");
}
