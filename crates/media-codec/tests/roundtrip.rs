//! Encode → decode round trips through our own encoder and decoder (FFmpeg linked in):
//! a moving 720p gradient through H.264 at 2 Mbit/s, a 1 kHz sine through AAC and Opus
//! at 128 kbit/s. The decoders are checked against the ffmpeg program in `ffmpeg_equal.rs`.

use bytes::Bytes;
use media_codec::{
    AudioCodec, AudioDecoder, AudioEncoder, AudioEncoderSettings, AudioFormat, AudioFrame,
    EncodedAudio, PixelFormat, SampleFormat, VideoDecoder, VideoEncoder, VideoEncoderSettings,
    VideoFormat, VideoFrame,
};
use media_core::Track;

const W: u32 = 1280;
const H: u32 = 720;

/// An I420 gradient that moves 4 pixels right and 2 down per frame, with moving chroma.
fn gradient(t: u32) -> VideoFrame {
    let mut data = Vec::with_capacity(PixelFormat::I420.frame_len(W, H));
    for y in 0..H {
        for x in 0..W {
            data.push((((x + 4 * t) + (y + 2 * t) / 2) % 512 / 2) as u8);
        }
    }
    for plane in 0..2u32 {
        for y in 0..H / 2 {
            for x in 0..W / 2 {
                let v = if plane == 0 { x + 3 * t } else { y + 2 * t };
                data.push((64 + v % 256 / 2) as u8);
            }
        }
    }
    VideoFrame::new(
        W,
        H,
        PixelFormat::I420,
        Bytes::from(data),
        i64::from(t) * 3600,
        90_000,
    )
    .expect("whole frame")
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

#[test]
fn moving_gradient_through_h264_at_2_mbits_keeps_35_db() {
    const FRAMES: u32 = 50;
    let mut settings = VideoEncoderSettings::new(W, H);
    settings.bitrate = 2_000_000;
    let mut encoder = VideoEncoder::new(settings).expect("libx264 opens");
    let mut packets = Vec::new();
    for t in 0..FRAMES {
        encoder.push(&gradient(t)).expect("encode");
        while let Some(p) = encoder.pull().expect("pull") {
            packets.push(p);
        }
    }
    encoder.finish().expect("flush");
    while let Some(p) = encoder.pull().expect("pull") {
        packets.push(p);
    }
    assert_eq!(packets.len(), FRAMES as usize, "one packet per frame");
    assert!(packets[0].keyframe, "starts with a key frame");
    assert!(
        packets.iter().all(|p| p.cts_offset == 0),
        "no B-frames by default: decode order is display order"
    );
    let bits: usize = packets.iter().map(|p| p.data.len() * 8).sum();
    let rate = bits as f64 / (f64::from(FRAMES) / 25.0);
    assert!(rate < 3_000_000.0, "bitrate near 2 Mbit/s, got {rate:.0}");

    let codec = encoder
        .codec()
        .expect("avcC record after the first key frame");
    let track = Track::video(codec, 90_000, W, H);
    let mut decoder =
        VideoDecoder::new(&track, VideoFormat::new(PixelFormat::I420)).expect("decoder");
    let mut decoded = Vec::new();
    for p in &packets {
        decoder.push(p).expect("decode");
        while let Some(f) = decoder.pull().expect("pull") {
            decoded.push(f);
        }
    }
    decoder.finish().expect("flush");
    while let Some(f) = decoder.pull().expect("pull") {
        decoded.push(f);
    }
    assert_eq!(decoded.len(), FRAMES as usize);
    let mut worst = f64::INFINITY;
    for (t, frame) in decoded.iter().enumerate() {
        let source = gradient(t as u32);
        assert_eq!(frame.pts, source.pts, "pts exact in the track clock");
        assert_eq!(frame.pts_ms(), t as i64 * 40);
        worst = worst.min(psnr(&frame.data, &source.data));
    }
    eprintln!(
        "H.264 2 Mbit/s 720p moving gradient: worst frame PSNR {worst:.1} dB, {rate:.0} bit/s"
    );
    assert!(worst >= 35.0, "worst frame PSNR {worst:.1} dB");
}

const RATE: u32 = 48_000;

fn sine(samples: usize) -> Vec<f32> {
    (0..samples)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / RATE as f32).sin())
        .collect()
}

/// Encodes 1 s of a 1 kHz sine (in 0.1 s pushes), decodes it; returns the decoded
/// samples from time 0 and the end time of the last packet in samples.
fn audio_round_trip(codec: EncodedAudio) -> (Vec<f32>, i64, usize) {
    let source = sine(RATE as usize);
    let mut settings = AudioEncoderSettings::new(codec, RATE, 1);
    settings.bitrate = 128_000;
    let mut encoder = AudioEncoder::new(settings).expect("encoder opens");
    let mut packets = Vec::new();
    for (i, chunk) in source.chunks(4800).enumerate() {
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_ne_bytes()).collect();
        let frame = AudioFrame::new(
            Bytes::from(bytes),
            RATE,
            1,
            SampleFormat::F32,
            i as i64 * 4800,
            RATE,
        )
        .expect("whole samples");
        encoder.push(&frame).expect("encode");
        while let Some(p) = encoder.pull().expect("pull") {
            packets.push(p);
        }
    }
    encoder.finish().expect("flush");
    while let Some(p) = encoder.pull().expect("pull") {
        packets.push(p);
    }
    let last = packets.last().expect("packets");
    let end = last.dts + i64::from(last.duration.unwrap_or(0));
    let config = encoder.codec().expect("codec known after the first packet");
    let decoder_codec = AudioCodec::from_codec(&config).expect("decodable");
    let mut decoder = AudioDecoder::new(decoder_codec, RATE, AudioFormat::new(SampleFormat::F32))
        .expect("decoder");
    let mut out = Vec::new();
    let mut first_pts = None;
    let mut take = |f: AudioFrame, out: &mut Vec<f32>| {
        first_pts.get_or_insert(f.pts);
        let skip = usize::try_from(-f.pts.min(0)).unwrap_or(0);
        out.extend(f.to_f32().into_iter().skip(skip));
    };
    for p in &packets {
        decoder.push(p).expect("decode");
        while let Some(f) = decoder.pull().expect("pull") {
            take(f, &mut out);
        }
    }
    decoder.finish().expect("flush");
    while let Some(f) = decoder.pull().expect("pull") {
        take(f, &mut out);
    }
    (out, end, encoder.frame_size())
}

fn snr(source: &[f32], decoded: &[f32]) -> f64 {
    let signal: f64 = source.iter().map(|s| f64::from(*s).powi(2)).sum();
    let noise: f64 = source
        .iter()
        .zip(decoded)
        .map(|(s, d)| (f64::from(*s) - f64::from(*d)).powi(2))
        .sum();
    10.0 * (signal / noise.max(1e-20)).log10()
}

fn check_sine(codec: EncodedAudio) {
    let (decoded, end, frame) = audio_round_trip(codec);
    let n = RATE as usize;
    eprintln!(
        "{codec:?}: {} samples decoded from 0, packets end at {end}",
        decoded.len()
    );
    assert_eq!(
        end, n as i64,
        "{codec:?}: the packets' durations end exactly at the input's end"
    );
    assert!(
        decoded.len() >= n && decoded.len() < n + frame,
        "{codec:?}: {} decoded samples for {n} in (frame {frame})",
        decoded.len()
    );
    let source = sine(n);
    // The first and last 20 ms hold the codec's start-up and end: leave them out.
    let edge = 960;
    let ratio = snr(&source[edge..n - edge], &decoded[edge..n - edge]);
    eprintln!("{codec:?} 128 kbit/s 1 kHz sine: SNR {ratio:.1} dB");
    assert!(ratio >= 30.0, "{codec:?}: SNR {ratio:.1} dB");
}

#[test]
fn sine_through_aac_at_128_kbits_keeps_30_db_and_its_length() {
    check_sine(EncodedAudio::Aac);
}

#[test]
fn sine_through_opus_at_128_kbits_keeps_30_db_and_its_length() {
    check_sine(EncodedAudio::Opus);
}
