#!/usr/bin/env python3
"""Interop peer for the data-stream crate, using LiveKit's own PyPI package livekit-protocol.

  livekit_interop.py decode FILE   reads framed DataPackets (4-byte big-endian length + packet)
                                   written by the Rust crate and prints one JSON line per packet
                                   describing the message as LiveKit's classes decoded it.
  livekit_interop.py encode FILE   writes framed DataPackets built with LiveKit's classes and
                                   prints the same JSON description of each packet written.

The Rust test (tests/livekit_python.rs) compares these descriptions with its own: messages, not bytes.
"""
import json
import struct
import sys

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


if __name__ == "__main__":
    {"decode": decode, "encode": encode}[sys.argv[1]](sys.argv[2])
