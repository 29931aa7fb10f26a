//! nginx with the RTMP module (Debian's `libnginx-mod-rtmp`, nginx-rtmp 1.2.2) as an RTMP
//! server, with a generated config in a temp dir. Peer: `nginx-rtmp`.
//!
//! One process (`daemon off; master_process off;`), its pid file, error log and every
//! path inside the temp dir (we may run as root, whose defaults are `/var/...`), no
//! `http` block; listening on 127.0.0.1 on a free port; stopped by PID on drop.
//! Applications: `live` (`live on; record off;`, and `publish_notify on;` so that a
//! player such as `ffmpeg -i rtmp://…` is told when the publisher leaves and ends) and
//! `private`, which refuses every publisher (`deny publish all;`, after accepting the
//! `publish` command: nginx-rtmp checks access once publishing has started, then closes),
//! and `enhanced`, `live` with `wait_key off;`: nginx-rtmp 1.2.2 reads the frame type of
//! an Enhanced RTMP video tag with its `IsExHeader` bit (9 for a key frame), so under its
//! default `wait_key on` no frame ever starts a player's video.

use std::net::{Ipv4Addr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::ChildGuard;

/// Where Debian installs the module.
pub const MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// A running nginx-rtmp, stopped by PID on drop.
#[derive(Debug)]
pub struct NginxRtmp {
    process: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl NginxRtmp {
    /// Starts nginx on a free port and waits (at most 10 s) until it accepts connections.
    pub fn start() -> Self {
        let dir = crate::temp_dir();
        let port = crate::free_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let config = format!(
            "load_module {MODULE};
daemon off;
master_process off;
worker_processes 1;
pid {pid};
error_log {log} info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{ live on; record off; publish_notify on; }}
        application private {{ live on; record off; deny publish all; }}
        application enhanced {{ live on; record off; publish_notify on; wait_key off; }}
    }}
}}
",
            pid = path("nginx.pid"),
            log = path("error.log"),
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path())
            // The log of startup, before the config is read.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut server = NginxRtmp {
            process: ChildGuard::new("nginx", child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let addr = (Ipv4Addr::LOCALHOST, port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return server;
            }
            assert!(
                server.process.is_running(),
                "nginx exited early; error.log:\n{}",
                server.error_log()
            );
            assert!(
                Instant::now() < deadline,
                "nginx not listening in 10 s; error.log:\n{}",
                server.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtmp://127.0.0.1:PORT/APP/KEY`.
    pub fn url(&self, app: &str, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{key}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The server's error log so far (at `info`: connections, publish and play).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Stops the server (SIGTERM, then SIGKILL).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}
