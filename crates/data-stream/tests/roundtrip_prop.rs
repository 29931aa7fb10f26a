//! Property: any interleaving of several streams, cut into transport reads of any size,
//! round-trips exactly (content, info, trailer attributes) through writers, framing and
//! the demultiplexer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use data_stream::{
    Demultiplexer, Event, FrameDecoder, Limits, Outgoing, StreamInfo, StreamOptions, StreamType,
    TextInfo,
};
use futures::executor::block_on;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Content {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Spec {
    content: Content,
    chunk_size: usize,
    announce_length: bool,
    trailer_attr: Option<String>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let content = prop_oneof![
        ".{0,300}".prop_map(Content::Text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Content::Bytes),
    ];
    (
        content,
        4usize..700,
        any::<bool>(),
        proptest::option::of("[a-z]{1,5}"),
    )
        .prop_map(
            |(content, chunk_size, announce_length, trailer_attr)| Spec {
                content,
                chunk_size,
                announce_length,
                trailer_attr,
            },
        )
}

/// Writes one stream with the real writer; returns its frames (framed) and final info.
fn write(spec: &Spec, n: usize) -> (Vec<Bytes>, StreamInfo) {
    let (out, mut frames) = Outgoing::new(4096);
    let len = match &spec.content {
        Content::Text(t) => t.len(),
        Content::Bytes(b) => b.len(),
    };
    let options = {
        let mut options = StreamOptions::topic("p");
        options.chunk_size = spec.chunk_size;
        options.total_length = spec.announce_length.then_some(len as u64);
        options.attributes =
            HashMap::from([("n".into(), n.to_string()), ("t".into(), "header".into())]);
        options
    };
    let attrs: HashMap<String, String> = spec
        .trailer_attr
        .iter()
        .map(|v| ("t".to_owned(), v.clone()))
        .collect();
    let info = block_on(async {
        match &spec.content {
            Content::Text(t) => {
                let w = out.stream_text(TextInfo::default(), options).await.unwrap();
                w.write(t.clone()).await.unwrap();
                w.close("", attrs).await.unwrap()
            }
            Content::Bytes(b) => {
                let w = out.stream_bytes(format!("s{n}"), options).await.unwrap();
                w.write(b.clone()).await.unwrap();
                w.close("", attrs).await.unwrap()
            }
        }
    });
    let mut framed = Vec::new();
    while let Ok(frame) = frames.try_recv() {
        let mut buf = BytesMut::new();
        frame.write_framed(&mut buf, 1 << 20).unwrap();
        framed.push(buf.freeze());
    }
    (framed, info)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn interleaved_streams_round_trip(
        specs in proptest::collection::vec(spec(), 1..6),
        order in proptest::collection::vec(any::<u8>(), 0..400),
        reads in proptest::collection::vec(1usize..5000, 1..50),
    ) {
        let written: Vec<(Vec<Bytes>, StreamInfo)> = specs.iter().enumerate().map(|(n, s)| write(s, n)).collect();
        // Interleave: each step takes the next frame of a stream picked by `order`.
        let mut cursors = vec![0usize; written.len()];
        let mut wire = BytesMut::new();
        let mut step = 0;
        loop {
            let live: Vec<usize> = (0..written.len()).filter(|&i| cursors[i] < written[i].0.len()).collect();
            if live.is_empty() { break; }
            let pick = live[order.get(step).copied().unwrap_or(0) as usize % live.len()];
            wire.extend_from_slice(&written[pick].0[cursors[pick]]);
            cursors[pick] += 1;
            step += 1;
        }
        // Feed the transport in reads of arbitrary sizes.
        let mut demux = Demultiplexer::new(Limits::default());
        demux.register(StreamType::Text, "p").unwrap();
        demux.register(StreamType::Bytes, "p").unwrap();
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut pos = 0;
        let mut r = 0;
        while pos < wire.len() {
            let n = reads[r % reads.len()].min(wire.len() - pos);
            r += 1;
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                demux.handle_frame(frame, Instant::now()).unwrap();
                events.extend(std::iter::from_fn(|| demux.poll_event()));
            }
        }
        decoder.finish(&buf).unwrap();
        let mut content: HashMap<String, Vec<u8>> = HashMap::new();
        let mut finished: HashMap<String, StreamInfo> = HashMap::new();
        for event in events {
            match event {
                Event::Opened(info) => { content.insert(info.id, Vec::new()); }
                Event::Chunk { stream_id, content: c } => content.get_mut(&*stream_id).unwrap().extend_from_slice(&c),
                Event::Finished(info) => { finished.insert(info.id.clone(), info); }
                other => prop_assert!(false, "unexpected event {:?}", other),
            }
        }
        prop_assert_eq!(finished.len(), specs.len());
        for (spec, (_, info)) in specs.iter().zip(&written) {
            let expected: &[u8] = match &spec.content { Content::Text(t) => t.as_bytes(), Content::Bytes(b) => b };
            prop_assert_eq!(&content[&info.id][..], expected);
            prop_assert_eq!(&finished[&info.id], info);
        }
        prop_assert_eq!(demux.open_streams(), 0);
    }
}
