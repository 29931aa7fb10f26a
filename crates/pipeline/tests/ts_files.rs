//! MPEG-TS files in and out, checked by ffprobe and ffmpeg: the test camera to `.ts`
//! (ffprobe counts, durations, key flags, clean decode), and ffmpeg-made `.ts` files
//! (H.264+AAC with B-frames, H.265, MP3) to our MP4, compared packet by packet; Opus in
//! `.ts` both ways.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, num};
use test_support::rtsp::RtspServer;

mod ts_common;
use ts_common::{
    H264_AAC, convert, decoded_hashes, decodes_cleanly, ffmpeg_ts, first_pts, key, same_packets,
};

#[tokio::test(flavor = "multi_thread")]
async fn camera_to_ts_is_read_by_ffprobe_and_decodes() {
    let mut names: Vec<&str> = RtspServer::PEERS.to_vec();
    names.extend(["ffprobe", "ffmpeg"]);
    if !test_support::peers_present("camera_to_ts_is_read_by_ffprobe_and_decodes", &names) {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let out = dir.path().join("out.ts");
    let input = Endpoint::parse(&server.url("/h264aac"), Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    let options = {
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs(3));
        options
    };
    let summary = Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
    assert_eq!(summary.files, vec![out.clone()]);

    let probe = ffprobe::probe(&out);
    assert_eq!(probe["format"]["format_name"], "mpegts", "{probe}");
    let streams = probe["streams"].as_array().unwrap();
    let codecs: Vec<&str> = streams
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    assert_eq!(streams[0]["width"], 640, "{probe}");

    let video = ffprobe::packets(&out, "v:0");
    let audio = ffprobe::packets(&out, "a:0");
    // 3 s at the camera's 15 frames/s; AAC frames of 1024 samples.
    assert!(
        (44..=47).contains(&video.len()),
        "{} video packets",
        video.len()
    );
    assert!(key(&video[0]), "the first video packet is a key frame");
    let span = |p: &[Value]| num(&p[p.len() - 1]["pts_time"]) - num(&p[0]["pts_time"]);
    assert!(
        (span(&video) - 3.0).abs() <= 0.15,
        "video spans {}",
        span(&video)
    );
    assert!(
        (span(&audio) - 3.0).abs() <= 0.15,
        "audio spans {}",
        span(&audio)
    );
    let rate = num(&streams[1]["sample_rate"]);
    let expected_audio = (3.0 * rate / 1024.0).round() as i64;
    assert!(
        (audio.len() as i64 - expected_audio).abs() <= 3,
        "{} audio packets, expected about {expected_audio}",
        audio.len()
    );
    // Audio times step by exactly one frame (1024 samples) in 90 kHz ticks, give or take
    // one tick of rounding.
    let step = 1024.0 * 90_000.0 / rate;
    for pair in audio.windows(2) {
        let d = num(&pair[1]["pts"]) - num(&pair[0]["pts"]);
        assert!(
            (d - step).abs() <= 1.0,
            "audio pts step {d}, expected {step}"
        );
    }
    decodes_cleanly(&out);

    // And back: our .ts read by our TS input into MP4, packet by packet against ffprobe's
    // reading of the .ts, and the same decoded pictures.
    let mp4 = dir.path().join("back.mp4");
    convert(&out, &mp4, Options::default()).await.unwrap();
    let origins = (first_pts(&out), first_pts(&mp4));
    same_packets(&out, &mp4, "v:0", origins, None);
    same_packets(&out, &mp4, "a:0", origins, Some(7));
    assert_eq!(decoded_hashes(&out, "v:0"), decoded_hashes(&mp4, "v:0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_ts_to_mp4_packet_by_packet() {
    if !test_support::peers_present("ffmpeg_ts_to_mp4_packet_by_packet", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let video = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
    let cases: Vec<(&str, Vec<&str>, &[&str])> = vec![
        (
            "h264-aac.ts",
            [
                &video[..],
                &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
                &["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "aac"],
            ]
            .concat(),
            &["v:0", "a:0"],
        ),
        (
            "h265.ts",
            [
                &video[..],
                &[
                    "-c:v",
                    "libx265",
                    "-x265-params",
                    "log-level=error",
                    "-bf",
                    "2",
                ],
            ]
            .concat(),
            &["v:0"],
        ),
        (
            // AVCHD's and Blu-ray's BDAV: a 4-byte arrival time before each TS packet.
            "avchd.m2ts",
            [
                &video[..],
                &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
                &["-c:v", "libx264", "-bf", "2", "-g", "25", "-c:a", "ac3"],
                &["-mpegts_m2ts_mode", "1"],
            ]
            .concat(),
            &["v:0", "a:0"],
        ),
        (
            "mp3.ts",
            vec![
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-c:a",
                "libmp3lame",
            ],
            &["a:0"],
        ),
    ];
    for (name, args, streams) in cases {
        let ts = ffmpeg_ts(dir.path(), name, &args);
        if name.ends_with(".m2ts") {
            let bytes = std::fs::read(&ts).unwrap();
            assert!(
                bytes.len().is_multiple_of(192) && bytes[4] == 0x47,
                "not BDAV"
            );
        }
        let mp4 = dir.path().join(format!("{name}.mp4"));
        convert(&ts, &mp4, Options::default()).await.unwrap();
        let origins = (first_pts(&ts), first_pts(&mp4));
        for &stream in streams {
            let adts = match (name, stream) {
                ("h264-aac.ts", "a:0") => Some(7),
                ("mp3.ts", _) | ("avchd.m2ts", "a:0") => Some(0),
                _ => None,
            };
            same_packets(&ts, &mp4, stream, origins, adts);
            assert_eq!(
                decoded_hashes(&ts, stream),
                decoded_hashes(&mp4, stream),
                "{name} {stream}: decoded frames"
            );
        }
        decodes_cleanly(&mp4);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_truncated_ts_give_clear_errors() {
    if !test_support::peers_present(
        "garbage_and_truncated_ts_give_clear_errors",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let garbage = dir.path().join("garbage.ts");
    std::fs::write(
        &garbage,
        (0..100_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let err = convert(&garbage, &dir.path().join("g.mp4"), Options::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not an MPEG transport stream"),
        "{err}"
    );
    let empty = dir.path().join("empty.ts");
    std::fs::write(&empty, b"").unwrap();
    let err = convert(&empty, &dir.path().join("e.mp4"), Options::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no program found"), "{err}");

    let ts = ffmpeg_ts(
        dir.path(),
        "whole.ts",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-c:v",
            "libx264",
        ],
    );
    let mut bytes = std::fs::read(&ts).unwrap();
    bytes.truncate(188 * 60 + 100);
    let cut = dir.path().join("cut.ts");
    std::fs::write(&cut, &bytes).unwrap();
    let err = convert(&cut, &dir.path().join("cut.mp4"), Options::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("truncated transport stream") && text.contains("at byte 11280"),
        "{text}"
    );
    // What came before the cut is in a finished MP4 that ffmpeg decodes.
    let frames = ffprobe::packets(dir.path().join("cut.mp4"), "v:0").len();
    assert!(frames >= 5, "{frames} frames before the cut");
    decodes_cleanly(&dir.path().join("cut.mp4"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ts_to_ts_remux_keeps_every_packet() {
    if !test_support::peers_present("ts_to_ts_remux_keeps_every_packet", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let source = ffmpeg_ts(dir.path(), "source.ts", &H264_AAC);
    let out = dir.path().join("remuxed.ts");
    convert(&source, &out, Options::default()).await.unwrap();
    let origins = (first_pts(&source), first_pts(&out));
    same_packets(&source, &out, "v:0", origins, None);
    same_packets(&source, &out, "a:0", origins, Some(0)); // ADTS on both sides
    for stream in ["v:0", "a:0"] {
        assert_eq!(
            decoded_hashes(&source, stream),
            decoded_hashes(&out, stream),
            "{stream}"
        );
    }
    decodes_cleanly(&out);

    // H.265 (hvcC to Annex B with VPS/SPS/PPS before key frames, and back) and MP3.
    for (name, args, stream, adts) in [
        (
            "h265.ts",
            vec![
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=25",
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error",
                "-bf",
                "2",
            ],
            "v:0",
            None,
        ),
        (
            "mp3.ts",
            vec![
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-c:a",
                "libmp3lame",
            ],
            "a:0",
            Some(0),
        ),
    ] {
        let source = ffmpeg_ts(dir.path(), name, &args);
        let out = dir.path().join(format!("remuxed-{name}"));
        convert(&source, &out, Options::default()).await.unwrap();
        let origins = (first_pts(&source), first_pts(&out));
        same_packets(&source, &out, stream, origins, adts);
        assert_eq!(
            decoded_hashes(&source, stream),
            decoded_hashes(&out, stream),
            "{name}"
        );
        decodes_cleanly(&out);
    }
}

/// Opus in MPEG-TS, both ways, against ffmpeg: its `.ts` with libopus (mono and stereo)
/// read into our MP4 packet for packet; our `.ts` from that MP4 read back by ffprobe
/// (the Opus stream and its channels, every packet) and decoded by ffmpeg without error.
#[tokio::test(flavor = "multi_thread")]
async fn opus_in_ts_both_ways_with_ffmpeg() {
    if !test_support::peers_present("opus_in_ts", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    for channels in ["1", "2"] {
        let theirs = ffmpeg_ts(
            dir.path(),
            &format!("opus-{channels}.ts"),
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-c:a",
                "libopus",
                "-b:a",
                "64k",
                "-ac",
                channels,
            ],
        );
        let mp4 = dir.path().join(format!("opus-{channels}.mp4"));
        convert(&theirs, &mp4, Options::default()).await.unwrap();
        let count = |file: &Path| ffprobe::packets(file, "a:0").len();
        let probe = ffprobe::probe(&mp4);
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "opus");
        assert_eq!(stream["channels"].as_u64(), channels.parse().ok());
        assert_eq!(
            count(&mp4),
            count(&theirs),
            "every Opus packet of ffmpeg's .ts"
        );
        decodes_cleanly(&mp4);
        // The encoder's pre-skip, which ffmpeg's .ts carries as the first packet's start
        // trim, is the MP4's (dOps: version, channels, then the pre-skip).
        assert_eq!(pre_skip(&mp4), 312);

        let ours = dir.path().join(format!("ours-{channels}.ts"));
        convert(&mp4, &ours, Options::default()).await.unwrap();
        let probe = ffprobe::probe(&ours);
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "opus", "{probe}");
        assert_eq!(stream["channels"].as_u64(), channels.parse().ok());
        assert_eq!(count(&ours), count(&mp4), "every packet in our .ts");
        decodes_cleanly(&ours);
        // The pre-skip goes out as the first packet's start trim and comes back.
        let back = dir.path().join(format!("back-{channels}.mp4"));
        convert(&ours, &back, Options::default()).await.unwrap();
        assert_eq!(pre_skip(&back), 312);
    }
}

/// The pre-skip of an MP4's Opus track (`dOps`: version, channels, then the pre-skip).
fn pre_skip(mp4: &Path) -> u16 {
    let bytes = std::fs::read(mp4).unwrap();
    let dops = bytes.windows(4).position(|w| w == b"dOps").unwrap() + 4;
    u16::from_be_bytes([bytes[dops + 2], bytes[dops + 3]])
}

/// ffmpeg's `mp2` encoder writes mono at 384 kbit/s by default, a bitrate and mode pair
/// ISO/IEC 11172-3 forbids encoders but every decoder plays: the TS's audio was left out
/// ("no configuration") until the container-framed readers took what decoders take. Now
/// TS → MP4 and → Matroska keep every MP2 frame, the Matroska track is named Layer II
/// (`A_MPEG/L2`, from its first frame), and our Matroska reads back.
#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_default_mono_mp2_is_kept() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    let source = ffmpeg_ts(
        dir.path(),
        "mp2.ts",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-c:v",
            "libx264",
            "-c:a",
            "mp2",
        ],
    );
    let theirs = ffprobe::packets(&source, "a:0");
    assert!(theirs.len() >= 80, "{} MP2 frames", theirs.len());
    let mkv = dir.path().join("out.mkv");
    for out in [dir.path().join("out.mp4"), mkv.clone()] {
        convert(&source, &out, Options::default()).await.unwrap();
        let ours = ffprobe::packets(&out, "a:0");
        assert_eq!(ours.len(), theirs.len(), "{out:?}: every MP2 frame");
        decodes_cleanly(&out);
    }
    let tracks = test_support::mkvtoolnix::identify(&mkv).to_string();
    assert!(tracks.contains("A_MPEG/L2"), "{tracks}");
    let back = dir.path().join("back.mp4");
    convert(&mkv, &back, Options::default()).await.unwrap();
    assert_eq!(ffprobe::packets(&back, "a:0").len(), theirs.len());
}
