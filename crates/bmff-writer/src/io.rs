//! Blocking adapters over `std::io`: the muxers' output written with vectored writes.

use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::fragment::{
    FragmentOptions, FragmentOutput, FragmentedMuxer, InitSegment, MediaSegment,
};
use crate::plain::{Finish, Mp4Options, Muxer};
use crate::{Codec, Error, Result, Sample, TrackConfig};

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Writes every piece with `write_vectored`, retrying partial writes.
pub fn write_all_vectored<W: Write + ?Sized>(w: &mut W, parts: &[Bytes]) -> io::Result<()> {
    const BATCH: usize = 64;
    let mut start = 0;
    while start < parts.len() {
        let end = (start + BATCH).min(parts.len());
        let mut slices: Vec<IoSlice<'_>> =
            parts[start..end].iter().map(|b| IoSlice::new(b)).collect();
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            match w.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        start = end;
    }
    Ok(())
}

/// Plain MP4 to a seekable writer that starts at offset 0 (a file): `moov` at the end, or
/// in front with [`finish_faststart`](Self::finish_faststart).
#[derive(Debug)]
pub struct Mp4Writer<W> {
    inner: W,
    muxer: Muxer,
    scratch: Vec<Bytes>,
}

impl<W: Write + Seek> Mp4Writer<W> {
    /// Writes the file header and returns the writer.
    pub fn new(inner: W, tracks: Vec<TrackConfig>, options: Mp4Options) -> Result<Self> {
        let muxer = Muxer::new(tracks, options)?;
        let mut w = Self {
            inner,
            muxer,
            scratch: Vec::new(),
        };
        w.drain()?;
        Ok(w)
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
        Ok(())
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
#[derive(Debug)]
pub struct FragmentedWriter<W> {
    inner: W,
    muxer: FragmentedMuxer,
}

impl<W: Write> FragmentedWriter<W> {
    /// Writes the init segment and returns the writer.
    pub fn new(inner: W, tracks: Vec<TrackConfig>, options: FragmentOptions) -> Result<Self> {
        let muxer = FragmentedMuxer::new(tracks, options)?;
        let mut w = Self { inner, muxer };
        w.drain()?;
        Ok(w)
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
            match out {
                FragmentOutput::Init(i) => self.inner.write_all(&i.bytes),
                FragmentOutput::Media(m) => write_all_vectored(&mut self.inner, &m.parts),
                FragmentOutput::Index(b) => self.inner.write_all(&b),
            }
            .map_err(io_err("writing a fragment"))?;
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
#[derive(Debug)]
pub struct SegmentFiles {
    dir: PathBuf,
    /// Written media segments: (file name, init file name, duration in seconds).
    pub segments: Vec<(String, String, f64)>,
    /// Written init segment file names.
    pub inits: Vec<String>,
}

impl SegmentFiles {
    /// Writes into `dir` (which must exist).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
            segments: Vec::new(),
            inits: Vec::new(),
        }
    }
}

impl SegmentSink for SegmentFiles {
    fn init_segment(&mut self, init: &InitSegment) -> io::Result<()> {
        let name = format!("init-{}.mp4", init.number);
        std::fs::write(self.dir.join(&name), &init.bytes)?;
        self.inits.push(name);
        Ok(())
    }

    fn media_segment(&mut self, segment: &MediaSegment) -> io::Result<()> {
        let name = format!("segment-{}.m4s", segment.sequence_number);
        let mut f = io::BufWriter::new(std::fs::File::create(self.dir.join(&name))?);
        write_all_vectored(&mut f, &segment.parts)?;
        f.flush()?;
        self.segments.push((
            name,
            format!("init-{}.mp4", segment.init_number),
            segment.duration,
        ));
        Ok(())
    }
}
