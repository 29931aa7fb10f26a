//! Real test peers for the workspace's integration tests, in one place.
//!
//! Every peer runs on 127.0.0.1 on a free port, is waited for until ready, and is stopped
//! by PID when its guard drops (also when the test panics).
//!
//! Missing peers: under `REQUIRE_PEERS=1` (set by `cargo xtask test`) a test whose peer is
//! missing FAILS; otherwise it prints a loud `SKIPPED` line and returns. Use
//! [`require_peer!`] at the top of a test.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed invariant should panic loudly

pub mod aiortc;
pub mod chromium;
pub mod ffprobe;
pub mod icecast;
pub mod mkvtoolnix;
pub mod mse;
pub mod nginx_rtmp;
#[path = "peer_list.rs"]
pub mod peer_list;
pub mod process;
pub mod rtsp;
pub mod sources;
pub mod tmpfs;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub use process::ChildGuard;

/// Name of the environment variable under which a missing peer fails a test.
pub const REQUIRE_PEERS: &str = "REQUIRE_PEERS";

/// Whether missing peers must fail tests (`REQUIRE_PEERS=1`, or `CI` set).
pub fn peers_required() -> bool {
    let on = |v: &str| std::env::var(v).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    on(REQUIRE_PEERS) || on("CI")
}

/// Checks that every named peer is present. Returns `false` (after printing a loud SKIPPED
/// line) when one is missing and peers are not required; panics when they are required.
///
/// Names are those of [`peer_list::PEERS`]; an unknown name panics (a typo in a test).
pub fn peers_present(test: &str, names: &[&str]) -> bool {
    static CACHE: OnceLock<Mutex<Vec<(&'static str, bool)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut missing = Vec::new();
    for name in names {
        let spec =
            peer_list::spec(name).unwrap_or_else(|| panic!("unknown peer {name:?} in test {test}"));
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let present = match cache.iter().find(|(n, _)| *n == spec.name) {
            Some((_, p)) => *p,
            None => {
                let p = peer_list::is_present(spec);
                cache.push((spec.name, p));
                p
            }
        };
        if !present {
            missing.push(spec.name);
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg =
        format!("peer(s) {missing:?} missing for test {test}; `cargo xtask test` installs them");
    if peers_required() {
        panic!("{msg} (REQUIRE_PEERS is set, so this is a failure)");
    }
    // Straight to stderr, not eprintln!: the test harness captures eprintln! of a passing
    // test, and a skip must show in a plain `cargo test` run.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED {test}: {msg} !!!!!!!!\n"
    );
    false
}

/// Returns from the current test unless every named peer is present (see [`peers_present`]).
#[macro_export]
macro_rules! require_peer {
    ($($name:expr),+ $(,)?) => {
        if !$crate::peers_present(module_path!(), &[$($name),+]) {
            return;
        }
    };
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-support has two parents")
        .to_path_buf()
}

/// Path of a committed fixture under `fixtures/` (made by `cargo xtask fixtures`).
/// Panics with a hint when it does not exist.
pub fn fixture(name: &str) -> PathBuf {
    let path = workspace_root().join("fixtures").join(name);
    assert!(
        path.exists(),
        "fixture {} is missing: run `cargo xtask fixtures`",
        path.display()
    );
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A loopback port where every connection is refused, held for as long as this lives: a
/// TCP socket bound to it that never listens. A port from [`free_port`] with nothing
/// on it is not enough for "nothing listens there": once released, the kernel may hand
/// it to another test's listener (or a connection's own source port) running alongside,
/// and a test of refused connections then connects (a CI run saw it).
pub struct RefusingPort {
    _socket: socket2::Socket,
    port: u16,
}

impl RefusingPort {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// See [`RefusingPort`].
pub fn refusing_port() -> RefusingPort {
    use socket2::{Domain, Socket, Type};
    // No SO_REUSEADDR: nobody else may bind the port while it is held.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("local_addr")
        .port();
    RefusingPort {
        _socket: socket,
        port,
    }
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("media-test-")
        .tempdir()
        .expect("create temp dir")
}
