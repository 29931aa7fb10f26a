"""Data streams sent from Python (DataStreamSender over TCP), decoded by LiveKit's own PyPI
protocol package (livekit-protocol's DataPacket), as in data-stream's livekit_python tests."""
import socket
import struct
import threading

import pytest

import media_toolkit as mt



def livekit_models():
    try:
        from livekit.protocol import models as m
    except ImportError:
        from conftest import require
        require("livekit-protocol (python3 -m pip install livekit-protocol)")
    return m


class Receiver:
    """A TCP server taking one connection and keeping every byte until the sender closes."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(20)
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.data = bytearray()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        connection, _ = self.server.accept()
        connection.settimeout(20)
        with connection:
            while chunk := connection.recv(65536):
                self.data += chunk
        self.server.close()

    def packets(self, models):
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the sender never closed the connection"
        data, packets = bytes(self.data), []
        while data:
            (length,) = struct.unpack(">I", data[:4])
            packet = models.DataPacket()
            packet.ParseFromString(data[4:4 + length])
            packets.append(packet)
            data = data[4 + length:]
        return packets


def streams(packets):
    """Reassembled by LiveKit's classes: {id: (header, content, trailer)}."""
    out = {}
    for packet in packets:
        which = packet.WhichOneof("value")
        if which == "stream_header":
            out[packet.stream_header.stream_id] = [packet.stream_header, [], None]
        elif which == "stream_chunk":
            chunk = packet.stream_chunk
            out[chunk.stream_id][1].append((chunk.chunk_index, chunk.content))
        elif which == "stream_trailer":
            out[packet.stream_trailer.stream_id][2] = packet.stream_trailer
    return {
        sid: (header, b"".join(c for _, c in sorted(chunks)), trailer)
        for sid, (header, chunks, trailer) in out.items()
    }


def test_text_and_bytes_streams_decoded_by_livekit_protocol():
    models = livekit_models()
    receiver = Receiver()
    text = "héllo from Python 😊 " * 2000  # several 15 000-byte chunks
    payload = bytes(range(256)) * 400
    progress = []
    with mt.DataStreamSender(receiver.url) as sender:
        sent_text = sender.send_text(text, topic="chat", attributes={"lang": "en"})
        sent_bytes = sender.send_bytes(
            payload, "table.bin", topic="files", attributes={"kind": "table"},
            on_progress=lambda sent, total: progress.append((sent, total)))
    got = streams(receiver.packets(models))
    assert set(got) == {sent_text["id"], sent_bytes["id"]}

    header, content, trailer = got[sent_text["id"]]
    assert header.WhichOneof("content_header") == "text_header"
    assert (header.topic, dict(header.attributes), header.mime_type) == \
        ("chat", {"lang": "en"}, "text/plain")
    assert header.total_length == len(text.encode())
    assert content.decode() == text
    assert trailer is not None and trailer.reason == ""

    header, content, trailer = got[sent_bytes["id"]]
    assert header.WhichOneof("content_header") == "byte_header"
    assert header.byte_header.name == "table.bin" == sent_bytes["name"]
    assert (header.topic, dict(header.attributes)) == ("files", {"kind": "table"})
    assert content == payload and trailer is not None
    # Progress as LiveKit JS's onProgress: growing, ending at the total.
    assert progress and progress[-1] == (len(payload), len(payload))
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)


def test_refused_connection_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(mt.TransientError):
        mt.DataStreamSender(f"tcp://127.0.0.1:{port}")
    with pytest.raises(mt.PermanentError):
        mt.DataStreamSender("smtp://127.0.0.1:25")
