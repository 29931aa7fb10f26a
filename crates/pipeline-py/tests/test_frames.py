"""Decoded frames as numpy arrays, as Boombox's: MP4 -> FrameOutput -> numpy (shape, dtype,
count equal to ffprobe's, timestamps in ms, pixels equal to ffmpeg's own decode) ->
FrameInput -> MP4 that ffprobe and ffmpeg read; audio likewise."""
import subprocess

import pytest

import media_toolkit as mt
from conftest import FIXTURES, ffmpeg_decodes, ffprobe, require


def numpy():
    try:
        import numpy
    except ImportError:
        require("numpy (python3 -m pip install numpy)")
    return numpy


def read_frames(source, **kwargs):
    output = mt.FrameOutput(**kwargs)
    handle = mt.Pipeline(str(source), output).start()
    frames = list(output)
    handle.wait()
    return frames


def counted_frames(path, stream):
    info = ffprobe(path, "-count_frames", "-select_streams", stream)
    return int(info["streams"][0]["nb_read_frames"]), info["streams"][0]


def test_video_frames_round_trip(tmp_path):
    np = numpy()
    source = FIXTURES / "h264-bframes.mp4"
    frames = read_frames(source)
    count, stream = counted_frames(source, "v:0")
    assert len(frames) == count == 60
    assert all(isinstance(f, mt.VideoFrame) for f in frames)
    first = frames[0].payload
    assert isinstance(first, np.ndarray) and first.dtype == np.uint8
    assert first.shape == (stream["height"], stream["width"], 3) == (240, 320, 3)
    # The decoder's own buffer, not a copy in a bytearray: the array's root owns a Rust
    # allocation (rust-numpy's container) and is Python's to write.
    root = first
    while isinstance(root.base, np.ndarray):
        root = root.base
    assert root.base is not None and not isinstance(root.base, (bytes, bytearray))
    assert type(root.base).__name__ == "PySliceContainer" and first.flags.writeable
    # Presentation order, in ms: 30 fps from 0.
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and stamps[0] == 0
    assert stamps[-1] == 59 * 1000 // 30 or abs(stamps[-1] - 1967) <= 1
    # The pixels are what ffmpeg's own decoder gives in rgb24.
    require("ffmpeg")
    reference = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(reference, np.uint8).reshape(240, 320, 3)
    assert np.abs(first.astype(int) - reference.astype(int)).mean() < 2.0
    first[0, 0] = (1, 2, 3)  # the arrays are writable and the frame's own

    # Back to MP4 through the encoder.
    out = tmp_path / "from-numpy.mp4"
    raw = mt.FrameInput(video=(320, 240), frame_rate=30)
    handle = mt.Pipeline(raw, str(out)).start()
    for frame in frames:
        assert raw.write(mt.VideoFrame(frame.payload, frame.timestamp))
    raw.close()
    handle.wait()
    count_back, stream_back = counted_frames(out, "v:0")
    assert count_back == 60
    assert (stream_back["codec_name"], stream_back["width"], stream_back["height"]) == \
        ("h264", 320, 240)
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors
    assert abs(float(stream_back["duration"]) - 2.0) < 0.1


def test_audio_frames_round_trip(tmp_path):
    np = numpy()
    source = FIXTURES / "aac.mp4"
    frames = read_frames(source)
    assert frames and all(isinstance(f, mt.AudioFrame) for f in frames)
    count, stream = counted_frames(source, "a:0")
    # The encoder's priming frame comes first with a negative time (-21 ms); ffprobe
    # leaves it out, as the file's edit list says.
    assert frames[0].timestamp < 0 <= frames[1].timestamp
    assert len([f for f in frames if f.timestamp >= 0]) == count
    first = frames[0]
    assert (first.sample_rate, first.channels) == (48000, 2)
    assert first.payload.dtype == np.float32 and first.payload.ndim == 1
    samples = sum(f.payload.size for f in frames) // 2
    assert abs(samples - 2 * 48000) <= 2048 + 1024
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)
    assert abs(stamps[2] - stamps[1] - 21) <= 1  # 1024 samples at 48 kHz
    assert float(np.abs(np.concatenate([f.payload for f in frames])).max()) > 0.01

    s16 = read_frames(source, sample_format="s16", sample_rate=16000, channels=1)
    assert s16[0].payload.dtype == np.int16 and s16[0].channels == 1
    assert abs(sum(f.payload.size for f in s16) - 2 * 16000) <= 1024

    out = tmp_path / "from-numpy.mp4"
    raw = mt.FrameInput(audio=(48000, 2))
    handle = mt.Pipeline(raw, str(out)).start()
    for frame in frames:
        assert raw.write(mt.AudioFrame(frame.payload, frame.timestamp, 48000, 2))
    raw.close()
    handle.wait()
    stream_back = ffprobe(out)["streams"][0]
    assert (stream_back["codec_name"], int(stream_back["sample_rate"]), stream_back["channels"]) \
        == ("aac", 48000, 2)
    assert abs(float(stream_back["duration"]) - 2.0) < 0.1
    ok, errors = ffmpeg_decodes(out)
    assert ok, errors


def test_frame_endpoint_errors():
    numpy()
    with pytest.raises(ValueError):
        mt.FrameInput()
    with pytest.raises(ValueError):
        mt.FrameOutput(pixel_format="yuv420p")
    raw = mt.FrameInput(video=(64, 48))
    with pytest.raises(ValueError):
        raw.write(mt.VideoFrame(numpy().zeros((10, 10, 3), "uint8"), 0))
    with pytest.raises(TypeError):
        raw.write(b"not a frame")
    output = mt.FrameOutput()
    with pytest.raises(TypeError):
        mt.Pipeline(output, "x.mp4")
