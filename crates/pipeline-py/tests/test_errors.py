"""Errors as exceptions: MediaToolkitError, permanent vs transient, the pipeline's one-line
messages, and secrets never in repr() or in exception text."""
import pytest

import media_toolkit as mt
from conftest import free_port

SECRET = "hunter2-do-not-print"


def test_hierarchy():
    assert issubclass(mt.PermanentError, mt.MediaToolkitError)
    assert issubclass(mt.TransientError, mt.MediaToolkitError)
    assert issubclass(mt.MediaToolkitError, Exception)


def test_unsupported_endpoint_is_permanent_with_one_line():
    with pytest.raises(mt.PermanentError) as caught:
        mt.Pipeline(f"ftp://user:{SECRET}@example.invalid/x", "out.mp4")
    message = str(caught.value)
    assert "unsupported input endpoint" in message
    assert "\n" not in message
    assert SECRET not in message and SECRET not in repr(caught.value)


def test_wrong_password_is_permanent_and_masked(rtsp_server_with_password, tmp_path):
    url = rtsp_server_with_password.url("h264", userinfo=f"viewer:{SECRET}@")
    pipeline = mt.Pipeline(url, str(tmp_path / "cam.mp4"))
    assert SECRET not in repr(pipeline)
    assert "viewer" in repr(pipeline)
    handle = pipeline.start()
    assert SECRET not in repr(handle)
    with pytest.raises(mt.PermanentError) as caught:
        handle.wait(timeout=30)
    message = str(caught.value)
    assert "401" in message or "nauthorized" in message, message
    assert "\n" not in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    assert not (tmp_path / "cam.mp4").exists()


def test_password_option_is_masked_too(rtsp_server_with_password, tmp_path):
    url = rtsp_server_with_password.url("h264")
    with pytest.raises(mt.PermanentError) as caught:
        mt.Pipeline(url, str(tmp_path / "cam.mp4"), user="viewer", password=SECRET).run()
    assert SECRET not in str(caught.value)


def test_refused_connection_is_transient(tmp_path):
    url = f"rtsp://viewer:{SECRET}@127.0.0.1:{free_port()}/h264"
    with pytest.raises(mt.TransientError) as caught:
        mt.Pipeline(url, str(tmp_path / "cam.mp4")).run()
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_options_are_checked():
    with pytest.raises(TypeError, match='unexpected option "durration"'):
        mt.Pipeline("in.mp3", "out.mp4", durration=3)
    with pytest.raises(mt.PermanentError, match="transport"):
        mt.Pipeline("rtsp://127.0.0.1/x", "out.mp4", transport="carrier-pigeon")
    with pytest.raises(mt.PermanentError, match="duration"):
        mt.Pipeline("in.mp3", "out.mp4", duration=-1)


def test_a_missing_input_file_is_permanent(tmp_path):
    with pytest.raises(mt.PermanentError) as caught:
        mt.Pipeline(str(tmp_path / "missing.mp3"), str(tmp_path / "out.mp4")).run()
    assert "missing.mp3" in str(caught.value)
