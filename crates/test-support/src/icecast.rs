//! icecast2 server with a generated config in a temp dir. Peer: `icecast2`.
//!
//! icecast2 refuses to run as root, so when we are root the config has `<changeowner>` to
//! `nobody` and the log dir is made writable for it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::ChildGuard;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct IcecastOptions {
    /// Source password (user `source`).
    pub source_password: String,
    /// Admin user and password.
    pub admin: (String, String),
    /// Mounts declared in the config (others are accepted too, as icecast does).
    pub mounts: Vec<String>,
    /// Seconds without data before the server drops a source.
    pub source_timeout: u32,
    /// A PEM file with the server's certificate and private key: the server also listens
    /// with TLS on [`Icecast::tls_port`] (`<ssl-certificate>`, `<listen-socket><ssl>1`).
    pub tls_certificate: Option<PathBuf>,
}

impl Default for IcecastOptions {
    fn default() -> Self {
        IcecastOptions {
            source_password: "hackme".into(),
            admin: ("admin".into(), "adminpw".into()),
            mounts: vec!["/stream".into()],
            source_timeout: 10,
            tls_certificate: None,
        }
    }
}

/// A running icecast2, stopped by PID on drop.
#[derive(Debug)]
pub struct Icecast {
    process: ChildGuard,
    port: u16,
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
    options: IcecastOptions,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Icecast {
    /// Starts icecast2 on a free port and waits until status-json.xsl answers.
    pub fn start(options: IcecastOptions) -> Self {
        Self::start_on(crate::free_port(), options)
    }

    /// Starts icecast2 on the given port (used to restart on the same port).
    pub fn start_on(port: u16, options: IcecastOptions) -> Self {
        let dir = crate::temp_dir();
        let logdir = dir.path().join("log");
        std::fs::create_dir(&logdir).expect("create log dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        std::fs::set_permissions(&logdir, std::fs::Permissions::from_mode(0o777))
            .expect("chmod log dir");
        let mounts: String = options
            .mounts
            .iter()
            .map(|m| format!("<mount type=\"normal\"><mount-name>{m}</mount-name><charset>UTF-8</charset></mount>\n"))
            .collect();
        let security = if is_root() {
            "<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>"
        } else {
            "<security><chroot>0</chroot></security>"
        };
        let tls_port = options.tls_certificate.as_ref().map(|_| crate::free_port());
        let tls_socket = tls_port.map_or(String::new(), |p| {
            format!(
                "<listen-socket><port>{p}</port><bind-address>127.0.0.1</bind-address><ssl>1</ssl></listen-socket>"
            )
        });
        let certificate = options.tls_certificate.as_ref().map_or(String::new(), |c| {
            format!("<ssl-certificate>{}</ssl-certificate>", c.display())
        });
        let config = format!(
            r#"<icecast>
<location>test</location><admin>test@localhost</admin>
<limits><clients>100</clients><sources>8</sources><source-timeout>{timeout}</source-timeout>
<burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
<authentication><source-password>{source}</source-password>
<admin-user>{admin_user}</admin-user><admin-password>{admin_pw}</admin-password></authentication>
<hostname>127.0.0.1</hostname>
<listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
{tls_socket}
{mounts}
<paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir><webroot>/usr/share/icecast2/web</webroot>
<adminroot>/usr/share/icecast2/admin</adminroot><pidfile>{logdir}/icecast.pid</pidfile>{certificate}</paths>
<logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>4</loglevel></logging>
{security}
</icecast>
"#,
            timeout = options.source_timeout,
            source = options.source_password,
            admin_user = options.admin.0,
            admin_pw = options.admin.1,
            logdir = logdir.display(),
        );
        let config_path = dir.path().join("icecast.xml");
        std::fs::write(&config_path, config).expect("write icecast.xml");
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod config");

        let child = Command::new("/usr/bin/icecast2")
            .arg("-c")
            .arg(&config_path)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start icecast2");
        let mut server = Icecast {
            process: ChildGuard::new("icecast2", child),
            port,
            tls_port,
            dir,
            options,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((200, _)) = http_get(port, "/status-json.xsl") {
                return server;
            }
            assert!(
                server.process.is_running(),
                "icecast2 exited early; error.log:\n{}",
                server.error_log()
            );
            assert!(
                Instant::now() < deadline,
                "icecast2 not ready in 15 s; error.log:\n{}",
                server.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port (127.0.0.1), when started with a certificate.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The options it was started with.
    pub fn options(&self) -> &IcecastOptions {
        &self.options
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET /status-json.xsl, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        let (status, body) = http_get(self.port, "/status-json.xsl").expect("GET status-json.xsl");
        assert_eq!(status, 200, "status-json.xsl answered {status}");
        // icecast 2.4.4's XSL drops the `{` after "icestats" when no element precedes
        // server_start (no source connected): `{"icestats":"server_start":...}`. Repair
        // exactly that defect; anything else must parse as it is.
        let text = String::from_utf8_lossy(&body);
        let body = text.replacen("{\"icestats\":\"", "{\"icestats\":{\"", 1);
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("status-json.xsl is not JSON ({e}): {}", body))
    }

    /// Polls status-json.xsl (its statistics lag the events by a moment) until `ready`
    /// holds, for at most 5 s; returns the last status either way.
    pub fn wait_for_status(&self, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = self.status_json();
            if ready(&status) || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's error.log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/error.log")).unwrap_or_default()
    }

    /// The server's access.log so far (one line per finished request).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/access.log")).unwrap_or_default()
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Stops the server (SIGTERM, then SIGKILL).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// A self-signed certificate for 127.0.0.1 made by `openssl` in `dir` (peer `openssl`):
/// the PEM with certificate and key for icecast2, and the certificate alone for clients
/// to trust. An end-entity certificate (`CA:FALSE`, `serverAuth`) with the IP address as
/// subject alternative name, as rustls/webpki require.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, cert, both) = (
        dir.join("key.pem"),
        dir.join("cert.pem"),
        dir.join("server.pem"),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pem = std::fs::read(&cert).expect("read cert.pem");
    pem.extend(std::fs::read(&key).expect("read key.pem"));
    std::fs::write(&both, pem).expect("write server.pem");
    // icecast2 may run as `nobody`.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    std::fs::set_permissions(&both, std::fs::Permissions::from_mode(0o644)).expect("chmod pem");
    (both, cert)
}

/// Minimal HTTP/1.0 GET on 127.0.0.1:`port`: the status code and the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: test-support\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let status = std::str::from_utf8(&response[..head_end])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, response[head_end..].to_vec()))
}
