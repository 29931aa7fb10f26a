"""An independent WebRTC peer for the WHEP/WHIP tests: aiortc (Python, its own ICE, DTLS,
SRTP, RTP depacketizers and libav decoders; nothing shared with str0m or Chromium).

    aiortc_peer.py whep URL SECONDS
        Plays a WHEP endpoint (POST offer, 201 answer, DELETE at the end) for SECONDS
        and prints one JSON line: decoded video frames, their size, decoded audio frames,
        the audio codec and rate, and when the first video frame decoded.
    aiortc_peer.py whip URL SECONDS CODEC
        Publishes a generated picture (a moving gradient, 640x360 at 25 fps, encoded by
        aiortc in CODEC: "vp8" or "h264") and a 440 Hz tone (Opus) to a WHIP endpoint
        for SECONDS, then ends the session with DELETE; prints one JSON line.

Exit code 0 with the JSON on stdout; any failure is one line on stderr and exit code 1.
Only 127.0.0.1 is used: aioice leaves loopback out of its host candidates, so the
address list is given to it here.
"""

import asyncio
import fractions
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import aioice.ice
import numpy
from aiortc import (
    AudioStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from av import AudioFrame, VideoFrame

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

WIDTH, HEIGHT, FPS = 640, 360, 25


def http(method, url, body=None):
    """One WHEP/WHIP request; returns (status, Location, body)."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Location"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, None, e.read()


async def signal(pc, url):
    """Offers (aiortc gathers every candidate before the offer: no trickle) and applies
    the answer; returns the session's URL for the DELETE."""
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp.encode()
    loop = asyncio.get_running_loop()
    status, location, body = await loop.run_in_executor(None, http, "POST", url, offer)
    if status != 201:
        raise RuntimeError(f"POST {url}: {status} {body[:200]!r}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
    return urllib.parse.urljoin(url, location) if location else None


def answered_codecs(sdp):
    """The first codec of each media section of an answer: {"video": "H264/90000", ...}."""
    codecs, kind, first = {}, None, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            fields = line[2:].split()
            kind, first = fields[0], (fields[3] if len(fields) > 3 else None)
        elif kind and line.startswith(f"a=rtpmap:{first} "):
            codecs.setdefault(kind, line.split(" ", 1)[1])
    return codecs


async def end(pc, session):
    """Closes the connection and DELETEs the session; returns the DELETE's status, or
    None when the server is gone (a recording that ended first stops its server)."""
    await pc.close()
    if not session:
        return None
    loop = asyncio.get_running_loop()
    try:
        status, _, _ = await loop.run_in_executor(None, http, "DELETE", session)
        return status
    except urllib.error.URLError:
        return None


class Seen:
    """What the tracks of a peer connection decoded: pictures and their size, audio
    samples and the span of their times (from their RTP timestamps, so a wrong RTP
    clock shows as a span unlike the samples' duration)."""

    def __init__(self, pc):
        self.started = time.monotonic()
        self.tasks, self.first_audio = [], None
        self.result = {"video_frames": 0, "audio_frames": 0, "audio_seconds": 0.0,
                       "width": 0, "height": 0, "audio_rate": 0,
                       "first_video_after_s": None, "audio_time_span_s": 0.0}
        pc.on("track", lambda track: self.tasks.append(asyncio.ensure_future(self.drain(track))))

    async def drain(self, track):
        seen = self.result
        while True:
            frame = await track.recv()
            if track.kind == "video":
                seen["video_frames"] += 1
                seen["width"], seen["height"] = frame.width, frame.height
                if seen["first_video_after_s"] is None:
                    seen["first_video_after_s"] = round(time.monotonic() - self.started, 3)
            else:
                seen["audio_frames"] += 1
                seen["audio_seconds"] += frame.samples / frame.sample_rate
                seen["audio_rate"] = frame.sample_rate
                at = float(frame.pts * frame.time_base)
                if self.first_audio is None:
                    self.first_audio = at
                seen["audio_time_span_s"] = at + frame.samples / frame.sample_rate - self.first_audio

    def stop(self):
        for task in self.tasks:
            task.cancel()
        for key in ("audio_seconds", "audio_time_span_s"):
            self.result[key] = round(self.result[key], 3)
        return self.result


async def whep(url, seconds):
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    seen = Seen(pc)
    session = await signal(pc, url)
    codecs = answered_codecs(pc.remoteDescription.sdp)
    await asyncio.sleep(seconds)
    result = seen.stop()
    result["video_codec"], result["audio_codec"] = codecs.get("video"), codecs.get("audio")
    result["delete_status"] = await end(pc, session)
    return result


class Picture(VideoStreamTrack):
    """A gradient that moves one step a frame, so every frame differs."""

    def __init__(self):
        super().__init__()
        x = numpy.arange(WIDTH, dtype=numpy.uint16)
        y = numpy.arange(HEIGHT, dtype=numpy.uint16)[:, None]
        self.base = (x[None, :] + y)
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        luma = ((self.base + self.n * 4) % 256).astype(numpy.uint8)
        self.n += 1
        rgb = numpy.dstack([luma, 255 - luma, numpy.full_like(luma, 128)])
        frame = VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame

    async def next_timestamp(self):
        # VideoStreamTrack paces at 30 fps; this picture is 25.
        if not hasattr(self, "_start"):
            self._start, self._pts = time.time(), 0
        else:
            self._pts += 90000 // FPS
            wait = self._start + self._pts / 90000 - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        return self._pts, fractions.Fraction(1, 90000)


class Tone(AudioStreamTrack):
    """440 Hz at 48 kHz in 20 ms frames."""

    def __init__(self):
        super().__init__()
        self.sample = 0

    async def recv(self):
        if not hasattr(self, "_start"):
            self._start = time.time()
        wait = self._start + self.sample / 48000 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        n = numpy.arange(self.sample, self.sample + 960)
        pcm = (numpy.sin(2 * numpy.pi * 440 * n / 48000) * 8000).astype(numpy.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, self.sample
        frame.time_base = fractions.Fraction(1, 48000)
        self.sample += 960
        return frame


async def whip(url, seconds, codec):
    pc = RTCPeerConnection()
    video = pc.addTransceiver(Picture(), direction="sendonly")
    pc.addTransceiver(Tone(), direction="sendonly")
    wanted = f"video/{'VP8' if codec == 'vp8' else 'H264'}"
    video.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == wanted])
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()

    session = await signal(pc, url)
    await asyncio.wait_for(connected.wait(), 10)
    sent_at = time.monotonic()
    await asyncio.sleep(seconds)
    stats = await pc.getStats()
    sent = {s.kind: s.packetsSent for s in stats.values() if s.type == "outbound-rtp"}
    return {"codec": codec, "sent_packets": sent, "delete_status": await end(pc, session),
            "sent_for_s": round(time.monotonic() - sent_at, 3)}


async def main(argv):
    mode, url, seconds = argv[1], argv[2], float(argv[3])
    work = whep(url, seconds) if mode == "whep" else whip(url, seconds, argv[4])
    result = await asyncio.wait_for(work, seconds + 30)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv))
    except Exception as e:  # one line, the peer's own words
        print(f"aiortc peer: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
