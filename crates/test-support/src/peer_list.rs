//! The ONE list of real test peers and the packages that provide them.
//!
//! Shared by `xtask` (which installs what is missing) and `test-support` (which skips or
//! fails a test whose peer is missing). It uses `std` only, so xtask can include it by path.

use std::process::{Command, Stdio};

/// How a peer is found on this machine.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// A program on `PATH` (or an absolute path) that runs with the given argument.
    Program(&'static str, &'static str),
    /// A GStreamer element known to `gst-inspect-1.0`.
    GstElement(&'static str),
    /// A Python module importable by the given interpreter.
    PythonModule(&'static str, &'static str),
    /// An npm package at this version in the global `node_modules` (`npm root -g`).
    NpmPackage(&'static str, &'static str),
    /// Libraries that `pkg-config --exists` finds (their development files are installed).
    PkgConfig(&'static str),
    /// A file that must exist (a library without a pkg-config file, such as libclang).
    File(&'static str),
}

/// Where the peer comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Debian packages (`apt-get install`).
    Apt(&'static [&'static str]),
    /// PyPI packages (`python3 -m pip install`).
    Pip(&'static [&'static str]),
    /// npm packages with their version (`npm install -g name@version`).
    Npm(&'static [&'static str]),
}

/// One real peer used by the tests.
#[derive(Debug, Clone, Copy)]
pub struct PeerSpec {
    /// Short name used in test messages.
    pub name: &'static str,
    /// How presence is checked.
    pub check: Check,
    /// What provides it.
    pub source: Source,
}

/// The system Python that sees Debian's `python3-gi` (never a pyenv or venv one).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Every peer the test suite uses.
pub const PEERS: &[PeerSpec] = &[
    PeerSpec {
        name: "ffmpeg",
        check: Check::Program("ffmpeg", "-version"),
        source: Source::Apt(&["ffmpeg"]),
    },
    PeerSpec {
        name: "ffprobe",
        check: Check::Program("ffprobe", "-version"),
        source: Source::Apt(&["ffmpeg"]),
    },
    PeerSpec {
        // GNU time: a child's peak RSS (`-f %M`), for whole-process benches.
        name: "time",
        check: Check::Program("/usr/bin/time", "--version"),
        source: Source::Apt(&["time"]),
    },
    PeerSpec {
        // Linux perf: where bench time goes (profiles quoted in the crate READMEs).
        name: "perf",
        check: Check::Program("perf", "--version"),
        source: Source::Apt(&["linux-perf"]),
    },
    PeerSpec {
        name: "lame",
        check: Check::Program("lame", "--version"),
        source: Source::Apt(&["lame"]),
    },
    PeerSpec {
        name: "mp3val",
        check: Check::Program("mp3val", "-v"),
        source: Source::Apt(&["mp3val"]),
    },
    PeerSpec {
        name: "mpg123",
        check: Check::Program("mpg123", "--version"),
        source: Source::Apt(&["mpg123"]),
    },
    PeerSpec {
        name: "icecast2",
        check: Check::Program("/usr/bin/icecast2", "-v"),
        source: Source::Apt(&["icecast2"]),
    },
    PeerSpec {
        // nginx with the RTMP module (nginx-rtmp 1.2.2): the server RTMP outputs publish
        // to (`test_support::nginx_rtmp`). The module's package pulls nginx in.
        name: "nginx-rtmp",
        check: Check::File("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
        source: Source::Apt(&["nginx", "libnginx-mod-rtmp"]),
    },
    PeerSpec {
        name: "openssl",
        check: Check::Program("openssl", "version"),
        source: Source::Apt(&["openssl"]),
    },
    PeerSpec {
        name: "gst-launch",
        check: Check::Program("gst-launch-1.0", "--version"),
        source: Source::Apt(&["gstreamer1.0-tools"]),
    },
    PeerSpec {
        name: "gst-rtsp-server",
        check: Check::PythonModule(
            SYSTEM_PYTHON,
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ),
        source: Source::Apt(&[
            "python3-gi",
            "gir1.2-gst-rtsp-server-1.0",
            "gstreamer1.0-rtsp",
        ]),
    },
    PeerSpec {
        name: "gst-base",
        check: Check::GstElement("videotestsrc"),
        source: Source::Apt(&["gstreamer1.0-plugins-base"]),
    },
    PeerSpec {
        name: "gst-good",
        check: Check::GstElement("rtph264pay"),
        source: Source::Apt(&["gstreamer1.0-plugins-good"]),
    },
    PeerSpec {
        name: "gst-ugly",
        check: Check::GstElement("x264enc"),
        source: Source::Apt(&["gstreamer1.0-plugins-ugly"]),
    },
    PeerSpec {
        name: "gst-bad",
        check: Check::GstElement("x265enc"),
        source: Source::Apt(&["gstreamer1.0-plugins-bad"]),
    },
    PeerSpec {
        name: "gst-libav",
        check: Check::GstElement("avenc_aac"),
        source: Source::Apt(&["gstreamer1.0-libav"]),
    },
    PeerSpec {
        // mkvtoolnix: the Matroska authors' own libebml/libmatroska (`mkvmerge -J`,
        // `mkvinfo -a`) reading the Matroska and WebM files we write.
        name: "mkvmerge",
        check: Check::Program("mkvmerge", "--version"),
        source: Source::Apt(&["mkvtoolnix"]),
    },
    PeerSpec {
        name: "chromium",
        check: Check::Program("chromium", "--version"),
        source: Source::Apt(&["chromium"]),
    },
    // The Prometheus project's Python client: its OpenMetrics text parser reads the NVR's
    // metrics endpoint (PATH's python3, which has pip).
    PeerSpec {
        name: "prometheus-client-py",
        check: Check::PythonModule(
            "python3",
            "from prometheus_client.openmetrics.parser import text_string_to_metric_families",
        ),
        source: Source::Pip(&["prometheus_client"]),
    },
    // LiveKit's own protobuf package, for data-stream wire interop (PATH's python3, which has pip).
    PeerSpec {
        name: "livekit-protocol-py",
        check: Check::PythonModule(
            "python3",
            "from livekit.protocol import models; models.DataStream",
        ),
        source: Source::Pip(&["livekit-protocol"]),
    },
    // An independent WebSocket stack for the Python bindings' data streams over ws://
    // (BSD-3-Clause).
    PeerSpec {
        name: "websockets",
        check: Check::PythonModule("python3", "import websockets.sync.server"),
        source: Source::Pip(&["websockets==17.4"]),
    },
    // aiortc (BSD-3-Clause): an independent WebRTC stack in Python, a WHEP viewer and
    // WHIP publisher for the WebRTC tests (test-support's scripts/aiortc_peer.py). It
    // brings PyAV's wheel (FFmpeg's libraries inside) for its decoders and encoders.
    PeerSpec {
        name: "aiortc",
        check: Check::PythonModule("python3", "import aiortc, av"),
        source: Source::Pip(&["aiortc==1.16.0"]),
    },
    // The Python bindings (crates/pipeline-py): maturin builds the wheel, pytest runs its
    // suite, in a virtual environment that xtask makes with --system-site-packages from
    // PATH's python3 (so LiveKit's and Prometheus's packages above are seen too).
    PeerSpec {
        name: "maturin",
        check: Check::PythonModule("python3", "import maturin"),
        source: Source::Pip(&["maturin==1.16.0"]),
    },
    PeerSpec {
        name: "pytest",
        check: Check::PythonModule("python3", "import pytest"),
        source: Source::Pip(&["pytest==9.2.0"]),
    },
    // numpy, for the Python bindings' decoded frames (FrameOutput/FrameInput build and read
    // numpy arrays). PyPI's, since PATH's python3 (which makes the tests' environment) is
    // not Debian's and does not see python3-numpy.
    PeerSpec {
        name: "numpy",
        check: Check::PythonModule("python3", "import numpy"),
        source: Source::Pip(&["numpy==2.4.6"]),
    },
    // LiveKit's npm protocol package, loaded by a page in Chromium for data-stream interop.
    // 1.52.1 (the `latest` tag) has data streams v2; 2.0.0 is deprecated and has not.
    PeerSpec {
        name: "livekit-protocol-npm",
        check: Check::NpmPackage("@livekit/protocol", "1.52.1"),
        source: Source::Npm(&["@livekit/protocol@1.52.1"]),
    },
    // Build dependencies of media-codec (pipeline's `codec` feature): FFmpeg's development
    // files, which ffmpeg-sys-next finds through pkg-config, and libclang for its bindgen.
    PeerSpec {
        name: "ffmpeg-dev",
        check: Check::PkgConfig(
            "libavcodec libavformat libavutil libavfilter libavdevice libswscale libswresample",
        ),
        source: Source::Apt(&[
            "pkg-config",
            "libavcodec-dev",
            "libavformat-dev",
            "libavutil-dev",
            "libavfilter-dev",
            "libavdevice-dev",
            "libswscale-dev",
            "libswresample-dev",
        ]),
    },
    PeerSpec {
        // Debian 12's libclang-dev (LLVM 14); bindgen loads it at build time.
        name: "libclang",
        check: Check::File("/usr/lib/llvm-14/lib/libclang.so"),
        source: Source::Apt(&["libclang-dev", "clang"]),
    },
];

/// The global `node_modules` folder (`npm root -g`), where npm peers are installed.
pub fn npm_root() -> Option<std::path::PathBuf> {
    let out = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let root = String::from_utf8(out.stdout).ok()?;
    Some(std::path::PathBuf::from(root.trim()))
}

/// Looks a peer up by name.
pub fn spec(name: &str) -> Option<&'static PeerSpec> {
    PEERS.iter().find(|p| p.name == name)
}

/// Whether the peer is present on this machine (runs a quick probe command).
pub fn is_present(peer: &PeerSpec) -> bool {
    let mut cmd = match peer.check {
        Check::Program(program, arg) => {
            let mut c = Command::new(program);
            c.arg(arg);
            c
        }
        Check::GstElement(element) => {
            let mut c = Command::new("gst-inspect-1.0");
            c.args(["--exists", element]);
            c
        }
        Check::PythonModule(python, code) => {
            let mut c = Command::new(python);
            c.args(["-c", code]);
            c
        }
        Check::NpmPackage(name, version) => {
            let manifest = npm_root().map(|r| r.join(name).join("package.json"));
            let text = manifest.and_then(|m| std::fs::read_to_string(m).ok());
            return text.is_some_and(|t| t.contains(&format!("\"version\": \"{version}\"")));
        }
        Check::PkgConfig(libraries) => {
            let mut c = Command::new("pkg-config");
            c.arg("--exists").args(libraries.split_whitespace());
            c
        }
        Check::File(path) => return std::path::Path::new(path).exists(),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // mp3val -v exits non-zero but is present; "present" means the program could start.
    match (peer.check, cmd.status()) {
        (Check::Program(..), Ok(_)) => true,
        (_, Ok(status)) => status.success(),
        (_, Err(_)) => false,
    }
}
