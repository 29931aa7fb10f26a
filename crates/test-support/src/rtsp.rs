//! GStreamer RTSP test camera (`scripts/rtsp_test_server.py`, run with Debian's python3).
//!
//! Mounts: `/h264`, `/h264aac`, `/h265`, `/mjpeg`, `/h264pcma`, `/h264opus`, `/h264b` and
//! `/h265b` (B-frames: x264/x265 `bframes=2` in a fixed pattern, so frames arrive in decode
//! order with presentation-time RTP timestamps; not shared, so every client gets the same
//! frames from the first), and `/file` when [`RtspServerOptions::file`] is set (an MP4
//! with H.264 + AAC that ends), `/shared-file` when [`RtspServerOptions::shared_file`] is
//! (its video only, one pipeline for all clients). The other mounts are shared: a client joining one makes
//! gst-rtsp-server restart its streams, so the clients already playing see their RTP
//! timestamps start over (and one sequence number skipped).
//! Required peers: `gst-rtsp-server`, `gst-base`, `gst-good`, `gst-ugly`, `gst-libav`
//! (and `gst-bad` for `/h265`): see [`RtspServer::PEERS`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::peer_list::SYSTEM_PYTHON;
use crate::process::ChildGuard;

/// Authentication the server demands.
#[derive(Debug, Clone)]
pub enum RtspAuth {
    /// HTTP Basic.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// HTTP Digest.
    Digest {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct RtspServerOptions {
    /// Port to bind; `None` picks a free one.
    pub port: Option<u16>,
    /// Authentication; `None` for an open server.
    pub auth: Option<RtspAuth>,
    /// MP4 (H.264 + AAC) served at `/file`.
    pub file: Option<PathBuf>,
    /// MP4 whose H.264 video alone is served at `/shared-file`, one pipeline shared by
    /// every client (it starts with the first client and ends when the last one leaves).
    pub shared_file: Option<PathBuf>,
}

/// A running RTSP test server, stopped by PID on drop.
#[derive(Debug)]
pub struct RtspServer {
    process: ChildGuard,
    port: u16,
    options: RtspServerOptions,
}

impl RtspServer {
    /// Peers every mount but `/h265` needs (pass to [`crate::require_peer!`]).
    pub const PEERS: &'static [&'static str] = &[
        "gst-rtsp-server",
        "gst-base",
        "gst-good",
        "gst-ugly",
        "gst-libav",
    ];

    /// Path of the server script.
    pub fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/rtsp_test_server.py")
    }

    /// Starts the server and waits until it listens.
    pub fn start(options: RtspServerOptions) -> Self {
        let mut cmd = Command::new(SYSTEM_PYTHON);
        cmd.arg(Self::script())
            .arg("--port")
            .arg(options.port.unwrap_or(0).to_string());
        match &options.auth {
            Some(RtspAuth::Basic { user, password }) => {
                cmd.args(["--auth", "basic", "--user", user, "--password", password]);
            }
            Some(RtspAuth::Digest { user, password }) => {
                cmd.args(["--auth", "digest", "--user", user, "--password", password]);
            }
            None => {}
        }
        if let Some(file) = &options.file {
            cmd.arg("--file").arg(file);
        }
        if let Some(file) = &options.shared_file {
            cmd.arg("--shared-file").arg(file);
        }
        let (process, line) = ChildGuard::spawn_until_line(
            "rtsp_test_server",
            cmd,
            "ready ",
            Duration::from_secs(20),
        );
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
        RtspServer {
            process,
            port,
            options,
        }
    }

    /// Starts an open server with default mounts on a free port.
    pub fn start_default() -> Self {
        Self::start(RtspServerOptions::default())
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/MOUNT` (mount with or without a leading slash).
    pub fn url(&self, mount: &str) -> String {
        format!(
            "rtsp://127.0.0.1:{}/{}",
            self.port,
            mount.trim_start_matches('/')
        )
    }

    /// Whether the server process still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts a new server on the same port with the same options (after [`Self::kill`] or
    /// [`Self::stop`]). Retries for a few seconds while the port is still held.
    pub fn restart(&mut self) {
        self.process.stop();
        // Wait (at most 5 s) until the port can be bound again, so the new server does not
        // fail on an address still held by the old one.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpListener::bind(("127.0.0.1", self.port)).is_err()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let options = RtspServerOptions {
            port: Some(self.port),
            ..self.options.clone()
        };
        *self = Self::start(options);
    }
}

/// `ffmpeg -rtsp_transport tcp -i URL -t SECONDS -c copy OUT`, tried again every 100 ms
/// for about 5 s while the server is not up yet; whether one try succeeded.
pub fn ffmpeg_plays(url: &str, seconds: u32, out: &std::path::Path) -> bool {
    for _ in 0..50 {
        let played = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                url,
            ])
            .args(["-t", &seconds.to_string(), "-c", "copy", "-y"])
            .arg(out)
            .output()
            .is_ok_and(|o| o.status.success());
        if played {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// What [`gstreamer_pauses_and_plays`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseAndPlay {
    /// Video frames decoded before the pause (at least 25).
    pub before: u64,
    /// RTP packets that still came out of `rtspsrc` during the 1.5 s pause.
    pub paused: u64,
    /// Video frames decoded after it played again (at least 25).
    pub after: u64,
    /// The requests `rtspsrc` sent, in order (`PAUSE` only to a server that lists it).
    pub sent: Vec<String>,
}

/// GStreamer's `rtspsrc` (TCP, `decodebin`) playing `url`, paused 1.5 s, then playing
/// again (`scripts/rtsp_pause_client.py`, Debian's python3; peers as
/// [`RtspServer::PEERS`]), or what the script printed when a phase did not get its frames.
pub fn gstreamer_pauses_and_plays(url: &str) -> Result<PauseAndPlay, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/rtsp_pause_client.py");
    let child = Command::new(SYSTEM_PYTHON)
        .arg(script)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut child = ChildGuard::new("rtsp_pause_client.py", child);
    let reader = child.take_stdout().map(|mut stdout| {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
            out
        })
    });
    // Its phases take at most about 27 s; killed after 40.
    let (code, _) = child.wait_with_stderr(Duration::from_secs(40));
    let out = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let field = |name: &str| out.lines().find_map(|l| l.strip_prefix(name));
    let count = |name: &str| field(name).and_then(|v| v.trim().parse::<u64>().ok());
    match (code, count("before "), count("paused "), count("after ")) {
        (Some(0), Some(before), Some(paused), Some(after)) => Ok(PauseAndPlay {
            before,
            paused,
            after,
            sent: field("sent ")
                .unwrap_or_default()
                .split(',')
                .map(str::to_owned)
                .collect(),
        }),
        _ => Err(format!("exit {code:?}: {out}")),
    }
}
