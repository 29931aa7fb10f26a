//! Property test: whatever frames go into the muxer come out of the demuxer, in order,
//! with their times, random access flags and payload bytes, however the stream is sliced,
//! as a transport stream or as BDAV (`.m2ts`: a 4-byte arrival time before each packet).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use mpeg_ts::{Demuxer, Event, Frame, Muxer, StreamType, TIME_OFFSET};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Input {
    stream: usize,
    dts: i64,
    cts: i64,
    key: bool,
    pieces: Vec<Vec<u8>>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        0usize..2,
        0i64..90_000,
        0i64..20_000,
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..4),
    )
        .prop_map(|(stream, dts, cts, key, pieces)| Input {
            stream,
            dts,
            cts,
            key,
            pieces,
        })
}

proptest! {
    #[test]
    fn mux_then_demux_gives_the_frames_back(
        mut frames in prop::collection::vec(input(), 1..30),
        start in 0i64..1 << 34,
        slice in 1usize..1000,
        bdav in any::<bool>(),
    ) {
        // Decode times rise by up to a second a frame from any start, across the 33-bit
        // wrap too (`dts` holds the step); payloads are not empty.
        let mut dts = start;
        for f in &mut frames {
            dts += f.dts;
            f.dts = dts;
            f.pieces[0].insert(0, 0xAB);
        }
        let mut muxer = Muxer::new(&[StreamType::H264, StreamType::AacAdts]).unwrap();
        let mut ts = Vec::new();
        for f in &frames {
            let pieces: Vec<Bytes> = f.pieces.iter().cloned().map(Bytes::from).collect();
            let frame = Frame::new(f.stream, f.dts, f.key, &pieces).with_pts(f.dts + f.cts);
            muxer.write(&frame, &mut ts).unwrap();
        }
        prop_assert_eq!(ts.len() % 188, 0);
        if bdav {
            // Arrival times that hold 0x47 bytes now and then, as real ones do.
            let time = |i: usize| (i as u32).wrapping_mul(0x0147_4747).to_be_bytes();
            let packets = ts.chunks(188).enumerate();
            ts = packets.flat_map(|(i, p)| [&time(i)[..], p].concat()).collect();
        }
        let mut demuxer = Demuxer::new();
        for chunk in ts.chunks(slice) {
            demuxer.push(chunk).unwrap();
        }
        demuxer.finish().unwrap();
        let out: Vec<_> = std::iter::from_fn(|| demuxer.poll())
            .filter_map(|e| match e { Event::Frame(f) => Some(f), _ => None })
            .collect();
        prop_assert_eq!(out.len(), frames.len());
        // In order per stream (a video PES without a length is handed out when the next
        // one starts, so the order across streams may differ).
        let mut frames = frames;
        frames.sort_by_key(|f| f.stream);
        let mut out = out;
        out.sort_by_key(|f| f.stream);
        // The demuxer unwraps 33-bit times relative to the first one it sees.
        let base = out[0].dts.unwrap() - (frames[0].dts + TIME_OFFSET);
        for (f, o) in frames.iter().zip(&out) {
            let payload: Vec<u8> = f.pieces.concat();
            prop_assert_eq!(o.stream, f.stream);
            prop_assert_eq!(&o.data[..], &payload[..]);
            prop_assert_eq!(o.dts.unwrap() - base, f.dts + TIME_OFFSET);
            prop_assert_eq!(o.pts.unwrap() - base, f.dts + f.cts + TIME_OFFSET);
            prop_assert_eq!(o.random_access, f.key);
        }
    }
}
