"""Frames per second of 720p numpy frames read from Python through FrameOutput.

A 10 s 1280x720 30 fps H.264 file is made with ffmpeg (testsrc2, libx264 veryfast), then
read by `for frame in FrameOutput()`, touching each array (its mean of one row). Prints
the best of 3. Run with the optimized wheel: `cargo xtask pybench` installs it, or
`python crates/pipeline-py/benches/numpy_frames.py` in target/python-venv."""
import pathlib
import subprocess
import tempfile
import time

import media_toolkit as mt


def main():
    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "720p.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
             "-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
             str(source)], check=True)
        best = 0.0
        for _ in range(3):
            output = mt.FrameOutput(audio=False)
            handle = mt.Pipeline(str(source), output).start()
            start, frames = time.perf_counter(), 0
            for frame in output:
                assert frame.payload.shape == (720, 1280, 3)
                frame.payload[360].mean()
                frames += 1
            seconds = time.perf_counter() - start
            handle.wait()
            best = max(best, frames / seconds)
        print(f"720p numpy frames from Python: {frames} frames, best {best:.0f} frames/s")


if __name__ == "__main__":
    main()
