//! MPEG-TS files in and out, checked by ffprobe and ffmpeg: the test camera to `.ts`
//! (ffprobe counts, durations, key flags, clean decode), and ffmpeg-made `.ts` files
//! (H.264+AAC with B-frames, H.265, MP3) to our MP4, compared packet by packet; Opus in
//! `.ts` both ways.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, num};
use test_support::rtsp::RtspServer;

async fn convert(input: &Path, output: &Path, options: Options) -> Result<(), pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input)?;
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output)?;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .map(|_| ())
}

fn key(p: &Value) -> bool {
    p["flags"].as_str().unwrap_or("").starts_with('K')
}

fn decodes_cleanly(file: &Path) {
    let errors = ffprobe::decode_errors(file);
    assert!(
        errors.is_empty(),
        "{}: ffmpeg decode errors: {errors}",
        file.display()
    );
}

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

/// ffmpeg's test picture (H.264 with B-frames, a key frame a second) and tone (AAC).
const H264_AAC: [&str; 16] = [
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000",
    "-c:v",
    "libx264",
    "-bf",
    "2",
    "-g",
    "25",
    "-c:a",
    "aac",
];

/// Makes a 2 s `.ts` file with ffmpeg from its test sources.
fn ffmpeg_ts(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .args(["-t", "2", "-f", "mpegts"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg making {name}");
    out
}

/// The decoded frames' hashes (`-f framemd5`) of one stream: identical pictures and
/// samples whatever the container.
fn decoded_hashes(file: &Path, stream: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-map", &format!("0:{stream}"), "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg framemd5 of {}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

/// Compares ffprobe's packets of `stream` in the ffmpeg-made `.ts` and in our MP4: count,
/// times relative to `origin` (seconds, within two 90 kHz ticks), key flags, and for audio
/// the sizes (`adts` bytes of header less in MP4).
fn same_packets(ts: &Path, mp4: &Path, stream: &str, origins: (f64, f64), adts: Option<i64>) {
    let (a, b) = (ffprobe::packets(ts, stream), ffprobe::packets(mp4, stream));
    assert_eq!(
        a.len(),
        b.len(),
        "{stream}: packet counts of {} and {}",
        ts.display(),
        mp4.display()
    );
    // Two 90 kHz ticks of rounding; audio in MP4 counts samples, so one sample more.
    let rate = ffprobe::probe_with(mp4, &["-select_streams", stream, "-show_streams"]);
    let sample = num(&rate["streams"][0]["sample_rate"]);
    let tick = 2.0 / 90_000.0 + if sample > 0.0 { 1.0 / sample } else { 0.0 };
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        for field in ["pts_time", "dts_time"] {
            let (x, y) = (num(&p[field]) - origins.0, num(&q[field]) - origins.1);
            assert!(
                (x - y).abs() <= tick,
                "{stream} packet {i}: {field} {x} in .ts, {y} in MP4"
            );
        }
        assert_eq!(key(p), key(q), "{stream} packet {i}: key flag");
        if let Some(header) = adts {
            assert_eq!(
                num(&p["size"]) as i64 - header,
                num(&q["size"]) as i64,
                "{stream} packet {i}: size"
            );
        }
    }
}

fn first_pts(file: &Path) -> f64 {
    let probe = ffprobe::probe(file);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| num(&s["start_time"]))
        .fold(f64::INFINITY, f64::min)
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
        let mp4 = dir.path().join(format!("{name}.mp4"));
        convert(&ts, &mp4, Options::default()).await.unwrap();
        let origins = (first_pts(&ts), first_pts(&mp4));
        for &stream in streams {
            let adts = match (name, stream) {
                ("h264-aac.ts", "a:0") => Some(7),
                ("mp3.ts", _) => Some(0),
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

/// Timestamp jumps inside a `.ts`: a file concatenated with itself (times go back 2 s,
/// `cat a.ts a.ts`, as people join HLS segments) and two files 80 minutes apart in time
/// (an encoder restarted). As ffmpeg does for TS, each jump is re-based: the MP4 holds
/// both halves back to back (4 s of video and of audio, not a failure or a gap of hours),
/// its decode times increase, audio and video still start together in the second half,
/// and ffmpeg decodes it with no error.
#[tokio::test(flavor = "multi_thread")]
async fn concatenated_and_jumping_ts_files_are_rebased() {
    if !test_support::peers_present(
        "concatenated_and_jumping_ts_files_are_rebased",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let half = |name: &str, offset: &str| {
        let args = [&H264_AAC[..], &["-output_ts_offset", offset]].concat();
        ffmpeg_ts(dir.path(), name, &args)
    };
    let (a, b) = (half("a.ts", "0"), half("b.ts", "4800"));
    let join = |name: &str, parts: &[&Path]| {
        let path = dir.path().join(name);
        let bytes: Vec<u8> = parts
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        std::fs::write(&path, bytes).unwrap();
        path
    };
    for ts in [join("same.ts", &[&a, &a]), join("apart.ts", &[&a, &b])] {
        let mp4 = ts.with_extension("mp4");
        convert(&ts, &mp4, Options::default()).await.unwrap();
        let name = ts.display();
        for (stream, least, most) in [("v:0", 4.0, 4.0), ("a:0", 3.9, 4.1)] {
            let packets = ffprobe::packets(&mp4, stream);
            let dts: Vec<f64> = packets.iter().map(|p| num(&p["dts_time"])).collect();
            assert!(
                dts.windows(2).all(|w| w[1] > w[0]),
                "{name} {stream}: decode times increase"
            );
            let probe = ffprobe::probe_with(&mp4, &["-select_streams", stream, "-show_streams"]);
            let duration = num(&probe["streams"][0]["duration"]);
            assert!(
                (least - 0.05..=most + 0.05).contains(&duration),
                "{name} {stream}: {duration} s"
            );
        }
        assert_eq!(ffprobe::packets(&mp4, "v:0").len(), 100, "{name}");
        // Audio against video in the second half as in the first: the first audio packet
        // of each half against the half's first key frame, within an AAC frame and a half
        // (the first half's audio may run on a little past its video).
        let video = ffprobe::packets(&mp4, "v:0");
        let audio = ffprobe::packets(&mp4, "a:0");
        let first_half = ffprobe::packets(&a, "a:0").len();
        let lead = |v: &Value, a: &Value| num(&a["pts_time"]) - num(&v["pts_time"]);
        let (before, after) = (
            lead(&video[0], &audio[0]),
            lead(&video[50], &audio[first_half]),
        );
        assert!(
            key(&video[50]),
            "{name}: the second half starts with a key frame"
        );
        assert!(
            (after - before).abs() <= 0.035,
            "{name}: audio leads video by {before} s in the first half, {after} s in the second"
        );
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
