//! An MP4 over 4 GiB: ffmpeg's samples re-muxed by shiguredo_mp4's muxer behind a 4.5 GiB
//! sparse hole in `mdat`, so its chunk offsets need `co64` and `mdat` a 64-bit size. Our
//! input reads it back to a small MP4 with every packet of the source (ffprobe), and
//! ffprobe reads the large file the same way. And a sample entry change in the middle
//! of a track.
#![allow(clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use pipeline::{Direction, Endpoint, Pipeline};
use shiguredo_mp4::demux::{Input, Mp4FileDemuxer};
use shiguredo_mp4::mux::{Mp4FileMuxer, Sample};
use test_support::ffprobe::{self, num};

/// The hole in front of the samples: past 4 GiB.
const HOLE: u64 = 4_500_000_000;

/// (pts − first dts, dts − first dts, size, key) per packet of `stream`.
fn listed(path: &Path, stream: &str) -> Vec<(i64, i64, u64, bool)> {
    let packets = ffprobe::packets(path, stream);
    let origin = num(&packets[0]["dts"]) as i64;
    packets
        .iter()
        .map(|p| {
            (
                num(&p["pts"]) as i64 - origin,
                num(&p["dts"]) as i64 - origin,
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect()
}

/// Copies every sample of `source` into a sparse file whose media data starts past 4 GiB.
fn write_sparse(source: &Path, large: &Path) {
    let data = std::fs::read(source).unwrap();
    let mut demuxer = Mp4FileDemuxer::new();
    demuxer.handle_input(Input {
        position: 0,
        data: &data,
    });
    let mut muxer = Mp4FileMuxer::new().unwrap();
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(large)
        .unwrap();
    file.write_all(muxer.initial_boxes_bytes()).unwrap();
    let mut position = muxer.initial_boxes_bytes().len() as u64 + HOLE;
    muxer.advance_position(HOLE).unwrap();
    while let Some(s) = demuxer.next_sample().unwrap() {
        let bytes = &data[s.data_offset as usize..s.data_offset as usize + s.data_size];
        file.seek(SeekFrom::Start(position)).unwrap();
        file.write_all(bytes).unwrap();
        muxer
            .append_sample(&Sample {
                track_kind: s.track.kind,
                sample_entry: s.sample_entry.cloned(),
                keyframe: s.keyframe,
                timescale: s.track.timescale,
                duration: s.duration,
                composition_time_offset: s.composition_time_offset,
                data_offset: position,
                data_size: s.data_size,
            })
            .unwrap();
        position += s.data_size as u64;
    }
    let finalized = muxer.finalize().unwrap();
    for (offset, bytes) in finalized.offset_and_bytes_pairs() {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sparse_file_over_4_gib_with_co64() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = dir.path().join("source.mp4");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .args([
            "testsrc=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
        ])
        .args(["-t", "1", "-c:v", "libx264", "-bf", "2", "-c:a", "aac"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    let large = dir.path().join("large.mp4");
    write_sparse(&source, &large);
    let size = std::fs::metadata(&large).unwrap().len();
    assert!(size > HOLE, "{size} bytes");
    let tail = {
        let mut f = std::fs::File::open(&large).unwrap();
        f.seek(SeekFrom::Start(size - 64 * 1024)).unwrap();
        let mut t = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut t).unwrap();
        t
    };
    assert!(tail.windows(4).any(|w| w == b"co64"), "the moov uses co64");

    let out = dir.path().join("out.mp4");
    let input = Endpoint::parse(large.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output).run().await.unwrap();
    for stream in ["v:0", "a:0"] {
        let theirs = listed(&source, stream);
        assert_eq!(
            listed(&large, stream),
            theirs,
            "ffprobe on the large file, {stream}"
        );
        assert_eq!(
            listed(&out, stream),
            theirs,
            "ours from the large file, {stream}"
        );
    }
    assert!(ffprobe::decode_errors(&out).is_empty());
}

/// A track whose sample entry changes in the middle (two `avc1` entries: 160×120, then
/// 320×240), muxed by shiguredo_mp4 from two ffmpeg encodes: written out as Annex B, the
/// second part comes with its own parameter sets, and ffmpeg decodes both sizes.
#[tokio::test(flavor = "multi_thread")]
async fn a_sample_entry_change_reaches_the_output() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let part = |name: &str, size: &str| {
        let path = dir.path().join(name);
        let made = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size={size}:rate=25"))
            .args([
                "-t", "1", "-c:v", "libx264", "-bf", "0", "-g", "10", "-pix_fmt", "yuv420p",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::read(&path).unwrap()
    };
    let parts = [part("small.mp4", "160x120"), part("large.mp4", "320x240")];
    let joined = dir.path().join("joined.mp4");
    let mut muxer = Mp4FileMuxer::new().unwrap();
    let mut file = std::fs::File::create(&joined).unwrap();
    file.write_all(muxer.initial_boxes_bytes()).unwrap();
    let mut position = muxer.initial_boxes_bytes().len() as u64;
    for data in &parts {
        let mut demuxer = Mp4FileDemuxer::new();
        demuxer.handle_input(Input { position: 0, data });
        while let Some(s) = demuxer.next_sample().unwrap() {
            let bytes = &data[s.data_offset as usize..s.data_offset as usize + s.data_size];
            file.write_all(bytes).unwrap();
            muxer
                .append_sample(&Sample {
                    track_kind: s.track.kind,
                    sample_entry: s.sample_entry.cloned(),
                    keyframe: s.keyframe,
                    timescale: s.track.timescale,
                    duration: s.duration,
                    composition_time_offset: s.composition_time_offset,
                    data_offset: position,
                    data_size: s.data_size,
                })
                .unwrap();
            position += s.data_size as u64;
        }
    }
    for (offset, bytes) in muxer.finalize().unwrap().offset_and_bytes_pairs() {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(bytes).unwrap();
    }
    drop(file);

    let out = dir.path().join("out.h264");
    let input = Endpoint::parse(joined.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output).run().await.unwrap();
    let frames = ffprobe::probe_with(&out, &["-show_entries", "frame=width", "-show_frames"]);
    let widths: Vec<u64> = frames["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths.len(), 50, "{widths:?}");
    assert!(
        widths[..25].iter().all(|&w| w == 160) && widths[25..].iter().all(|&w| w == 320),
        "{widths:?}"
    );
    assert!(ffprobe::decode_errors(&out).is_empty());
}
