//! Says which of the crate's decoders and encoders the linked FFmpeg has, then encodes
//! 1 s of a 440 Hz tone to AAC and decodes it back, printing what came out.
//!
//! ```sh
//! cargo run -p media-toolkit-codec --example codecs
//! ```

use bytes::Bytes;
use media_codec::{
    AudioCodec, AudioDecoder, AudioEncoder, AudioEncoderSettings, AudioFormat, AudioFrame,
    EncodedAudio, SampleFormat,
};

fn main() -> Result<(), media_codec::Error> {
    media_codec::init()?;
    println!(
        "MP3 encoder (libmp3lame): {}",
        media_codec::has_mp3_encoder()
    );
    let rate = 48_000;
    let tone: Vec<u8> = (0..rate)
        .flat_map(|i| {
            (0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
                .to_ne_bytes()
        })
        .collect();
    let frame = AudioFrame::new(Bytes::from(tone), rate, 1, SampleFormat::F32, 0, rate)
        .ok_or_else(|| media_codec::Error::Invalid("tone".into()))?;
    let mut encoder = AudioEncoder::new(AudioEncoderSettings::new(EncodedAudio::Aac, rate, 1))?;
    encoder.push(&frame)?;
    encoder.finish()?;
    let mut packets = Vec::new();
    while let Some(packet) = encoder.pull()? {
        packets.push(packet);
    }
    let Some(codec) = encoder.codec() else {
        return Err(media_codec::Error::Invalid(
            "the encoder gave no packet".into(),
        ));
    };
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    println!(
        "AAC: {} packets, {bytes} bytes, config {codec:?}",
        packets.len()
    );
    let mut decoder = AudioDecoder::new(
        AudioCodec::from_codec(&codec)?,
        rate,
        AudioFormat::new(SampleFormat::S16),
    )?;
    let mut samples = 0;
    for packet in &packets {
        decoder.push(packet)?;
        while let Some(frame) = decoder.pull()? {
            samples += frame.frames();
        }
    }
    decoder.finish()?;
    while let Some(frame) = decoder.pull()? {
        samples += frame.frames();
    }
    println!("decoded back: {samples} samples of s16 at {rate} Hz (priming included)");
    Ok(())
}
