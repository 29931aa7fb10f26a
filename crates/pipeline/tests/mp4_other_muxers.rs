//! MP4 files as other muxers write them (a High-profile `avcC` without its chroma fields,
//! `avc3`), read as ffmpeg reads them (checked packet for packet against the file by
//! ffprobe, and decoded by ffmpeg).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pipeline::Options;
use test_support::ffprobe;

mod mp4_common;
use mp4_common::{AUDIO, H264_AAC, VIDEO, assert_decodes, assert_same_packets, make, run};

/// `file` with its `avcC` record's last 4 bytes (High profile's chroma format, bit depths
/// and SPS extension count) cut and every box around it 4 bytes shorter, as older muxers
/// (and our TS input before 2026-12-07) wrote it. The `moov` must follow the media
/// (ffmpeg's default), so no chunk offset moves.
fn without_avcc_chroma_fields(file: &Path, out: &Path) {
    let mut data = std::fs::read(file).unwrap();
    let be32 = |d: &[u8], at: usize| u32::from_be_bytes(d[at..at + 4].try_into().unwrap());
    let avcc = data.windows(4).position(|w| w == b"avcC").unwrap() - 4;
    let mdat = data.windows(4).position(|w| w == b"mdat").unwrap();
    let moov = data.windows(4).position(|w| w == b"moov").unwrap();
    assert!(mdat < moov, "moov before the media");
    // The boxes around it, from the top: moov, trak, mdia, minf, stbl, stsd, avc1.
    let (mut at, mut around) = (0, Vec::new());
    while at != avcc {
        let size = be32(&data, at) as usize;
        if avcc < at || avcc >= at + size {
            at += size;
            continue;
        }
        around.push(at);
        at += match &data[at + 4..at + 8] {
            b"stsd" => 16,
            b"avc1" => 86,
            _ => 8,
        };
    }
    around.push(avcc);
    let end = avcc + be32(&data, avcc) as usize;
    assert_eq!(data[end - 4] & 0xFC, 0xFC, "the record has the fields");
    for at in around {
        let size = be32(&data, at) - 4;
        data[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    data.drain(end - 4..end);
    std::fs::write(out, data).unwrap();
}

/// A High-profile `avcC` without its chroma format and bit depths: ffmpeg reads it, and
/// so do we (the record made again from its SPS); before, the video track was skipped
/// with a warning and only the audio was recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_high_profile_avcc_without_its_chroma_fields_is_read() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let full = make(dir.path(), "full.mp4", &[VIDEO, AUDIO], H264_AAC);
    let cut = dir.path().join("cut.mp4");
    without_avcc_chroma_fields(&full, &cut);
    assert_eq!(
        ffprobe::packets(&cut, "v:0").len(),
        50,
        "ffmpeg reads the cut file"
    );
    for out in ["out.mp4", "out-fragmented.mp4"] {
        let out = dir.path().join(out);
        let mut options = Options::default();
        options.fragmented = out.to_str().unwrap().contains("fragmented");
        run(&cut, &out, options).await.unwrap();
        assert_same_packets(&cut, &out, "v:0");
        assert_same_packets(&cut, &out, "a:0");
        assert_decodes(&out);
    }
}

/// `avc3` (parameter sets allowed in band; DASH and CMAF packagers), as ffmpeg writes it
/// with `-tag:v avc3`, plain and fragmented: read as `avc1`, packet for packet. Before,
/// the track was skipped ("sample entry avc3 is not supported") and the file refused.
#[tokio::test(flavor = "multi_thread")]
async fn avc3_is_read_as_avc1() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mut plain: Vec<&str> = H264_AAC.to_vec();
    plain.extend(["-tag:v", "avc3"]);
    let mut fragmented = plain.clone();
    fragmented.extend(["-movflags", "frag_keyframe+empty_moov"]);
    for (name, encode) in [("avc3.mp4", &plain), ("avc3-fragmented.mp4", &fragmented)] {
        let source = make(dir.path(), name, &[VIDEO, AUDIO], encode);
        let out = dir.path().join(format!("out-{name}"));
        run(&source, &out, Options::default()).await.unwrap();
        assert_same_packets(&source, &out, "v:0");
        assert_same_packets(&source, &out, "a:0");
        assert_decodes(&out);
    }
}

/// The rotation ffprobe reads from a file's video track (`tkhd` display matrix).
fn rotation(file: &Path) -> String {
    let probe = ffprobe::probe_with(
        file,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream_side_data=rotation",
        ],
    );
    probe["streams"][0]["side_data_list"][0]["rotation"].to_string()
}

/// A phone's portrait video: a landscape picture and a 90° rotation in `tkhd` (ffmpeg's
/// `rotate` tag writes the same matrix). Plain, fragmented and HLS output keep it, so the
/// video still plays upright; before, the matrix was dropped and it played sideways.
#[tokio::test(flavor = "multi_thread")]
async fn a_phones_rotation_is_kept() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let landscape = make(dir.path(), "landscape.mp4", &[VIDEO, AUDIO], H264_AAC);
    let source = dir.path().join("portrait.mp4");
    let (from, to) = (landscape.to_str().unwrap(), source.to_str().unwrap());
    ffprobe::ffmpeg(&["-i", from, "-c", "copy", "-metadata:s:v", "rotate=90", to]);
    assert_eq!(rotation(&source), "90");
    for (name, fragmented) in [
        ("out.mp4", false),
        ("out-fragmented.mp4", true),
        ("hls/out.m3u8", false),
    ] {
        let out = dir.path().join(name);
        let mut options = Options::default();
        options.fragmented = fragmented;
        run(&source, &out, options).await.unwrap();
        let probed = if name.ends_with("m3u8") {
            dir.path().join("hls/init.mp4")
        } else {
            out.clone()
        };
        assert_eq!(rotation(&probed), "90", "{name}");
        assert_same_packets(&source, &out, "v:0");
    }
}
