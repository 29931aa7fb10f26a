"""IcecastStream from Python against icecast2: title and mute visible in status-json,
frame progress events as MusicDB's StreamFile yields them."""
import threading
import time

import pytest

import media_toolkit as mt
from conftest import FIXTURES

SONG = FIXTURES / "sine-44100-cbr128.mp3"  # 3.03 s, 116 frames


class Collector:
    """Iterates the stream's events on a thread (the GIL is released while it waits)."""

    def __init__(self, stream):
        self.events = []
        self.thread = threading.Thread(target=self.run, args=(stream,), daemon=True)
        self.thread.start()

    def run(self, stream):
        for event in stream:
            self.events.append((time.monotonic(), event))

    def wait_for(self, predicate, seconds=15.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _, event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no such event in {seconds} s: {[e for _, e in self.events][-5:]}")

    def frames(self):
        return [e.index for _, e in self.events if e.kind == "frame_sent"]


def wait_for_source(icecast, predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sources = [s for s in icecast.sources() if s.get("listenurl", "").endswith("/stream")]
        if sources and predicate(sources[0]):
            return sources[0]
        time.sleep(0.1)
    raise AssertionError(f"status-json never matched: {icecast.sources()}")


def test_stream_mute_title_and_progress(icecast):
    stream = mt.IcecastStream(icecast.url(), [str(SONG)], title="From Python")
    assert "hackme" not in repr(stream)
    events = Collector(stream)
    events.wait_for(lambda e: e.kind == "connected")
    first = events.wait_for(lambda e: e.kind == "frame_sent")
    assert (first.index, first.total) == (0, 116)

    # The title reaches the server.
    wait_for_source(icecast, lambda s: s.get("title") == "From Python")
    stream.set_title("Second title")
    events.wait_for(lambda e: e.kind == "title_set" and e.title == "Second title")
    wait_for_source(icecast, lambda s: s.get("title") == "Second title")

    # Muted: the source stays on the mount, and no input frame goes out.
    events.wait_for(lambda e: e.kind == "frame_sent" and e.index >= 20)
    stream.mute()
    muted = events.wait_for(lambda e: e.kind == "muted")
    time.sleep(0.3)  # frames already on their way when the mute was asked
    at_mute = max(events.frames())
    time.sleep(1.0)
    assert max(events.frames()) == at_mute, "input frames sent while muted"
    source = wait_for_source(icecast, lambda s: True)
    assert source.get("title") == "Second title"
    assert muted.kind == "muted"
    stream.unmute()
    events.wait_for(lambda e: e.kind == "unmuted")

    # The input resumes where it stopped and plays to its end, every frame once.
    stream.wait()
    events.thread.join(timeout=10)
    assert events.frames() == list(range(116))
    assert events.events[-1][1].kind == "finished"
    times = [e.time for _, e in events.events if e.kind == "frame_sent"]
    assert times == sorted(times) and times[-1] > 3.0  # silence while muted counts too


def test_wrong_source_password_is_permanent_and_masked(icecast):
    stream = mt.IcecastStream(icecast.url(password="wrong-secret-pw"), [str(SONG)])
    with pytest.raises(mt.PermanentError) as caught:
        stream.wait()
    assert "wrong-secret-pw" not in str(caught.value)
    assert "\n" not in str(caught.value)
