//! Unit tests of the plain muxer (index size, faststart offsets).

use super::*;
use crate::codec::TrackKind;

fn video() -> TrackConfig {
    let entry = Bytes::from_static(&[0, 0, 0, 8, b'a', b'v', b'c', b'1']);
    TrackConfig::video(
        Codec::Raw {
            entry,
            kind: TrackKind::Video,
        },
        90000,
        640,
        480,
    )
}

fn aac() -> TrackConfig {
    TrackConfig::audio(
        Codec::Aac {
            audio_specific_config: Bytes::from_static(&[0x11, 0x90]),
        },
        48000,
        2,
    )
}

fn find(moov: &[u8], fourcc: &[u8; 4]) -> bool {
    moov.windows(4).any(|w| w == fourcc)
}

#[test]
fn index_stays_under_16_bytes_per_sample() {
    // One hour: 30 fps video with B-frame offsets and jittered durations (the worst
    // case: no run-length gains), plus 48 kHz AAC.
    let mut m = Muxer::new(vec![video(), aac()], Mp4Options::default()).unwrap();
    let payload = Bytes::from(vec![0u8; 16 << 10]);
    let (mut v, mut a, mut vdts) = (0i64, 0i64, 0i64);
    while v < 30 * 3600 {
        let cts = [6000, 0, 3000][(v % 3) as usize];
        m.push(Sample {
            track: 0,
            dts: vdts,
            cts_offset: cts,
            duration: None,
            sync: v % 60 == 0,
            data: payload.clone(),
        })
        .unwrap();
        vdts += 2990 + (v % 7) * 3;
        v += 1;
        while a * 1024 * 90000 < vdts * 48000 {
            m.push(Sample::new(1, a * 1024, true, payload.slice(..400)))
                .unwrap();
            a += 1;
        }
        m.take_appends().for_each(drop);
    }
    let per_sample = m.index_heap_bytes() as f64 / m.sample_count() as f64;
    eprintln!(
        "index: {} samples, {per_sample:.2} bytes per sample",
        m.sample_count()
    );
    assert!(per_sample <= 16.0, "{per_sample} bytes per sample");
    let finish = m.finish(false).unwrap();
    assert!(find(&finish.moov, b"ctts") && find(&finish.moov, b"stss"));
}

#[test]
fn faststart_switches_to_co64_when_the_move_crosses_4_gib() {
    let big = Bytes::from(vec![0u8; 16 << 20]);
    let options = Mp4Options {
        max_chunk_bytes: 16 << 20,
        ..Mp4Options::default()
    };
    let build = || {
        let mut m = Muxer::new(vec![video()], options.clone()).unwrap();
        let header = m.position();
        let mut dts = 0;
        for i in 0..255 {
            m.push(Sample::new(0, dts, i == 0, big.clone())).unwrap();
            dts += 3000;
        }
        // Put the last chunk 100 bytes below 4 GiB: it fits in stco, until the moov
        // (well over 100 bytes) moves in front of it.
        let filler = u64::from(u32::MAX) - 100 - header - 255 * (16 << 20);
        m.push(Sample::new(0, dts, false, big.slice(..filler as usize)))
            .unwrap();
        m.push(Sample::new(0, dts + 90000, false, big.slice(..10)))
            .unwrap(); // a new chunk
        m.take_appends().for_each(drop);
        m
    };
    let end = build().finish(false).unwrap();
    assert!(find(&end.moov, b"stco") && !find(&end.moov, b"co64"));
    let fast = build().finish(true).unwrap();
    assert!(find(&fast.moov, b"co64") && !find(&fast.moov, b"stco"));
    assert_eq!(
        fast.moov_insert_at,
        Some(end.patches[0].offset - 8),
        "right after ftyp"
    );
    // The offsets account for the move by exactly the final moov size.
    let at = fast.moov.windows(4).position(|w| w == b"co64").unwrap();
    let first = u64::from_be_bytes(fast.moov[at + 12..at + 20].try_into().unwrap());
    assert_eq!(first, 44 + fast.moov.len() as u64);
}

/// The (empty edit present, media_time) of each `elst` in `moov`, in track order.
fn edit_lists(moov: &[u8]) -> Vec<(bool, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = moov[at..].windows(4).position(|w| w == b"elst") {
        let body = &moov[at + i + 4..];
        let version = body[0];
        let count = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        let entry = if version == 1 { 20 } else { 12 };
        let media_time = |e: usize| -> i64 {
            let b = &body[8 + e * entry..];
            if version == 1 {
                i64::from_be_bytes(b[8..16].try_into().unwrap())
            } else {
                i64::from(i32::from_be_bytes(b[4..8].try_into().unwrap()))
            }
        };
        out.push((count == 2 && media_time(0) == -1, media_time(count - 1)));
        at += i + 4;
    }
    out
}

#[test]
fn time_zero_hides_what_a_track_presents_before_it() {
    // Video first presented at 1/30 s (a B-frame delay of 3000 ticks); AAC from 0 on
    // the same line; time zero at 1/30 s: the audio's first 1600 ticks are hidden (as
    // ffmpeg hides priming), nothing delays the video.
    let options = Mp4Options {
        time_zero: Some((1600, 48000)),
        ..Mp4Options::default()
    };
    let mut m = Muxer::new(vec![video(), aac()], options).unwrap();
    let payload = Bytes::from_static(&[0; 64]);
    for i in 0..30 {
        let mut frame = Sample::new(0, i * 3000, i == 0, payload.clone());
        frame.cts_offset = 3000;
        m.push(frame).unwrap();
        m.push(Sample::new(1, i * 1600, true, payload.clone()))
            .unwrap();
    }
    let hidden = m.finish(false).unwrap();
    assert_eq!(edit_lists(&hidden.moov), [(false, 3000), (false, 1600)]);

    // Without a time zero the earliest sample (the audio at 0) starts the movie and the
    // video waits for its first frame.
    let mut m = Muxer::new(vec![video(), aac()], Mp4Options::default()).unwrap();
    for i in 0..30 {
        let mut frame = Sample::new(0, i * 3000, i == 0, payload.clone());
        frame.cts_offset = 3000;
        m.push(frame).unwrap();
        m.push(Sample::new(1, i * 1600, true, payload.clone()))
            .unwrap();
    }
    let finish = m.finish(false).unwrap();
    assert_eq!(edit_lists(&finish.moov), [(true, 3000)]);
}
