//! Every MP3 fixture (real lame and ffmpeg output, see xtask/src/fixtures/mp3.rs) checked
//! against two independent tools: ffprobe's packets (`-show_entries packet=pos,size`) and
//! stream duration, and mp3val's frame count and tag list.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use mp3_frames::{
    BitrateMode, ChannelMode, Event, Events, Layer, StreamSummary, Version, estimate,
};
use test_support::ffprobe::{num, probe_with};

/// ffprobe's stream time base for MP3: 1/14112000 (a multiple of every MPEG sample rate).
const TICKS: u64 = 14_112_000;

struct Case {
    name: &'static str,
    version: Version,
    layer: Layer,
    rate: u32,
    mode: ChannelMode,
    bitrate_mode: BitrateMode,
    /// Name of the info tag of the first frame, if any.
    info: Option<&'static str>,
    /// Tag kinds in stream order.
    tags: &'static [&'static str],
    crc: bool,
}

const fn case(
    name: &'static str,
    version: Version,
    layer: Layer,
    rate: u32,
    mode: ChannelMode,
) -> Case {
    Case {
        name,
        version,
        layer,
        rate,
        mode,
        bitrate_mode: BitrateMode::Constant,
        info: Some("Info"),
        tags: &[],
        crc: false,
    }
}

use ChannelMode::{JointStereo as Joint, Mono, Stereo};
use Layer::{Layer2 as L2, Layer3 as L3};
use Version::{Mpeg1 as V1, Mpeg2 as V2, Mpeg25 as V25};

const VBR: BitrateMode = BitrateMode::Variable;

fn cases() -> Vec<Case> {
    vec![
        case("sine-44100-cbr128.mp3", V1, L3, 44100, Joint),
        case("mpeg1-48000-stereo-cbr320.mp3", V1, L3, 48000, Stereo),
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            ..case("mpeg1-44100-joint-vbr-v2.mp3", V1, L3, 44100, Joint)
        },
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            ..case("mpeg1-32000-joint-abr112.mp3", V1, L3, 32000, Joint)
        },
        case("mpeg1-44100-mono-cbr64.mp3", V1, L3, 44100, Mono),
        case("mpeg2-24000-mono-cbr64.mp3", V2, L3, 24000, Mono),
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            ..case("mpeg2-22050-joint-vbr-v4.mp3", V2, L3, 22050, Joint)
        },
        // 144-byte frames: too small for LAME's Info tag, so lame writes none.
        Case {
            info: None,
            ..case("mpeg2-16000-stereo-cbr32.mp3", V2, L3, 16000, Stereo)
        },
        Case {
            info: None,
            ..case("mpeg25-8000-mono-cbr16.mp3", V25, L3, 8000, Mono)
        },
        case("mpeg25-11025-stereo-cbr32.mp3", V25, L3, 11025, Stereo),
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            ..case("mpeg25-12000-joint-vbr-v5.mp3", V25, L3, 12000, Joint)
        },
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            crc: true,
            ..case("crc-44100-vbr-v2.mp3", V1, L3, 44100, Joint)
        },
        Case {
            info: None,
            crc: true,
            ..case("crc-22050-cbr48-noxing.mp3", V2, L3, 22050, Mono)
        },
        Case {
            info: None,
            ..case("noxing-44100-cbr128.mp3", V1, L3, 44100, Joint)
        },
        Case {
            info: None,
            bitrate_mode: VBR,
            ..case("noxing-44100-vbr-v2.mp3", V1, L3, 44100, Joint)
        },
        Case {
            info: None,
            ..case("layer2-44100-stereo-192k.mp2", V1, L2, 44100, Stereo)
        },
        Case {
            info: None,
            ..case("layer2-24000-mono-64k.mp2", V2, L2, 24000, Mono)
        },
        Case {
            tags: &["ID3v2.4"],
            ..case("ffmpeg-id3v24-44100-cbr96.mp3", V1, L3, 44100, Joint)
        },
        Case {
            tags: &["ID3v2.3", "ID3v1"],
            ..case("id3v2-cover.mp3", V1, L3, 44100, Joint)
        },
        Case {
            tags: &["ID3v1"],
            ..case("id3v1.mp3", V1, L3, 44100, Joint)
        },
        Case {
            tags: &["APE", "ID3v1"],
            ..case("ape-id3v1.mp3", V1, L3, 44100, Mono)
        },
        Case {
            tags: &["APE"],
            ..case("ape-footer-only.mp3", V1, L3, 44100, Mono)
        },
        Case {
            bitrate_mode: VBR,
            info: Some("Xing"),
            ..case("truncated-end.mp3", V1, L3, 44100, Joint)
        },
        case("junk-middle.mp3", V1, L3, 44100, Joint),
    ]
}

/// ffprobe's audio packets as (pos, size, duration in ticks).
fn ffprobe_packets(path: &std::path::Path) -> Vec<(u64, u64, u64)> {
    let v = probe_with(
        path,
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pos,size,duration",
        ],
    );
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                num(&p["pos"]) as u64,
                num(&p["size"]) as u64,
                num(&p["duration"]) as u64,
            )
        })
        .collect()
}

/// mp3val's INFO line: (frames of the main version/layer, tag list).
fn mp3val(path: &std::path::Path) -> (u64, String) {
    let out = Command::new("mp3val").arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("INFO:"))
        .unwrap_or_else(|| panic!("mp3val: {text}"));
    let info = line.rsplit("\": ").next().unwrap();
    let total: u64 = info.split_whitespace().next().unwrap().parse().unwrap();
    // "94 MPEG frames (1 V1L1, 0 V1L2, 93 V1L3, ...)": junk counted as a Layer I frame; keep
    // the count of the main kind.
    let frames = match info.split_once(" V1L3") {
        Some((head, _)) => head.rsplit(' ').next().unwrap().parse().unwrap(),
        None => total,
    };
    (frames, info.to_string())
}

#[test]
fn every_fixture_matches_ffprobe_and_mp3val() {
    test_support::require_peer!("ffprobe", "mp3val");
    for case in cases() {
        let path = test_support::fixture(case.name);
        let data = std::fs::read(&path).unwrap();
        let events: Vec<Event<&[u8]>> = Events::new(&data).collect();
        let summary = StreamSummary::scan(&data).unwrap();
        let name = case.name;

        // Format as configured by the fixture script.
        assert_eq!(
            (
                summary.version,
                summary.layer,
                summary.sample_rate,
                summary.mode,
                summary.bitrate_mode,
                summary.crc
            ),
            (
                case.version,
                case.layer,
                case.rate,
                case.mode,
                case.bitrate_mode,
                case.crc
            ),
            "{name}"
        );
        assert_eq!(summary.info.as_ref().map(|i| i.name()), case.info, "{name}");
        let tags: Vec<String> = summary.tags.iter().map(|t| t.kind.name()).collect();
        assert_eq!(tags, case.tags, "{name}");

        // Every frame's offset and size against ffprobe's packets.
        let ours: Vec<(u64, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some((f.offset, f.len() as u64)),
                _ => None,
            })
            .collect();
        let theirs = ffprobe_packets(&path);
        let theirs_pos: Vec<(u64, u64)> = theirs.iter().map(|&(p, s, _)| (p, s)).collect();
        let expected_ffprobe = ffprobe_view(name, &events, &ours, &theirs_pos);
        assert_eq!(
            theirs_pos, expected_ffprobe,
            "{name}: ffprobe packets vs our frames"
        );

        // Duration: ours (every audio frame) = ffprobe's packet durations of the same frames.
        let ticks_per_sample = TICKS / u64::from(case.rate);
        // (ffprobe's packets that are a truncated frame or a tag are not audio.)
        let not_audio: Vec<(u64, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Truncated { offset, len, .. } => Some((*offset, *len)),
                Event::Tag(t) => Some((t.offset, t.len)),
                _ => None,
            })
            .collect();
        let their_ticks: u64 = theirs
            .iter()
            .filter(|&&(p, s, _)| !not_audio.contains(&(p, s)))
            .map(|&(_, _, d)| d)
            .sum();
        assert_eq!(
            summary.samples * ticks_per_sample,
            their_ticks,
            "{name}: duration"
        );
        let frame_samples = u64::from(case.version_samples());
        assert_eq!(summary.samples, summary.frames * frame_samples, "{name}");
        assert_eq!(
            summary.duration.as_nanos(),
            u128::from(summary.samples) * 1_000_000_000 / u128::from(case.rate),
            "{name}"
        );

        // Undamaged files with a Xing/Info frame count: ffprobe's duration (which it takes
        // from that tag) = our fast estimate = our scan.
        let stream = probe_with(
            &path,
            &[
                "-select_streams",
                "a:0",
                "-show_entries",
                "stream=duration_ts,start_time",
            ],
        );
        let stream = &stream["streams"][0];
        if let Some(est) = estimate(&data) {
            assert_eq!(
                u64::from(est.frames) * frame_samples * ticks_per_sample,
                num(&stream["duration_ts"]) as u64,
                "{name}: estimate"
            );
            if !matches!(name, "junk-middle.mp3" | "truncated-end.mp3") {
                assert_eq!(
                    u64::from(est.frames),
                    summary.frames,
                    "{name}: Xing frame count"
                );
                assert_eq!(est.duration, summary.duration, "{name}");
            }
            // FFmpeg starts at the LAME delay + 529 decoder samples.
            let lame = summary.info.as_ref().and_then(|i| i.lame()).unwrap();
            let start = num(&stream["start_time"]);
            let ours = f64::from(u32::from(lame.delay) + 529) / f64::from(case.rate);
            assert!(
                (start - ours).abs() < 2e-6,
                "{name}: start {start} vs delay {}",
                lame.delay
            );
        }

        // mp3val counts the Info frame and a truncated last frame as frames.
        let (mp3val_frames, info) = mp3val(&path);
        let truncated_frame = u64::from(summary.truncated.is_some());
        assert_eq!(
            mp3val_frames,
            summary.frames + u64::from(summary.info.is_some()) + truncated_frame,
            "{name}: mp3val {info}"
        );
        for (ours, theirs) in [("ID3v1", "ID3v1"), ("ID3v2", "ID3v2"), ("APE", "APEv2")] {
            // mp3val does not know APE tags without a header.
            if name == "ape-footer-only.mp3" {
                continue;
            }
            assert_eq!(
                tags.iter().any(|t| t.starts_with(ours)),
                info.contains(&format!("+{theirs}")),
                "{name}: {info}"
            );
        }
    }
}

impl Case {
    fn version_samples(&self) -> u32 {
        match (self.layer, self.version) {
            (Layer::Layer1, _) => 384,
            (Layer::Layer3, Version::Mpeg2 | Version::Mpeg25) => 576,
            _ => 1152,
        }
    }
}

/// What ffprobe's packet list should be, given our events. Equal to our frames, except
/// where ffprobe's parser returns non-frames as packets (we report them and check that):
/// a truncated last frame, a footer-only APE tag, and junk merged with the frames after it.
fn ffprobe_view(
    name: &str,
    events: &[Event<&[u8]>],
    ours: &[(u64, u64)],
    theirs: &[(u64, u64)],
) -> Vec<(u64, u64)> {
    let mut view = ours.to_vec();
    for e in events {
        match e {
            Event::Truncated { offset, len, .. } => view.push((*offset, *len)),
            Event::Tag(t) if name == "ape-footer-only.mp3" => view.push((t.offset, t.len)),
            Event::Skipped { offset, len } if name == "junk-middle.mp3" => {
                // ffprobe cuts the damaged region [offset, end) differently (it merges the
                // junk with the next two real frames); both must tile the same bytes, and
                // our frames resume where ffprobe's do.
                let resume = theirs
                    .iter()
                    .map(|&(p, _)| p)
                    .find(|&p| p > *offset && ours.iter().any(|&(o, _)| o == p))
                    .unwrap();
                let ours_inside: Vec<_> = ours
                    .iter()
                    .filter(|&&(o, _)| o >= *offset && o < resume)
                    .collect();
                let covered: u64 = len + ours_inside.iter().map(|&&(_, s)| s).sum::<u64>();
                assert_eq!(
                    offset + covered,
                    resume,
                    "{name}: our skip + frames tile the damaged region"
                );
                let theirs_inside: Vec<_> = theirs
                    .iter()
                    .filter(|&&(p, _)| p >= *offset && p < resume)
                    .collect();
                let their_cover: u64 = theirs_inside.iter().map(|&&(_, s)| s).sum();
                assert_eq!(
                    (theirs_inside[0].0, their_cover),
                    (*offset, resume - offset),
                    "{name}: ffprobe tiles it too"
                );
                view.retain(|&(o, _)| o < *offset || o >= resume);
                view.extend(theirs_inside.into_iter().copied());
            }
            _ => {}
        }
    }
    view.sort_unstable();
    view
}

#[test]
fn the_cover_image_is_full_of_sync_words_and_never_taken_for_frames() {
    let data = std::fs::read(test_support::fixture("id3v2-cover.mp3")).unwrap();
    let Some(Event::Tag(tag)) = Events::new(&data).next() else {
        panic!("no tag first")
    };
    let body = &data[..tag.len as usize];
    let syncs = body
        .windows(2)
        .filter(|w| w[0] == 0xFF && w[1] >= 0xF0)
        .count();
    assert!(
        tag.len > 20_000 && syncs > 100,
        "tag of {} bytes with {syncs} sync words",
        tag.len
    );
    // The tag even holds a whole MPEG-2.5 stream; none of it comes out.
    let summary = StreamSummary::scan(&data).unwrap();
    assert_eq!(
        (
            summary.version,
            summary.skipped_bytes,
            summary.first_frame_offset
        ),
        (Version::Mpeg1, 0, tag.len + 417)
    );
}

#[test]
fn free_format_matches_mpg123() {
    test_support::require_peer!("mpg123");
    let path = test_support::fixture("freeformat-32000-100k.mp3");
    let data = std::fs::read(&path).unwrap();
    let summary = StreamSummary::scan(&data).unwrap();
    let frames: Vec<_> = mp3_frames::Frames::new(&data).collect();
    assert!(
        frames
            .iter()
            .all(|f| f.header.is_free_format() && f.len() == 450)
    );
    assert_eq!(
        (
            summary.skipped_bytes,
            summary.truncated,
            summary.sample_rate
        ),
        (0, None, 32_000)
    );
    assert_eq!(summary.info.as_ref().map(|i| i.frames()), Some(Some(29)));
    // mpg123 without gapless trimming decodes every audio frame: 1152 stereo s16 samples.
    let out = Command::new("mpg123")
        .args(["-q", "--no-gapless", "-s"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len() as u64, summary.frames * 1152 * 2 * 2);
    assert_eq!(summary.frames, 29);
}

#[test]
fn gapless_duration_matches_mpg123() {
    test_support::require_peer!("mpg123");
    for name in [
        "sine-44100-cbr128.mp3",
        "mpeg1-44100-joint-vbr-v2.mp3",
        "crc-44100-vbr-v2.mp3",
        "mpeg2-22050-joint-vbr-v4.mp3",
        "mpeg25-12000-joint-vbr-v5.mp3",
        "ffmpeg-id3v24-44100-cbr96.mp3",
    ] {
        let path = test_support::fixture(name);
        let summary = StreamSummary::scan(&std::fs::read(&path).unwrap()).unwrap();
        let lame = summary.info.as_ref().and_then(|i| i.lame()).unwrap();
        let gapless_samples = summary.samples - u64::from(lame.delay) - u64::from(lame.padding);
        assert_eq!(
            summary.gapless_duration.unwrap().as_nanos(),
            u128::from(gapless_samples) * 1_000_000_000 / u128::from(summary.sample_rate)
        );
        // mpg123 trims the LAME delay and padding (gapless is its default): stereo s16.
        let out = Command::new("mpg123")
            .args(["-q", "-s", "--stereo"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        assert_eq!(
            out.stdout.len() as u64 / 4,
            gapless_samples,
            "{name}: delay {} padding {}",
            lame.delay,
            lame.padding
        );
    }
}
