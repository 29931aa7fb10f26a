//! `cargo xtask demo`: start the local GStreamer test camera, record 10 s of H.264 + AAC
//! with the `pipeline` CLI to demo.mp4 and demo-fragmented.mp4, print ffprobe's summary of
//! both, and stop the camera (by its PID, also when a step fails).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The camera process; stopped on drop.
struct Camera {
    child: Child,
    url: String,
}

impl Camera {
    fn start() -> crate::Result<Camera> {
        let script = crate::root().join("crates/test-support/scripts/rtsp_test_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", script.display()))?;
        let stdout = child.stdout.take().ok_or("the camera has no stdout")?;
        let mut camera = Camera {
            child,
            url: String::new(),
        };
        // The script prints "ready rtsp://127.0.0.1:PORT" once it listens.
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading the camera's output: {e}"))?;
            if let Some(url) = line.strip_prefix("ready ") {
                camera.url = url.trim().to_owned();
                return Ok(camera);
            }
        }
        Err("the camera exited before it was ready".into())
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        // SIGTERM by PID lets the script shut its main loop down; kill if it lingers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn run(args: &[String]) -> crate::Result {
    if let Some(extra) = args.first() {
        return Err(format!("`xtask demo` takes no arguments (got {extra:?})"));
    }
    crate::peers::ensure()?;
    let mut build = crate::cargo();
    build.args([
        "build",
        "-p",
        "media-toolkit-cli",
        "--bin",
        "media-toolkit-pipeline",
    ]);
    crate::run("build the pipeline CLI", build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    let pipeline = target.join("debug/pipeline");

    let camera = Camera::start()?;
    let url = format!("{}/h264aac", camera.url);
    eprintln!("\n==> camera ready at {url}");
    let record = |out: &str, extra: &[&str]| -> crate::Result {
        let mut cmd = Command::new(&pipeline);
        cmd.current_dir(crate::root())
            .args(["--duration", "10"])
            .args(extra)
            .args([url.as_str(), out]);
        crate::run(&format!("record {out}"), cmd)
    };
    // One after the other: a second client joining the camera's shared stream sees a
    // sequence-number gap at its start, which the recorder would count as loss.
    let recorded =
        record("demo.mp4", &[]).and_then(|()| record("demo-fragmented.mp4", &["--fragmented"]));
    drop(camera);
    recorded?;
    for file in ["demo.mp4", "demo-fragmented.mp4"] {
        let mut probe = Command::new("ffprobe");
        probe.current_dir(crate::root()).args([
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration,size:stream=index,codec_type,codec_name,width,height,sample_rate,channels,start_time,duration,nb_frames",
            "-of",
            "default=noprint_wrappers=1",
            file,
        ]);
        crate::run(&format!("ffprobe {file}"), probe)?;
    }
    eprintln!("\nxtask demo: wrote demo.mp4 and demo-fragmented.mp4");
    Ok(())
}
