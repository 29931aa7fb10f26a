#!/usr/bin/python3
"""Plays an RTSP URL with GStreamer's rtspsrc (TCP), pauses it, plays it again.

Run with Debian's /usr/bin/python3 (it sees python3-gi):
    rtsp_pause_client.py URL

rtspsrc sends PAUSE when the pipeline goes to PAUSED (only to a server whose OPTIONS
answer lists PAUSE in Public) and PLAY when it goes back to PLAYING. Prints "before N"
(video frames decoded, at least 25 within 10 s), "paused N" (RTP packets that still came
out of rtspsrc during 1.5 s of pause), "after N" (frames decoded, at least 25 within 10 s
of playing again), "sent M,M,..." (the requests rtspsrc sent). Exits 1 when a
phase did not get its frames (after printing "error ..." for a pipeline error).
The sink is not async: a paused live source sends nothing to preroll it, and an async
sink would hold the pipeline in its change to PAUSED, so that PLAYING never came.
"""
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import Gst, GstRtsp  # noqa: E402

Gst.init(None)
url = sys.argv[1]
pipeline = Gst.parse_launch(
    f"rtspsrc location={url} protocols=tcp latency=0 name=src ! decodebin ! fakesink name=sink sync=false async=false"
)
frames = [0]
packets = [0]


def count(counter):
    def probe(_pad, _info):
        counter[0] += 1
        return Gst.PadProbeReturn.OK

    return probe


pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count(frames))
# RTP packets out of rtspsrc: what the server still sends (a paused sink holds the decoded
# frames back whether the server stopped or not).
src = pipeline.get_by_name("src")
src.connect("pad-added", lambda _src, pad: pad.add_probe(Gst.PadProbeType.BUFFER, count(packets)))
# The requests rtspsrc sends, by name.
sent = []


def before_send(_src, message):
    if message.get_type() == GstRtsp.RTSPMsgType.REQUEST:
        _, method, _, _ = message.parse_request()
        sent.append(GstRtsp.rtsp_method_as_text(method))
    return True


src.connect("before-send", before_send)
bus = pipeline.get_bus()


def run_until(done, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msg = bus.timed_pop_filtered(50 * Gst.MSECOND, Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if msg is not None:
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                print(f"error {err.message} {debug}", flush=True)
            else:
                print("eos", flush=True)
            return False
        if done():
            return True
    return done()


pipeline.set_state(Gst.State.PLAYING)
ok = run_until(lambda: frames[0] >= 25, 10)
print(f"before {frames[0]}", flush=True)
if not ok:
    sys.exit(1)
pipeline.set_state(Gst.State.PAUSED)
pipeline.get_state(5 * Gst.SECOND)
start = packets[0]
run_until(lambda: False, 1.5)
print(f"paused {packets[0] - start}", flush=True)
start = frames[0]
pipeline.set_state(Gst.State.PLAYING)
ok = run_until(lambda: frames[0] - start >= 25, 10)
print(f"after {frames[0] - start}", flush=True)
print("sent " + ",".join(sent), flush=True)
pipeline.set_state(Gst.State.NULL)
sys.exit(0 if ok else 1)
