//! AC-3 (Dolby Digital) and E-AC-3 (Dolby Digital Plus) through every container that
//! carries them: ffmpeg's own encoders make the sources (5.1 at 48 kHz in MPEG-TS, both as ffmpeg writes it by
//! default, stream type 0x81, and as DVB does, private data with an AC-3 descriptor;
//! stereo at 44.1 kHz in MP4, whose frames alternate in size; mono at 32 kHz in
//! Matroska), and ours remuxes each to MP4, fragmented MP4 (HLS), Matroska and TS. Every
//! output is read by ffprobe (codec, rate, channels, each audio packet's size and time
//! against the source's) and decoded by ffmpeg without an error; mkvmerge reads the
//! Matroska files.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pipeline::{Direction, Endpoint, Pipeline};
use test_support::ffprobe::{self, ffmpeg, num};
use test_support::mkvtoolnix;

async fn remux(from: &Path, to: &Path) {
    let input = Endpoint::parse(from.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(to.to_str().unwrap(), Direction::Output).unwrap();
    if let Err(e) = Pipeline::new(input, output).run().await {
        panic!("{from:?} → {to:?}: {e}");
    }
}

/// The audio packets of `path`: (time in ms from the first, size), in time order.
fn audio_packets(path: &Path) -> Vec<(i64, u64)> {
    let mut packets: Vec<(f64, u64)> = ffprobe::packets(path, "a:0")
        .iter()
        .map(|p| (num(&p["pts_time"]), num(&p["size"]) as u64))
        .collect();
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = packets.first().map_or(0.0, |p| p.0);
    packets
        .into_iter()
        .map(|(t, size)| (((t - first) * 1000.0).round() as i64, size))
        .collect()
}

/// `ours` holds the source's AC-3 or E-AC-3 stream: codec, rate and channels, and every
/// packet's size and time (within a millisecond: Matroska keeps milliseconds).
fn assert_same_ac3(source: &Path, ours: &Path, rate: u32, channels: u64) {
    let codec = |path: &Path| {
        let probe = ffprobe::probe_with(path, &["-show_streams", "-select_streams", "a:0"]);
        probe["streams"][0].clone()
    };
    let stream = codec(ours);
    assert_eq!(
        stream["codec_name"],
        codec(source)["codec_name"],
        "{ours:?}: {stream}"
    );
    assert_eq!(stream["sample_rate"], rate.to_string().as_str(), "{ours:?}");
    assert_eq!(stream["channels"].as_u64(), Some(channels), "{ours:?}");
    let (theirs, mine) = (audio_packets(source), audio_packets(ours));
    assert!(
        theirs.len() >= 50,
        "{source:?}: {} audio packets",
        theirs.len()
    );
    assert_eq!(mine.len(), theirs.len(), "{ours:?}: audio packets");
    for (a, b) in theirs.iter().zip(&mine) {
        assert_eq!(a.1, b.1, "{ours:?}: packet sizes");
        assert!(
            (a.0 - b.0).abs() <= 1,
            "{ours:?}: {} ms, ours {} ms",
            a.0,
            b.0
        );
    }
    assert_eq!(ffprobe::decode_errors(ours), "", "{ours:?} decodes");
}

/// 3 s of ffmpeg's test picture (H.264) and a tone as AC-3 (or what `audio` says).
fn make(out: &Path, audio: &[&str], extra: &[&str]) {
    let mut args = vec![
        "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "ac3",
    ];
    args.extend_from_slice(audio);
    args.extend_from_slice(extra);
    ffprobe::make_av(out, "320x240", 3, &args);
}

/// Remuxes `source` to MP4, HLS (fragmented MP4), Matroska and TS and checks each.
async fn to_every_container(source: &Path, dir: &Path, rate: u32, channels: u64) {
    for name in ["out.mp4", "out.mkv", "out.ts"] {
        let out = dir.join(name);
        remux(source, &out).await;
        assert_same_ac3(source, &out, rate, channels);
    }
    let tracks = mkvtoolnix::identify(&dir.join("out.mkv"));
    assert!(
        tracks.to_string().contains("AC-3"),
        "mkvmerge names the codec: {tracks}"
    );
    let hls = dir.join("hls/");
    remux(source, &hls).await;
    let playlist = hls.join("index.m3u8");
    assert_same_ac3(source, &playlist, rate, channels);
}

#[tokio::test(flavor = "multi_thread")]
async fn ac3_in_ts_as_ffmpeg_and_dvb_write_it() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    for (flavour, extra) in [
        ("atsc", &[][..]),
        ("dvb", &["-mpegts_flags", "system_b"][..]),
    ] {
        let dir = test_support::temp_dir();
        let source = dir.path().join(format!("{flavour}.ts"));
        make(&source, &["-ac", "6", "-b:a", "384k"], extra);
        to_every_container(&source, dir.path(), 48_000, 6).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ac3_in_mp4_and_matroska_inputs() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    let dir = test_support::temp_dir();
    // 44.1 kHz: frames of 192 kbit/s alternate between 417 and 418 words.
    let source = dir.path().join("stereo.mp4");
    make(&source, &["-ac", "2", "-ar", "44100", "-b:a", "192k"], &[]);
    to_every_container(&source, dir.path(), 44_100, 2).await;

    let dir = test_support::temp_dir();
    let source = dir.path().join("mono.mkv");
    make(&source, &["-ac", "1", "-ar", "32000", "-b:a", "96k"], &[]);
    to_every_container(&source, dir.path(), 32_000, 1).await;
}

/// AC-3 and E-AC-3 decoded and encoded again where the output cannot take it (`codec` feature,
/// `--transcode if-needed`): ADTS takes AAC only, so the 5.1 TS's AC-3 becomes AAC of its
/// length, mixed down to stereo (the transcoder's target, for streaming outputs, is at
/// most two channels at 48 kHz); ffmpeg decodes it.
/// The body of the first `fourcc` box in an MP4 file (found by its type).
fn box_body(path: &Path, fourcc: &[u8; 4]) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == fourcc)
        .unwrap_or_else(|| panic!("{path:?} has no {fourcc:?}"));
    let size = u32::from_be_bytes(data[at - 4..at].try_into().unwrap()) as usize;
    data[at + 4..at - 4 + size].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn eac3_in_ts_mp4_and_matroska() {
    test_support::require_peer!("ffprobe", "ffmpeg", "mkvmerge");
    for (name, audio, extra, rate, channels) in [
        (
            "atsc.ts",
            &["-c:a", "eac3", "-ac", "6", "-b:a", "384k"][..],
            &[][..],
            48_000,
            6,
        ),
        (
            "dvb.ts",
            &["-c:a", "eac3", "-ac", "2", "-b:a", "128k"][..],
            &["-mpegts_flags", "system_b"][..],
            48_000,
            2,
        ),
        (
            "stereo.mp4",
            &["-c:a", "eac3", "-ac", "2", "-ar", "44100"][..],
            &[][..],
            44_100,
            2,
        ),
        (
            "mono.mkv",
            &["-c:a", "eac3", "-ac", "1", "-ar", "32000"][..],
            &[][..],
            32_000,
            1,
        ),
    ] {
        let dir = test_support::temp_dir();
        let source = dir.path().join(name);
        make(&source, audio, extra);
        to_every_container(&source, dir.path(), rate, channels).await;
        // Our dec3 is ffmpeg's: its own `-c copy` of the source into MP4.
        let theirs = dir.path().join("ffmpeg.mp4");
        ffmpeg(&[
            "-i",
            source.to_str().unwrap(),
            "-c",
            "copy",
            theirs.to_str().unwrap(),
        ]);
        let ours = dir.path().join("out.mp4");
        assert_eq!(
            box_body(&ours, b"dec3"),
            box_body(&theirs, b"dec3"),
            "{name}"
        );
    }
}

#[cfg(feature = "codec")]
#[tokio::test(flavor = "multi_thread")]
async fn ac3_becomes_aac_where_the_output_needs_it() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    for codec in ["ac3", "eac3"] {
        aac_from(codec).await;
    }
}

#[cfg(feature = "codec")]
async fn aac_from(codec: &str) {
    let dir = test_support::temp_dir();
    let source = dir.path().join("surround.ts");
    make(&source, &["-c:a", codec, "-ac", "6", "-b:a", "384k"], &[]);
    let out = dir.path().join("out.aac");
    let input = Endpoint::parse(source.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    let mut options = pipeline::Options::default();
    options.video = false;
    options.transcoding.policy = pipeline::transcoding::TranscodePolicy::IfNeeded;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
    let probe = ffprobe::probe(&out);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "aac", "{codec}: {stream}");
    assert_eq!(stream["channels"].as_u64(), Some(2), "{codec}: {stream}");
    assert_eq!(stream["sample_rate"], "48000", "{stream}");
    let packets = ffprobe::packets(&out, "a:0").len();
    // 3 s at 48 kHz: 140.6 AAC frames of 1024 samples (the encoder's priming adds one
    // or two).
    assert!((140..=144).contains(&packets), "{packets} AAC frames");
    assert_eq!(ffprobe::decode_errors(&out), "", "the AAC decodes");
}

/// AC-3 frames and E-AC-3 units cut across PES packets (as a muxer that fills PES packets
/// to a size writes them; ffmpeg keeps frames whole): each PES here holds 1000 bytes of
/// ffmpeg's raw stream, so most frames begin in one and end in the next. Every frame comes
/// out whole, at its own time, and ffmpeg decodes the MP4.
#[tokio::test(flavor = "multi_thread")]
async fn frames_cut_across_pes_packets_are_joined() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    for (codec, stream_type) in [
        ("ac3", mpeg_ts::StreamType::Ac3),
        ("eac3", mpeg_ts::StreamType::Eac3),
    ] {
        let dir = test_support::temp_dir();
        let raw = dir.path().join(format!("tone.{codec}"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "2",
            "-c:a",
            codec,
            "-b:a",
            "192k",
            "-f",
            codec,
            raw.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&raw).unwrap();
        // 192 kbit/s at 48 kHz: 768 bytes per 1536 samples (32 ms).
        let frames = bytes.len() / 768;
        assert!(frames >= 60, "{codec}: {} bytes", bytes.len());
        let mut muxer = mpeg_ts::Muxer::new(&[stream_type]).unwrap();
        let mut ts = Vec::new();
        for (i, piece) in bytes.chunks(1000).enumerate() {
            // The time of the frame the piece's first byte belongs to (90 kHz).
            let dts = (i * 1000 / 768) as i64 * 2880;
            let payload = [bytes::Bytes::copy_from_slice(piece)];
            let frame = mpeg_ts::Frame::new(0, dts, true, &payload);
            muxer.write(&frame, &mut ts).unwrap();
        }
        let source = dir.path().join("cut.ts");
        std::fs::write(&source, ts).unwrap();
        let out = dir.path().join("out.mp4");
        remux(&source, &out).await;
        let packets = ffprobe::packets(&out, "a:0");
        assert_eq!(packets.len(), frames, "{codec}: every frame");
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(num(&p["size"]) as usize, 768, "{codec}: packet {i}");
            let at = num(&p["pts_time"]);
            assert!(
                (at - i as f64 * 0.032).abs() < 0.001,
                "{codec}: packet {i} at {at}"
            );
        }
        assert_eq!(ffprobe::decode_errors(&out), "", "{codec} decodes");
    }
}
