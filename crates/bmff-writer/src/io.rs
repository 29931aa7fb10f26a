//! Blocking adapters over `std::io`: the muxers' output written with vectored writes.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::fragment::{
    FragmentOptions, FragmentOutput, FragmentedMuxer, InitSegment, MediaSegment,
};
use crate::fsync::{Fsync, FsyncPolicy, FsyncSchedule, SyncData, sync_dir, write_segment_file};
use crate::plain::{Finish, Mp4Options, Muxer};
use crate::vectored::write_all_vectored;
use crate::{Codec, Error, Result, Sample, TrackConfig};

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Plain MP4 to a seekable writer that starts at offset 0 (a file): `moov` at the end, or
/// in front with [`finish_faststart`](Self::finish_faststart).
///
/// Each chunk (about 0.5 s per track, see [`Mp4Options`]) is written with one vectored
/// write when complete, so a file needs no buffer in front (one would copy the payloads
/// and hold them back from the file). The file is playable once finished; until then its
/// `mdat` holds every complete chunk, for a recovery tool to index.
#[derive(Debug)]
pub struct Mp4Writer<W> {
    inner: W,
    muxer: Muxer,
    scratch: Vec<Bytes>,
    fsync: Fsync<W>,
    journal: Option<std::fs::File>,
}

impl<W: Write + Seek> Mp4Writer<W> {
    /// Writes the file header and returns the writer.
    pub fn new(inner: W, tracks: Vec<TrackConfig>, options: Mp4Options) -> Result<Self> {
        let muxer = Muxer::new(tracks, options)?;
        let mut w = Self {
            inner,
            muxer,
            scratch: Vec::new(),
            fsync: Fsync::never(),
            journal: None,
        };
        w.drain()?;
        Ok(w)
    }

    /// Syncs the written chunks to the storage device as `policy` says (default: never;
    /// [`finish`](Self::finish) only flushes, so sync the returned file before renaming it).
    pub fn with_fsync(mut self, policy: FsyncPolicy) -> Self
    where
        W: SyncData,
    {
        self.fsync = Fsync::new(policy);
        self
    }

    /// Writes the index journal to `journal` (conventionally [`crate::journal_path`] of
    /// the file): after each chunk, the records of its samples; whenever the fsync policy
    /// syncs the file, the journal is synced right after it. A killed process then loses
    /// only the chunks not yet written (about 0.5 s), a power cut what followed the last
    /// sync; [`crate::recover_plain`] rebuilds the file. Only before the first sample.
    pub fn with_journal(mut self, journal: std::fs::File) -> Result<Self> {
        self.muxer.enable_journal()?;
        self.journal = Some(journal);
        self.write_journal(false)?;
        Ok(self)
    }

    fn write_journal(&mut self, sync: bool) -> Result<()> {
        let Some(file) = &mut self.journal else {
            return Ok(());
        };
        let bytes = self.muxer.take_journal();
        if !bytes.is_empty() {
            file.write_all(&bytes)
                .map_err(io_err("writing the index journal"))?;
        }
        if sync {
            file.sync_data()
                .map_err(io_err("syncing the index journal"))?;
        }
        Ok(())
    }

    /// Adds a sample (written when its chunk is complete).
    pub fn push(&mut self, sample: Sample) -> Result<()> {
        self.muxer.push(sample)?;
        self.drain()
    }

    /// Changes a track's codec configuration (a new `stsd` entry).
    pub fn set_codec(&mut self, track: usize, codec: Codec) -> Result<()> {
        self.muxer.set_codec(track, codec)
    }

    /// Changes a track's whole sample entry: codec, picture size, sample rate (see
    /// `set_config` of the muxer inside).
    pub fn set_config(&mut self, track: usize, config: TrackConfig) -> Result<()> {
        self.muxer.set_config(track, config)
    }

    /// See [`Muxer::set_time_zero`].
    pub fn set_time_zero(&mut self, zero: Option<(i64, u32)>) {
        self.muxer.set_time_zero(zero);
    }

    /// The sans-I/O muxer inside (for statistics).
    pub fn muxer(&self) -> &Muxer {
        &self.muxer
    }

    fn drain(&mut self) -> Result<()> {
        self.scratch.extend(self.muxer.take_appends());
        if self.scratch.is_empty() {
            return Ok(());
        }
        write_all_vectored(&mut self.inner, &self.scratch).map_err(io_err("writing media data"))?;
        self.scratch.clear();
        // The media first: a record must never point at data the file may not hold.
        let synced = self
            .fsync
            .synced(&mut self.inner)
            .map_err(io_err("syncing media data"))?;
        self.write_journal(synced)
    }

    fn finish_common(&mut self, faststart: bool) -> Result<Finish> {
        let finish = self.muxer.finish(faststart)?;
        write_all_vectored(&mut self.inner, &finish.appends)
            .map_err(io_err("writing media data"))?;
        let end = self.inner.stream_position().map_err(io_err("seeking"))?;
        for p in &finish.patches {
            self.inner
                .seek(SeekFrom::Start(p.offset))
                .map_err(io_err("seeking to patch the mdat header"))?;
            self.inner
                .write_all(&p.bytes)
                .map_err(io_err("patching the mdat header"))?;
        }
        self.inner
            .seek(SeekFrom::Start(end))
            .map_err(io_err("seeking to the end"))?;
        Ok(finish)
    }

    /// Writes the last chunks and `moov` at the end, fixes the `mdat` size, flushes, and
    /// returns the writer.
    pub fn finish(mut self) -> Result<W> {
        let finish = self.finish_common(false)?;
        self.inner
            .write_all(&finish.moov)
            .map_err(io_err("writing moov"))?;
        self.inner.flush().map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}

impl<W: Read + Write + Seek> Mp4Writer<W> {
    /// Like [`finish`](Self::finish), but moves `moov` in front of the media data (a
    /// second pass that shifts the data by the `moov` size, from the end backwards).
    pub fn finish_faststart(mut self) -> Result<W> {
        let finish = self.finish_common(true)?;
        let at = finish.moov_insert_at.unwrap_or(0);
        let end = self.inner.stream_position().map_err(io_err("seeking"))?;
        shift_forward(&mut self.inner, at, end, finish.moov.len() as u64)
            .map_err(io_err("shifting media data for faststart"))?;
        self.inner
            .seek(SeekFrom::Start(at))
            .map_err(io_err("seeking"))?;
        self.inner
            .write_all(&finish.moov)
            .map_err(io_err("writing moov"))?;
        self.inner
            .seek(SeekFrom::End(0))
            .map_err(io_err("seeking"))?;
        self.inner.flush().map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}

/// Moves bytes `[from, end)` to `[from + by, end + by)`, last block first.
fn shift_forward<F: Read + Write + Seek>(
    f: &mut F,
    from: u64,
    end: u64,
    by: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = end;
    while pos > from {
        let n = (pos - from).min(buf.len() as u64);
        pos -= n;
        let chunk = &mut buf[..n as usize];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(chunk)?;
        f.seek(SeekFrom::Start(pos + by))?;
        f.write_all(chunk)?;
    }
    Ok(())
}

/// Fragmented MP4 as one growing stream (a file, a pipe, a socket): init segment, then
/// fragments, then `mfra` if enabled. A codec change writes the new init segment inline,
/// which Media Source Extensions accept; for files read by other tools, prefer
/// [`SegmentWriter`].
///
/// The init segment and each fragment are written (one vectored write) and `flush`ed as
/// soon as they are complete, so a buffer in front of the output never holds a complete
/// fragment back: a killed process loses at most the fragment being built. Durability
/// across power cuts: [`with_fsync`](Self::with_fsync).
#[derive(Debug)]
pub struct FragmentedWriter<W> {
    inner: W,
    muxer: FragmentedMuxer,
    fsync: Fsync<W>,
    written: Written,
}

/// What a [`FragmentedWriter`] has written and flushed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// Media fragments (`moof` + `mdat`).
    pub fragments: u64,
    /// Samples in them, per track index.
    pub samples: Vec<u64>,
    /// Bytes, init segments included.
    pub bytes: u64,
}

impl<W: Write> FragmentedWriter<W> {
    /// Writes the init segment and returns the writer.
    pub fn new(inner: W, tracks: Vec<TrackConfig>, options: FragmentOptions) -> Result<Self> {
        let written = Written {
            samples: vec![0; tracks.len()],
            ..Written::default()
        };
        let muxer = FragmentedMuxer::new(tracks, options)?;
        let mut w = Self {
            inner,
            muxer,
            fsync: Fsync::never(),
            written,
        };
        w.drain()?;
        Ok(w)
    }

    /// Syncs fragments to the storage device as `policy` says (default: never).
    pub fn with_fsync(mut self, policy: FsyncPolicy) -> Self
    where
        W: SyncData,
    {
        self.fsync = Fsync::new(policy);
        self
    }

    /// What has been written and flushed so far.
    pub fn written(&self) -> &Written {
        &self.written
    }

    /// Adds a sample; writes a fragment when one completes.
    pub fn push(&mut self, sample: Sample) -> Result<()> {
        self.muxer.push(sample)?;
        self.drain()
    }

    /// Changes a track's codec configuration.
    pub fn set_codec(&mut self, track: usize, codec: Codec) -> Result<()> {
        self.muxer.set_codec(track, codec)
    }

    /// Changes a track's whole sample entry: codec, picture size, sample rate (see
    /// `set_config` of the muxer inside).
    pub fn set_config(&mut self, track: usize, config: TrackConfig) -> Result<()> {
        self.muxer.set_config(track, config)
    }

    /// Ends the current fragment at the next key frame (see [`FragmentedMuxer::request_cut`]).
    pub fn request_cut(&mut self) {
        self.muxer.request_cut();
    }

    /// The sans-I/O muxer inside.
    pub fn muxer(&self) -> &FragmentedMuxer {
        &self.muxer
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(out) = self.muxer.poll_output() {
            let size = match &out {
                FragmentOutput::Init(i) => self.inner.write_all(&i.bytes).map(|()| i.bytes.len()),
                FragmentOutput::Media(m) => {
                    write_all_vectored(&mut self.inner, &m.parts).map(|()| m.size as usize)
                }
                FragmentOutput::Index(b) => self.inner.write_all(b).map(|()| b.len()),
            }
            .map_err(io_err("writing a fragment"))?;
            // Complete: out of any buffer in front, into the file (or pipe) now.
            self.inner.flush().map_err(io_err("flushing a fragment"))?;
            self.written.bytes += size as u64;
            if let FragmentOutput::Media(m) = &out {
                self.fsync
                    .written(&mut self.inner)
                    .map_err(io_err("syncing a fragment"))?;
                self.written.fragments += 1;
                for (total, &n) in self.written.samples.iter_mut().zip(&m.samples) {
                    *total += u64::from(n);
                }
            }
        }
        Ok(())
    }

    /// Writes the last fragment (and `mfra`), flushes and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.muxer.finish()?;
        self.drain()?;
        self.inner.flush().map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}

/// Receives init and media segments (HLS / DASH): write them to files, serve them,
/// update a playlist.
pub trait SegmentSink {
    /// A new init segment (the first, or after a codec change).
    fn init_segment(&mut self, init: &InitSegment) -> io::Result<()>;
    /// A complete media segment.
    fn media_segment(&mut self, segment: &MediaSegment) -> io::Result<()>;
}

/// Fragmented MP4 as separate init and media segments handed to a [`SegmentSink`].
#[derive(Debug)]
pub struct SegmentWriter<S> {
    sink: S,
    muxer: FragmentedMuxer,
}

impl<S: SegmentSink> SegmentWriter<S> {
    /// Hands the init segment to `sink` and returns the writer.
    pub fn new(sink: S, tracks: Vec<TrackConfig>, options: FragmentOptions) -> Result<Self> {
        let muxer = FragmentedMuxer::new(tracks, options)?;
        let mut w = Self { sink, muxer };
        w.drain()?;
        Ok(w)
    }

    /// Adds a sample; hands out a segment when one completes.
    pub fn push(&mut self, sample: Sample) -> Result<()> {
        self.muxer.push(sample)?;
        self.drain()
    }

    /// Changes a track's codec configuration (a new init segment follows).
    pub fn set_codec(&mut self, track: usize, codec: Codec) -> Result<()> {
        self.muxer.set_codec(track, codec)
    }

    /// Changes a track's whole sample entry: codec, picture size, sample rate (see
    /// `set_config` of the muxer inside).
    pub fn set_config(&mut self, track: usize, config: TrackConfig) -> Result<()> {
        self.muxer.set_config(track, config)
    }

    /// Ends the current segment at the next key frame.
    pub fn request_cut(&mut self) {
        self.muxer.request_cut();
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(out) = self.muxer.poll_output() {
            match out {
                FragmentOutput::Init(i) => self.sink.init_segment(&i),
                FragmentOutput::Media(m) => self.sink.media_segment(&m),
                FragmentOutput::Index(_) => Ok(()),
            }
            .map_err(io_err("handing out a segment"))?;
        }
        Ok(())
    }

    /// Hands out the last segment and returns the sink.
    pub fn finish(mut self) -> Result<S> {
        self.muxer.finish()?;
        self.drain()?;
        Ok(self.sink)
    }
}

/// A [`SegmentSink`] writing `init-N.mp4` and `segment-N.m4s` files into a directory and
/// remembering each media segment's (file name, duration) for a playlist.
///
/// Each file is written whole or not at all ([`write_segment_file`]): a file under one of
/// these names is always complete, and a failed write (a full disk) leaves no partial or
/// empty file and is not remembered.
#[derive(Debug)]
pub struct SegmentFiles {
    dir: PathBuf,
    /// Written media segments: (file name, init file name, duration in seconds).
    pub segments: Vec<(String, String, f64)>,
    /// Written init segment file names.
    pub inits: Vec<String>,
    fsync: FsyncSchedule,
}

impl SegmentFiles {
    /// Writes into `dir` (which must exist).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
            segments: Vec::new(),
            inits: Vec::new(),
            fsync: FsyncSchedule::new(FsyncPolicy::Never),
        }
    }

    /// Syncs segment files (and the directory) as `policy` says (default: never).
    pub fn with_fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = FsyncSchedule::new(policy);
        self
    }

    fn write(&mut self, name: &str, parts: &[Bytes]) -> io::Result<()> {
        let sync = self.fsync.due();
        let path = self.dir.join(name);
        write_segment_file(&path, parts, sync)?;
        if sync && let Err(e) = sync_dir(&self.dir) {
            // Not remembered, so not kept.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(())
    }
}

impl SegmentSink for SegmentFiles {
    fn init_segment(&mut self, init: &InitSegment) -> io::Result<()> {
        let name = format!("init-{}.mp4", init.number);
        self.write(&name, std::slice::from_ref(&init.bytes))?;
        self.inits.push(name);
        Ok(())
    }

    fn media_segment(&mut self, segment: &MediaSegment) -> io::Result<()> {
        let name = format!("segment-{}.m4s", segment.sequence_number);
        self.write(&name, &segment.parts)?;
        self.segments.push((
            name,
            format!("init-{}.mp4", segment.init_number),
            segment.duration,
        ));
        Ok(())
    }
}
