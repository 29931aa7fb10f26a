//! Recovery of a `.partial` left by a kill, an OOM kill or a power cut.
//!
//! Fragmented MP4 (ISO/IEC 14496-12 §8.8): the file is `ftyp`, `moov` (no samples), then
//! `moof`+`mdat` pairs, each self-describing. What a kill leaves is a prefix; everything up
//! to the end of the last complete `mdat` that follows a `moof` plays. Recovery truncates
//! there and renames `NAME.partial` to `NAME`.
//!
//! Plain MP4: the sample tables (`moov`) are written at the end, so a killed file has
//! none. The recorder writes an index journal beside it (`NAME.partial.idx`, see
//! `bmff_writer::journal`), synced with the file; recovery replays the samples it lists
//! and the file holds into `NAME` ([`pipeline::recover_plain`]) and removes both
//! leftovers. Without a journal the file is reported and left as it is.
//!
//! Matroska (`.mkv`): the Segment's size stays unknown until the recorder finishes, so a
//! killed file reads to its end; a cluster cut by the kill would read as "ended
//! prematurely", so recovery cuts there, writes the Cues, Segment size, SeekHead and
//! Duration the recorder would have written (`matroska::recover`) and renames.
//!
//! The box walk ([`playable_end`]) is sans-I/O: it takes the top-level box headers and the
//! file's length; [`recover`] reads the headers and truncates.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// One top-level box: its type and where it lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// Four-character type.
    pub kind: [u8; 4],
    /// Offset of its first byte.
    pub start: u64,
    /// Its size in bytes, header included (`None`: "to the end of the file", size 0).
    pub size: Option<u64>,
}

/// What [`playable_end`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// A fragmented file whose complete part ends at this offset (0 fragments: only the
    /// header, which plays as an empty file).
    Fragmented {
        /// End of the last complete `moof`+`mdat` pair (or of `moov` without any).
        end: u64,
        /// Complete fragments kept.
        fragments: u64,
    },
    /// A plain MP4 with its `moov`: complete already.
    Complete,
    /// A plain MP4 without `moov`: the sample tables are lost.
    PlainWithoutIndex,
    /// Not an MP4 this recorder wrote (no `ftyp` first).
    Unknown,
}

/// Decides what of a file of `len` bytes with these top-level boxes is playable.
pub fn playable_end(boxes: &[BoxHeader], len: u64) -> Layout {
    if boxes.first().is_none_or(|b| &b.kind != b"ftyp") {
        return Layout::Unknown;
    }
    let complete = |b: &BoxHeader| {
        b.size
            .is_some_and(|s| s >= 8 && b.start.saturating_add(s) <= len)
    };
    let moov = boxes.iter().find(|b| &b.kind == b"moov" && complete(b));
    let fragmented = boxes.iter().any(|b| &b.kind == b"moof");
    let Some(moov) = moov else {
        return Layout::PlainWithoutIndex;
    };
    if !fragmented {
        return Layout::Complete;
    }
    let mut end = moov.start + moov.size.unwrap_or(0);
    let mut fragments = 0;
    let mut after_moof = false;
    for b in boxes {
        if !complete(b) {
            break;
        }
        match &b.kind {
            b"moof" => after_moof = true,
            b"mdat" if after_moof => {
                end = b.start + b.size.unwrap_or(0);
                fragments += 1;
                after_moof = false;
            }
            _ => {}
        }
    }
    Layout::Fragmented { end, fragments }
}

/// Reads the top-level box headers of a file (stops at the first one cut short).
fn read_headers(file: &mut std::fs::File, len: u64) -> std::io::Result<Vec<BoxHeader>> {
    let mut boxes = Vec::new();
    let mut offset = 0u64;
    while offset.saturating_add(8) <= len {
        file.seek(SeekFrom::Start(offset))?;
        let mut head = [0u8; 16];
        let want = if offset + 16 <= len { 16 } else { 8 };
        file.read_exact(&mut head[..want])?;
        let small = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match small {
            0 => None,
            1 if want == 16 => Some(u64::from_be_bytes([
                head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
            ])),
            1 => break,
            n => Some(n),
        };
        boxes.push(BoxHeader {
            kind,
            start: offset,
            size,
        });
        match size {
            Some(s) if s >= 8 => offset = offset.saturating_add(s),
            _ => break,
        }
    }
    Ok(boxes)
}

/// The final name of a `.partial` (`NAME.partial` → `NAME`).
pub fn final_name(partial: &Path) -> Option<PathBuf> {
    let name = partial.file_name()?.to_str()?;
    Some(partial.with_file_name(name.strip_suffix(".partial")?))
}

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The playable file now.
    pub path: PathBuf,
    /// Complete fragments kept.
    pub fragments: u64,
    /// Matroska: complete clusters kept.
    pub clusters: u64,
    /// Bytes cut off (an incomplete last fragment).
    pub dropped_bytes: u64,
    /// A plain MP4 rebuilt from its journal: what was kept.
    pub plain: Option<pipeline::RecoveredPlain>,
}

/// Removes a file that may be absent.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::store(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Rebuilds a plain MP4 from `partial` and its journal into `target`, then removes both.
fn recover_plain(partial: &Path, journal: &Path, target: &Path) -> Result<Recovery, Error> {
    match pipeline::recover_plain(partial, journal, target) {
        Ok(kept) => {
            remove_if_present(partial)?;
            remove_if_present(journal)?;
            Ok(Recovery {
                path: target.to_path_buf(),
                fragments: 0,
                clusters: 0,
                dropped_bytes: 0,
                plain: Some(kept),
            })
        }
        // Killed before the first chunk reached the disk: nothing plays, no file is better.
        Err(pipeline::Mp4Error::Journal {
            reason: pipeline::NO_SAMPLE_ON_DISK,
        }) => {
            remove_if_present(partial)?;
            remove_if_present(journal)?;
            Err(Error::Recovery {
                path: partial.to_path_buf(),
                reason: "no media reached the disk: nothing to keep, the file is removed".into(),
            })
        }
        Err(e) => Err(Error::Recovery {
            path: partial.to_path_buf(),
            reason: format!("rebuilding from the index journal failed: {e}"),
        }),
    }
}

/// Recovers a fragmented `.partial`: truncated after its last complete fragment and
/// renamed; without any complete fragment it is removed (an error says so). A plain MP4
/// without `moov` is an error (left untouched).
pub fn recover(partial: &Path) -> Result<Recovery, Error> {
    let shown = partial.display().to_string();
    let target = final_name(partial).ok_or_else(|| Error::Recovery {
        path: partial.to_path_buf(),
        reason: "the name does not end with .partial".into(),
    })?;
    if is_matroska(&target) {
        return recover_matroska(partial, target);
    }
    let (mut file, len) = open(partial)?;
    let boxes =
        read_headers(&mut file, len).map_err(|e| Error::store(format!("reading {shown}"), e))?;
    let (end, fragments) = match playable_end(&boxes, len) {
        // A header without media plays as nothing and looks broken: no file is better.
        Layout::Fragmented { fragments: 0, .. } => {
            drop(file);
            std::fs::remove_file(partial)
                .map_err(|e| Error::store(format!("removing {shown}"), e))?;
            return Err(Error::Recovery {
                path: partial.to_path_buf(),
                reason:
                    "no complete fragment reached the disk: nothing to keep, the file is removed"
                        .into(),
            });
        }
        Layout::Fragmented { end, fragments } => (end, fragments),
        Layout::Complete => {
            // Killed between the journal's removal and the rename, or a stale journal.
            remove_if_present(&pipeline::journal_path(partial))?;
            (len, 0)
        }
        Layout::PlainWithoutIndex if pipeline::journal_path(partial).exists() => {
            drop(file);
            return recover_plain(partial, &pipeline::journal_path(partial), &target);
        }
        Layout::PlainWithoutIndex => {
            return Err(Error::Recovery {
                path: partial.to_path_buf(),
                reason: "a plain MP4 without moov and without its index journal (NAME.partial.idx): its samples cannot be indexed".into(),
            });
        }
        Layout::Unknown if len == 0 => {
            return Err(Error::Recovery {
                path: partial.to_path_buf(),
                reason: "empty: nothing of it reached the disk before the process ended".into(),
            });
        }
        Layout::Unknown => {
            return Err(Error::Recovery {
                path: partial.to_path_buf(),
                reason: "not an MP4 (no ftyp box first)".into(),
            });
        }
    };
    cut_and_rename(file, end, partial, &target)?;
    Ok(Recovery {
        path: target,
        fragments,
        clusters: 0,
        dropped_bytes: len - end,
        plain: None,
    })
}

/// Truncates `file` (the `.partial`) to `end`, syncs it and renames it to `target`.
fn cut_and_rename(
    file: std::fs::File,
    end: u64,
    partial: &Path,
    target: &Path,
) -> Result<(), Error> {
    let shown = partial.display();
    file.set_len(end)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::store(format!("truncating {shown}"), e))?;
    drop(file);
    std::fs::rename(partial, target)
        .map_err(|e| Error::store(format!("renaming {shown} to {}", target.display()), e))
}

/// The `.partial` opened for reading and writing, and its length.
fn open(partial: &Path) -> Result<(std::fs::File, u64), Error> {
    let shown = partial.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial)
        .map_err(|e| Error::store(format!("opening {shown}"), e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::store(format!("reading {shown}"), e))?
        .len();
    Ok((file, len))
}

/// A Matroska name (`.mkv`, `.mka`, `.webm`).
pub(crate) fn is_matroska(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["mkv", "mka", "webm"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Completes a Matroska `.partial` after its last whole cluster (`matroska::recover`:
/// Cues, Segment size, SeekHead and Duration as the writer's `finish` writes them),
/// truncates it there and renames it; without any whole cluster it is removed (an error
/// says so).
fn recover_matroska(partial: &Path, target: PathBuf) -> Result<Recovery, Error> {
    let shown = partial.display().to_string();
    let (mut file, len) = open(partial)?;
    let refuse = |reason: String| Error::Recovery {
        path: partial.to_path_buf(),
        reason,
    };
    // The writer holds its header until the first cluster: a recorder killed before it
    // leaves an empty file.
    if len == 0 {
        drop(file);
        std::fs::remove_file(partial).map_err(|e| Error::store(format!("removing {shown}"), e))?;
        return Err(refuse(
            "empty: nothing of it reached the disk before the process ended, the file is removed"
                .into(),
        ));
    }
    let io = |e: matroska::Error| match e {
        matroska::Error::Io(e) => Error::store(format!("reading {shown}"), e),
        e => refuse(e.to_string()),
    };
    // Where the whole clusters end (what is dropped after them), then the file completed.
    let whole = matroska::scan(&mut file, len).map_err(io)?;
    let found = matroska::recover(&mut file, len).map_err(io)?;
    if found.clusters == 0 && !found.finished {
        drop(file);
        std::fs::remove_file(partial).map_err(|e| Error::store(format!("removing {shown}"), e))?;
        return Err(refuse(
            "no complete cluster reached the disk: nothing to keep, the file is removed".into(),
        ));
    }
    cut_and_rename(file, found.end, partial, &target)?;
    Ok(Recovery {
        path: target,
        fragments: 0,
        clusters: found.clusters,
        dropped_bytes: len - whole.end,
        plain: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_matroska_partial_is_removed_with_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("cam.mkv.partial");
        std::fs::write(&partial, b"").unwrap();
        let err = recover(&partial).unwrap_err().to_string();
        assert!(err.contains("empty") && err.contains("removed"), "{err}");
        assert!(!partial.exists());
    }

    fn b(kind: &[u8; 4], start: u64, size: u64) -> BoxHeader {
        BoxHeader {
            kind: *kind,
            start,
            size: Some(size),
        }
    }

    #[test]
    fn a_fragmented_file_is_cut_after_its_last_complete_fragment() {
        let boxes = [
            b(b"ftyp", 0, 20),
            b(b"moov", 20, 80),
            b(b"moof", 100, 50),
            b(b"mdat", 150, 1000),
            b(b"moof", 1150, 50),
            b(b"mdat", 1200, 1000),
        ];
        // The second mdat is cut short at 1500 bytes.
        assert_eq!(
            playable_end(&boxes, 1500),
            Layout::Fragmented {
                end: 1150,
                fragments: 1
            }
        );
        assert_eq!(
            playable_end(&boxes, 2200),
            Layout::Fragmented {
                end: 2200,
                fragments: 2
            }
        );
        // Killed before the first fragment: the header alone.
        assert_eq!(
            playable_end(&boxes[..3], 120),
            Layout::Fragmented {
                end: 100,
                fragments: 0
            }
        );
    }

    #[test]
    fn plain_files_are_complete_or_lost_and_others_unknown() {
        assert_eq!(
            playable_end(&[b(b"ftyp", 0, 20), b(b"mdat", 20, 0)], 5000),
            Layout::PlainWithoutIndex
        );
        assert_eq!(
            playable_end(
                &[b(b"ftyp", 0, 20), b(b"mdat", 20, 100), b(b"moov", 120, 50)],
                170
            ),
            Layout::Complete
        );
        assert_eq!(playable_end(&[], 0), Layout::Unknown);
        assert_eq!(playable_end(&[b(b"RIFF", 0, 20)], 20), Layout::Unknown);
        assert_eq!(
            final_name(Path::new("/a/b.mp4.partial")),
            Some(PathBuf::from("/a/b.mp4"))
        );
        assert_eq!(final_name(Path::new("/a/b.mp4")), None);
    }
}
