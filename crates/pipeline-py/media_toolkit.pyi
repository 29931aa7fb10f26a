"""Type stubs of media_toolkit (the pipeline crate through PyO3); maturin ships them in the
wheel with py.typed."""
import os
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Tuple, Union

__version__: str

Endpoint = Union[str, "os.PathLike[str]", "RawInput", "RawOutput"]
Codec = Literal["h264", "h265", "aac", "mp3", "opus", "sample_entry"]

class MediaToolkitError(Exception):
    """Base class of the toolkit's errors: one line, secrets masked."""

class PermanentError(MediaToolkitError):
    """Retrying cannot fix it: credentials, a missing input, a misfit codec, options."""

class TransientError(MediaToolkitError):
    """It may pass: the network, a server restarting, a timeout."""

class Status:
    """Live figures of a running pipeline."""
    @property
    def media_seconds(self) -> float: ...
    @property
    def packets(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def lost(self) -> int: ...
    @property
    def files(self) -> int: ...

class Summary:
    """What a finished pipeline did."""
    @property
    def files(self) -> List[str]: ...
    @property
    def status(self) -> Status: ...

class Pipeline:
    """A media stream from one endpoint to another (endpoint strings as the CLI takes them)."""
    def __init__(
        self,
        input: Endpoint,
        output: Endpoint,
        *,
        duration: Optional[float] = ...,
        segment: Optional[float] = ...,
        fragmented: bool = ...,
        fragment_duration: float = ...,
        faststart: bool = ...,
        no_video: bool = ...,
        no_audio: bool = ...,
        transport: Literal["tcp", "udp"] = ...,
        fail_on_loss: bool = ...,
        teardown: Literal["auto", "always", "never"] = ...,
        initial_timestamp: str = ...,
        user: Optional[str] = ...,
        password: Optional[str] = ...,
        hls_mode: Literal["live", "vod"] = ...,
        queue: int = ...,
        burst: Optional[float] = ...,
        frame_rate: Optional[float] = ...,
        track: Union[int, Sequence[int]] = ...,
        realtime: bool = ...,
        loop: bool = ...,
        token: Optional[str] = ...,
        title: Optional[str] = ...,
    ) -> None: ...
    def run(self) -> Summary:
        """Runs to the end; Ctrl-C closes gracefully, then raises KeyboardInterrupt."""
    def start(self) -> PipelineHandle:
        """Starts it and returns its handle."""
    def __enter__(self) -> PipelineHandle: ...
    def __exit__(self, *exc: object) -> bool: ...

class PipelineHandle:
    """A running pipeline."""
    def wait(self, timeout: Optional[float] = None) -> Summary:
        """Waits for the end (TimeoutError after timeout seconds); raises its error."""
    def close(self, wait: bool = True, kill: bool = False) -> Optional[Summary]:
        """Stops gracefully (or at once with kill=True); with wait, the Summary."""
    def kill(self) -> None:
        """Stops at once; the output is left as it is (recoverable with recover())."""
    @property
    def status(self) -> Status: ...
    @property
    def finished(self) -> bool: ...
    def __enter__(self) -> PipelineHandle: ...
    def __exit__(self, *exc: object) -> bool: ...

class Track:
    """One track; timestamps of its packets are ticks of its timescale."""
    @staticmethod
    def video(codec: Codec, timescale: int, width: int, height: int,
              config: Optional[bytes] = None) -> Track: ...
    @staticmethod
    def audio(codec: Codec, sample_rate: int, channels: int, config: Optional[bytes] = None,
              timescale: Optional[int] = None) -> Track: ...
    @property
    def kind(self) -> Literal["video", "audio", "other"]: ...
    @property
    def codec(self) -> str: ...
    @property
    def config(self) -> bytes: ...
    @property
    def timescale(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...

class Packet:
    """One packet; dts, pts and duration in ticks of its track's timescale."""
    def __init__(self, track: int, dts: int, data: Union[bytes, bytearray], key: bool = False,
                 pts: Optional[int] = None, duration: Optional[int] = None) -> None: ...
    @property
    def track(self) -> int: ...
    @property
    def dts(self) -> int: ...
    @property
    def pts(self) -> int: ...
    @property
    def duration(self) -> Optional[int]: ...
    @property
    def key(self) -> bool: ...
    @property
    def data(self) -> bytes: ...
    def __len__(self) -> int: ...

class RawInput:
    """Packets from Python into a pipeline."""
    def __init__(self, tracks: Sequence[Track], capacity: int = 16) -> None: ...
    def write(self, packet: Packet) -> bool:
        """True when taken; False once the pipeline has finished."""
    def close(self) -> None:
        """Ends the input; the output is finalized."""

class RawOutput:
    """Packets out of a pipeline into Python."""
    def __init__(self, capacity: int = 64) -> None: ...
    def read(self) -> Optional[Packet]:
        """The next packet, or None once the pipeline has finished."""
    @property
    def tracks(self) -> Optional[List[Track]]: ...
    def close(self) -> None: ...
    def __iter__(self) -> Iterator[Packet]: ...
    def __next__(self) -> Packet: ...

class IcecastEvent:
    """One event of an IcecastStream; fields that do not apply are None."""
    @property
    def kind(self) -> str: ...
    @property
    def index(self) -> Optional[int]: ...
    @property
    def total(self) -> Optional[int]: ...
    @property
    def time(self) -> Optional[float]: ...
    @property
    def title(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def delay(self) -> Optional[float]: ...
    @property
    def input(self) -> Optional[str]: ...
    @property
    def listeners(self) -> Optional[int]: ...

class IcecastStream:
    """MP3 files streamed in real time to an Icecast mount."""
    def __init__(self, url: str, files: Sequence[Union[str, "os.PathLike[str]"]],
                 title: Optional[str] = None, stop_when_empty: bool = True) -> None: ...
    def mute(self) -> None: ...
    def unmute(self) -> None: ...
    def set_title(self, title: str) -> None: ...
    def enqueue(self, file: Union[str, "os.PathLike[str]"]) -> None: ...
    def stop(self) -> None: ...
    def wait(self) -> None: ...
    def __iter__(self) -> Iterator[IcecastEvent]: ...
    def __next__(self) -> IcecastEvent: ...

class DataStreamSender:
    """LiveKit-compatible data streams sent over tcp://host:port or ws://host:port/path."""
    def __init__(self, url: str) -> None: ...
    def send_text(self, text: str, topic: str = "", attributes: Optional[Dict[str, str]] = None,
                  on_progress: Optional[Callable[[int, Optional[int]], None]] = None) -> Dict[str, Any]:
        """Sends one text stream; returns its header (id, topic, mime_type, ...)."""
    def send_bytes(self, data: bytes, name: str, topic: str = "",
                   attributes: Optional[Dict[str, str]] = None, mime_type: Optional[str] = None,
                   on_progress: Optional[Callable[[int, Optional[int]], None]] = None) -> Dict[str, Any]:
        """Sends one byte stream named name; returns its header."""
    def close(self) -> None:
        """Flushes and closes the connection."""
    def __enter__(self) -> DataStreamSender: ...
    def __exit__(self, *exc: object) -> bool: ...

def _read_loop_in_rust(input: str, duration: float, capacity: int = 64) -> Tuple[int, int, float]:
    """The read-loop bench's Rust side: (packets, bytes, seconds)."""

def recover(partial: Union[str, "os.PathLike[str]"], target: Union[str, "os.PathLike[str]"]) -> int:
    """Rebuilds a killed plain MP4 from its journal; returns the samples kept."""
