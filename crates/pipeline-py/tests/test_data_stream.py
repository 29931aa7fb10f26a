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


def test_python_receiver_reads_python_sender():
    """send_text/send_bytes and the streaming writers, read back by DataStreamReceiver."""
    text = "héllo 😊 " * 3000
    payload = bytes(range(256)) * 300
    with mt.DataStreamReceiver("tcp-listen://127.0.0.1:0") as receiver:
        assert receiver.url.startswith("tcp://127.0.0.1:")
        result = {}

        def send():
            with mt.DataStreamSender(receiver.url) as sender:
                result["text"] = sender.send_text(text, topic="chat", attributes={"lang": "fr"})
                result["bytes"] = sender.send_bytes(
                    payload, "table.bin", topic="files", attributes={"kind": "table"},
                    mime_type="application/x-table")
                with sender.stream_bytes("live.bin", topic="live", total_length=30000) as writer:
                    result["live"] = writer.info
                    for i in range(3):
                        writer.write(bytes([i]) * 10000)
                writer = sender.stream_text(topic="tokens", attributes={"a": "1"})
                for word in ["un ", "deux ", "trois 😊"]:
                    writer.write(word)
                writer.close(attributes={"done": "yes"})

        thread = threading.Thread(target=send)
        thread.start()
        # Text and byte streams come in arrival order within their kind only (two
        # queues taken in turns): find each by its topic.
        streams = {s.info.topic: s for s in (receiver.next_stream(timeout=20) for _ in range(4))}
        first, second, live, tokens = (streams[t] for t in ("chat", "files", "live", "tokens"))
        assert isinstance(first, mt.TextStreamReader)
        assert first.info.id == result["text"]["id"]
        assert (first.info.topic, first.info.attributes, first.info.mime_type) == \
            ("chat", {"lang": "fr"}, "text/plain")
        assert first.info.total_length == len(text.encode()) and first.info.name is None
        assert first.read_all(timeout=20) == text

        assert isinstance(second, mt.ByteStreamReader)
        info = second.info
        assert (info.id, info.name, info.topic, info.attributes, info.mime_type) == \
            (result["bytes"]["id"], "table.bin", "files", {"kind": "table"}, "application/x-table")
        assert info.timestamp_ms == result["bytes"]["timestamp_ms"]
        chunks = list(second)
        assert len(chunks) > 1 and b"".join(chunks) == payload

        assert isinstance(live, mt.ByteStreamReader)
        assert (live.info.id, live.info.name, live.info.total_length) == \
            (result["live"].id, "live.bin", 30000)
        assert live.read_all(timeout=20) == b"".join(bytes([i]) * 10000 for i in range(3))

        assert isinstance(tokens, mt.TextStreamReader)
        assert "".join(tokens) == "un deux trois 😊"
        # The trailer's attributes are merged into the info at the end.
        assert tokens.info.attributes == {"a": "1", "done": "yes"}
        thread.join(timeout=20)
        assert receiver.next_stream(timeout=20) is None  # the sender closed


def test_receiver_timeout_and_refusal():
    with mt.DataStreamReceiver("tcp-listen://127.0.0.1:0") as receiver:
        with pytest.raises(TimeoutError):
            receiver.next_stream(timeout=0.3)
    with pytest.raises(mt.PermanentError):
        mt.DataStreamReceiver("smtp://127.0.0.1:25")


def test_receiver_reads_livekit_protocol_packets():
    """A text stream and a byte stream built with LiveKit's own PyPI classes
    (livekit-protocol's DataPacket), framed as the TCP transport frames them, read by
    DataStreamReceiver."""
    m = livekit_models()
    receiver = mt.DataStreamReceiver("tcp-listen://127.0.0.1:0")
    host, port = receiver.address.rsplit(":", 1)
    content = "bonjour de LiveKit 😊 ".encode() * 1500  # 3 chunks
    blob = bytes(range(200)) * 100

    def packet(**fields):
        p = m.DataPacket(**fields)
        data = p.SerializeToString()
        return struct.pack(">I", len(data)) + data

    header = m.DataStream.Header(
        stream_id="text-1", timestamp=1700000000000, topic="lk-chat", mime_type="text/plain",
        total_length=len(content), attributes={"from": "livekit"},
        text_header=m.DataStream.TextHeader(operation_type=m.DataStream.CREATE))
    wire = packet(stream_header=header)
    start, index = 0, 0
    while start < len(content):
        # Cut on a code-point boundary, as LiveKit's SDKs do.
        end = min(start + 15000, len(content))
        while end < len(content) and content[end] & 0xC0 == 0x80:
            end -= 1
        wire += packet(stream_chunk=m.DataStream.Chunk(
            stream_id="text-1", chunk_index=index, content=content[start:end]))
        start, index = end, index + 1
    wire += packet(stream_trailer=m.DataStream.Trailer(stream_id="text-1", reason=""))
    header = m.DataStream.Header(
        stream_id="bytes-1", timestamp=1700000000001, topic="lk-files",
        mime_type="application/octet-stream", total_length=len(blob),
        byte_header=m.DataStream.ByteHeader(name="blob.bin"))
    wire += packet(stream_header=header)
    wire += packet(stream_chunk=m.DataStream.Chunk(stream_id="bytes-1", chunk_index=0, content=blob))
    wire += packet(stream_trailer=m.DataStream.Trailer(
        stream_id="bytes-1", reason="", attributes={"sha": "x"}))
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(wire)
        text = receiver.next_stream(timeout=20)
        assert isinstance(text, mt.TextStreamReader)
        assert (text.info.id, text.info.topic, text.info.attributes, text.info.timestamp_ms) == \
            ("text-1", "lk-chat", {"from": "livekit"}, 1700000000000)
        assert text.read_all(timeout=20) == content.decode()
        data = receiver.next_stream(timeout=20)
        assert isinstance(data, mt.ByteStreamReader) and data.info.name == "blob.bin"
        assert data.read_all(timeout=20) == blob
        assert data.info.attributes == {"sha": "x"}
    assert receiver.next_stream(timeout=20) is None
    receiver.close()
