//! Our decoders against the `ffmpeg` program's decode of the same streams: the fixtures
//! are encoded by ffmpeg (libx264, libx265, its AAC encoder) into a temporary directory,
//! decoded by ffmpeg to raw RGB24 / f32 and by us, and compared sample by sample.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use elementary::{AnnexBReader, ParameterSets, VideoCodec};
use media_codec::{
    AudioCodec, AudioDecoder, AudioFormat, PixelFormat, SampleFormat, VideoDecoder, VideoFormat,
};
use media_core::{Codec, Packet, Track};
use test_support::require_peer;

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Access units of an Annex B file as contract packets, with the stream's record.
fn annexb_packets(path: &Path, codec: VideoCodec) -> (Codec, Vec<Packet>) {
    let mut reader = AnnexBReader::new(codec);
    reader.push(&std::fs::read(path).expect("fixture"));
    reader.finish();
    let mut sets = ParameterSets::default();
    let mut packets = Vec::new();
    let mut index = 0;
    while let Some(unit) = reader.pull() {
        for nal in &unit.nals {
            sets.take(codec, nal);
        }
        let sample = unit.to_length_prefixed().expect("small NAL units");
        packets.push(Packet::new(0, index * 3600, unit.key, sample));
        index += 1;
    }
    let record = elementary::record(codec, &sets).expect("record");
    let codec = match codec {
        VideoCodec::H264 => Codec::H264 { config: record },
        _ => Codec::H265 { config: record },
    };
    (codec, packets)
}

fn compare_video(encoder: &str, format: &str, codec: VideoCodec) {
    let dir = test_support::temp_dir();
    let file = dir.path().join(format!("fixture.{format}"));
    let file_str = file.to_str().expect("utf-8 path");
    // B-frames on (x264/x265 defaults): the decoder reorders.
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=1",
        "-c:v",
        encoder,
        "-pix_fmt",
        "yuv420p",
    ];
    if encoder == "libx265" {
        args.extend(["-x265-params", "log-level=error"]);
    }
    args.extend(["-f", format, "-y", file_str]);
    ffmpeg(&args);
    let reference = ffmpeg(&["-i", file_str, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);

    let (config, packets) = annexb_packets(&file, codec);
    let track = Track::video(config, 90_000, 320, 240);
    let mut decoder =
        VideoDecoder::new(&track, VideoFormat::new(PixelFormat::Rgb24)).expect("decoder");
    let mut ours = Vec::new();
    for p in &packets {
        decoder.push(p).expect("decode");
        while let Some(f) = decoder.pull().expect("pull") {
            assert_eq!(
                (f.width, f.height, f.format),
                (320, 240, PixelFormat::Rgb24)
            );
            ours.extend_from_slice(&f.data);
        }
    }
    decoder.finish().expect("flush");
    while let Some(f) = decoder.pull().expect("pull") {
        ours.extend_from_slice(&f.data);
    }
    assert_eq!(
        reference.len(),
        320 * 240 * 3 * 25,
        "ffmpeg decoded 25 frames"
    );
    assert_eq!(
        ours.len(),
        reference.len(),
        "{encoder}: frame count differs from ffmpeg's"
    );
    let worst = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    let differing = ours.iter().zip(&reference).filter(|(a, b)| a != b).count();
    eprintln!(
        "{encoder}: largest difference {worst}, {differing} of {} samples differ",
        ours.len()
    );
    assert!(
        worst <= 1,
        "{encoder}: a sample differs by {worst} from ffmpeg's decode"
    );
}

#[test]
fn h264_decode_equals_ffmpegs_rgb24() {
    require_peer!("ffmpeg");
    compare_video("libx264", "h264", VideoCodec::H264);
}

#[test]
fn h265_decode_equals_ffmpegs_rgb24() {
    require_peer!("ffmpeg");
    compare_video("libx265", "hevc", VideoCodec::H265);
}

/// ADTS frames into raw access units and the AudioSpecificConfig.
fn adts_packets(data: &[u8]) -> (Bytes, Vec<Packet>) {
    let mut at = 0;
    let mut packets = Vec::new();
    let mut config = Bytes::new();
    while at + 7 <= data.len() {
        let h = &data[at..at + 7];
        assert_eq!(h[0], 0xFF, "ADTS sync at {at}");
        let length =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let header = if h[1] & 1 == 1 { 7 } else { 9 };
        let object = (h[2] >> 6) + 1;
        let frequency = (h[2] >> 2) & 0xF;
        let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
        let bits =
            (u16::from(object) << 11) | (u16::from(frequency) << 7) | (u16::from(channels) << 3);
        config = Bytes::copy_from_slice(&bits.to_be_bytes());
        let payload = Bytes::copy_from_slice(&data[at + header..at + length]);
        packets.push(Packet::new(0, packets.len() as i64 * 1024, true, payload));
        at += length;
    }
    (config, packets)
}

#[test]
fn aac_decode_equals_ffmpegs_f32() {
    require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let file = dir.path().join("tone.aac");
    let file_str = file.to_str().expect("utf-8 path");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000:duration=1",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-f",
        "adts",
        "-y",
        file_str,
    ]);
    let reference: Vec<f32> = ffmpeg(&["-i", file_str, "-f", "f32le", "-ac", "2", "-"])
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (config, packets) = adts_packets(&std::fs::read(&file).expect("fixture"));
    let codec = AudioCodec::from_codec(&Codec::Aac { config }).expect("AAC");
    let mut decoder =
        AudioDecoder::new(codec, 48_000, AudioFormat::new(SampleFormat::F32)).expect("decoder");
    let mut ours = Vec::new();
    for p in &packets {
        decoder.push(p).expect("decode");
        while let Some(f) = decoder.pull().expect("pull") {
            assert_eq!((f.rate, f.channels), (48_000, 2));
            ours.extend(f.to_f32());
        }
    }
    decoder.finish().expect("flush");
    while let Some(f) = decoder.pull().expect("pull") {
        ours.extend(f.to_f32());
    }
    assert_eq!(
        ours.len(),
        reference.len(),
        "as many samples as ffmpeg's decode"
    );
    let worst = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("AAC: largest difference {worst:e}");
    // The same float decoder: equal up to float rounding (one s16 step is 3e-5).
    assert!(
        worst <= 3.1e-5,
        "AAC decode differs by {worst} from ffmpeg's"
    );
}
