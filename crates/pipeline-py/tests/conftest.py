"""Peers for the media_toolkit tests, started the way crates/test-support starts them.

A missing peer skips its test, loudly; with REQUIRE_PEERS=1 (as `cargo xtask test` runs
this suite) it fails instead. Every process started here is stopped by its PID.
"""
import json
import os
import pathlib
import shutil
import signal
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
