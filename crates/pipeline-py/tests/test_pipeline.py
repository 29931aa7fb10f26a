"""Pipelines from Python: RTSP test camera to MP4, start/wait/close/kill, Ctrl-C, GIL,
HLS over HTTP."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import media_toolkit as mt
from conftest import ffmpeg_decodes, ffprobe, free_port


def wait_for_packets(handle, count, seconds=15.0):
    deadline = time.monotonic() + seconds
    while handle.status.packets < count:
        assert time.monotonic() < deadline, f"fewer than {count} packets: {handle.status}"
        assert not handle.finished, "the pipeline ended early"
        time.sleep(0.05)


def test_rtsp_camera_to_mp4_with_run(rtsp_server, tmp_path):
    out = tmp_path / "cam.mp4"
    summary = mt.Pipeline(rtsp_server.url("h264aac"), str(out), duration=2).run()
    assert summary.files == [str(out)]
    assert summary.status.packets > 0
    info = ffprobe(out)
    codecs = sorted(s["codec_name"] for s in info["streams"])
    assert codecs == ["aac", "h264"]
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert int(video["width"]) > 0 and int(video["height"]) > 0
    assert 1.5 <= float(info["format"]["duration"]) <= 3.0
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_start_and_context_manager_close_gracefully(rtsp_server, tmp_path):
    out = tmp_path / "cam.mp4"
    with mt.Pipeline(rtsp_server.url("h264"), out) as handle:
        assert isinstance(handle, mt.PipelineHandle)
        wait_for_packets(handle, 10)
    # __exit__ closed it: the file is finalized (renamed from .partial) and complete.
    assert handle.finished
    assert out.exists() and not (tmp_path / "cam.mp4.partial").exists()
    summary = handle.wait()
    assert summary.files == [str(out)]
    assert summary.status.packets >= 10
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors
    assert ffprobe(out)["streams"][0]["codec_name"] == "h264"


def test_handle_close_returns_the_summary(rtsp_server, tmp_path):
    out = tmp_path / "cam.mp4"
    handle = mt.Pipeline(rtsp_server.url("h264"), str(out), fragmented=True).start()
    wait_for_packets(handle, 5)
    summary = handle.close()
    assert summary.files == [str(out)]
    assert handle.wait().files == summary.files  # wait() again returns the same outcome
    assert int(ffprobe(out, "-count_packets")["streams"][0]["nb_read_packets"]) \
        == summary.status.packets


def test_killed_handle_leaves_a_recoverable_file(rtsp_server, tmp_path):
    out = tmp_path / "cam.mp4"
    handle = mt.Pipeline(rtsp_server.url("h264"), str(out), burst=0).start()
    wait_for_packets(handle, 60)  # more than one chunk on disk
    assert handle.close(kill=True) is None
    partial = tmp_path / "cam.mp4.partial"
    assert not out.exists(), "a killed pipeline must not finalize its output"
    assert partial.exists() and (tmp_path / "cam.mp4.partial.idx").exists()
    recovered = tmp_path / "recovered.mp4"
    kept = mt.recover(str(partial), str(recovered))
    assert kept > 0
    packets = int(ffprobe(recovered, "-count_packets")["streams"][0]["nb_read_packets"])
    assert packets == kept
    ok, errors = ffmpeg_decodes(recovered)
    assert ok, errors


def test_gil_is_released_while_media_flows(rtsp_server, tmp_path):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        mt.Pipeline(rtsp_server.url("h264"), str(tmp_path / "cam.mp4"), duration=1.5).run()
    finally:
        stop.set()
        thread.join()
    # Had run() held the GIL, the other thread could not have run during it.
    assert len(ticks) > 20


# Ctrl-C's own handler, whatever the parent left: a job started in the background by a
# non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored, and Python then keeps it
# ignored, so this test failed when CI itself ran as such a job.
CTRL_C_SCRIPT = """
import signal, sys, media_toolkit as mt
signal.signal(signal.SIGINT, signal.default_int_handler)
print("starting", flush=True)
mt.Pipeline(sys.argv[1], sys.argv[2]).run()
"""


def test_ctrl_c_stops_cleanly_and_finalizes(rtsp_server, tmp_path):
    out = tmp_path / "cam.mp4"
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, rtsp_server.url("h264"), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        partial = tmp_path / "cam.mp4.partial"
        deadline = time.monotonic() + 15
        while not (partial.exists() and partial.stat().st_size > 20_000):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no recording started"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "KeyboardInterrupt" in stderr
    assert child.returncode != 0
    assert out.exists() and not partial.exists(), stderr
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_endpoints_accept_paths_and_a_pipeline_runs_once(tmp_path):
    mp3 = os.path.join(os.path.dirname(__file__), "../../../fixtures/mp3-44100.mp3")
    pipeline = mt.Pipeline(mp3, tmp_path / "song.mp4")
    summary = pipeline.run()
    assert summary.files == [str(tmp_path / "song.mp4")]
    assert ffprobe(tmp_path / "song.mp4")["streams"][0]["codec_name"] == "mp3"
    try:
        pipeline.run()
    except mt.PermanentError as e:
        assert "started already" in str(e)
    else:
        raise AssertionError("a second run() must raise")


def test_a_file_remuxes_to_matroska(tmp_path):
    source = os.path.join(os.path.dirname(__file__), "../../../fixtures/h264-bframes.mp4")
    out = tmp_path / "out.mkv"
    summary = mt.Pipeline(source, out).run()
    assert summary.files == [str(out)]
    info = ffprobe(out)
    assert info["format"]["format_name"] == "matroska,webm"
    assert info["streams"][0]["codec_name"] == "h264"
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_also_writes_every_output_and_one_that_fails_is_raised(rtsp_server, tmp_path):
    """`also`: the camera to MP4, Matroska and TS over one connection, every file with
    the same video frames; an output that fails is raised once the others finished."""
    outputs = [tmp_path / "cam.mp4", tmp_path / "cam.mkv", tmp_path / "cam.ts"]
    summary = mt.Pipeline(
        rtsp_server.url("h264aac"), outputs[0], also=outputs[1:], duration=2
    ).run()
    assert sorted(summary.files) == sorted(str(o) for o in outputs)
    # The same video frames in each (sizes differ: TS carries Annex B and parameter sets).
    video = [len(ffprobe(o, "-show_packets", "-select_streams", "v:0")["packets"])
             for o in outputs]
    assert video[0] >= 20 and video[1] == video[0] and video[2] == video[0], video
    for out in outputs:
        ok, errors = ffmpeg_decodes(out)
        assert ok, (out, errors)
    source = os.path.join(os.path.dirname(__file__), "../../../fixtures/h264-bframes.mp4")
    port = free_port()
    rtmp = f"rtmp://127.0.0.1:{port}/live/secretkey"
    with pytest.raises(mt.MediaToolkitError) as caught:
        mt.Pipeline(source, tmp_path / "kept.mp4", also=[rtmp]).run()
    message = str(caught.value)
    assert str(port) in message and "secretkey" not in message and "\n" not in message
    ok, errors = ffmpeg_decodes(tmp_path / "kept.mp4")
    assert ok, errors


def test_an_hls_playlist_over_http_to_mp4(tmp_path):
    """HLS served by Python's own HTTP server: the same http:// input as the CLI's."""
    import functools
    import http.server

    www = tmp_path / "www"
    www.mkdir()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
         "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "3", "-c:v", "libx264", "-g", "25",
         "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
         str(www / "index.m3u8")],
        check=True,
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = tmp_path / "hls.mp4"
        url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
        summary = mt.Pipeline(url, str(out)).run()
    finally:
        server.shutdown()
    assert summary.files == [str(out)]
    info = ffprobe(out)
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    assert 2.9 <= float(info["format"]["duration"]) <= 3.2
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors
