//! What we write, read back by an independent demuxer (crates.io `matroska-demuxer`):
//! header, tracks and every frame's track, time, key flag and bytes; a file cut before
//! `finish` (a killed recorder) reads to its last whole cluster.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use matroska::{Codec, DocType, Frame, Options, Pipe, Track, Writer, recover, scan};
use matroska_demuxer::{MatroskaFile, TrackType};
use proptest::prelude::*;

/// An `OpusHead`: version 1, 2 channels, pre-skip 312, 48 kHz, gain 0, mapping 0.
const OPUS_HEAD: [u8; 19] = [
    b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 2, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 0,
];

/// A file's frames as the demuxer reads them: (track number, time ms, key, bytes).
type Read = Vec<(u64, u64, bool, Vec<u8>)>;

/// The frames of each track in their order (a cluster's blocks are merged by time across
/// tracks, each track's own order kept).
fn by_track(frames: &[(u64, u64, bool, Vec<u8>)]) -> Vec<Read> {
    let mut tracks: Vec<Read> = vec![Vec::new(); 2];
    for f in frames {
        tracks[f.0 as usize - 1].push(f.clone());
    }
    tracks
}

/// Whether `part` holds, track by track, the first frames of `all`.
fn starts(all: &[(u64, u64, bool, Vec<u8>)], part: &[(u64, u64, bool, Vec<u8>)]) -> bool {
    by_track(all)
        .iter()
        .zip(by_track(part))
        .all(|(a, p)| a.starts_with(&p))
}

fn read_back(bytes: Vec<u8>) -> (MatroskaFile<Cursor<Vec<u8>>>, Read) {
    let mut file = MatroskaFile::open(Cursor::new(bytes)).unwrap();
    let mut frames = Vec::new();
    let mut frame = matroska_demuxer::Frame::default();
    while file.next_frame(&mut frame).unwrap() {
        frames.push((
            frame.track,
            frame.timestamp,
            frame.is_keyframe.unwrap(),
            frame.data.clone(),
        ));
    }
    (file, frames)
}

/// 12 s of 25 fps video with B-frames (decode order I P B B …, key frame every 50) and
/// 20 ms audio frames, interleaved by decode time, as (track, time ns, key, bytes).
fn av_frames() -> Vec<(usize, i64, bool, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut audio = 0i64;
    for n in 0..300i64 {
        let dts = n * 40_000_000;
        // Decode order I B P B P …: each even frame is shown after the odd one after it.
        let pts = dts + if n % 2 == 0 { 80_000_000 } else { 0 };
        frames.push((0, pts, n % 50 == 0, vec![(n % 251) as u8; 100 + n as usize]));
        while audio <= dts {
            frames.push((1, audio, true, vec![0xFC, (audio / 20_000_000) as u8]));
            audio += 20_000_000;
        }
    }
    frames
}

fn tracks() -> Vec<Track> {
    vec![
        Track::video(Codec::Vp9, 640, 360),
        Track::audio(Codec::Opus, 48_000, 2)
            .with_private(OPUS_HEAD.to_vec())
            .with_codec_delay(6_500_000),
    ]
}

#[test]
fn an_independent_demuxer_reads_back_every_frame() {
    let mut options = Options::default();
    options.doc_type = DocType::Webm;
    let mut writer = Writer::new(Cursor::new(Vec::new()), tracks(), &options).unwrap();
    let frames = av_frames();
    for (track, time, key, data) in &frames {
        writer.write(Frame::new(*track, *time, *key, data)).unwrap();
    }
    let (file, read) = read_back(writer.finish().unwrap().into_inner());
    assert_eq!(file.ebml_header().doc_type(), "webm");
    assert_eq!(file.info().timestamp_scale().get(), 1_000_000);
    // The last frame shown is at 11.92 s + 80 ms and lasts 40 ms.
    assert_eq!(file.info().duration(), Some(12_040.0));
    let t = file.tracks();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].codec_id(), t[0].track_type()),
        ("V_VP9", TrackType::Video)
    );
    assert_eq!(t[0].video().unwrap().pixel_width().get(), 640);
    assert_eq!(t[1].codec_id(), "A_OPUS");
    assert_eq!(t[1].codec_private(), Some(&OPUS_HEAD[..]));
    assert_eq!(t[1].codec_delay(), Some(6_500_000));
    assert_eq!(t[1].seek_pre_roll(), Some(80_000_000));
    let want: Read = frames
        .iter()
        .map(|(track, time, key, data)| {
            (
                *track as u64 + 1,
                (*time / 1_000_000) as u64,
                *key,
                data.clone(),
            )
        })
        .collect();
    assert_eq!(by_track(&read), by_track(&want));
}

/// A `Write + Seek` whose bytes the test can see while the writer holds it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Cursor<Vec<u8>>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Shared {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.lock().unwrap().seek(pos)
    }
}

#[test]
fn a_file_never_finished_reads_to_its_last_whole_cluster() {
    let out = Shared::default();
    let mut writer = Writer::new(out.clone(), tracks(), &Options::default()).unwrap();
    let frames = av_frames();
    // Up to the middle of the fourth GOP: three clusters are out, the fourth is not.
    let cut = frames
        .iter()
        .position(|f| f.0 == 0 && f.1 >= 7_000_000_000)
        .unwrap();
    for (track, time, key, data) in &frames[..cut] {
        writer.write(Frame::new(*track, *time, *key, data)).unwrap();
    }
    let bytes = out.0.lock().unwrap().get_ref().clone();
    let written = writer.written();
    assert_eq!((written.clusters, written.bytes), (3, bytes.len() as u64));
    assert_eq!(written.frames, [150, written.frames[1]]);
    drop(writer);
    let (file, read) = read_back(bytes);
    assert_eq!(file.ebml_header().doc_type(), "matroska");
    assert_eq!(file.info().duration(), None);
    let video: Vec<_> = read.iter().filter(|f| f.0 == 1).collect();
    // Three GOPs of 50 frames each.
    assert_eq!(video.len(), 150);
    assert_eq!(read.len() as u64 - 150, written.frames[1]);
    assert!(video[0].2 && video[50].2 && video[100].2);
}

/// A file cut anywhere (a kill inside a cluster's write): `scan` ends at the last whole
/// cluster, and that prefix reads as the frames written before it.
#[test]
fn scan_finds_the_last_whole_cluster_of_a_cut_file() {
    let out = Shared::default();
    let mut writer = Writer::new(out.clone(), tracks(), &Options::default()).unwrap();
    for (track, time, key, data) in &av_frames() {
        writer.write(Frame::new(*track, *time, *key, data)).unwrap();
    }
    // Never finished: five clusters written, the sixth still in memory.
    let whole = out.0.lock().unwrap().get_ref().clone();
    let found = scan(&mut Cursor::new(&whole), whole.len() as u64).unwrap();
    assert_eq!(
        (found.end, found.clusters, found.finished),
        (whole.len() as u64, 5, false)
    );
    let (_, all) = read_back(whole.clone());
    let mut last = 0;
    for cut in (200..whole.len()).step_by(1009) {
        let found = scan(&mut Cursor::new(&whole[..cut]), cut as u64).unwrap();
        assert!(
            !found.finished && found.end <= cut as u64,
            "{cut}: {found:?}"
        );
        assert!(found.clusters >= last);
        last = found.clusters;
        if found.clusters > 0 {
            let (_, read) = read_back(whole[..found.end as usize].to_vec());
            assert!(starts(&all, &read), "cut at {cut}");
            // Every video frame of the whole clusters: 50 a cluster.
            assert_eq!(
                read.iter().filter(|f| f.0 == 1).count() as u64,
                50 * found.clusters
            );
        }
    }
    assert_eq!(last, 4);
    // Finished, the Segment's size is known and the file whole.
    let finished = writer.finish().unwrap().0.lock().unwrap().get_ref().clone();
    let found = scan(&mut Cursor::new(&finished), finished.len() as u64).unwrap();
    assert_eq!(
        (found.end, found.clusters, found.finished),
        (finished.len() as u64, 6, true)
    );
    let err = scan(&mut Cursor::new(b"not EBML"), 8).unwrap_err();
    assert!(err.to_string().contains("not a Matroska file"), "{err}");
}

/// A killed recording with half a cluster at its end, completed by `recover`: the half
/// cluster is gone, the rest reads as written, with a Segment size and a duration.
#[test]
fn recover_completes_a_killed_recording() {
    let out = Shared::default();
    let mut writer = Writer::new(out.clone(), tracks(), &Options::default()).unwrap();
    let frames = av_frames();
    for (track, time, key, data) in &frames {
        writer.write(Frame::new(*track, *time, *key, data)).unwrap();
    }
    let mut file = out.0.lock().unwrap().get_ref().clone();
    let whole = file.len();
    // A cluster header claiming 100 000 bytes, and 700 of them.
    file.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75, 0x10, 0x01, 0x86, 0xA0]);
    file.resize(file.len() + 700, 0x55);
    let len = file.len() as u64;
    let mut cursor = Cursor::new(file);
    let found = recover(&mut cursor, len).unwrap();
    assert!(
        found.finished && found.clusters == 5 && found.end > whole as u64,
        "{found:?}"
    );
    let mut file = cursor.into_inner();
    file.truncate(found.end as usize);
    let again = scan(&mut Cursor::new(&file), found.end).unwrap();
    assert_eq!(
        (again.end, again.clusters, again.finished),
        (found.end, 5, true)
    );
    let (parsed, read) = read_back(file.clone());
    // The latest frame shown of the five GOPs: 9.92 s + 80 ms (the duration runs to its
    // start: frame durations are not in the file).
    assert_eq!(parsed.info().duration(), Some(10_000.0));
    let (_, all) = read_back(writer.finish().unwrap().0.lock().unwrap().get_ref().clone());
    assert!(starts(&all, &read));
    assert_eq!(read.iter().filter(|f| f.0 == 1).count(), 250);
    // A live recorder's cluster of unknown size (not ours): refused, left untouched.
    let mut live = file[..whole].to_vec();
    live.extend_from_slice(&[
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    live.extend_from_slice(&[0xE7, 0x81, 0x00]);
    let mut cursor = Cursor::new(live.clone());
    let err = recover(&mut cursor, live.len() as u64).unwrap_err();
    assert!(
        matches!(err, matroska::Error::UnknownSize(at) if at == whole as u64),
        "{err}"
    );
    assert_eq!(cursor.into_inner(), live);
    // Recovering again changes nothing.
    let mut cursor = Cursor::new(file.clone());
    assert_eq!(recover(&mut cursor, found.end).unwrap(), again);
    assert_eq!(cursor.into_inner(), file);
}

/// MPEG audio's layer, learnt from the first frame after the header went out, renames the
/// track in place; the demuxer reads the new name and every frame; other renames fail.
#[test]
fn mpeg_audio_is_relabelled_in_place() {
    let tracks = vec![
        Track::video(Codec::H264, 640, 360).with_private(vec![1, 2, 3]),
        Track::audio(Codec::Mp3, 48_000, 2),
    ];
    let mut w = Writer::new(Cursor::new(Vec::new()), tracks, &Options::default()).unwrap();
    w.write(Frame::new(0, 0, true, &[9; 40])).unwrap();
    w.relabel(1, Codec::Mp2).unwrap();
    assert!(
        w.relabel(0, Codec::H265).is_err(),
        "only MPEG audio's layer"
    );
    assert!(w.relabel(2, Codec::Mp2).is_err(), "no track 2");
    w.write(Frame::new(1, 0, true, &[7; 30])).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let (file, frames) = read_back(bytes);
    assert_eq!(file.tracks()[1].codec_id(), "A_MPEG/L2");
    assert_eq!(file.tracks()[0].codec_id(), "V_MPEG4/ISO/AVC");
    assert_eq!(frames.len(), 2);
}

/// After the first cluster the header is in the file: a rename seeks back to it.
#[test]
fn mpeg_audio_is_relabelled_after_the_header_went_out() {
    let tracks = vec![Track::audio(Codec::Mp3, 48_000, 2)];
    let mut w = Writer::new(Cursor::new(Vec::new()), tracks, &Options::default()).unwrap();
    for n in 0..300 {
        w.write(Frame::new(0, n * 24_000_000, true, &[7; 30]))
            .unwrap();
    }
    assert!(w.written().clusters > 0);
    w.relabel(0, Codec::Mp2).unwrap();
    let (file, frames) = read_back(w.finish().unwrap().into_inner());
    assert_eq!(file.tracks()[0].codec_id(), "A_MPEG/L2");
    assert_eq!(frames.len(), 300);
}

/// Written to a pipe: nothing is sought, every frame reads back from the stream as it
/// came (a Segment of unknown size, no Cues, no Duration); a rename before the first
/// cluster still lands, after it and `finish` (which seeks back) fail with the reason.
#[test]
fn a_pipe_gets_a_live_stream_that_reads_back() {
    let tracks = || {
        vec![
            Track::video(Codec::H264, 640, 360).with_private(vec![1, 2, 3]),
            Track::audio(Codec::Mp3, 48_000, 2),
        ]
    };
    let mut w = Writer::new(Pipe::new(Vec::new()), tracks(), &Options::default()).unwrap();
    w.relabel(1, Codec::Mp2).unwrap();
    let frames = av_frames();
    for (track, time, key, data) in &frames {
        w.write(Frame::new(*track, *time, *key, data)).unwrap();
    }
    let err = w.relabel(1, Codec::Mp3).unwrap_err().to_string();
    assert!(err.contains("cannot seek"), "{err}");
    let bytes = w.finish_pipe().unwrap().into_inner();
    let (file, read) = read_back(bytes);
    assert_eq!(file.tracks()[1].codec_id(), "A_MPEG/L2");
    assert_eq!(file.info().duration(), None);
    assert_eq!(read.len(), frames.len());

    let mut w = Writer::new(Pipe::new(Vec::new()), tracks(), &Options::default()).unwrap();
    w.write(Frame::new(0, 0, true, &[9; 40])).unwrap();
    let err = w.finish().unwrap_err().to_string();
    assert!(err.contains("cannot seek"), "{err}");
}

#[test]
fn webm_refuses_codecs_it_cannot_hold() {
    let mut options = Options::default();
    options.doc_type = DocType::Webm;
    let tracks = vec![Track::video(Codec::H264, 640, 360).with_private(vec![1, 2, 3])];
    let err = Writer::new(Cursor::new(Vec::new()), tracks, &options)
        .err()
        .unwrap();
    assert!(err.to_string().contains("WebM cannot hold H264"), "{err}");
    let missing = vec![Track::audio(Codec::Aac, 48_000, 2)];
    let err = Writer::new(Cursor::new(Vec::new()), missing, &Options::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("codec private data"), "{err}");
}

#[test]
fn a_time_jump_of_minutes_starts_a_new_cluster() {
    let tracks = vec![Track::audio(Codec::Mp3, 44_100, 2)];
    let mut writer = Writer::new(Cursor::new(Vec::new()), tracks, &Options::default()).unwrap();
    let frame = |time, data| Frame::new(0, time, true, data).with_duration(Some(26_000_000));
    writer.write(frame(0, &[1])).unwrap();
    writer.write(frame(26_000_000, &[2])).unwrap();
    // Ten minutes later, then back to the start.
    writer.write(frame(600_000_000_000, &[3])).unwrap();
    writer.write(frame(52_000_000, &[4])).unwrap();
    let (file, read) = read_back(writer.finish().unwrap().into_inner());
    let times: Vec<u64> = read.iter().map(|f| f.1).collect();
    assert_eq!(times, [0, 26, 600_000, 52]);
    assert_eq!(file.info().duration(), Some(600_026.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_frames_read_back_as_written(
        frames in proptest::collection::vec(
            (
                0usize..2,
                // Mostly small steps; now and then a jump of up to a minute, either way.
                prop_oneof![8 => 0i64..100, 1 => -60_000i64..60_000],
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
            1..200,
        )
    ) {
        let mut writer = Writer::new(Cursor::new(Vec::new()), tracks(), &Options::default()).unwrap();
        let mut time = 0i64;
        let mut want = Vec::new();
        for (track, step, key, data) in &frames {
            // The demuxer reads negative times as 0: the model stays at or after zero.
            time = (time + step * 1_000_000).max(0);
            writer.write(Frame::new(*track, time, *key, data)).unwrap();
            want.push((*track as u64 + 1, (time / 1_000_000) as u64, *key, data.clone()));
        }
        let (_, read) = read_back(writer.finish().unwrap().into_inner());
        prop_assert_eq!(by_track(&read), by_track(&want));
    }
}
