//! What every elementary-stream sink (`.aac`, `.h264`/`.h265`, `.mp3`, `.opus`) shares:
//! the one track it takes, checked when the tracks are known, and where its bytes go (a
//! [`Target`]): a file written as `NAME.partial` and renamed when finished, or standard
//! output. Neither a sink nor a source: the sinks import it, as they do `samples`.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::mp4::{partial_path, rename_finished};
use crate::contract::describe;
use crate::{Error, Track};

/// Where an output's bytes go.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A file, written as `NAME.partial` and renamed when finished.
    File(PathBuf),
    /// Standard output (`-`): nothing is sought or renamed.
    Stdout,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::File(path) => path.display().fmt(f),
            Target::Stdout => f.write_str("- (stdout)"),
        }
    }
}

/// A file or standard output. Standard output is a `matroska::Pipe`: it tells its
/// position (the Matroska writer asks) and refuses to seek.
pub(crate) enum Out {
    File(File),
    Stdout(matroska::Pipe<io::Stdout>),
}

impl Out {
    /// The file, or standard output.
    pub(crate) fn open(target: &Target) -> Result<(Out, Option<PathBuf>), Error> {
        match target {
            Target::File(path) => {
                let (file, partial) = create_partial(path)?;
                Ok((Out::File(file), Some(partial)))
            }
            Target::Stdout => Ok((Out::Stdout(matroska::Pipe::new(io::stdout())), None)),
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            // Standard output holds bytes back until a newline: what is written goes out.
            Out::Stdout(s) => {
                let n = s.write(buf)?;
                s.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

impl Seek for Out {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            Out::File(f) => f.seek(to),
            Out::Stdout(s) => s.seek(to),
        }
    }
}

/// Creates `path`'s directory and `path` + `.partial`, returning the file and that name.
pub(crate) fn create_partial(path: &Path) -> Result<(File, PathBuf), Error> {
    let partial = partial_path(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let file = File::create(&partial)
        .map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
    tracing::info!(file = %path.display(), "recording");
    Ok((file, partial))
}

/// Whether `endpoint`, which holds one track that `fits`, can take `tracks`: exactly one
/// track, and it fits. The error names what it takes and the track that does not fit.
pub(crate) fn check_single(
    endpoint: &Target,
    takes: &str,
    tracks: &[Track],
    fits: impl Fn(&Track) -> bool,
) -> Result<(), Error> {
    let misfit = |found: String| Error::Misfit {
        endpoint: endpoint.to_string(),
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

/// An elementary stream being written: a file, or standard output.
pub(crate) struct StreamFile {
    out: BufWriter<Out>,
    /// Where a file is written and its name when finished; `None` for standard output.
    file: Option<(PathBuf, PathBuf)>,
    name: String,
}

impl StreamFile {
    pub(crate) fn create(target: &Target) -> Result<StreamFile, Error> {
        let (out, partial) = Out::open(target)?;
        let file = match target {
            Target::File(path) => partial.map(|p| (p, path.clone())),
            Target::Stdout => None,
        };
        let name = match &file {
            Some((partial, _)) => partial.display().to_string(),
            None => target.to_string(),
        };
        Ok(StreamFile {
            out: BufWriter::with_capacity(1 << 20, out),
            file,
            name,
        })
    }

    /// Whether a header can be filled in at the end ([`StreamFile::rewrite_start`]).
    pub(crate) fn seekable(&self) -> bool {
        self.file.is_some()
    }

    /// Appends the pieces in order. On standard output they go out at once: its reader
    /// may be a live player (ffmpeg too flushes each packet to an output that cannot seek).
    pub(crate) fn write(&mut self, pieces: &[Bytes]) -> Result<(), Error> {
        let io = |e| Error::io(format!("writing {}", self.name), e);
        for piece in pieces {
            self.out.write_all(piece).map_err(io)?;
        }
        if self.file.is_none() {
            self.out.flush().map_err(io)?;
        }
        Ok(())
    }

    /// Writes `bytes` over the start of the file (a header filled in at the end), then
    /// goes on appending.
    pub(crate) fn rewrite_start(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let io = |e| Error::io(format!("writing {}", self.name), e);
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(bytes).map_err(io)?;
        self.out.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(())
    }

    /// Flushes; a file is synced and renamed to its name, which is returned.
    pub(crate) fn finish(self) -> Result<Option<PathBuf>, Error> {
        let out = self
            .out
            .into_inner()
            .map_err(|e| Error::io(format!("flushing {}", self.name), e.into_error()))?;
        let (Out::File(file), Some((partial, path))) = (out, self.file) else {
            return Ok(None);
        };
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", partial.display()), e))?;
        drop(file);
        rename_finished(&partial, &path)?;
        Ok(Some(path))
    }
}
