#!/usr/bin/python3
"""GStreamer RTSP test camera for the workspace's integration tests.

Run with Debian's /usr/bin/python3 (it sees python3-gi):
    rtsp_test_server.py [--port N] [--auth basic|digest --user U --password P] [--file MP4] [--shared-file MP4]

Prints "ready rtsp://127.0.0.1:PORT" once listening (PORT 0 picks a free port) and exits
cleanly on SIGTERM/SIGINT. Mounts:
    /h264       H.264 640x360 15 fps, keyframe every 30 frames
    /h264aac    H.264 + AAC 48 kHz mono
    /h265       H.265
    /mjpeg      Motion JPEG
    /h264pcma   H.264 + G.711 A-law 8 kHz (no MP4 sample entry in retina)
    /h264pcmu   H.264 + G.711 µ-law 8 kHz
    /h264opus   H.264 + Opus (retina cannot depacketize Opus)
    /h264b      H.264 high profile with B-frames (x264 bframes=2): decode order differs
                from presentation order, RTP timestamps are presentation times
    /h265b      H.265 with B-frames (x265 bframes=2)
                (/h264b and /h265b are not shared: each client gets its own encoder from
                its first frame, so recordings made at once have the same frames)
    /file       H.264 + AAC from --file (an MP4), which ends: for EOS / idle-timeout tests
    /shared-file
                the H.264 video of --shared-file (an MP4), one pipeline shared by all
                clients: the peer of the RTSP server bench
    /clock      H.264 640x360 25 fps whose pictures carry the wall-clock time at which
                each was made (see ClockPictures), for glass-to-glass latency
"""
import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

RAW = "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=15/1"
H264 = RAW + " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 ! rtph264pay name=pay0 pt=96 config-interval=-1"
H265 = RAW + " ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph265pay name=pay0 pt=96 config-interval=-1"
# B-frames: no zerolatency tune (it turns them off); a small lookahead keeps the delay short;
# a fixed pattern (no adaptive B-frames, no scene cuts) gives every client the same frame
# types, so recordings made at once can be compared packet by packet.
H264B = (RAW + " ! x264enc speed-preset=superfast key-int-max=30 bframes=2 b-adapt=false"
         " rc-lookahead=4 option-string=scenecut=0"
         " ! video/x-h264,profile=high ! rtph264pay name=pay0 pt=96 config-interval=-1")
H265B = (RAW + " ! x265enc speed-preset=ultrafast key-int-max=30"
         " option-string=bframes=2:b-adapt=0:rc-lookahead=4:scenecut=0"
         " ! rtph265pay name=pay0 pt=96 config-interval=-1")
MJPEG = RAW + " ! jpegenc ! rtpjpegpay name=pay0 pt=26"
AAC = "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97"
PCMA = "audiotestsrc is-live=true ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
PCMU = "audiotestsrc is-live=true ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0"
OPUS = "audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! opusenc ! rtpopuspay name=pay1 pt=111"


# The clock camera's frames come from ClockPictures through an appsrc; zerolatency and
# no B-frames as a camera meant for live viewing is set up.
CLOCK = ("appsrc name=clock is-live=true format=time do-timestamp=true"
         " caps=video/x-raw,format=I420,width=640,height=360,framerate=25/1"
         " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bframes=0"
         " bitrate=2000 ! rtph264pay name=pay0 pt=96 config-interval=-1")


class ClockPictures:
    """Pictures that say when they were made: the wall-clock time in milliseconds since
    the Unix epoch as 48 bits, most significant first, in 16x16 blocks (one macroblock
    each, white for 1, black for 0) on a grey picture, 24 to a row: bits 0-23 from
    (0, 16), bits 24-47 from (0, 32), and the same bits again from (0, 64), so a reader
    can check its reading. The time is taken just before the picture goes to the
    encoder: the "glass" of glass-to-glass."""

    WIDTH, HEIGHT, FPS, BITS, BLOCK, PER_ROW = 640, 360, 25, 48, 16, 24

    def __init__(self, appsrc):
        self.appsrc = appsrc
        luma = self.WIDTH * self.HEIGHT
        self.blank = bytes([128]) * luma + bytes([128]) * (luma // 2)
        threading.Thread(target=self.run, daemon=True).start()

    def picture(self, ms):
        frame = bytearray(self.blank)
        for bit in range(self.BITS):
            value = b"\xeb" if (ms >> (self.BITS - 1 - bit)) & 1 else b"\x10"
            x = bit % self.PER_ROW * self.BLOCK
            for top in (16, 64):
                top += bit // self.PER_ROW * self.BLOCK
                for y in range(top, top + self.BLOCK):
                    start = y * self.WIDTH + x
                    frame[start:start + self.BLOCK] = value * self.BLOCK
        return bytes(frame)

    def run(self):
        period, next_at = 1.0 / self.FPS, time.monotonic()
        while True:
            buffer = Gst.Buffer.new_wrapped(self.picture(int(time.time() * 1000)))
            if self.appsrc.emit("push-buffer", buffer) != Gst.FlowReturn.OK:
                return  # the media was torn down
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))


def file_launch(path):
    return (
        f"filesrc location={path} ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97"
    )


def shared_video_launch(path):
    # The file's video alone, one pipeline for every client (a server's fan-out).
    return (
        f"filesrc location={path} ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", default="0")
    ap.add_argument("--auth", choices=["basic", "digest"])
    ap.add_argument("--user", default="user")
    ap.add_argument("--password", default="pass")
    ap.add_argument("--file")
    ap.add_argument("--shared-file")
    args = ap.parse_args()

    Gst.init(None)
    mounts = {"/h264": H264, "/h264aac": H264 + " " + AAC, "/h265": H265, "/mjpeg": MJPEG,
              "/h264pcma": H264 + " " + PCMA, "/h264pcmu": H264 + " " + PCMU,
              "/h264opus": H264 + " " + OPUS,
              "/h264b": H264B, "/h265b": H265B}
    if args.file:
        mounts["/file"] = file_launch(args.file)
    if args.shared_file:
        mounts["/shared-file"] = shared_video_launch(args.shared_file)
    mounts["/clock"] = CLOCK

    server = GstRtspServer.RTSPServer(address="127.0.0.1", service=args.port)
    for path, launch in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( {launch} )")
        # Not shared: the file mount, so each client starts the file from its beginning; the
        # B-frame mounts, so each client gets the same frames from the start. On a shared
        # mount a client joining restarts the stream's timestamps for the others.
        factory.set_shared(path not in ("/file", "/h264b", "/h265b"))
        if args.auth:
            factory.add_role_from_structure(Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        if path == "/clock":
            factory.connect("media-configure", lambda _, media: ClockPictures(
                media.get_element().get_by_name_recurse_up("clock")))
        server.get_mount_points().add_factory(path, factory)

    if args.auth:
        auth, token = GstRtspServer.RTSPAuth(), GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        server.set_auth(auth)

    if server.attach(None) == 0:
        print("error: could not bind the RTSP port", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()


if __name__ == "__main__":
    main()
