//! Property tests: arbitrary sample sequences over 1–3 tracks give plain and fragmented
//! files that shiguredo_mp4's demuxers (and, for plain files, Mozilla's mp4parse) read back
//! exactly: payload bytes, sync flags, decode times, composition offsets, durations.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bmff_writer::{
    Bytes, Codec, FragmentOptions, FragmentedWriter, Mp4Options, Mp4Writer, OpusConfig, Sample,
    TrackConfig,
};
use common::{demux_fragmented, demux_plain, mp4parse_tables};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Step {
    delta: u32,
    cts: i32,
    sync: bool,
    data: Vec<u8>,
}

fn track_config(kind: u8) -> TrackConfig {
    match kind {
        0 => common::fixture_track("h264.mp4", 0).0,
        1 => TrackConfig::audio(
            Codec::Aac {
                audio_specific_config: Bytes::from_static(&[0x11, 0x90]),
            },
            48000,
            2,
        ),
        2 => TrackConfig::audio(Codec::Opus(OpusConfig::new(2, 312)), 48000, 2),
        _ => TrackConfig::audio(
            Codec::Aac {
                audio_specific_config: Bytes::from_static(&[0x12, 0x10]),
            },
            44100,
            2,
        )
        .with_timescale(90000),
    }
}

fn steps(video: bool) -> impl Strategy<Value = Vec<Step>> {
    let step = (
        1u32..6000,
        -500i32..3000,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 1..64),
    )
        .prop_map(move |(delta, cts, sync, data)| Step {
            delta,
            cts: if video { cts } else { 0 },
            sync: sync || !video,
            data,
        });
    prop::collection::vec(step, 1..40)
}

fn scenario() -> impl Strategy<Value = Vec<(u8, i64, Vec<Step>)>> {
    prop::collection::vec((0u8..4, 0i64..20000), 1..=3).prop_flat_map(|tracks| {
        tracks
            .into_iter()
            .map(|(kind, start)| steps(kind == 0).prop_map(move |s| (kind, start, s)))
            .collect::<Vec<_>>()
    })
}

/// Our tracks and samples; the first video sample is a key frame (fragments need one).
fn build(scenario: &[(u8, i64, Vec<Step>)]) -> Vec<(TrackConfig, Vec<Sample>)> {
    scenario
        .iter()
        .enumerate()
        .map(|(i, (kind, start, steps))| {
            let mut dts = *start;
            let samples = steps
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    let sample = Sample::new(i, dts, s.sync || n == 0, Bytes::from(s.data.clone()))
                        .with_cts_offset(s.cts)
                        .with_duration(Some(s.delta));
                    dts += i64::from(s.delta);
                    sample
                })
                .collect();
            (track_config(*kind), samples)
        })
        .collect()
}

fn expect_read(read: &[common::ReadTrack], tracks: &[(TrackConfig, Vec<Sample>)]) {
    assert_eq!(read.len(), tracks.len());
    for (r, (c, samples)) in read.iter().zip(tracks) {
        assert_eq!(r.timescale, c.timescale);
        assert_eq!(r.samples.len(), samples.len());
        let base = r.samples[0].dts;
        for (i, (got, want)) in r.samples.iter().zip(samples).enumerate() {
            assert_eq!(got.data, want.data);
            assert_eq!(got.sync, want.sync);
            assert_eq!(got.dts - base, want.dts - samples[0].dts);
            assert_eq!(got.cts, i64::from(want.cts_offset));
            let duration = samples
                .get(i + 1)
                .map_or(want.duration.unwrap(), |n| (n.dts - want.dts) as u32);
            assert_eq!(got.duration, duration);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plain_files_read_back_exactly(s in scenario(), faststart in any::<bool>()) {
        let tracks = build(&s);
        let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
        let mut options = Mp4Options::default();
        options.interleave = Duration::from_millis(50);
        let mut w = Mp4Writer::new(std::io::Cursor::new(Vec::new()), configs, options).unwrap();
        for sample in common::interleave(&tracks) {
            w.push(sample).unwrap();
        }
        let bytes = if faststart { w.finish_faststart() } else { w.finish() }.unwrap().into_inner();
        expect_read(&demux_plain(&bytes), &tracks);
        let tables = mp4parse_tables(&bytes);
        for ((_, rows), (_, samples)) in tables.iter().zip(&tracks) {
            prop_assert_eq!(rows.len(), samples.len());
            for (r, s) in rows.iter().zip(samples) {
                prop_assert_eq!(&bytes[r.0 as usize..(r.0 + r.1) as usize], &s.data[..]);
                prop_assert_eq!(r.4, s.sync);
                prop_assert_eq!(r.2, s.dts - samples[0].dts);
            }
        }
    }

    #[test]
    fn fragmented_files_read_back_exactly(s in scenario(), sidx in any::<bool>()) {
        let tracks = build(&s);
        let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
        let mut options = FragmentOptions::default();
        options.fragment_duration = Duration::from_millis(100);
        options.sidx = sidx;
        options.mfra = sidx;
        let mut w = FragmentedWriter::new(Vec::new(), configs, options).unwrap();
        for sample in common::interleave(&tracks) {
            w.push(sample).unwrap();
        }
        let bytes = w.finish().unwrap();
        expect_read(&demux_fragmented(&bytes), &tracks);
    }
}
