//! Decoded raw endpoints (`codec` feature): generated frames and tones written through a
//! decoded raw input into an MP4 (checked by ffprobe and ffmpeg's decode), and decoded
//! frames read from the RTSP test camera.
#![cfg(feature = "codec")]
// Options are built by field assignment, as they will be once `#[non_exhaustive]`.
#![allow(clippy::field_reassign_with_default)]

use std::time::Duration;

use bytes::Bytes;
use pipeline::raw::Flow;
use pipeline::raw_frames::{
    self, AudioEncoderSettings, AudioFrame, DecodedFormat, EncodedAudio, EncodedTrack, Frame,
    PixelFormat, SampleFormat, VideoEncoderSettings, VideoFormat, VideoFrame,
};
use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};
use test_support::require_peer;
use test_support::rtsp::RtspServer;

const W: u32 = 320;
const H: u32 = 240;

fn picture(t: u32) -> VideoFrame {
    let mut data = Vec::with_capacity(PixelFormat::Rgb24.frame_len(W, H));
    for y in 0..H {
        for x in 0..W {
            data.extend([
                ((x + 4 * t) % 256) as u8,
                ((y + 2 * t) % 256) as u8,
                (t * 5 % 256) as u8,
            ]);
        }
    }
    VideoFrame::new(
        W,
        H,
        PixelFormat::Rgb24,
        Bytes::from(data),
        i64::from(t) * 3600,
        90_000,
    )
    .expect("whole frame")
}

fn tone(start: usize, count: usize) -> AudioFrame {
    let samples: Vec<u8> = (start..start + count)
        .flat_map(|i| {
            let s = (0.3
                * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin()
                * 32767.0) as i16;
            [s, s].into_iter().flat_map(i16::to_ne_bytes)
        })
        .collect();
    AudioFrame::new(
        Bytes::from(samples),
        48_000,
        2,
        SampleFormat::S16,
        start as i64,
        48_000,
    )
    .expect("whole samples")
}

#[test]
fn ten_seconds_of_generated_frames_and_tone_become_an_mp4_of_250_frames() {
    require_peer!("ffprobe", "ffmpeg");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = test_support::temp_dir();
    let file = dir.path().join("generated.mp4");
    let mut video = VideoEncoderSettings::new(W, H);
    video.bitrate = 500_000;
    let audio = AudioEncoderSettings::new(EncodedAudio::Aac, 48_000, 2);
    let (mut writer, input) = raw_frames::input(
        vec![EncodedTrack::Video(video), EncodedTrack::Audio(audio)],
        16,
    )
    .expect("encoders open");
    let output = Endpoint::parse(file.to_str().expect("utf-8"), Direction::Output).expect("mp4");
    let handle = runtime.spawn(Pipeline::new(input, output).run());
    // 10 s: 250 frames at 25 fps, and 1920 samples (40 ms) of tone after each.
    for t in 0..250u32 {
        assert_eq!(
            writer.blocking_write_video(0, &picture(t)).expect("encode"),
            Flow::Continue
        );
        let at = t as usize * 1920;
        assert_eq!(
            writer
                .blocking_write_audio(1, &tone(at, 1920))
                .expect("encode"),
            Flow::Continue
        );
    }
    writer.blocking_close().expect("drain the encoders");
    runtime.block_on(handle).expect("task").expect("pipeline");

    let probe = ffprobe::probe_with(&file, &["-count_frames", "-show_streams", "-show_format"]);
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(video["nb_read_frames"], "250", "250 decoded frames");
    assert_eq!(video["avg_frame_rate"], "25/1");
    assert!(
        (num(&video["duration"]) - 10.0).abs() < 0.001,
        "video lasts 10 s: {}",
        video["duration"]
    );
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(
        (audio["sample_rate"].as_str(), audio["channels"].as_u64()),
        (Some("48000"), Some(2))
    );
    // The AAC priming (1024 samples) is kept: 10 s of tone plus at most one frame.
    // Every AAC frame is there: 480,000 samples + 1024 priming, in 1024-sample packets.
    assert_eq!(
        ffprobe::packets(&file, "a:0").len(),
        470,
        "no audio dropped before the first key frame"
    );
    let audio_duration = num(&audio["duration"]);
    assert!(
        (10.0..=10.0 + 2048.0 / 48_000.0).contains(&audio_duration),
        "audio lasts 10 s (+ priming): {audio_duration}"
    );
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "ffmpeg decodes it cleanly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn decoded_frames_from_the_test_camera_have_its_size_and_rate() {
    require_peer!("ffmpeg");
    if !test_support::peers_present("decoded_camera", RtspServer::PEERS) {
        return;
    }
    let server = RtspServer::start_default();
    let format = DecodedFormat::new(VideoFormat::new(PixelFormat::Rgb24), Default::default());
    let (mut reader, output) = raw_frames::output(format, 8);
    let input = Endpoint::parse(&server.url("/h264aac"), Direction::Input).expect("rtsp url");
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(3));
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    let mut video = Vec::new();
    let mut audio = 0usize;
    while let Some(frame) = reader.read().await {
        match frame.expect("decodes") {
            Frame::Video { frame, .. } => video.push(frame),
            Frame::Audio { frame, .. } => audio += frame.frames(),
            _ => {}
        }
    }
    handle.wait().await.expect("pipeline");
    assert!(video.len() >= 20, "{} frames in 3 s at 15 fps", video.len());
    for f in &video {
        assert_eq!(
            (f.width, f.height, f.format),
            (640, 360, PixelFormat::Rgb24)
        );
        assert_eq!(f.data.len(), 640 * 360 * 3);
    }
    // The camera sends 15 fps: consecutive frames 1/15 s apart in the track's clock.
    let steps: Vec<i64> = video.windows(2).map(|w| w[1].pts - w[0].pts).collect();
    let tick = i64::from(video[0].timescale) / 15;
    assert!(
        steps.iter().all(|s| (s - tick).abs() <= 1),
        "frame steps {steps:?}, want {tick}"
    );
    assert!(audio > 48_000, "AAC decoded too: {audio} samples");
}
