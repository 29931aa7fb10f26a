//! The transcoding stage (`codec` feature) against the RTSP test camera: its G.711 audio
//! recorded to MP4 becomes AAC (if-needed, the default), checked by ffprobe and ffmpeg.
#![cfg(feature = "codec")]
// Options are built by field assignment, as they will be once `#[non_exhaustive]`.
#![allow(clippy::field_reassign_with_default)]

use std::time::Duration;

use pipeline::transcoding::TranscodePolicy;
use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

fn record(
    server: &RtspServer,
    policy: TranscodePolicy,
    file: &std::path::Path,
) -> Result<(), pipeline::Error> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let input = Endpoint::parse(&server.url("/h264pcma"), Direction::Input).expect("url");
    let output = Endpoint::parse(file.to_str().expect("utf-8"), Direction::Output).expect("mp4");
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(3));
    options.transcoding.policy = policy;
    runtime
        .block_on(Pipeline::new(input, output).with_options(options).run())
        .map(|_| ())
}

#[test]
fn g711_camera_audio_recorded_to_mp4_becomes_aac_in_step_with_the_video() {
    if !test_support::peers_present("g711_to_aac", RtspServer::PEERS)
        || !test_support::peers_present("g711_to_aac", &["ffprobe", "ffmpeg"])
    {
        return;
    }
    let server = RtspServer::start_default();
    let dir = test_support::temp_dir();
    let file = dir.path().join("pcma.mp4");
    record(&server, TranscodePolicy::IfNeeded, &file).expect("recording");

    let probe = ffprobe::probe(&file);
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    assert_eq!(video["codec_name"], "h264", "video passes through");
    assert_eq!(audio["codec_name"], "aac", "G.711 became AAC");
    assert_eq!(audio["sample_rate"], "48000");
    let duration = num(&audio["duration"]);
    assert!(duration > 2.5, "about 3 s of audio: {duration}");
    // A/V offset within one video frame (the camera's 15 fps), as a lip-sync check
    // reads it. The file starts at the first picture; the audio that covers its instant
    // leads in (the source keeps the audio that comes before the video's parameter sets,
    // the recorder takes the frame that reaches the picture), so the audio starts at most
    // one audio frame before it; AAC packets keep the instant they decode to.
    let offset = num(&audio["start_time"]) - num(&video["start_time"]);
    eprintln!("audio starts {offset:+.3} s from the video");
    assert!(
        offset.abs() <= 1.0 / 15.0,
        "audio starts {offset:+.3} s from the video"
    );
    // The AAC packets follow each other without gap or overlap (1024 samples at 48 kHz).
    let times: Vec<f64> = ffprobe::packets(&file, "a:0")
        .iter()
        .map(|p| num(&p["pts_time"]))
        .collect();
    assert!(times.len() > 100);
    for pair in times.windows(2) {
        assert!(
            (pair[1] - pair[0] - 1024.0 / 48_000.0).abs() < 1e-4,
            "audio gap at {pair:?}"
        );
    }
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "ffmpeg decodes it cleanly"
    );

    // `never` keeps today's behaviour: the G.711 track is left out, the video recorded.
    let plain = dir.path().join("never.mp4");
    record(&server, TranscodePolicy::Never, &plain).expect("recording");
    let probe = ffprobe::probe(&plain);
    let streams = probe["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 1, "video only: {streams:?}");
    assert_eq!(streams[0]["codec_name"], "h264");
}
