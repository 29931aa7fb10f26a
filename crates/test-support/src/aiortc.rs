//! aiortc, the Python WebRTC stack, as an independent WHEP viewer and WHIP publisher
//! (`scripts/aiortc_peer.py`): its own ICE, DTLS, SRTP, depacketizers, libav decoders
//! and encoders, nothing shared with str0m or Chromium.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ChildGuard;

/// The peers the script needs (PATH's python3 with aiortc and numpy).
pub const PEERS: &[&str] = &["aiortc", "numpy"];

/// Path of the script.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/aiortc_peer.py")
}

/// Plays the WHEP endpoint `url` (`http://…/whep`) for `seconds`; what it decoded, as
/// the script prints it, or the script's own error line.
pub fn play(url: &str, seconds: f64) -> Result<serde_json::Value, String> {
    run(&["whep", url, &seconds.to_string()], seconds)
}

/// Publishes a generated picture in `codec` ("vp8", "h264") and an Opus tone to the
/// WHIP endpoint `url` for `seconds`.
pub fn publish(url: &str, seconds: f64, codec: &str) -> Result<serde_json::Value, String> {
    run(&["whip", url, &seconds.to_string(), codec], seconds)
}

/// Runs the script (stopped by PID after `seconds` + 40 s at most).
fn run(args: &[&str], seconds: f64) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new("python3");
    cmd.arg(script())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("start aiortc: {e}"))?;
    let mut guard = ChildGuard::new("aiortc", child);
    let stdout = guard.take_stdout();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut out) = stdout {
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
        }
        text
    });
    let (code, stderr) = guard.wait_with_stderr(Duration::from_secs_f64(seconds + 40.0));
    let stdout = reader.join().unwrap_or_default();
    if code != Some(0) {
        return Err(format!("aiortc exited with {code:?}: {}", stderr.trim()));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("aiortc printed {stdout:?}: {e}"))
}

/// aiortc as a WHEP server (`mode` "whep", a generated picture in `codec` and an Opus
/// tone at `http://127.0.0.1:PORT/whep`) or a WHIP server ("whip", one publish at
/// `http://127.0.0.1:PORT/whip`, decoded), for `seconds` at most
/// (`scripts/aiortc_server.py`).
pub struct AiortcServer {
    guard: ChildGuard,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    seconds: f64,
}

impl AiortcServer {
    /// Starts it and waits until it listens.
    pub fn start(mode: &str, seconds: f64, codec: Option<&str>) -> AiortcServer {
        let mut cmd = Command::new("python3");
        cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/aiortc_server.py"))
            .args([mode, &seconds.to_string()])
            .args(codec);
        let (guard, line) =
            ChildGuard::spawn_until_line("aiortc server", cmd, "ready ", Duration::from_secs(20));
        let port = line["ready ".len()..].trim().parse().expect("a port");
        AiortcServer {
            guard,
            port,
            seconds,
        }
    }

    /// Waits for its report (after its `seconds`, or a WHIP publisher's DELETE): the
    /// sessions, DELETEs and what it decoded.
    pub fn report(mut self) -> serde_json::Value {
        let lines = self.guard.stdout_lines.take().expect("stdout is read");
        let wait = Duration::from_secs_f64(self.seconds + 20.0);
        let line = lines
            .recv_timeout(wait)
            .unwrap_or_else(|e| panic!("the aiortc server did not report: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("aiortc server said {line:?}: {e}"))
    }
}
