//! Reads decoded frames from an MP4 file or an RTSP camera, blurs a box in the middle
//! of every picture and draws a red frame around it, and writes the pictures (and the
//! audio, re-encoded to AAC) into an MP4: Boombox's `read`/`write` loop in Rust.
//!
//! ```sh
//! cargo run -p media-toolkit-pipeline --features codec --example blur_frames -- IN.mp4|rtsp://… OUT.mp4 [SECONDS]
//! ```

use std::time::Duration;

use bytes::Bytes;
use pipeline::raw_frames::{
    self, AudioEncoderSettings, AudioFormat, DecodedFormat, EncodedAudio, EncodedTrack, Frame,
    PixelFormat, SampleFormat, VideoEncoderSettings, VideoFormat, VideoFrame,
};
use pipeline::{Direction, Endpoint, MediaKind, Options, Pipeline};

/// Box-blurs the middle third of an RGB24 picture (radius 8) and outlines it in red.
fn blur_middle(frame: &VideoFrame) -> Option<VideoFrame> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (x0, x1, y0, y1) = (w / 3, 2 * w / 3, h / 3, 2 * h / 3);
    let mut out = frame.data.to_vec();
    let radius = 8usize;
    for y in y0..y1 {
        for x in x0..x1 {
            for c in 0..3 {
                let (mut sum, mut n) = (0u32, 0u32);
                for yy in y.saturating_sub(radius)..(y + radius).min(h) {
                    let step = 4; // every 4th column: a cheap blur is enough to hide
                    for xx in (x.saturating_sub(radius)..(x + radius).min(w)).step_by(step) {
                        sum += u32::from(frame.data[(yy * w + xx) * 3 + c]);
                        n += 1;
                    }
                }
                out[(y * w + x) * 3 + c] = (sum / n.max(1)) as u8;
            }
        }
    }
    for x in x0..x1 {
        for y in [y0, y1 - 1] {
            out[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    for y in y0..y1 {
        for x in [x0, x1 - 1] {
            out[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    VideoFrame::new(
        frame.width,
        frame.height,
        PixelFormat::Rgb24,
        Bytes::from(out),
        frame.pts,
        frame.timescale,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        eprintln!("usage: blur_frames IN.mp4|rtsp://… OUT.mp4 [SECONDS]");
        std::process::exit(2);
    };
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new()?;

    // Read: RGB24 pictures and stereo s16 audio at 48 kHz, whatever the input carries.
    let format = DecodedFormat::new(
        VideoFormat::new(PixelFormat::Rgb24),
        AudioFormat::new(SampleFormat::S16).resampled(48_000, 2),
    );
    let (mut reader, decoded) = raw_frames::output(format, 8);
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs(seconds));
    let source = Endpoint::parse(input, Direction::Input)?;
    let reading = runtime.spawn(Pipeline::new(source, decoded).with_options(options).run());

    // Write: opened at the first picture, when its size is known.
    let mut writer = None;
    let mut pending_audio = Vec::new();
    let mut handle = None;
    let mut count = 0;
    loop {
        let next = reader.blocking_iter().next();
        let Some(frame) = next else { break };
        match frame? {
            Frame::Video { frame, .. } => {
                if writer.is_none() {
                    let mut video = VideoEncoderSettings::new(frame.width & !1, frame.height & !1);
                    video.timescale = frame.timescale;
                    let mut tracks = vec![EncodedTrack::Video(video)];
                    let input_tracks = reader.tracks().unwrap_or_default();
                    if input_tracks.iter().any(|t| t.kind == MediaKind::Audio) {
                        let audio = AudioEncoderSettings::new(EncodedAudio::Aac, 48_000, 2);
                        tracks.push(EncodedTrack::Audio(audio));
                    }
                    let (w, sink) = raw_frames::input(tracks, 16)?;
                    let target = Endpoint::parse(output, Direction::Output)?;
                    handle = Some(runtime.spawn(Pipeline::new(sink, target).run()));
                    writer = Some(w);
                }
                let Some(w) = writer.as_mut() else { continue };
                let Some(blurred) = blur_middle(&frame) else {
                    continue;
                };
                w.blocking_write_video(0, &blurred)?;
                for audio in pending_audio.drain(..) {
                    w.blocking_write_audio(1, &audio)?;
                }
                count += 1;
            }
            Frame::Audio { frame, .. } => match writer.as_mut() {
                Some(w) => {
                    w.blocking_write_audio(1, &frame)?;
                }
                None => pending_audio.push(frame),
            },
            _ => {}
        }
    }
    runtime.block_on(reading)??;
    if let (Some(w), Some(h)) = (writer, handle) {
        w.blocking_close()?;
        runtime.block_on(h)??;
    }
    println!("{count} pictures blurred into {output}");
    Ok(())
}
