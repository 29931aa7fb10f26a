#!/usr/bin/env python3
"""Interop peer for the data-stream crate, using LiveKit's own PyPI package livekit-protocol.

  livekit_interop.py decode FILE   reads framed DataPackets (4-byte big-endian length + packet)
                                   written by the Rust crate and prints one JSON line per packet
                                   describing the message as LiveKit's classes decoded it.
  livekit_interop.py encode FILE   writes framed DataPackets built with LiveKit's classes and
                                   prints the same JSON description of each packet written.
  livekit_interop.py reassemble FILE  reads our framed DataPackets and rebuilds each stream as
                                   data streams v2 defines it (inline_content, or chunks in index
                                   order; raw deflate inflated with Python's zlib, wbits -15);
                                   prints one JSON line per stream: id, size, sha256, compression.
  livekit_interop.py encode-v2 FILE  writes v2 streams (single-packet plain and deflated, chunked
                                   deflated) and a byte stream numbered from 1 as the legacy
                                   Python SDK's ByteStreamWriter.write built it; prints one JSON
                                   line per stream with its content's sha256.

The Rust test (tests/livekit_python.rs) compares these descriptions with its own: messages, not bytes.
"""
import hashlib
import json
import struct
import sys
import zlib

from livekit.protocol import models


def describe(packet):
    """The fields of a data-stream DataPacket, in the JSON schema the Rust test builds too."""
    out = {
        "participant_identity": packet.participant_identity,
        "destination_identities": list(packet.destination_identities),
    }
    which = packet.WhichOneof("value")
    if which == "stream_header":
        h = packet.stream_header
        out.update(
            part="header",
            stream_id=h.stream_id,
            timestamp=h.timestamp,
            topic=h.topic,
            mime_type=h.mime_type,
            # Presence, not the proto3 default: absent (unknown) differs from 0.
            total_length=h.total_length if h.HasField("total_length") else None,
            attributes=dict(h.attributes),
            inline_content=h.inline_content.hex() if h.HasField("inline_content") else None,
            compression=h.compression,
        )
        kind = h.WhichOneof("content_header")
        if kind == "text_header":
            t = h.text_header
            out["text"] = {
                "operation_type": t.operation_type,
                "version": t.version,
                "reply_to_stream_id": t.reply_to_stream_id,
                "attached_stream_ids": list(t.attached_stream_ids),
                "generated": t.generated,
            }
        elif kind == "byte_header":
            out["byte"] = {"name": h.byte_header.name}
    elif which == "stream_chunk":
        c = packet.stream_chunk
        out.update(part="chunk", stream_id=c.stream_id, chunk_index=c.chunk_index, content=c.content.hex())
    elif which == "stream_trailer":
        t = packet.stream_trailer
        out.update(part="trailer", stream_id=t.stream_id, reason=t.reason, attributes=dict(t.attributes))
    else:
        out["part"] = which
    return out


def read_frames(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        yield data[pos + 4 : pos + 4 + n]
        pos += 4 + n


def decode(path):
    for frame in read_frames(path):
        packet = models.DataPacket()
        packet.ParseFromString(frame)
        print(json.dumps(describe(packet), sort_keys=True))


def packets():
    DS = models.DataStream
    env = {"participant_identity": "py", "destination_identities": ["rust"]}
    text = "héllo😊".encode()
    yield models.DataPacket(
        **env,
        stream_header=DS.Header(
            stream_id="py-text",
            timestamp=1700000000123,
            topic="chat",
            mime_type="text/plain",
            total_length=len(text),
            attributes={"k": "v", "lang": "fr"},
            text_header=DS.TextHeader(
                operation_type=DS.UPDATE,
                version=3,
                reply_to_stream_id="r1",
                attached_stream_ids=["a1", "a2"],
                generated=True,
            ),
        ),
    )
    # Split inside nothing: "héllo" then the emoji, as LiveKit's writers would at size 6.
    yield models.DataPacket(**env, stream_chunk=DS.Chunk(stream_id="py-text", chunk_index=0, content=text[:6]))
    yield models.DataPacket(**env, stream_chunk=DS.Chunk(stream_id="py-text", chunk_index=1, content=text[6:]))
    yield models.DataPacket(**env, stream_trailer=DS.Trailer(stream_id="py-text", attributes={"k": "v2"}))
    # Zero total length is present, and differs from unknown.
    yield models.DataPacket(
        stream_header=DS.Header(
            stream_id="py-empty", topic="files", total_length=0, byte_header=DS.ByteHeader(name="empty.bin")
        )
    )
    yield models.DataPacket(stream_trailer=DS.Trailer(stream_id="py-empty"))
    yield models.DataPacket(
        stream_header=DS.Header(stream_id="py-bin", topic="files", byte_header=DS.ByteHeader(name="data.bin"))
    )
    yield models.DataPacket(stream_chunk=DS.Chunk(stream_id="py-bin", chunk_index=0, content=bytes(range(256))))
    yield models.DataPacket(stream_trailer=DS.Trailer(stream_id="py-bin", reason="aborted"))


def encode(path):
    with open(path, "wb") as f:
        for packet in packets():
            raw = packet.SerializeToString()
            f.write(struct.pack(">I", len(raw)) + raw)
            print(json.dumps(describe(packet), sort_keys=True))


def reassemble(path):
    streams = {}
    order = []
    for frame in read_frames(path):
        packet = models.DataPacket()
        packet.ParseFromString(frame)
        which = packet.WhichOneof("value")
        if which == "stream_header":
            h = packet.stream_header
            s = {"header": h, "chunks": [], "done": False}
            streams[h.stream_id] = s
            order.append(h.stream_id)
            if h.HasField("inline_content"):
                s["chunks"].append((0, h.inline_content))
                s["done"] = True
        elif which == "stream_chunk":
            c = packet.stream_chunk
            streams[c.stream_id]["chunks"].append((c.chunk_index, c.content))
        elif which == "stream_trailer":
            streams[packet.stream_trailer.stream_id]["done"] = packet.stream_trailer.reason == ""
    for sid in order:
        s = streams[sid]
        h = s["header"]
        indexes = [i for i, _ in s["chunks"]]
        assert indexes == list(range(len(indexes))), f"{sid}: chunk indexes {indexes}"
        content = b"".join(c for _, c in s["chunks"])
        if h.compression == models.DataStream.DEFLATE_RAW:
            d = zlib.decompressobj(-15)
            content = d.decompress(content)
            assert d.eof and not d.unused_data, f"{sid}: deflate stream not ended cleanly"
        out = {
            "stream_id": sid,
            "kind": h.WhichOneof("content_header"),
            "inline": h.HasField("inline_content"),
            "compression": h.compression,
            "chunks": len(s["chunks"]) if not h.HasField("inline_content") else 0,
            "total_length": h.total_length if h.HasField("total_length") else None,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "complete": s["done"],
            "header_size": len(models.DataPacket(stream_header=h).SerializeToString()),
        }
        if h.WhichOneof("content_header") == "text_header":
            out["attached_stream_ids"] = list(h.text_header.attached_stream_ids)
        print(json.dumps(out, sort_keys=True))


def deflate_raw(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def v2_streams():
    """(stream id, content, packets) for each v2 or legacy stream LiveKit's senders make."""
    DS = models.DataStream
    text = "héllo v2 😊 " * 3
    yield "py-inline", text.encode(), [
        models.DataPacket(stream_header=DS.Header(
            stream_id="py-inline", topic="chat", mime_type="text/plain", total_length=len(text.encode()),
            text_header=DS.TextHeader(), inline_content=text.encode()))
    ]
    long_text = ("compressible words " * 500).encode()
    yield "py-inline-z", long_text, [
        models.DataPacket(stream_header=DS.Header(
            stream_id="py-inline-z", topic="chat", mime_type="text/plain", total_length=len(long_text),
            text_header=DS.TextHeader(), compression=DS.DEFLATE_RAW, inline_content=deflate_raw(long_text)))
    ]
    data = bytes((i * 7 + i // 1000) % 256 for i in range(300_000)) + bytes(range(256)) * 200
    packed = deflate_raw(data)
    packets = [models.DataPacket(stream_header=DS.Header(
        stream_id="py-chunked-z", topic="files", mime_type="application/octet-stream", total_length=len(data),
        byte_header=DS.ByteHeader(name="data.bin"), compression=DS.DEFLATE_RAW))]
    for i in range(0, len(packed), 15_000):
        packets.append(models.DataPacket(stream_chunk=DS.Chunk(
            stream_id="py-chunked-z", chunk_index=i // 15_000, content=packed[i:i + 15_000])))
    packets.append(models.DataPacket(stream_trailer=DS.Trailer(stream_id="py-chunked-z")))
    yield "py-chunked-z", data, packets
    # The legacy SDK's ByteStreamWriter.write (before python-sdks #430), step for step:
    # the index is incremented before the chunk is built, so the first chunk is 1.
    legacy = bytes(range(256)) * 150
    packets = [models.DataPacket(stream_header=DS.Header(
        stream_id="py-legacy", topic="files", mime_type="application/octet-stream", total_length=len(legacy),
        byte_header=DS.ByteHeader(name="legacy.bin")))]
    next_chunk_index = 0
    for chunk in [legacy[i:i + 15_000] for i in range(0, len(legacy), 15_000)]:
        next_chunk_index += 1
        packets.append(models.DataPacket(stream_chunk=DS.Chunk(
            stream_id="py-legacy", chunk_index=next_chunk_index, content=chunk)))
    packets.append(models.DataPacket(stream_trailer=DS.Trailer(stream_id="py-legacy")))
    yield "py-legacy", legacy, packets


def encode_v2(path):
    with open(path, "wb") as f:
        for sid, content, packets in v2_streams():
            for packet in packets:
                raw = packet.SerializeToString()
                f.write(struct.pack(">I", len(raw)) + raw)
            print(json.dumps({"stream_id": sid, "size": len(content),
                              "sha256": hashlib.sha256(content).hexdigest(), "packets": len(packets)}))


if __name__ == "__main__":
    modes = {"decode": decode, "encode": encode, "reassemble": reassemble, "encode-v2": encode_v2}
    modes[sys.argv[1]](sys.argv[2])
