"""Raw packets from and to Python: MP4 -> RawOutput -> Python -> RawInput -> MP4, read back
identical, and checked packet by packet against ffprobe's view of the original."""
import subprocess
import sys

import media_toolkit as mt
from conftest import FIXTURES, ffmpeg_decodes, ffprobe, ffprobe_packets, require


def read_all(source):
    """(tracks, packets) of a file through a RawOutput."""
    output = mt.RawOutput()
    handle = mt.Pipeline(str(source), output).start()
    packets = list(output)
    tracks = output.tracks
    handle.wait()
    return tracks, packets


def copy_of(packet):
    """A new Packet built from Python values only (no Rust object reused)."""
    return mt.Packet(packet.track, packet.dts, bytes(packet.data), key=packet.key,
                     pts=packet.pts, duration=packet.duration)


def roundtrip(source, tmp_path):
    tracks, packets = read_all(source)
    assert tracks and packets
    out = tmp_path / "from-python.mp4"
    raw = mt.RawInput(tracks)
    handle = mt.Pipeline(raw, str(out)).start()
    for packet in packets:
        assert raw.write(copy_of(packet))
    raw.close()
    summary = handle.wait()
    assert summary.files == [str(out)]
    assert summary.status.packets == len(packets)
    tracks_back, packets_back = read_all(out)
    assert tracks_back == tracks
    assert packets_back == packets
    return out, packets


def test_h264_with_b_frames_round_trip(tmp_path):
    source = FIXTURES / "h264-bframes.mp4"
    out, packets = roundtrip(source, tmp_path)
    assert any(p.pts != p.dts for p in packets), "the fixture has B-frames"
    # ffprobe sees the same packets in the original and in the file written from Python.
    want = [(p["size"], p["pts"], p["dts"], p["flags"][0]) for p in ffprobe_packets(source)]
    got = [(p["size"], p["pts"], p["dts"], p["flags"][0]) for p in ffprobe_packets(out)]
    assert got == want
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_two_tracks_round_trip(tmp_path):
    source = FIXTURES / "rtsp-file.mp4"
    out, packets = roundtrip(source, tmp_path)
    assert {p.track for p in packets} == {0, 1}
    # The same file copied without Python (the pipeline alone) has the same packets, as
    # ffprobe lists them. (Against the source itself the AAC track differs: the MP4 input
    # applies the source's edit list, which starts the audio 1024 samples in.)
    direct = tmp_path / "direct.mp4"
    mt.Pipeline(str(source), str(direct)).run()

    def listed(path):
        return [(p["stream_index"], p["size"], p["pts"], p["dts"], p["flags"][0])
                for p in ffprobe_packets(path)]

    assert listed(out) == listed(direct)
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_packet_fields_and_units():
    payload = b"\x00\x00\x00\x02\x09\xf0"
    before = sys.getrefcount(payload)
    packet = mt.Packet(1, 3000, payload, key=True, pts=6000, duration=3000)
    # The packet holds the bytes object itself (no copy): one more reference to it.
    assert sys.getrefcount(payload) == before + 1
    assert (packet.track, packet.dts, packet.pts, packet.duration, packet.key) == \
        (1, 3000, 6000, 3000, True)
    assert packet.data == payload and len(packet) == len(payload)
    assert mt.Packet(0, 5, bytearray(b"ab")).pts == 5
    track = mt.Track.audio("aac", 48000, 2, config=b"\x11\x90")
    assert (track.kind, track.codec, track.timescale, track.config) == \
        ("audio", "aac", 48000, b"\x11\x90")
    assert mt.Track.video("h264", 90000, 640, 480).timescale == 90000


def test_a_raw_endpoint_serves_one_pipeline(tmp_path):
    output = mt.RawOutput()
    handle = mt.Pipeline(str(FIXTURES / "aac.mp4"), output).start()
    assert len(list(output)) == 95  # ffprobe's nb_frames of the fixture
    handle.wait()
    try:
        mt.Pipeline(str(FIXTURES / "aac.mp4"), output)
    except mt.PermanentError as e:
        assert "another pipeline" in str(e)
    else:
        raise AssertionError("reusing a RawOutput must raise")
    try:
        mt.Pipeline(mt.RawOutput(), str(tmp_path / "x.mp4"))
    except TypeError as e:
        assert "input" in str(e)
    else:
        raise AssertionError("a RawOutput as input must raise")


def ivf_frames(path):
    """(frame, key) of an IVF file: a 32-byte header, then per frame 4 bytes of size, 8 of
    time, and the frame."""
    data = path.read_bytes()
    frames, at = [], 32
    while at + 12 <= len(data):
        size = int.from_bytes(data[at:at + 4], "little")
        frame = data[at + 12:at + 12 + size]
        frames.append(frame)
        at += 12 + size
    return frames


def test_vp8_packets_from_python_into_mp4(tmp_path):
    # 2 s of VP8 at 25 fps from ffmpeg's libvpx; a key frame has bit 0 of its first byte
    # clear (RFC 6386 §9.1).
    require("ffmpeg")
    ivf = tmp_path / "vp8.ivf"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=25:duration=2", "-c:v", "libvpx", "-g", "25",
                    "-b:v", "300k", str(ivf)], check=True)
    frames = ivf_frames(ivf)
    assert len(frames) == 50
    track = mt.Track.video("vp8", 90000, 320, 240)
    assert track.codec == "vp8" and track.config == b""
    out = tmp_path / "vp8.mp4"
    raw = mt.RawInput([track])
    handle = mt.Pipeline(raw, str(out)).start()
    for i, frame in enumerate(frames):
        assert raw.write(mt.Packet(0, i * 3600, frame, key=frame[0] & 1 == 0, duration=3600))
    raw.close()
    assert handle.wait().files == [str(out)]
    stream = ffprobe(out)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["nb_frames"]) == ("vp8", 320, "50")
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors
    # VP9 and AV1 carry their record; an unknown name is refused, naming the known ones.
    vp9 = mt.Track.video("vp9", 90000, 320, 240, config=bytes([0, 10, 0x80, 1, 1, 1, 0, 0]))
    assert (vp9.codec, vp9.config) == ("vp9", bytes([0, 10, 0x80, 1, 1, 1, 0, 0]))
    assert mt.Track.video("av1", 90000, 320, 240, config=b"\x81\x08\x0c\x00").codec == "av1"
    try:
        mt.Track.video("vp7", 90000, 320, 240)
        raise AssertionError("vp7 was taken")
    except ValueError as e:
        assert "vp8, vp9, av1" in str(e)
