"""Data streams over WebSocket (ws://, ws-listen://) from Python, against an independent
WebSocket stack (PyPI's `websockets`) carrying LiveKit's own protocol messages
(livekit-protocol's DataPacket): one binary message per packet, no length prefix."""
import threading

import pytest

import media_toolkit as mt
from test_data_stream import livekit_models, streams


def websockets_sync():
    try:
        from websockets.sync import client, server
    except ImportError:
        from conftest import require
        require("websockets (python3 -m pip install websockets)")
    return client, server


class Collector:
    """A `websockets` server taking one connection and keeping every binary message."""

    def __init__(self):
        _, server = websockets_sync()
        self.messages, self.texts = [], []
        self.done = threading.Event()
        self.server = server.serve(self.handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/data"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, connection):
        for message in connection:
            (self.messages if isinstance(message, bytes) else self.texts).append(message)
        self.done.set()

    def packets(self, models):
        assert self.done.wait(20), "the sender never closed the WebSocket"
        self.server.shutdown()
        self.thread.join(timeout=20)
        assert self.texts == [], "text messages are not the data stream's"
        packets = []
        for message in self.messages:
            packet = models.DataPacket()
            packet.ParseFromString(message)
            packets.append(packet)
        return packets


def test_websocket_sender_decoded_by_livekit_protocol():
    models = livekit_models()
    collector = Collector()
    text = "héllo over WebSocket 😊 " * 1500  # several chunks
    payload = bytes(range(256)) * 300
    with mt.DataStreamSender(collector.url) as sender:
        sent_text = sender.send_text(text, topic="chat", attributes={"via": "ws"})
        sent_bytes = sender.send_bytes(payload, "blob.bin", topic="files")
    packets = collector.packets(models)
    # One message per packet: a header, the chunks and a trailer per stream.
    assert len(packets) == len(collector.messages) >= 6
    got = streams(packets)
    header, content, trailer = got[sent_text["id"]]
    assert (header.topic, dict(header.attributes)) == ("chat", {"via": "ws"})
    assert header.WhichOneof("content_header") == "text_header"
    assert content.decode() == text and trailer is not None
    header, content, trailer = got[sent_bytes["id"]]
    assert header.byte_header.name == "blob.bin" and header.topic == "files"
    assert content == payload and trailer is not None


def test_websocket_receiver_reads_livekit_protocol_packets():
    m = livekit_models()
    client, _ = websockets_sync()
    content = "bonjour par WebSocket 😊 ".encode() * 1200  # 2 chunks
    with mt.DataStreamReceiver("ws-listen://127.0.0.1:0") as receiver:
        assert receiver.url.startswith("ws://127.0.0.1:")
        messages = [m.DataPacket(stream_header=m.DataStream.Header(
            stream_id="t-1", timestamp=1700000000000, topic="lk-chat",
            mime_type="text/plain", total_length=len(content),
            text_header=m.DataStream.TextHeader(operation_type=m.DataStream.CREATE)))]
        start, index = 0, 0
        while start < len(content):
            end = min(start + 15000, len(content))
            while end < len(content) and content[end] & 0xC0 == 0x80:
                end -= 1
            messages.append(m.DataPacket(stream_chunk=m.DataStream.Chunk(
                stream_id="t-1", chunk_index=index, content=content[start:end])))
            start, index = end, index + 1
        messages.append(m.DataPacket(stream_trailer=m.DataStream.Trailer(
            stream_id="t-1", reason="", attributes={"end": "yes"})))
        with client.connect(receiver.url + "/data") as ws:
            for message in messages:
                ws.send(message.SerializeToString())
            stream = receiver.next_stream(timeout=20)
            assert isinstance(stream, mt.TextStreamReader)
            assert (stream.info.id, stream.info.topic) == ("t-1", "lk-chat")
            assert stream.read_all(timeout=20) == content.decode()
            assert stream.info.attributes == {"end": "yes"}
            # A text message is not a data packet: the receiver ends with an error.
            ws.send("not a packet")
            with pytest.raises(mt.MediaToolkitError):
                receiver.next_stream(timeout=20)


def test_python_sender_to_python_receiver_over_websocket():
    payload = bytes(range(251)) * 1000
    with mt.DataStreamReceiver("ws-listen://127.0.0.1:0") as receiver:
        result = {}

        def send():
            with mt.DataStreamSender(receiver.url + "/") as sender:
                result["bytes"] = sender.send_bytes(payload, "p.bin", topic="t")

        thread = threading.Thread(target=send)
        thread.start()
        stream = receiver.next_stream(timeout=20)
        assert isinstance(stream, mt.ByteStreamReader)
        assert stream.info.name == "p.bin" and stream.info.topic == "t"
        assert stream.read_all(timeout=20) == payload
        thread.join(timeout=20)
        assert stream.info.id == result["bytes"]["id"]
        assert receiver.next_stream(timeout=20) is None
