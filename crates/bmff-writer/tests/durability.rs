//! What a crash or a full disk leaves: each fragment reaches the file when complete (even
//! through a large buffer), the fsync policy is followed, and segment files are whole or
//! absent after `ENOSPC` (a real full disk: a small tmpfs). Checked by ffprobe and ffmpeg.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use bmff_writer::{
    FragmentOptions, FragmentedWriter, FsyncPolicy, Mp4Options, Mp4Writer, SegmentFiles,
    SegmentWriter, SyncData,
};
use common::{fixture_track, interleave};
use test_support::ffprobe::{self, num};

/// Packets per stream (video first) that ffprobe reads in `path`.
fn packets(path: &Path) -> Vec<u64> {
    let probe = ffprobe::probe_with(path, &["-count_packets", "-show_streams"]);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| num(&s["nb_read_packets"]) as u64)
        .collect()
}

/// A 1 MiB buffer in front of the file (as the pipeline had) must not hold a complete
/// fragment back: after each fragment the file on disk holds exactly what `written()`
/// says, and a copy taken then (what a `kill -9` leaves) plays with every frame of the
/// completed fragments.
#[test]
fn each_fragment_reaches_the_file_through_a_buffer() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let path = dir.path().join("live.mp4");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let options = FragmentOptions::new(Duration::from_millis(500));
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    let mut w = FragmentedWriter::new(out, configs, options).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), w.written().bytes);
    let mut snapshots = 0;
    let mut seen = 0;
    for s in interleave(&tracks) {
        w.push(s).unwrap();
        let written = w.written().clone();
        if written.fragments == seen {
            continue;
        }
        seen = written.fragments;
        assert_eq!(std::fs::metadata(&path).unwrap().len(), written.bytes);
        // What a crash now would leave.
        let crash = dir.path().join(format!("crash-{seen}.mp4"));
        std::fs::copy(&path, &crash).unwrap();
        assert_eq!(packets(&crash), written.samples, "after fragment {seen}");
        let errors = ffprobe::decode_errors(&crash);
        assert!(errors.is_empty(), "fragment {seen}: {errors}");
        snapshots += 1;
    }
    assert!(snapshots >= 1, "a fragment completed before the end");
    w.finish().unwrap();
    let total: Vec<u64> = tracks.iter().map(|(_, s)| s.len() as u64).collect();
    assert_eq!(packets(&path), total);
}

/// Counts `sync_data` calls (and keeps the bytes), to see the policy applied.
#[derive(Default)]
struct CountingFile {
    bytes: Vec<u8>,
    syncs: usize,
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Seek for CountingFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        // Only the plain writer's final patch uses it; appending is all this test needs.
        match pos {
            io::SeekFrom::Start(p) => Ok(p),
            _ => Ok(self.bytes.len() as u64),
        }
    }
}

impl SyncData for CountingFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.syncs += 1;
        Ok(())
    }
}

#[test]
fn fsync_policies_are_followed() {
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let configs: Vec<_> = tracks.iter().map(|(c, _)| c.clone()).collect();
    let options = FragmentOptions::new(Duration::from_millis(500));
    let fragmented = |policy| {
        let w = FragmentedWriter::new(CountingFile::default(), configs.clone(), options.clone());
        let mut w = w.unwrap().with_fsync(policy);
        for s in interleave(&tracks) {
            w.push(s).unwrap();
        }
        w.finish().unwrap().syncs
    };
    // The 2 s fixture with a key frame each second: two fragments.
    assert_eq!(fragmented(FsyncPolicy::EachFragment), 2);
    assert_eq!(fragmented(FsyncPolicy::Never), 0);
    assert_eq!(
        fragmented(FsyncPolicy::Interval(Duration::from_secs(3600))),
        1
    );

    let plain = |policy| {
        let w = Mp4Writer::new(
            CountingFile::default(),
            configs.clone(),
            Mp4Options::default(),
        );
        let mut w = w.unwrap().with_fsync(policy);
        for s in interleave(&tracks) {
            w.push(s).unwrap();
        }
        w.finish().unwrap().syncs
    };
    // 2 s of video and audio in ~0.5 s chunks: several chunk writes before the end.
    let syncs = plain(FsyncPolicy::EachFragment);
    assert!(syncs >= 3, "{syncs} syncs");
    assert_eq!(plain(FsyncPolicy::Never), 0);
    assert_eq!(plain(FsyncPolicy::Interval(Duration::from_secs(3600))), 1);
}

/// A real full disk: segments go to a 64 KiB tmpfs until writing fails. Every file left is
/// listed and complete (no partial, empty or temporary file), and the listed segments
/// play without a decode error.
#[test]
fn a_full_disk_leaves_only_whole_listed_segments() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let Some(disk) = test_support::tmpfs::Tmpfs::mount("full_disk_segments", 64 << 10) else {
        return;
    };
    // The 2 s fixtures three times over (each copy starts at a key frame): segments are
    // handed out while pushing, not only at the end.
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)].map(|(c, s)| {
        let step = s.last().unwrap().dts + (s[1].dts - s[0].dts);
        let copies = (0..3).flat_map(|k| {
            s.iter().map(move |x| {
                let mut copy = x.clone();
                copy.dts += k * step;
                copy
            })
        });
        (c, copies.collect::<Vec<_>>())
    });
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let options = FragmentOptions::new(Duration::from_millis(500));
    let files = SegmentFiles::new(disk.path()).with_fsync(FsyncPolicy::EachFragment);
    let mut w = SegmentWriter::new(files, configs, options).unwrap();
    let mut failure = None;
    for s in interleave(&tracks) {
        if let Err(e) = w.push(s) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("3 × 82 KB of video cannot fit in 64 KiB");
    let source = std::error::Error::source(&failure).unwrap().to_string();
    assert!(source.contains("No space left"), "{failure}: {source}");
    let files = w.sink();
    assert!(!files.segments.is_empty(), "one segment fits");

    let mut on_disk: Vec<String> = std::fs::read_dir(disk.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = files.inits.clone();
    listed.extend(files.segments.iter().map(|s| s.0.clone()));
    listed.sort();
    assert_eq!(on_disk, listed, "only listed files are left");
    for name in &listed {
        let len = std::fs::metadata(disk.path().join(name)).unwrap().len();
        assert!(len > 0, "{name} is empty");
    }

    // The listed segments, joined to their init segment, decode cleanly: whole files.
    let dir = test_support::temp_dir();
    let joined = dir.path().join("joined.mp4");
    let mut bytes = std::fs::read(disk.path().join(&files.inits[0])).unwrap();
    for (name, _, _) in &files.segments {
        bytes.extend(std::fs::read(disk.path().join(name)).unwrap());
    }
    std::fs::write(&joined, bytes).unwrap();
    let errors = ffprobe::decode_errors(&joined);
    assert!(errors.is_empty(), "{errors}");
    assert!(packets(&joined)[0] > 0);
}
