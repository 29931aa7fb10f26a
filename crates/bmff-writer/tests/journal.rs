//! The index journal of plain MP4: every record points at its sample's payload in the
//! file, and copies of the file and journal taken while writing (what `kill -9` leaves),
//! or a file cut shorter than its journal (a power cut), are rebuilt by `recover_plain`
//! into files ffmpeg decodes without an error, with the packets the journal promised.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use bmff_writer::journal::{self, JournalRecord};
use bmff_writer::{FsyncPolicy, Mp4Options, Mp4Writer, journal_path, recover_plain};
use common::{fixture_track, interleave};
use test_support::ffprobe::{self, num};

fn packets(path: &Path) -> u64 {
    let probe = ffprobe::probe_with(path, &["-count_packets", "-show_streams"]);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| num(&s["nb_read_packets"]) as u64)
        .sum()
}

#[test]
fn snapshots_taken_while_writing_rebuild_into_playable_files() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let partial = dir.path().join("live.mp4.partial");
    let idx = journal_path(&partial);
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let file = std::fs::File::create(&partial).unwrap();
    let mut w = Mp4Writer::new(file, configs, Mp4Options::default())
        .unwrap()
        .with_fsync(FsyncPolicy::EachFragment)
        .with_journal(std::fs::File::create(&idx).unwrap())
        .unwrap();
    let samples: Vec<_> = interleave(&tracks);
    let mut snapshots = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        w.push(s.clone()).unwrap();
        if i >= 60 && i % 30 == 0 {
            let n = snapshots.len();
            let (p, j) = (
                dir.path().join(format!("snap{n}.mp4.partial")),
                dir.path().join(format!("snap{n}.mp4.partial.idx")),
            );
            std::fs::copy(&partial, &p).unwrap();
            std::fs::copy(&idx, &j).unwrap();
            snapshots.push((p, j));
        }
    }
    assert!(snapshots.len() >= 3, "{} samples", samples.len());

    // Every record names its sample's bytes, in push order per track.
    let data = std::fs::read(&partial).unwrap();
    let decoded = journal::decode(&std::fs::read(&idx).unwrap()).unwrap();
    let mut per_track = [0usize; 2];
    for r in &decoded.records {
        if let JournalRecord::Sample(s) = r {
            let t = usize::from(s.track);
            let pushed = samples
                .iter()
                .filter(|x| x.track == t)
                .nth(per_track[t])
                .unwrap();
            per_track[t] += 1;
            let at = s.offset as usize;
            assert_eq!(&data[at..at + s.size as usize], &pushed.data[..]);
            assert_eq!((s.dts, s.sync), (pushed.dts, pushed.sync));
        }
    }
    assert!(per_track[0] > 0 && per_track[1] > 0);

    for (n, (p, j)) in snapshots.iter().enumerate() {
        let out = dir.path().join(format!("snap{n}.mp4"));
        let kept = recover_plain(p, j, &out).unwrap();
        assert_eq!((kept.lost_samples, kept.torn_journal_bytes), (0, 0));
        let errors = ffprobe::decode_errors(&out);
        assert!(errors.is_empty(), "snapshot {n}: {errors}");
        assert_eq!(packets(&out), kept.samples, "snapshot {n}");
    }

    // A power cut: the journal got further than the media data (cut at 60 %) and its own
    // tail is torn.
    let (p, j) = (
        dir.path().join("cut.partial"),
        dir.path().join("cut.partial.idx"),
    );
    std::fs::write(&p, &data[..data.len() * 6 / 10]).unwrap();
    let idx_bytes = std::fs::read(&idx).unwrap();
    std::fs::write(&j, &idx_bytes[..idx_bytes.len() - 7]).unwrap();
    let out = dir.path().join("cut.mp4");
    let kept = recover_plain(&p, &j, &out).unwrap();
    assert!(
        kept.lost_samples > 0 && kept.torn_journal_bytes > 0,
        "{kept:?}"
    );
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "{errors}");
    assert_eq!(packets(&out), kept.samples);

    // Nothing of the media on disk: an error, and no output left behind.
    std::fs::write(&p, &data[..40]).unwrap();
    let empty = dir.path().join("empty.mp4");
    assert!(matches!(
        recover_plain(&p, &j, &empty),
        Err(bmff_writer::Error::Journal { .. })
    ));
    assert!(!empty.exists());
}
