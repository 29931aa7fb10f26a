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
