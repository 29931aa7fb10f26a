"""Record from any input to any output, as the `pipeline` command line does.

    python record.py rtsp://user:pass@camera/stream1 camera.mp4 10
    python record.py song.mp3 song.mp4

Ctrl-C stops it gracefully: the output is finalized. Run by tests/test_examples.py.
"""
import sys

import media_toolkit as mt


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    options = {"duration": float(argv[3])} if len(argv) == 4 else {}
    try:
        summary = mt.Pipeline(argv[1], argv[2], **options).run()
    except mt.MediaToolkitError as error:
        kind = "permanent" if isinstance(error, mt.PermanentError) else "transient"
        print(f"record: {error} ({kind})", file=sys.stderr)
        return 1
    status = summary.status
    for path in summary.files:
        print(f"wrote {path}")
    print(f"{status.packets} packets, {status.bytes} bytes, {status.media_seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
