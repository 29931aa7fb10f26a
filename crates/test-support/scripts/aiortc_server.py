"""aiortc as a WHEP and a WHIP *server*, so our clients (`whep://`, `whip://`) meet a
WebRTC implementation that is not ours (its own ICE, DTLS, SRTP and libav codecs).

    aiortc_server.py whep SECONDS CODEC
        Serves a generated picture (640x360 25 fps, encoded by aiortc in CODEC: "vp8" or
        "h264") and a 440 Hz Opus tone at http://127.0.0.1:PORT/whep to each viewer.
    aiortc_server.py whip SECONDS
        Takes one publish at http://127.0.0.1:PORT/whip and decodes what it sends.

Prints "ready PORT" once listening, then, after SECONDS (or at the publisher's DELETE),
one JSON line: the sessions, their DELETEs and (whip) what was decoded. Errors are one
line on stderr and exit code 1. Only 127.0.0.1 is used (see aiortc_peer.py).
"""

import asyncio
import json
import sys

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from aiortc_peer import Picture, Seen, Tone  # also gives aioice its loopback address

REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict"}


class Server:
    def __init__(self, mode, codec):
        self.mode, self.codec = mode, codec
        self.sessions, self.deleted, self.seen = {}, 0, None
        self.done = asyncio.Event()

    async def offer(self, sdp):
        """Answers an offer (all candidates gathered: no trickle); returns (id, answer)."""
        pc = RTCPeerConnection()
        if self.mode == "whep":
            # Made before the offer is applied, so the offer's sections take them (and
            # the codec preference filters what the answer accepts).
            video = pc.addTransceiver(Picture(), direction="sendonly")
            wanted = f"video/{'VP8' if self.codec == 'vp8' else 'H264'}"
            video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                       if c.mimeType == wanted])
            pc.addTransceiver(Tone(), direction="sendonly")
        else:
            self.seen = Seen(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        session = str(len(self.sessions) + 1)
        self.sessions[session] = pc
        return session, pc.localDescription.sdp

    async def route(self, method, path, body):
        base = f"/{self.mode}"
        if method == "POST" and path == base:
            if self.mode == "whip" and self.sessions:
                return 409, "", b"one publisher at a time"
            session, answer = await self.offer(body.decode())
            return 201, (f"Location: {base}/{session}\r\n"
                         "Content-Type: application/sdp\r\n"), answer.encode()
        if method == "DELETE" and path.startswith(base + "/"):
            pc = self.sessions.get(path[len(base) + 1:])
            if pc is None:
                return 404, "", b"no such session"
            await pc.close()
            self.deleted += 1
            if self.mode == "whip":
                self.done.set()
            return 200, "", b""
        if method in ("POST", "DELETE"):
            return 404, "", b"not here"
        return 405, "", b""

    async def handle(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip()
                       for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, extra, content = await self.route(method, path, body)
        except Exception as e:  # a bad request gets one line back
            status, extra, content = 400, "", str(e).encode()
        writer.write(f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Length: {len(content)}\r\n"
                     f"Connection: close\r\n{extra}\r\n".encode() + content)
        await writer.drain()
        writer.close()


async def main(argv):
    mode, seconds = argv[1], float(argv[2])
    server = Server(mode, argv[3] if len(argv) > 3 else None)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    print(f"ready {listener.sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.wait_for(server.done.wait(), seconds)
    except asyncio.TimeoutError:
        pass
    result = {"sessions": len(server.sessions), "deleted": server.deleted}
    if server.seen:
        result.update(server.seen.stop())
    for pc in server.sessions.values():
        await pc.close()
    listener.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv))
    except Exception as e:  # one line, the peer's own words
        print(f"aiortc server: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
