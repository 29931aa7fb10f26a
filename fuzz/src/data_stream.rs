//! data-stream targets: the frame decoder with packet decoding (any split of the input,
//! decoded packets re-encode to themselves), and the demultiplexer (any packets, bounded
//! state, every check an error and never a panic).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use data_stream::{Demultiplexer, Envelope, Event, FrameDecoder, Limits, Packet, StreamType};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("data_stream_frames", data_stream_frames),
    ("data_stream_demux", data_stream_demux),
];

/// Frame decoder: the first byte picks the read size; the same frames come out whatever
/// the split, and every packet that decodes re-encodes to an equal packet.
pub fn data_stream_frames(data: &[u8]) {
    let Some((&seed, data)) = data.split_first() else {
        return;
    };
    let read = usize::from(seed) % 97 + 1;
    let whole = frames(data, data.len().max(1));
    let split = frames(data, read);
    assert_eq!(whole, split, "framing depends on how the input was split");
    for frame in split.into_iter().flatten() {
        if let Ok(Some(packet)) = Packet::decode(frame.into()) {
            let again = packet.to_frame(&Envelope::default());
            let mut joined = again.head.to_vec();
            joined.extend_from_slice(&again.body);
            assert_eq!(
                Packet::decode(joined.into()),
                Ok(Some(packet)),
                "re-encoding changed the packet"
            );
        }
    }
}

/// Frames (or the error that stopped the decoder) when fed `read` bytes at a time.
fn frames(data: &[u8], read: usize) -> Result<Vec<Vec<u8>>, data_stream::Error> {
    let mut decoder = FrameDecoder::new(4096);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(read) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf)? {
            out.push(frame.to_vec());
        }
    }
    decoder.finish(&buf)?;
    Ok(out)
}

/// Demultiplexer: framed packets with small limits; time advances one second per frame
/// and timeouts are handled; open streams never exceed the limit.
pub fn data_stream_demux(data: &[u8]) {
    let limits = Limits {
        max_frame_size: 4096,
        max_header_size: 512,
        max_chunk_size: 256,
        max_stream_size: 2048,
        max_open_streams: 4,
        inactivity_timeout: Some(Duration::from_secs(5)),
        stream_buffer_chunks: 2,
    };
    let mut demux = Demultiplexer::new(limits);
    let _ = demux.register(StreamType::Text, "");
    let _ = demux.register(StreamType::Bytes, "a");
    let mut decoder = FrameDecoder::new(4096);
    let mut buf = BytesMut::from(data);
    let mut now = Instant::now();
    let mut received = std::collections::HashMap::<String, u64>::new();
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        now += Duration::from_secs(1);
        if demux.handle_frame(frame, now).is_err() {
            break;
        }
        demux.handle_timeout(now);
        assert!(demux.open_streams() <= 4);
        while let Some(event) = demux.poll_event() {
            if let Event::Chunk { stream_id, content } = event {
                assert!(content.len() <= 256);
                let total = received.entry(stream_id).or_default();
                *total += content.len() as u64;
                assert!(*total <= 2048);
            }
        }
    }
    demux.close("end of input");
    while demux.poll_event().is_some() {}
    assert_eq!(demux.open_streams(), 0);
}
