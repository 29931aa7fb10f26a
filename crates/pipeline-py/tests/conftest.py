"""Peers for the media_toolkit tests, started the way crates/test-support starts them.

A missing peer skips its test, loudly; with REQUIRE_PEERS=1 (as `cargo xtask test` runs
this suite) it fails instead. Every process started here is stopped by its PID.
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import queue

import pytest

WORKSPACE = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = WORKSPACE / "fixtures"
RTSP_SCRIPT = WORKSPACE / "crates/test-support/scripts/rtsp_test_server.py"
# Debian's python3 sees python3-gi (GStreamer's RTSP server), as in test-support.
SYSTEM_PYTHON = "/usr/bin/python3"


def require(program):
    """Skips (fails under REQUIRE_PEERS) when a peer program is missing."""
    if shutil.which(program) or os.path.exists(program):
        return
    message = f"peer {program} missing (install with `cargo xtask peers`)"
    if os.environ.get("REQUIRE_PEERS") or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class ChildGuard:
    """A child process stopped by PID: SIGTERM, then SIGKILL after 5 s."""

    def __init__(self, args, ready_prefix, timeout=20.0):
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        lines = queue.Queue()

        def pump():
            for line in self.process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"{args[0]} did not print {ready_prefix!r} in {timeout} s")
            if line is None:
                self.stop()
                raise RuntimeError(f"{args} exited before {ready_prefix!r}")
            if line.startswith(ready_prefix):
                self.ready_line = line
                return

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class RtspServer:
    """GStreamer's RTSP test camera (crates/test-support/scripts/rtsp_test_server.py)."""

    def __init__(self, *extra):
        require(SYSTEM_PYTHON)
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c",
             "import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer"],
            capture_output=True,
        )
        if probe.returncode != 0:
            require("gst-rtsp-server (python3-gi)")
        self.guard = ChildGuard(
            [SYSTEM_PYTHON, str(RTSP_SCRIPT), "--port", "0", *extra], "ready "
        )
        self.port = int(self.guard.ready_line.rsplit(":", 1)[1])

    def url(self, mount, userinfo=""):
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/{mount.lstrip('/')}"

    def stop(self):
        self.guard.stop()


@pytest.fixture
def rtsp_server():
    server = RtspServer()
    yield server
    server.stop()


@pytest.fixture
def rtsp_server_with_password():
    server = RtspServer("--auth", "basic", "--user", "viewer", "--password", "right")
    yield server
    server.stop()


def free_port():
    """A free TCP port on 127.0.0.1 (nobody listens on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ffprobe(path, *args):
    """ffprobe's JSON about a file (streams and format, plus what args ask)."""
    require("ffprobe")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", *args,
         str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def ffprobe_packets(path):
    """ffprobe's packets (-show_packets) of a file, in file order."""
    return ffprobe(path, "-show_packets")["packets"]


def ffmpeg_decodes(path):
    """Whether ffmpeg decodes the whole file without an error line."""
    require("ffmpeg")
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True,
    )
    return out.returncode == 0 and out.stderr.strip() == "", out.stderr


class Icecast:
    """icecast2 with a generated config in a temp dir (as test-support's icecast helper;
    icecast2 refuses to run as root, so then the config changes owner to nobody)."""

    def __init__(self, directory, source_password="hackme"):
        require("/usr/bin/icecast2")
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.source_password = source_password
        logdir = directory / "log"
        logdir.mkdir()
        os.chmod(directory, 0o755)
        os.chmod(logdir, 0o777)
        security = ("<security><chroot>0</chroot><changeowner><user>nobody</user>"
                    "<group>nogroup</group></changeowner></security>"
                    if os.geteuid() == 0 else "<security><chroot>0</chroot></security>")
        config = directory / "icecast.xml"
        config.write_text(f"""<icecast>
<location>test</location><admin>test@localhost</admin>
<limits><clients>100</clients><sources>8</sources><source-timeout>10</source-timeout>
<burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
<authentication><source-password>{source_password}</source-password>
<admin-user>admin</admin-user><admin-password>adminpw</admin-password></authentication>
<hostname>127.0.0.1</hostname>
<listen-socket><port>{self.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
<mount type="normal"><mount-name>/stream</mount-name><charset>UTF-8</charset></mount>
<paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
<webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
<pidfile>{logdir}/icecast.pid</pidfile></paths>
<logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>4</loglevel></logging>
{security}
</icecast>
""")
        os.chmod(config, 0o644)
        self.process = subprocess.Popen(["/usr/bin/icecast2", "-c", str(config)],
                                        stdin=subprocess.DEVNULL)
        deadline = __import__("time").monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status-json.xsl",
                                       timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None or __import__("time").monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("icecast2 did not start")
                __import__("time").sleep(0.05)

    def url(self, mount="/stream", password=None):
        return (f"icecast://source:{password or self.source_password}"
                f"@127.0.0.1:{self.port}{mount}")

    def sources(self):
        """status-json.xsl's sources, always as a list."""
        import urllib.request

        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status-json.xsl",
                                      timeout=5).read()
        # icecast 2.4.4's XSL drops the `{` after "icestats" when no source is connected
        # (`{"icestats":"server_start":...}`); repair exactly that, as test-support does.
        text = body.decode("utf-8", "replace").replace('{"icestats":"', '{"icestats":{"', 1)
        source = json.loads(text)["icestats"].get("source", [])
        return source if isinstance(source, list) else [source]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def icecast():
    import tempfile

    # Not under pytest's tmp_path: its parents are private to root, and icecast2 runs as
    # nobody when we are root.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="media-toolkit-icecast-"))
    server = Icecast(directory)
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)
