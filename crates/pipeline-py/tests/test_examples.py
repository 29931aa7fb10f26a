"""The crate's runnable example (examples/record.py) runs and writes what it says."""
import pathlib
import subprocess
import sys

from conftest import FIXTURES, ffprobe

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples/record.py"


def test_record_example(tmp_path):
    out = tmp_path / "song.mp4"
    done = subprocess.run([sys.executable, str(EXAMPLE), str(FIXTURES / "mp3-44100.mp3"),
                           str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    assert ffprobe(out)["streams"][0]["codec_name"] == "mp3"


def test_record_example_reports_a_failure_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "missing.mp3"),
                           str(tmp_path / "out.mp4")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "(permanent)" in done.stderr
