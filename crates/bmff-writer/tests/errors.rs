//! Bad input gets a clear error, never a panic; the muxer stays usable after a rejected
//! sample.
#![allow(clippy::unwrap_used)]

use bmff_writer::{
    Bytes, Codec, Error, FragmentOptions, FragmentedMuxer, Mp4Options, Muxer, ParameterSets,
    Sample, TrackConfig,
};

fn aac() -> TrackConfig {
    TrackConfig::audio(
        Codec::Aac {
            audio_specific_config: Bytes::from_static(&[0x11, 0x90]),
        },
        48000,
        2,
    )
}

fn data() -> Bytes {
    Bytes::from_static(&[1, 2, 3])
}

#[test]
fn plain_muxer_rejects_bad_samples() {
    let mut m = Muxer::new(vec![aac()], Mp4Options::default()).unwrap();
    let e = m.push(Sample::new(3, 0, true, data())).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnknownTrack {
                track: 3,
                tracks: 1
            }
        ),
        "{e}"
    );
    let e = m.push(Sample::new(0, 0, true, Bytes::new())).unwrap_err();
    assert!(matches!(e, Error::EmptySample { track: 0, dts: 0 }), "{e}");
    m.push(Sample::new(0, 1024, true, data())).unwrap();
    let e = m.push(Sample::new(0, 1000, true, data())).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TimestampRegression {
                track: 0,
                previous: 1024,
                dts: 1000
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "track 0: decode time 1000 is not after the previous one (1024)"
    );
    let e = m.push(Sample::new(0, 1024, true, data())).unwrap_err();
    assert!(
        matches!(e, Error::TimestampRegression { .. }),
        "equal decode times: {e}"
    );
    let e = m
        .push(Sample::new(0, 1024 + (1 << 33), true, data()))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotRepresentable {
                what: "sample duration (dts gap)",
                ..
            }
        ),
        "{e}"
    );
    // Still usable.
    m.push(Sample::new(0, 2048, true, data())).unwrap();
    assert_eq!(m.sample_count(), 2);
    m.finish(false).unwrap();
    let e = m.push(Sample::new(0, 4096, true, data())).unwrap_err();
    assert!(matches!(e, Error::Finished), "{e}");
    assert!(matches!(m.finish(false), Err(Error::Finished)));
    assert!(matches!(m.set_codec(0, Codec::Mp3), Err(Error::Finished)));
}

#[test]
fn fragmented_muxer_rejects_bad_samples() {
    let avc = TrackConfig::video(
        Codec::Raw {
            entry: Bytes::from_static(&[0, 0, 0, 8, b'a', b'v', b'c', b'1']),
            kind: bmff_writer::TrackKind::Video,
        },
        90000,
        320,
        240,
    );
    let mut m = FragmentedMuxer::new(vec![avc, aac()], FragmentOptions::default()).unwrap();
    let e = m.push(Sample::new(0, 0, false, data())).unwrap_err();
    assert!(matches!(e, Error::NotKeyframe { track: 0, dts: 0 }), "{e}");
    m.push(Sample::new(0, 0, true, data())).unwrap();
    assert!(matches!(
        m.push(Sample::new(0, -5, false, data())),
        Err(Error::TimestampRegression { .. })
    ));
    assert!(matches!(
        m.push(Sample::new(2, 0, true, data())),
        Err(Error::UnknownTrack { .. })
    ));
    assert!(matches!(
        m.push(Sample::new(1, 0, true, Bytes::new())),
        Err(Error::EmptySample { .. })
    ));
    m.finish().unwrap();
    assert!(matches!(
        m.push(Sample::new(0, 9000, true, data())),
        Err(Error::Finished)
    ));
}

#[test]
fn bad_track_descriptions() {
    assert!(matches!(
        Muxer::new(vec![], Mp4Options::default()),
        Err(Error::NoTracks)
    ));
    let no_sps = TrackConfig::video(
        Codec::Avc(ParameterSets::Nal {
            vps: vec![],
            sps: vec![],
            pps: vec![],
        }),
        90000,
        320,
        240,
    );
    let e = Muxer::new(vec![no_sps], Mp4Options::default()).unwrap_err();
    assert_eq!(e.to_string(), "H.264: missing an SPS");
    let garbage = TrackConfig::video(
        Codec::Avc(ParameterSets::Nal {
            vps: vec![],
            sps: vec![Bytes::from_static(&[0x67, 0x64])],
            pps: vec![Bytes::from_static(&[0x68])],
        }),
        90000,
        320,
        240,
    );
    assert!(matches!(
        Muxer::new(vec![garbage], Mp4Options::default()),
        Err(Error::InvalidParameterSet { codec: "H.264", .. })
    ));
    let low = TrackConfig::audio(Codec::Mp3, 11025, 1);
    let e = FragmentedMuxer::new(vec![low], FragmentOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "MP3: sample rate 11025 Hz is not supported in MP4"
    );
    let zero = aac().with_timescale(0);
    assert!(matches!(
        Muxer::new(vec![zero], Mp4Options::default()),
        Err(Error::InvalidTrack { track: 0, .. })
    ));
    let raw = TrackConfig::video(
        Codec::Raw {
            entry: Bytes::from_static(&[0, 0, 0, 9, b'a']),
            kind: bmff_writer::TrackKind::Video,
        },
        90000,
        1,
        1,
    );
    assert!(matches!(
        Muxer::new(vec![raw], Mp4Options::default()),
        Err(Error::InvalidTrack { .. })
    ));
    // A codec change may not switch the track kind.
    let mut m = Muxer::new(vec![aac()], Mp4Options::default()).unwrap();
    let video = Codec::Raw {
        entry: Bytes::from_static(&[0, 0, 0, 8, b'a', b'v', b'c', b'1']),
        kind: bmff_writer::TrackKind::Video,
    };
    assert!(matches!(
        m.set_codec(0, video),
        Err(Error::InvalidTrack { .. })
    ));
}

#[test]
fn extreme_timestamps_are_errors_not_overflows() {
    // Decode times spanning the whole i64 range: the fragmented decode time (u64) cannot
    // hold the last sample's end.
    let mut m = FragmentedMuxer::new(vec![aac(), aac()], FragmentOptions::default()).unwrap();
    m.push(Sample::new(0, i64::MIN, true, data())).unwrap();
    m.push(Sample::new(1, i64::MAX - 10, true, data())).unwrap();
    m.push(Sample::new(1, i64::MAX, true, data()).with_duration(Some(u32::MAX)))
        .unwrap();
    let e = m.finish().unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotRepresentable {
                what: "tfdt base media decode time",
                ..
            }
        ),
        "{e}"
    );

    // Plain files take the same range without panicking.
    let mut m = Muxer::new(vec![aac(), aac()], Mp4Options::default()).unwrap();
    m.push(Sample::new(0, i64::MIN, true, data()).with_cts_offset(i32::MAX))
        .unwrap();
    m.push(Sample::new(1, i64::MAX, true, data()).with_cts_offset(i32::MIN))
        .unwrap();
    m.push(
        Sample::new(0, i64::MIN + i64::from(u32::MAX), true, data()).with_duration(Some(u32::MAX)),
    )
    .unwrap();
    let _ = m.finish(true);
}
