//! VP8, VP9 and AV1 in MP4 as input (`vp08`/`vp09` with `vpcC`, `av01` with `av1C`): what
//! ffmpeg writes (VP9, AV1) and what our WHIP recordings write (VP8, which ffmpeg 5.1 cannot
//! put in MP4), read back and written again as MP4, fragmented MP4 and HLS, compared packet
//! by packet with the source by ffprobe; ffmpeg decodes every output. They were refused
//! before ("no H.264, H.265, AAC, MP3 or Opus track"), so our own VP/AV1 recordings could
//! not be remuxed by us.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use pipeline::{Codec, Direction, Endpoint, Options, Pipeline, Track, raw};
use test_support::ffprobe::{self, num};

/// ffmpeg's test picture, 2 s with a key frame a second, encoded as `args` say.
fn ffmpeg(args: &[&str]) {
    let picture = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "2",
        "-g",
        "25",
    ];
    ffprobe::ffmpeg(&[&picture[..], args].concat());
}

async fn run(input: &Path, output: &Path, fragmented: bool) {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output).unwrap();
    let mut options = Options::default();
    options.fragmented = fragmented;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
}

/// (pts, dts, size, key) of each video packet.
fn packets(path: &Path) -> Vec<(i64, i64, u64, bool)> {
    ffprobe::packets(path, "v:0")
        .iter()
        .map(|p| {
            (
                num(&p["pts"]) as i64,
                num(&p["dts"]) as i64,
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect()
}

fn assert_decodes(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(errors.is_empty(), "{path:?}: {errors}");
}

/// Our MP4, fMP4 and HLS of `source`: the same packets (HLS: as many), a clean decode.
async fn remuxes(source: &Path, codec_name: &str) {
    let dir = source.parent().unwrap();
    let stem = source.file_stem().unwrap().to_string_lossy();
    let theirs = packets(source);
    assert_eq!(theirs.len(), 50, "{source:?}");
    for fragmented in [false, true] {
        let out = dir.join(format!("{stem}-out-{fragmented}.mp4"));
        run(source, &out, fragmented).await;
        assert_eq!(
            ffprobe::probe(&out)["streams"][0]["codec_name"],
            codec_name,
            "{out:?}"
        );
        assert_eq!(packets(&out), theirs, "{out:?}");
        assert_decodes(&out);
    }
    let hls = dir.join(format!("{stem}-hls/"));
    run(source, &hls, false).await;
    let playlist = hls.join("index.m3u8");
    assert_eq!(packets(&playlist).len(), theirs.len());
    assert_decodes(&playlist);
}

#[tokio::test(flavor = "multi_thread")]
async fn vp9_and_av1_made_by_ffmpeg_are_read() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let vp9 = dir.path().join("vp9.mp4");
    ffmpeg(&["-c:v", "libvpx-vp9", "-b:v", "300k", vp9.to_str().unwrap()]);
    remuxes(&vp9, "vp9").await;
    let av1 = dir.path().join("av1.mp4");
    let aom = ["-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "300k"];
    ffmpeg(&[&aom[..], &[av1.to_str().unwrap()]].concat());
    remuxes(&av1, "av1").await;
}

/// VP8 frames from ffmpeg's IVF file (32-byte file header; per frame a 12-byte header,
/// the size in its first 4 bytes, little-endian), with the key flag from each frame
/// tag (RFC 6386 §9.1: bit 0 clear on a key frame).
fn ivf_frames(path: &Path) -> Vec<(Bytes, bool)> {
    let data = Bytes::from(std::fs::read(path).unwrap());
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let frame = data.slice(at + 12..at + 12 + len);
        frames.push((frame.clone(), frame[0] & 1 == 0));
        at += 12 + len;
    }
    frames
}

#[tokio::test(flavor = "multi_thread")]
async fn vp8_in_our_own_mp4_is_read() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let ivf = dir.path().join("vp8.ivf");
    ffmpeg(&["-c:v", "libvpx", "-b:v", "300k", ivf.to_str().unwrap()]);
    // Recorded as a WHIP publish is: VP8 frames through the raw packet API into MP4.
    let recorded = dir.path().join("vp8.mp4");
    let (writer, input) = raw::input(vec![Track::video(Codec::Vp8, 90_000, 320, 240)], 64);
    let output = Endpoint::parse(recorded.to_str().unwrap(), Direction::Output).unwrap();
    let handle = Pipeline::new(input, output).spawn();
    for (i, (frame, key)) in ivf_frames(&ivf).into_iter().enumerate() {
        let packet = pipeline::Packet::new(0, i as i64 * 3600, key, frame);
        let flow = writer.write(packet.with_duration(Some(3600))).await;
        assert!(matches!(flow, raw::Flow::Continue), "packet {i} refused");
    }
    writer.close();
    tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .unwrap()
        .unwrap();
    remuxes(&recorded, "vp8").await;
}
