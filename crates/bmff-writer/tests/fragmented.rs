//! Fragmented MP4 (one growing file, and init + media segments with an HLS playlist) from
//! real encoder samples, checked by ffprobe, ffmpeg decode and shiguredo_mp4's fMP4 demuxer.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use bmff_writer::{
    FragmentOptions, FragmentedMuxer, FragmentedWriter, Sample, SegmentFiles, SegmentWriter,
    TrackConfig,
};
use common::{demux_fragmented, fixture_track, interleave, mp3_frames};
use shiguredo_mp4::boxes::SampleEntry;
use test_support::ffprobe::{self, num};

fn write(path: &Path, tracks: &[(TrackConfig, Vec<Sample>)], options: FragmentOptions) -> Vec<u8> {
    let file = std::fs::File::create(path).unwrap();
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let mut w = FragmentedWriter::new(std::io::BufWriter::new(file), configs, options).unwrap();
    for s in interleave(tracks) {
        w.push(s).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(path).unwrap()
}

/// Top-level boxes as (type, offset, size).
fn top_level(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if size == 1 {
            size = u64::from_be_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()) as usize;
        }
        assert!(size >= 8, "box size {size} at {pos}");
        out.push((
            String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned(),
            pos,
            size,
        ));
        pos += size;
    }
    assert_eq!(pos, bytes.len(), "boxes cover the file exactly");
    out
}

fn durations(samples: &[Sample]) -> Vec<u32> {
    let mut d: Vec<u32> = samples
        .windows(2)
        .map(|w| (w[1].dts - w[0].dts) as u32)
        .collect();
    d.push(
        samples
            .last()
            .unwrap()
            .duration
            .or(d.last().copied())
            .unwrap(),
    );
    d
}

/// ffprobe/ffmpeg and shiguredo_mp4 checks of a fragmented file.
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
        assert_eq!(stream["codec_tag_string"], tags[i]);
        if stream["codec_type"] == "video" {
            assert_eq!(stream["width"], config.width);
            assert_eq!(stream["height"], config.height);
        } else {
            assert_eq!(num(&stream["sample_rate"]) as u32, config.sample_rate);
        }
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
            assert_eq!(p["flags"].as_str().unwrap().starts_with('K'), s.sync);
            assert_eq!(num(&p["dts"]) as i64 - dts0, s.dts - s0);
            assert_eq!(
                num(&p["pts"]) as i64 - pts0,
                s.dts + i64::from(s.cts_offset) - p0
            );
        }
    }
    let read = demux_fragmented(bytes);
    assert_eq!(read.len(), tracks.len());
    for (t, (config, samples)) in read.iter().zip(tracks) {
        assert_eq!(t.timescale, config.timescale);
        assert_eq!(t.samples.len(), samples.len());
        let base = t.samples[0].dts;
        for ((r, s), d) in t.samples.iter().zip(samples).zip(durations(samples)) {
            assert_eq!(r.data, s.data);
            assert_eq!(r.sync, s.sync);
            assert_eq!(r.dts - base, s.dts - samples[0].dts);
            assert_eq!(r.cts, i64::from(s.cts_offset));
            assert_eq!(r.duration, d);
        }
    }
}

/// Every `moof` starts its first video `trun` with a sync sample: checked through the
/// demuxer's view (fragment boundaries at decode times of key frames).
fn fragment_count(bytes: &[u8]) -> usize {
    top_level(bytes).iter().filter(|b| b.0 == "moof").count()
}

#[test]
fn h264_and_aac_in_one_file() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let path = dir.path().join("av.mp4");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let bytes = write(&path, &tracks, FragmentOptions::default());
    check(&path, &bytes, &tracks, &["avc1", "mp4a"]);
    let boxes = top_level(&bytes);
    assert_eq!(boxes[0].0, "ftyp");
    assert_eq!(
        &bytes[8..12],
        b"iso5",
        "major brand for default-base-is-moof"
    );
    assert_eq!(boxes[1].0, "moov");
    // 2 s with a key frame every second and 1 s fragments: two fragments.
    assert_eq!(fragment_count(&bytes), 2);
    assert!(
        boxes[2..]
            .chunks(2)
            .all(|p| p[0].0 == "moof" && p[1].0 == "mdat")
    );
}

#[test]
fn b_frames_h265_opus_mp3() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    for (name, tracks, tags) in [
        (
            "bframes.mp4",
            vec![
                fixture_track("h264-bframes.mp4", 0),
                fixture_track("opus.mp4", 1),
            ],
            vec!["avc1", "Opus"],
        ),
        ("h265.mp4", vec![fixture_track("h265.mp4", 0)], vec!["hvc1"]),
        (
            "mp3.mp4",
            vec![mp3_frames("mp3-44100.mp3", 0)],
            vec!["mp4a"],
        ),
    ] {
        let path = dir.path().join(name);
        let opts = FragmentOptions::new(Duration::from_millis(500));
        let bytes = write(&path, &tracks, opts);
        check(&path, &bytes, &tracks, &tags);
        assert!(fragment_count(&bytes) >= 2, "{name}");
    }
}

#[test]
fn audio_only_fragments_by_duration() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let path = dir.path().join("aac.mp4");
    let tracks = [fixture_track("aac.mp4", 0)];
    let opts = FragmentOptions::new(Duration::from_millis(250));
    let bytes = write(&path, &tracks, opts);
    check(&path, &bytes, &tracks, &["mp4a"]);
    // ~2 s of audio in 0.25 s fragments.
    assert!(
        (7..=9).contains(&fragment_count(&bytes)),
        "{}",
        fragment_count(&bytes)
    );
}

#[test]
fn sidx_and_mfra() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let path = dir.path().join("indexed.mp4");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let mut opts = FragmentOptions::default();
    opts.sidx = true;
    opts.mfra = true;
    let bytes = write(&path, &tracks, opts);
    check(&path, &bytes, &tracks, &["avc1", "mp4a"]);
    let boxes = top_level(&bytes);
    let kinds: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ftyp", "moov", "sidx", "moof", "mdat", "sidx", "moof", "mdat", "mfra"
        ]
    );
    // Each sidx references exactly the moof + mdat after it.
    for i in [2, 5] {
        let (_, at, size) = boxes[i];
        let referenced = u32::from_be_bytes(bytes[at + 40..at + 44].try_into().unwrap()) as usize;
        assert_eq!(referenced, boxes[i + 1].2 + boxes[i + 2].2);
        assert_eq!(size, 52);
    }
    // mfro holds the mfra size; each tfra entry points at a moof.
    let (_, mfra_at, mfra_size) = *boxes.last().unwrap();
    assert_eq!(
        u32::from_be_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize,
        mfra_size
    );
    let moofs: Vec<usize> = boxes
        .iter()
        .filter(|b| b.0 == "moof")
        .map(|b| b.1)
        .collect();
    let tfra = mfra_at + 8;
    assert_eq!(&bytes[tfra + 4..tfra + 8], b"tfra");
    let entries = u32::from_be_bytes(bytes[tfra + 20..tfra + 24].try_into().unwrap()) as usize;
    assert_eq!(entries, 2);
    for (e, moof) in moofs.iter().enumerate().take(entries) {
        let at = tfra + 24 + e * 19 + 8;
        let offset = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(offset, *moof);
    }
}

#[test]
fn late_audio_keeps_its_offset_through_tfdt() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let path = dir.path().join("late.mp4");
    let (ac, mut audio) = fixture_track("aac.mp4", 1);
    for s in &mut audio {
        s.dts += i64::from(ac.timescale) / 2;
    }
    let tracks = [fixture_track("h264.mp4", 0), (ac, audio)];
    let bytes = write(&path, &tracks, FragmentOptions::default());
    check(&path, &bytes, &tracks, &["avc1", "mp4a"]);
    let probe = ffprobe::probe(&path);
    let v = num(&probe["streams"][0]["start_time"]);
    let a = num(&probe["streams"][1]["start_time"]);
    assert!((a - v - 0.5).abs() < 0.002, "audio starts {a}, video {v}");
}

/// Writes an HLS media playlist over the segment files (EXT-X-MAP per init segment).
fn playlist(dir: &Path, files: &SegmentFiles) -> std::path::PathBuf {
    let mut m3u8 = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n",
    );
    let mut current_init = String::new();
    for (name, init, duration) in &files.segments {
        if *init != current_init {
            if !current_init.is_empty() {
                m3u8.push_str("#EXT-X-DISCONTINUITY\n");
            }
            m3u8.push_str(&format!("#EXT-X-MAP:URI=\"{init}\"\n"));
            current_init = init.clone();
        }
        m3u8.push_str(&format!("#EXTINF:{duration:.6},\n{name}\n"));
    }
    m3u8.push_str("#EXT-X-ENDLIST\n");
    let path = dir.join("index.m3u8");
    std::fs::write(&path, m3u8).unwrap();
    path
}

#[test]
fn hls_segments_play_through_ffmpeg() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let opts = FragmentOptions::new(Duration::from_millis(500));
    let mut w = SegmentWriter::new(SegmentFiles::new(dir.path()), configs, opts).unwrap();
    for s in interleave(&tracks) {
        w.push(s).unwrap();
    }
    let files = w.finish().unwrap();
    assert_eq!(files.inits, ["init-1.mp4"]);
    // Key frames every second: 0.5 s targets still cut only at key frames.
    assert_eq!(files.segments.len(), 2);
    let total: f64 = files.segments.iter().map(|s| s.2).sum();
    assert!(
        (total - 2.0).abs() < 0.04,
        "segment durations add up to {total}"
    );
    let m3u8 = playlist(dir.path(), &files);
    let args = [
        "-allowed_extensions",
        "ALL",
        "-show_streams",
        "-count_packets",
    ];
    let probe = ffprobe::probe_with(&m3u8, &args);
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams[0]["codec_name"], "h264");
    assert_eq!(
        num(&streams[0]["nb_read_packets"]) as usize,
        tracks[0].1.len()
    );
    assert_eq!(
        num(&streams[1]["nb_read_packets"]) as usize,
        tracks[1].1.len()
    );
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-allowed_extensions",
            "ALL",
            "-i",
        ])
        .arg(&m3u8)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn requested_cut_ends_a_segment_at_the_next_key_frame() {
    let (config, samples) = fixture_track("h264.mp4", 0);
    let mut m =
        FragmentedMuxer::new(vec![config], FragmentOptions::new(Duration::from_secs(60))).unwrap();
    let mut media = Vec::new();
    for (i, s) in samples.into_iter().enumerate() {
        if i == 10 {
            m.request_cut(); // cut at the next key frame (frame 30)
        }
        m.push(s).unwrap();
        while let Some(o) = m.poll_output() {
            media.push(o);
        }
    }
    m.finish().unwrap();
    while let Some(o) = m.poll_output() {
        media.push(o);
    }
    let segments: Vec<_> = media
        .iter()
        .filter_map(|o| match o {
            bmff_writer::FragmentOutput::Media(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(segments.len(), 2);
    assert!(segments.iter().all(|s| s.starts_with_keyframe));
    assert!((segments[0].duration - 1.0).abs() < 1e-9);
    assert_eq!(segments[1].sequence_number, 2);
}

#[test]
fn parameter_change_starts_a_new_init_segment() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let (c1, s1) = fixture_track("h264.mp4", 0);
    let (c2, s2) = fixture_track("rtsp-file.mp4", 0);
    let first: Vec<Sample> = s1.into_iter().take(30).collect();
    let step = first[1].dts - first[0].dts;
    let end = first.last().unwrap().dts + step;
    let second: Vec<Sample> = s2
        .into_iter()
        .take(30)
        .map(|mut s| {
            s.dts = end + s.dts * i64::from(c1.timescale) / i64::from(c2.timescale);
            s
        })
        .collect();
    let mut w = SegmentWriter::new(
        SegmentFiles::new(dir.path()),
        vec![c1],
        FragmentOptions::default(),
    )
    .unwrap();
    for s in first {
        w.push(s).unwrap();
    }
    // The whole configuration: its picture size goes into the new init segment too.
    w.set_config(0, c2.clone()).unwrap();
    for s in second {
        w.push(s).unwrap();
    }
    let files = w.finish().unwrap();
    assert_eq!(files.inits, ["init-1.mp4", "init-2.mp4"]);
    let last = files.segments.last().unwrap();
    assert_eq!(last.1, "init-2.mp4");
    // The new init segment + its media decode at the new size.
    let joined = dir.path().join("second.mp4");
    let mut bytes = std::fs::read(dir.path().join("init-2.mp4")).unwrap();
    for (name, init, _) in &files.segments {
        if init == "init-2.mp4" {
            bytes.extend(std::fs::read(dir.path().join(name)).unwrap());
        }
    }
    std::fs::write(&joined, &bytes).unwrap();
    match &demux_fragmented(&bytes)[0].entries[0] {
        SampleEntry::Avc1(b) => assert_eq!((b.visual.width, b.visual.height), (640, 360)),
        other => panic!("{other:?}"),
    }
    let errors = ffprobe::decode_errors(&joined);
    assert!(errors.is_empty(), "{errors}");
    let frames = ffprobe::probe_with(
        &joined,
        &["-show_entries", "frame=width,height", "-show_frames"],
    );
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 30);
    assert!(
        frames
            .iter()
            .all(|f| f["width"] == 640 && f["height"] == 360)
    );
    // The segments before the change decode with the first init segment at the old size.
    // (ffmpeg's HLS demuxer does not pass a new EXT-X-MAP's avcC to the decoder, so the
    // two halves are checked separately rather than through one playlist.)
    let joined = dir.path().join("first.mp4");
    let mut bytes = std::fs::read(dir.path().join("init-1.mp4")).unwrap();
    for (name, init, _) in &files.segments {
        if init == "init-1.mp4" {
            bytes.extend(std::fs::read(dir.path().join(name)).unwrap());
        }
    }
    std::fs::write(&joined, &bytes).unwrap();
    match &demux_fragmented(&bytes)[0].entries[0] {
        SampleEntry::Avc1(b) => assert_eq!((b.visual.width, b.visual.height), (320, 240)),
        other => panic!("{other:?}"),
    }
    let errors = ffprobe::decode_errors(&joined);
    assert!(errors.is_empty(), "{errors}");
    let frames = ffprobe::probe_with(
        &joined,
        &["-show_entries", "frame=width,height", "-show_frames"],
    );
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 30);
    assert!(
        frames
            .iter()
            .all(|f| f["width"] == 320 && f["height"] == 240)
    );
}

#[test]
fn memory_stays_within_one_fragment() {
    // 10 minutes of 30 fps video (key frame every 60) + AAC, 1 s fragments.
    let avc = bmff_writer::Codec::Raw {
        entry: bytes::Bytes::from_static(&[0, 0, 0, 8, b't', b'e', b's', b't']),
        kind: bmff_writer::TrackKind::Video,
    };
    let aac = bmff_writer::Codec::Aac {
        audio_specific_config: bytes::Bytes::from_static(&[0x11, 0x90]),
    };
    let tracks = vec![
        TrackConfig::video(avc, 90000, 640, 480),
        TrackConfig::audio(aac, 48000, 2),
    ];
    let mut m = FragmentedMuxer::new(tracks, FragmentOptions::default()).unwrap();
    let payload = bytes::Bytes::from(vec![0u8; 4096]);
    let mut peak = 0;
    let (mut v, mut a) = (0i64, 0i64);
    for _ in 0..30 * 600 {
        m.push(Sample::new(0, v * 3000, v % 60 == 0, payload.clone()))
            .unwrap();
        v += 1;
        while a * 1024 * 90000 < v * 3000 * 48000 {
            m.push(Sample::new(1, a * 1024, true, payload.slice(..300)))
                .unwrap();
            a += 1;
        }
        while m.poll_output().is_some() {}
        peak = peak.max(m.buffered_bytes());
    }
    eprintln!("fragmented: peak {peak} bytes buffered over 10 minutes");
    // A fragment is cut at the first key frame past 1 s: 2 s of video (60 x 4 KiB) and
    // audio (94 x 300 B) at most, plus per-sample state.
    assert!(
        peak < 2 * (60 * 4096 + 94 * 300) + 4096,
        "peak buffered {peak} bytes"
    );
}
