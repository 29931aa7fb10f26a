//! data-stream targets: the frame decoder with packet decoding (any split of the input,
//! decoded packets re-encode to themselves), and the demultiplexer (any packets, bounded
//! state, every check an error and never a panic), including data streams v2: the same
//! input also goes in as a raw-deflate stream (the bytes as deflate data, and the bytes
//! deflated, so highly compressible input makes deflate bombs) and as single-packet
//! streams; inflated pieces and totals stay within the limits.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use data_stream::compression::deflate_raw;
use data_stream::{
    Chunk, Demultiplexer, Envelope, Event, FrameDecoder, Header, Limits, Packet, StreamInfo,
    StreamKind, StreamType, TextInfo, Trailer,
};

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
    demux_framed(data);
    demux_v2(data);
}

fn small_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_frame_size = 4096;
    limits.max_header_size = 512;
    limits.max_chunk_size = 256;
    limits.max_stream_size = 2048;
    limits.max_open_streams = 4;
    limits.inactivity_timeout = Some(Duration::from_secs(5));
    limits.stream_buffer_chunks = 2;
    limits
}

fn demux_framed(data: &[u8]) {
    let mut demux = Demultiplexer::new(small_limits());
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
                let total = received.entry(stream_id.to_string()).or_default();
                *total += content.len() as u64;
                assert!(*total <= 2048);
            }
        }
    }
    demux.close("end of input");
    while demux.poll_event().is_some() {}
    assert_eq!(demux.open_streams(), 0);
}

/// v2 streams made of the input: the first byte picks the chunk size and the kind; the
/// rest is sent as deflate data as it is, deflated (a bomb when it repeats), and inline
/// (plain and deflated). Pieces stay under the chunk limit and each stream's total under
/// the stream limit, whatever the input.
fn demux_v2(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(seed & 0x3f) * 7 + 1;
    let kind = match seed & 0x40 {
        0 => StreamKind::Bytes { name: "n".into() },
        _ => StreamKind::Text(TextInfo::default()),
    };
    let total = (seed & 0x80 != 0).then_some(rest.len() as u64);
    let raw = Bytes::copy_from_slice(rest);
    // Repeat the input so that a short one can still inflate past the stream limit.
    let bomb: Vec<u8> = rest.iter().copied().cycle().take(rest.len() * 64).collect();
    let contents = [raw.clone(), deflate_raw(rest), deflate_raw(&bomb)];
    let mut demux = Demultiplexer::new(small_limits());
    let _ = demux.register_fallback(StreamType::Text);
    let _ = demux.register_fallback(StreamType::Bytes);
    let now = Instant::now();
    let mut received = std::collections::HashMap::<String, u64>::new();
    let mut check = |demux: &mut Demultiplexer| {
        while let Some(event) = demux.poll_event() {
            if let Event::Chunk { stream_id, content } = event {
                assert!(content.len() <= 256, "piece over the chunk limit");
                let total = received.entry(stream_id.to_string()).or_default();
                *total += content.len() as u64;
                assert!(*total <= 2048, "stream over the stream limit");
            }
        }
    };
    for (n, content) in contents.iter().enumerate() {
        let id = format!("z{n}");
        let header = |inline: Option<Bytes>, compression| {
            let info = StreamInfo::new(id.clone(), kind.clone()).with_total_length(total);
            let mut header = Header::new(info);
            header.inline_content = inline;
            header.compression = compression;
            Packet::Header(Box::new(header))
        };
        let mut packets = vec![header(None, 1)];
        for (index, piece) in content.chunks(chunk).enumerate() {
            packets.push(Packet::Chunk(Chunk::new(
                id.clone(),
                index as u64,
                content.slice_ref(piece),
            )));
        }
        packets.push(Packet::Trailer(Trailer::new(id.clone())));
        for packet in packets {
            demux.handle_packet(packet, 64, now).ok();
            check(&mut demux);
        }
        for (m, compression) in [(0, 0), (1, 1)] {
            let inline = header(Some(content.clone()), compression);
            let Packet::Header(mut h) = inline else {
                continue;
            };
            h.info.id = format!("i{n}-{m}");
            let size = 64 + content.len();
            demux.handle_packet(Packet::Header(h), size, now).ok();
            check(&mut demux);
        }
    }
    demux.close("end of input");
    check(&mut demux);
    assert_eq!(demux.open_streams(), 0);
}
