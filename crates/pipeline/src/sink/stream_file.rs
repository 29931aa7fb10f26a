//! What every elementary-stream sink (`.aac`, `.h264`/`.h265`, `.mp3`) shares: the one
//! track it takes, checked when the tracks are known, and a file written as
//! `NAME.partial` and renamed when finished. Neither a sink nor a source: the sinks
//! import it, as they do `samples`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::contract::describe;
use crate::{Error, Track};

/// Whether `endpoint`, which holds one track that `fits`, can take `tracks`: exactly one
/// track, and it fits. The error names what it takes and the track that does not fit.
pub(crate) fn check_single(
    endpoint: &Path,
    takes: &str,
    tracks: &[Track],
    fits: impl Fn(&Track) -> bool,
) -> Result<(), Error> {
    let misfit = |found: String| Error::Misfit {
        endpoint: endpoint.display().to_string(),
        takes: takes.to_owned(),
        found,
    };
    if let Some((index, track)) = tracks.iter().enumerate().find(|(_, t)| !fits(t)) {
        let hint = match track.kind {
            crate::MediaKind::Video => ", use --no-video",
            crate::MediaKind::Audio => ", use --no-audio",
            _ => "",
        };
        return Err(misfit(format!("{}{hint}", describe(index, track))));
    }
    if tracks.len() != 1 {
        return Err(misfit(format!(
            "the input has {} such tracks",
            tracks.len()
        )));
    }
    Ok(())
}

/// An elementary stream file being written.
pub(crate) struct StreamFile {
    out: BufWriter<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl StreamFile {
    pub(crate) fn create(path: &Path) -> Result<StreamFile, Error> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let file = File::create(&partial)
            .map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
        tracing::info!(file = %path.display(), "recording");
        Ok(StreamFile {
            out: BufWriter::with_capacity(1 << 20, file),
            partial,
            path: path.to_owned(),
        })
    }

    /// Appends the pieces in order.
    pub(crate) fn write(&mut self, pieces: &[Bytes]) -> Result<(), Error> {
        for piece in pieces {
            self.out
                .write_all(piece)
                .map_err(|e| Error::io(format!("writing {}", self.partial.display()), e))?;
        }
        Ok(())
    }

    /// Writes `bytes` over the start of the file (a header filled in at the end), then
    /// goes on appending.
    pub(crate) fn rewrite_start(&mut self, bytes: &[u8]) -> Result<(), Error> {
        use std::io::{Seek, SeekFrom};
        let io = |e| Error::io(format!("writing {}", self.partial.display()), e);
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(bytes).map_err(io)?;
        self.out.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(())
    }

    /// Flushes, syncs and renames the file to its name.
    pub(crate) fn finish(self) -> Result<PathBuf, Error> {
        let partial = self.partial;
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(format!("flushing {}", partial.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", partial.display()), e))?;
        drop(file);
        std::fs::rename(&partial, &self.path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", partial.display(), self.path.display()),
                e,
            )
        })?;
        tracing::info!(file = %self.path.display(), "finished");
        Ok(self.path)
    }
}
