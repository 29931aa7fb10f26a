//! Rebuilding a plain MP4 killed before its `moov` was written, from the media data in
//! the file and the index journal beside it (see the `journal` module).
//!
//! The samples are replayed into a new file rather than indexed in place: the journal
//! gives each sample's offset, so one could write a `moov` for the old layout, but the
//! muxer's chunking (and the `mdat` size, and co64 choices) would have to be rebuilt from
//! records alone. A copy reuses the finishing code as it is, and only runs after a
//! crash; it needs the file's size again in free space for a moment.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::journal::{self, JournalRecord};
use crate::{Codec, Error, Mp4Options, Mp4Writer, Result, Sample, TrackConfig, TrackKind};

/// `NAME.idx` beside `NAME` (the journal of `NAME.partial` is `NAME.partial.idx`).
pub fn journal_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

/// The [`Error::Journal`] reason of [`recover_plain`] when the journal lists no sample
/// the file wholly holds (killed before the first chunk reached the disk).
pub const NO_SAMPLE_ON_DISK: &str = "no sample reached the disk";

/// What [`recover_plain`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveredPlain {
    /// Samples kept, all tracks.
    pub samples: u64,
    /// Samples the journal listed whose payload was not (wholly) in the file.
    pub lost_samples: u64,
    /// Bytes of the journal after its last valid record (a torn append).
    pub torn_journal_bytes: u64,
}

fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

fn bad(reason: &'static str) -> Error {
    Error::Journal { reason }
}

fn raw(kind: TrackKind, entry: Bytes) -> Codec {
    Codec::Raw { entry, kind }
}

/// Writes to `target` a playable MP4 holding every sample of `partial` that `journal`
/// lists and the file wholly holds (written to a temporary name, synced, renamed). The
/// inputs are left as they are.
pub fn recover_plain(partial: &Path, journal: &Path, target: &Path) -> Result<RecoveredPlain> {
    let data = std::fs::read(journal).map_err(io_err("reading the index journal"))?;
    let decoded = journal::decode(&data).ok_or(bad("no journal magic"))?;
    let mut records = decoded.records.into_iter().peekable();
    let mut tracks = Vec::new();
    while let Some(JournalRecord::Track(t)) =
        records.next_if(|r| matches!(r, JournalRecord::Track(_)))
    {
        tracks.push(t);
    }
    if tracks.is_empty() {
        return Err(bad("no track record"));
    }
    let kinds: Vec<TrackKind> = tracks.iter().map(|t| t.kind).collect();
    let configs = tracks
        .into_iter()
        .map(|t| TrackConfig {
            codec: raw(t.kind, t.entry),
            timescale: t.timescale,
            width: t.width,
            height: t.height,
            pixel_aspect: None,
            display_matrix: None,
            sample_rate: t.sample_rate,
            channels: t.channels,
            default_duration: t.default_duration,
        })
        .collect::<Vec<_>>();
    let options = Mp4Options {
        movie_timescale: configs.first().map_or(1000, |c| c.timescale.max(1)),
        ..Mp4Options::default()
    };
    let input = File::open(partial).map_err(io_err("opening the partial file"))?;
    let len = input
        .metadata()
        .map_err(io_err("reading the partial file"))?
        .len();
    let mut input = BufReader::with_capacity(1 << 20, input);
    let temporary = crate::temporary_path(target);
    let out = File::create(&temporary).map_err(io_err("creating the recovered file"))?;
    let result = (|| {
        let mut writer = Mp4Writer::new(out, configs, options)?;
        let mut kept = RecoveredPlain {
            samples: 0,
            lost_samples: 0,
            torn_journal_bytes: (data.len() - decoded.valid_len) as u64,
        };
        for record in records {
            match record {
                JournalRecord::Track(_) => return Err(bad("a track record after the samples")),
                JournalRecord::Codec { track, entry } => {
                    let kind = *kinds.get(usize::from(track)).ok_or(bad("unknown track"))?;
                    writer.set_codec(usize::from(track), raw(kind, entry))?;
                }
                JournalRecord::Sample(s) => {
                    if s.offset.saturating_add(u64::from(s.size)) > len || s.size == 0 {
                        kept.lost_samples += 1;
                        continue;
                    }
                    let mut payload = vec![0; s.size as usize];
                    input
                        .seek(SeekFrom::Start(s.offset))
                        .and_then(|_| input.read_exact(&mut payload))
                        .map_err(io_err("reading media data"))?;
                    writer.push(Sample {
                        track: usize::from(s.track),
                        dts: s.dts,
                        cts_offset: s.cts_offset,
                        duration: None,
                        sync: s.sync,
                        data: Bytes::from(payload),
                    })?;
                    kept.samples += 1;
                }
            }
        }
        if kept.samples == 0 {
            return Err(bad(NO_SAMPLE_ON_DISK));
        }
        let file = writer.finish()?;
        file.sync_all()
            .map_err(io_err("syncing the recovered file"))?;
        Ok(kept)
    })();
    match result {
        Ok(kept) => {
            std::fs::rename(&temporary, target).map_err(io_err("renaming the recovered file"))?;
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::sync_dir(dir).map_err(io_err("syncing the directory"))?;
            }
            Ok(kept)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}
