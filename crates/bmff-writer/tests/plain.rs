//! Plain MP4 from real encoder samples (the ffmpeg-made fixtures), checked by ffprobe JSON,
//! a full ffmpeg decode, shiguredo_mp4's demuxer and Mozilla's mp4parse.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use bmff_writer::{Codec, HevcTag, Mp4Options, Mp4Writer, Sample, TrackConfig};
use common::{demux_plain, fixture_track, interleave, mp3_frames, mp4parse_tables};
use shiguredo_mp4::boxes::SampleEntry;
use test_support::ffprobe::{self, num};

fn write(
    dir: &Path,
    name: &str,
    tracks: &[(TrackConfig, Vec<Sample>)],
    faststart: bool,
) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let mut w = Mp4Writer::new(file, configs, Mp4Options::default()).unwrap();
    for s in interleave(tracks) {
        w.push(s).unwrap();
    }
    if faststart {
        w.finish_faststart().unwrap();
    } else {
        w.finish().unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Duration a sample really lasts: to the next sample, the last one its own.
fn durations(samples: &[Sample]) -> Vec<u32> {
    let mut d: Vec<u32> = samples
        .windows(2)
        .map(|w| (w[1].dts - w[0].dts) as u32)
        .collect();
    let last = samples
        .last()
        .unwrap()
        .duration
        .or(d.last().copied())
        .unwrap();
    d.push(last);
    d
}

/// Every check of one written file against what was pushed.
fn check(path: &Path, bytes: &[u8], tracks: &[(TrackConfig, Vec<Sample>)], tags: &[&str]) {
    let errors = ffprobe::decode_errors(path);
    assert!(
        errors.is_empty(),
        "ffmpeg decode of {} printed: {errors}",
        path.display()
    );

    let probe = ffprobe::probe(path);
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), tracks.len());
    for (i, ((config, samples), stream)) in tracks.iter().zip(streams).enumerate() {
        assert_eq!(stream["codec_tag_string"], tags[i], "stream {i}");
        let ts = f64::from(config.timescale);
        if stream["codec_type"] == "video" {
            assert_eq!(stream["width"], config.width);
            assert_eq!(stream["height"], config.height);
        } else {
            assert_eq!(num(&stream["sample_rate"]) as u32, config.sample_rate);
            assert_eq!(stream["channels"], config.channels);
        }
        assert_eq!(
            num(&stream["nb_frames"]) as usize,
            samples.len(),
            "stream {i} sample count"
        );
        let d = durations(samples);
        // Presented span: from the first sample's presentation to the latest end.
        let first_pts = samples[0].dts + i64::from(samples[0].cts_offset);
        let end = samples
            .iter()
            .zip(&d)
            .map(|(s, d)| s.dts + i64::from(s.cts_offset) + i64::from(*d))
            .max()
            .unwrap();
        let expected = (end - first_pts) as f64 / ts;
        let frame = f64::from(d[0]) / ts;
        let got = num(&stream["duration"]);
        assert!(
            (got - expected).abs() <= frame + 0.001,
            "stream {i} duration {got} vs {expected}"
        );

        let packets = ffprobe::packets(path, &i.to_string());
        assert_eq!(packets.len(), samples.len(), "stream {i} packets");
        let (dts0, pts0) = (
            num(&packets[0]["dts"]) as i64,
            num(&packets[0]["pts"]) as i64,
        );
        let (s0, p0) = (
            samples[0].dts,
            samples[0].dts + i64::from(samples[0].cts_offset),
        );
        for (p, s) in packets.iter().zip(samples) {
            assert_eq!(num(&p["size"]) as usize, s.data.len());
            assert_eq!(
                p["flags"].as_str().unwrap().starts_with('K'),
                s.sync,
                "keyframe flag at dts {}",
                s.dts
            );
            assert_eq!(num(&p["dts"]) as i64 - dts0, s.dts - s0, "dts");
            assert_eq!(
                num(&p["pts"]) as i64 - pts0,
                s.dts + i64::from(s.cts_offset) - p0,
                "pts"
            );
        }
    }

    // shiguredo_mp4: same payload bytes, sync flags, decode times, offsets and durations.
    let read = demux_plain(bytes);
    assert_eq!(read.len(), tracks.len());
    for (t, (config, samples)) in read.iter().zip(tracks) {
        assert_eq!(t.timescale, config.timescale);
        assert_eq!(t.samples.len(), samples.len());
        let d = durations(samples);
        for ((r, s), d) in t.samples.iter().zip(samples).zip(d) {
            assert_eq!(r.data, s.data);
            assert_eq!(r.sync, s.sync);
            assert_eq!(r.dts, s.dts - samples[0].dts);
            assert_eq!(r.cts, i64::from(s.cts_offset));
            assert_eq!(r.duration, d);
        }
    }

    // mp4parse: sizes, sync flags, decode times.
    let tables = mp4parse_tables(bytes);
    assert_eq!(tables.len(), tracks.len());
    for ((_, rows), (_, samples)) in tables.iter().zip(tracks) {
        assert_eq!(rows.len(), samples.len());
        for (r, s) in rows.iter().zip(samples) {
            assert_eq!(r.1 as usize, s.data.len());
            assert_eq!(&bytes[r.0 as usize..(r.0 + r.1) as usize], &s.data[..]);
            assert_eq!(r.4, s.sync);
            assert_eq!(r.2, s.dts - samples[0].dts);
        }
    }
}

fn roundtrip(
    name: &str,
    tracks: &[(TrackConfig, Vec<Sample>)],
    tags: &[&str],
    faststart: bool,
) -> Vec<u8> {
    let dir = test_support::temp_dir();
    let (path, bytes) = write(dir.path(), name, tracks, faststart);
    check(&path, &bytes, tracks, tags);
    bytes
}

/// Top-level box types in order.
fn top_level(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let mut size = u64::from(u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()));
        if size == 1 {
            size = u64::from_be_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        }
        out.push(String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned());
        pos += size as usize;
    }
    out
}

#[test]
fn h264_libx264() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    roundtrip(
        "h264.mp4",
        &[fixture_track("h264.mp4", 0)],
        &["avc1"],
        false,
    );
}

#[test]
fn h264_with_b_frames_gets_ctts() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let t = fixture_track("h264-bframes.mp4", 0);
    assert!(
        t.1.iter().any(|s| s.cts_offset != 0),
        "the fixture has B-frames"
    );
    let bytes = roundtrip("bframes.mp4", &[t], &["avc1"], false);
    assert!(bytes.windows(4).any(|w| w == b"ctts"));
}

#[test]
fn h265_libx265_as_hvc1_and_hev1() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let t = fixture_track("h265.mp4", 0);
    roundtrip("hvc1.mp4", std::slice::from_ref(&t), &["hvc1"], false);
    let (mut config, samples) = t;
    if let Codec::Hevc { tag, .. } = &mut config.codec {
        *tag = HevcTag::Hev1;
    }
    roundtrip("hev1.mp4", &[(config, samples)], &["hev1"], false);
}

#[test]
fn aac() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let bytes = roundtrip("aac.mp4", &[fixture_track("aac.mp4", 0)], &["mp4a"], false);
    assert!(bytes.windows(4).any(|w| w == b"sgpd"), "AAC roll group");
}

#[test]
fn opus() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let bytes = roundtrip(
        "opus.mp4",
        &[fixture_track("opus.mp4", 0)],
        &["Opus"],
        false,
    );
    // 80 ms pre-roll of 20 ms packets: roll distance -4, as ffmpeg writes.
    let at = bytes.windows(4).position(|w| w == b"sgpd").unwrap();
    assert_eq!(&bytes[at + 8..at + 22], b"roll\0\0\0\x02\0\0\0\x01\xff\xfc");
}

#[test]
fn mp3_mpeg1_and_mpeg2() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    for (fixture, oti) in [("mp3-44100.mp3", 0x6b), ("mp3-22050.mp3", 0x69)] {
        let dir = test_support::temp_dir();
        let tracks = [mp3_frames(fixture, 0)];
        let (path, bytes) = write(dir.path(), "mp3.mp4", &tracks, false);
        check(&path, &bytes, &tracks, &["mp4a"]);
        let probe = ffprobe::probe(&path);
        assert_eq!(probe["streams"][0]["codec_name"], "mp3");
        // DecoderConfigDescriptor: tag 4, 4-byte length, then the object type.
        let at = bytes
            .windows(5)
            .position(|w| w == [0x04, 0x80, 0x80, 0x80, 13])
            .unwrap();
        assert_eq!(bytes[at + 5], oti, "{fixture}");
    }
}

#[test]
fn video_and_audio_interleaved_in_chunks() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let bytes = roundtrip("av.mp4", &tracks, &["avc1", "mp4a"], false);
    assert_eq!(top_level(&bytes), ["ftyp", "free", "mdat", "moov"]);
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(&bytes)).unwrap();
    for t in ctx.tracks.iter() {
        let chunks = t.stco.as_ref().unwrap().offsets.len();
        // 2 s at ~0.5 s per chunk: a handful of chunks, not one per sample.
        assert!(
            (3..=6).contains(&chunks),
            "track {} has {chunks} chunks",
            t.id
        );
    }
    let mvhd_next_track_id = {
        let at = bytes.windows(4).position(|w| w == b"mvhd").unwrap();
        u32::from_be_bytes(bytes[at + 100..at + 104].try_into().unwrap())
    };
    assert_eq!(mvhd_next_track_id, 3);
}

#[test]
fn faststart_puts_moov_first() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let tracks = [
        fixture_track("h264-bframes.mp4", 0),
        fixture_track("aac.mp4", 1),
    ];
    let bytes = roundtrip("faststart.mp4", &tracks, &["avc1", "mp4a"], true);
    assert_eq!(top_level(&bytes), ["ftyp", "moov", "free", "mdat"]);
}

#[test]
fn edit_list_keeps_a_late_audio_track_in_sync() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let video = fixture_track("h264.mp4", 0);
    let (ac, mut audio) = fixture_track("aac.mp4", 1);
    let late = i64::from(ac.timescale) / 2; // audio starts 0.5 s after video
    for s in &mut audio {
        s.dts += late;
    }
    let tracks = [video, (ac, audio)];
    let dir = test_support::temp_dir();
    let (path, bytes) = write(dir.path(), "late.mp4", &tracks, false);
    check(&path, &bytes, &tracks, &["avc1", "mp4a"]);
    let probe = ffprobe::probe(&path);
    let v = num(&probe["streams"][0]["start_time"]);
    let a = num(&probe["streams"][1]["start_time"]);
    assert!(v.abs() < 0.002, "video starts at {v}");
    assert!((a - 0.5).abs() < 0.002, "audio starts at {a}");
    assert!(bytes.windows(4).any(|w| w == b"elst"));
}

#[test]
fn parameter_change_adds_a_sample_description() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let (c1, s1) = fixture_track("h264.mp4", 0);
    let (c2, s2) = fixture_track("rtsp-file.mp4", 0);
    let first: Vec<Sample> = s1.into_iter().take(30).collect();
    let end = first.last().unwrap().dts + (first[1].dts - first[0].dts);
    // Continue on the first track's clock with the second fixture's frames.
    let second: Vec<Sample> = s2
        .into_iter()
        .take(30)
        .map(|mut s| {
            s.dts = end + s.dts * i64::from(c1.timescale) / i64::from(c2.timescale);
            s.cts_offset = (i64::from(s.cts_offset) * i64::from(c1.timescale)
                / i64::from(c2.timescale)) as i32;
            s
        })
        .collect();
    let dir = test_support::temp_dir();
    let path = dir.path().join("change.mp4");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = Mp4Writer::new(file, vec![c1.clone()], Mp4Options::default()).unwrap();
    for s in first.iter().cloned() {
        w.push(s).unwrap();
    }
    // The whole configuration: its picture size goes into the new entry too.
    w.set_config(0, c2.clone()).unwrap();
    for s in second.iter().cloned() {
        w.push(s).unwrap();
    }
    w.finish().unwrap();
    let errors = ffprobe::decode_errors(&path);
    assert!(errors.is_empty(), "{errors}");
    let frames = ffprobe::probe_with(
        &path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=width,height",
            "-show_frames",
        ],
    );
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 60);
    assert!(
        frames[..30]
            .iter()
            .all(|f| f["width"] == 320 && f["height"] == 240)
    );
    assert!(
        frames[30..]
            .iter()
            .all(|f| f["width"] == 640 && f["height"] == 360),
        "second entry decodes at 640x360"
    );
    let bytes = std::fs::read(&path).unwrap();
    let read = demux_plain(&bytes);
    assert_eq!(read[0].entries.len(), 2, "two sample descriptions");
    let sizes: Vec<(u16, u16)> = read[0]
        .entries
        .iter()
        .map(|e| match e {
            SampleEntry::Avc1(b) => (b.visual.width, b.visual.height),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [(320, 240), (640, 360)], "each entry its own size");
    assert_eq!(read[0].samples.len(), 60);
    for (r, s) in read[0].samples.iter().zip(first.iter().chain(&second)) {
        assert_eq!(r.data, s.data);
    }
}

#[test]
fn raw_sample_entry_is_written_as_given() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let (config, samples) = fixture_track("aac.mp4", 0);
    // A caller-built entry (here: the one we would build, made elsewhere).
    let probe_dir = test_support::temp_dir();
    let (_, reference) = write(
        probe_dir.path(),
        "ref.mp4",
        &[(config.clone(), samples.clone())],
        false,
    );
    let at = reference.windows(4).position(|w| w == b"mp4a").unwrap() - 4;
    let len = u32::from_be_bytes(reference[at..at + 4].try_into().unwrap()) as usize;
    let entry = bytes::Bytes::copy_from_slice(&reference[at..at + len]);
    let mut raw = config;
    raw.codec = Codec::Raw {
        entry,
        kind: bmff_writer::TrackKind::Audio,
    };
    let bytes = roundtrip("raw.mp4", &[(raw, samples)], &["mp4a"], false);
    let at = bytes.windows(4).position(|w| w == b"mp4a").unwrap() - 4;
    assert!(
        bytes[at..at + len] == reference[at..at + len],
        "the raw entry is written as given"
    );
}

/// The body of the first `fourcc` box found in `file`.
fn box_body<'a>(file: &'a [u8], fourcc: &[u8; 4]) -> &'a [u8] {
    let at = file.windows(4).position(|w| w == fourcc).unwrap();
    let size = u32::from_be_bytes(file[at - 4..at].try_into().unwrap()) as usize;
    &file[at + 4..at - 4 + size]
}

#[test]
fn ready_avcc_and_hvcc_records_and_pixel_aspect() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    for (fixture, tag) in [("h264-bframes.mp4", "avc1"), ("h265.mp4", "hvc1")] {
        let file = std::fs::read(test_support::fixture(fixture)).unwrap();
        let (mut config, samples) = fixture_track(fixture, 0);
        let record = bytes::Bytes::copy_from_slice(box_body(
            &file,
            if tag == "avc1" { b"avcC" } else { b"hvcC" },
        ));
        config.codec = match config.codec {
            Codec::Avc(_) => Codec::Avc(bmff_writer::ParameterSets::Record(record.clone())),
            Codec::Hevc { tag, .. } => Codec::Hevc {
                parameters: bmff_writer::ParameterSets::Record(record.clone()),
                tag,
            },
            other => other,
        };
        let config = config.with_pixel_aspect(4, 3);
        let bytes = roundtrip("record.mp4", &[(config, samples)], &[tag], false);
        assert!(
            box_body(&bytes, if tag == "avc1" { b"avcC" } else { b"hvcC" }) == &record[..],
            "record kept as given"
        );
        let pasp = box_body(&bytes, b"pasp");
        assert_eq!(pasp, [0, 0, 0, 4, 0, 0, 0, 3]);
        let dir = test_support::temp_dir();
        let path = dir.path().join("sar.mp4");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            ffprobe::probe(&path)["streams"][0]["sample_aspect_ratio"],
            "4:3"
        );
    }
}

#[test]
fn avcc_built_from_parameter_sets_matches_x264s() {
    // Our avcC from SPS/PPS equals the one ffmpeg wrote for libx264's stream.
    for fixture in ["h264.mp4", "h264-bframes.mp4"] {
        let file = std::fs::read(test_support::fixture(fixture)).unwrap();
        let (config, samples) = fixture_track(fixture, 0);
        let dir = test_support::temp_dir();
        let (_, bytes) = write(dir.path(), "ours.mp4", &[(config, samples)], false);
        assert!(
            box_body(&bytes, b"avcC") == box_body(&file, b"avcC"),
            "{fixture}"
        );
    }
}
