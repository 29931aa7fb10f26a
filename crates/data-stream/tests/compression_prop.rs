//! Properties of data streams v2 compression: whatever the content (compressible or
//! not), the chunk size and the v2 support of the recipients, what our one-shot sends
//! write comes back exactly through framing (cut into reads of any size) and the
//! demultiplexer; and a raw-deflate stream cut into chunks at arbitrary places inflates
//! to the same content.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use data_stream::compression::deflate_raw;
use data_stream::{
    Chunk, Demultiplexer, Envelope, Event, FrameDecoder, Header, Limits, Outgoing, Packet,
    StreamInfo, StreamKind, StreamOptions, StreamType, Trailer, V2Support,
};
use futures::executor::block_on;
use proptest::prelude::*;

/// Content from a small alphabet repeated in runs: anything from incompressible to very
/// compressible.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40_000),
        proptest::collection::vec((0u8..4, 1usize..300), 0..400).prop_map(|runs| runs
            .into_iter()
            .flat_map(|(b, n)| std::iter::repeat_n(b'a' + b, n))
            .collect()),
    ]
}

fn support() -> impl Strategy<Value = V2Support> {
    (any::<bool>(), any::<bool>()).prop_map(|(single_packet, deflate)| {
        let mut support = V2Support::default();
        support.single_packet = single_packet;
        support.deflate_raw = single_packet && deflate;
        support
    })
}

/// Runs framed bytes through the decoder in reads of `read` bytes; returns the content of
/// every finished stream, in order, and checks that no failure happened.
fn receive(wire: &[u8], read: usize) -> Vec<(StreamInfo, Vec<u8>)> {
    let mut demux = Demultiplexer::new(Limits::default());
    demux.register_fallback(StreamType::Bytes).unwrap();
    demux.register_fallback(StreamType::Text).unwrap();
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut contents = std::collections::HashMap::<String, Vec<u8>>::new();
    let mut finished = Vec::new();
    for piece in wire.chunks(read.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            demux.handle_frame(frame, Instant::now()).unwrap();
            while let Some(event) = demux.poll_event() {
                match event {
                    Event::Chunk { stream_id, content } => contents
                        .entry(stream_id.to_string())
                        .or_default()
                        .extend(&content),
                    Event::Finished(info) => {
                        let content = contents.remove(&info.id).unwrap_or_default();
                        finished.push((info, content));
                    }
                    Event::Failed { error, .. } => panic!("{error}"),
                    _ => {}
                }
            }
        }
    }
    finished
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn one_shot_sends_round_trip(
        data in content(),
        chunk_size in 4usize..20_000,
        support in support(),
        read in 1usize..70_000,
        as_text in any::<bool>(),
    ) {
        let (out, mut frames) = Outgoing::new(100_000);
        let out = out.with_v2(support);
        let options = { let mut options = StreamOptions::topic("p"); options.chunk_size = chunk_size; options };
        let text = String::from_utf8_lossy(&data).into_owned();
        let sent = block_on(async {
            match as_text {
                true => out.send_text(text.clone(), options).await,
                false => out.send_bytes("b", data.clone(), options).await,
            }
        }).unwrap();
        drop(out);
        let mut wire = BytesMut::new();
        let mut packets = 0;
        while let Ok(frame) = frames.try_recv() {
            frame.write_framed(&mut wire, 1 << 20).unwrap();
            packets += 1;
        }
        let expected = if as_text { text.into_bytes() } else { data };
        if support.single_packet && wire.len() <= 15_004 {
            prop_assert_eq!(packets, 1, "fits one packet, so it is one");
        }
        let got = receive(&wire, read);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].0.id, &sent.id);
        prop_assert_eq!(got[0].0.total_length, Some(expected.len() as u64));
        prop_assert_eq!(&got[0].1, &expected);
    }

    #[test]
    fn deflate_stream_cut_anywhere_inflates(data in content(), cuts in proptest::collection::vec(1usize..5_000, 1..40)) {
        let packed = deflate_raw(&data);
        let info = StreamInfo::new("z", StreamKind::Bytes { name: "z".into() })
            .with_total_length(Some(data.len() as u64));
        let mut header = Header::new(info);
        header.compression = 1;
        let mut packets = vec![Packet::Header(Box::new(header))];
        let mut rest: Bytes = packed;
        for (index, cut) in cuts.iter().cycle().enumerate() {
            if rest.is_empty() {
                break;
            }
            let piece = rest.split_to((*cut).min(rest.len()));
            let index = index as u64;
            packets.push(Packet::Chunk(Chunk::new("z", index, piece)));
        }
        packets.push(Packet::Trailer(Trailer::new("z")));
        let mut wire = BytesMut::new();
        for p in &packets {
            p.to_frame(&Envelope::default()).write_framed(&mut wire, 1 << 20).unwrap();
        }
        let got = receive(&wire, 65_536);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].1, &data);
    }
}
