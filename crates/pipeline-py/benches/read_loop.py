"""Packets per second through RawOutput.read() from Python vs the same loop in Rust.

The same pipeline (an MP4 file read in a loop for DURATION media seconds into a raw
output of 64 packets) is consumed three ways on one build: in Rust
(`_read_loop_in_rust`), by a Python `for packet in output` loop, and by that loop also
taking each payload (`packet.data`, one copy). Goal: Python's read loop >= 0.5x Rust's.
Run by `cargo xtask pybench` (an optimized wheel); prints one line per loop.
"""
import pathlib
import sys
import time

import media_toolkit as mt

ROOT = pathlib.Path(__file__).resolve().parents[3]
SOURCE = str(ROOT / "fixtures/h264.mp4")
DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
ROUNDS = 3


def python_loop(take_data):
    started = time.perf_counter()
    output = mt.RawOutput()
    handle = mt.Pipeline(SOURCE, output, loop=True, duration=DURATION).start()
    packets = size = 0
    for packet in output:
        packets += 1
        size += len(packet.data) if take_data else len(packet)
    handle.wait()
    return packets, size, time.perf_counter() - started


def best(run):
    results = [run() for _ in range(ROUNDS)]
    return max(results, key=lambda r: r[0] / r[2])


def main():
    rust = best(lambda: mt._read_loop_in_rust(SOURCE, DURATION))
    python = best(lambda: python_loop(False))
    python_data = best(lambda: python_loop(True))
    assert rust[0] == python[0] == python_data[0], (rust, python, python_data)
    rate = lambda r: r[0] / r[2]
    print(f"packets per loop: {rust[0]} ({DURATION:.0f} s of {SOURCE}), best of {ROUNDS}")
    print(f"rust   read loop: {rate(rust):12.0f} packets/s")
    print(f"python read loop: {rate(python):12.0f} packets/s  ({rate(python) / rate(rust):.2f}x rust)")
    print(f"python + .data  : {rate(python_data):12.0f} packets/s  "
          f"({rate(python_data) / rate(rust):.2f}x rust)")


if __name__ == "__main__":
    main()
