//! Async twins of the blocking adapters over tokio's `AsyncWrite` (+ `AsyncSeek`, and
//! `AsyncRead` for faststart), behind the `tokio` feature. Same muxers, same bytes.

use std::io::{self, IoSlice, SeekFrom};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::fragment::{FragmentOptions, FragmentOutput, FragmentedMuxer};
use crate::plain::{Finish, Mp4Options, Muxer};
use crate::{Codec, Error, Result, Sample, TrackConfig};

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Writes every piece with `write_vectored`, retrying partial writes.
pub async fn write_all_vectored<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    parts: &[Bytes],
) -> io::Result<()> {
    const BATCH: usize = 64;
    for batch in parts.chunks(BATCH) {
        let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|b| IoSlice::new(b)).collect();
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            let n = w.write_vectored(slices).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut slices, n);
        }
    }
    Ok(())
}

/// Plain MP4 to an async seekable writer starting at offset 0; see [`crate::Mp4Writer`].
#[derive(Debug)]
pub struct Mp4Writer<W> {
    inner: W,
    muxer: Muxer,
    scratch: Vec<Bytes>,
}

impl<W: AsyncWrite + AsyncSeek + Unpin> Mp4Writer<W> {
    /// Writes the file header and returns the writer.
    pub async fn new(inner: W, tracks: Vec<TrackConfig>, options: Mp4Options) -> Result<Self> {
        let muxer = Muxer::new(tracks, options)?;
        let mut w = Self {
            inner,
            muxer,
            scratch: Vec::new(),
        };
        w.drain().await?;
        Ok(w)
    }

    /// Adds a sample (written when its chunk is complete).
    pub async fn push(&mut self, sample: Sample) -> Result<()> {
        self.muxer.push(sample)?;
        self.drain().await
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

    async fn drain(&mut self) -> Result<()> {
        self.scratch.extend(self.muxer.take_appends());
        if !self.scratch.is_empty() {
            write_all_vectored(&mut self.inner, &self.scratch)
                .await
                .map_err(io_err("writing media data"))?;
            self.scratch.clear();
        }
        Ok(())
    }

    async fn finish_common(&mut self, faststart: bool) -> Result<Finish> {
        let finish = self.muxer.finish(faststart)?;
        write_all_vectored(&mut self.inner, &finish.appends)
            .await
            .map_err(io_err("writing media data"))?;
        let end = self
            .inner
            .stream_position()
            .await
            .map_err(io_err("seeking"))?;
        for p in &finish.patches {
            self.inner
                .seek(SeekFrom::Start(p.offset))
                .await
                .map_err(io_err("seeking to patch the mdat header"))?;
            self.inner
                .write_all(&p.bytes)
                .await
                .map_err(io_err("patching the mdat header"))?;
        }
        self.inner
            .seek(SeekFrom::Start(end))
            .await
            .map_err(io_err("seeking to the end"))?;
        Ok(finish)
    }

    /// Writes the last chunks and `moov` at the end, fixes the `mdat` size, flushes.
    pub async fn finish(mut self) -> Result<W> {
        let finish = self.finish_common(false).await?;
        self.inner
            .write_all(&finish.moov)
            .await
            .map_err(io_err("writing moov"))?;
        self.inner.flush().await.map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}

impl<W: AsyncRead + AsyncWrite + AsyncSeek + Unpin> Mp4Writer<W> {
    /// Like [`finish`](Self::finish), with `moov` moved in front of the media data.
    pub async fn finish_faststart(mut self) -> Result<W> {
        let finish = self.finish_common(true).await?;
        let at = finish.moov_insert_at.unwrap_or(0);
        let end = self
            .inner
            .stream_position()
            .await
            .map_err(io_err("seeking"))?;
        let by = finish.moov.len() as u64;
        let shift = async {
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = end;
            while pos > at {
                let n = (pos - at).min(buf.len() as u64);
                pos -= n;
                let chunk = &mut buf[..n as usize];
                self.inner.seek(SeekFrom::Start(pos)).await?;
                self.inner.read_exact(chunk).await?;
                self.inner.seek(SeekFrom::Start(pos + by)).await?;
                self.inner.write_all(chunk).await?;
            }
            io::Result::Ok(())
        };
        shift
            .await
            .map_err(io_err("shifting media data for faststart"))?;
        self.inner
            .seek(SeekFrom::Start(at))
            .await
            .map_err(io_err("seeking"))?;
        self.inner
            .write_all(&finish.moov)
            .await
            .map_err(io_err("writing moov"))?;
        self.inner
            .seek(SeekFrom::End(0))
            .await
            .map_err(io_err("seeking"))?;
        self.inner.flush().await.map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}

/// Fragmented MP4 to an async writer (a socket, a pipe); see [`crate::FragmentedWriter`].
#[derive(Debug)]
pub struct FragmentedWriter<W> {
    inner: W,
    muxer: FragmentedMuxer,
}

impl<W: AsyncWrite + Unpin> FragmentedWriter<W> {
    /// Writes the init segment and returns the writer.
    pub async fn new(inner: W, tracks: Vec<TrackConfig>, options: FragmentOptions) -> Result<Self> {
        let muxer = FragmentedMuxer::new(tracks, options)?;
        let mut w = Self { inner, muxer };
        w.drain().await?;
        Ok(w)
    }

    /// Adds a sample; writes a fragment when one completes.
    pub async fn push(&mut self, sample: Sample) -> Result<()> {
        self.muxer.push(sample)?;
        self.drain().await
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

    /// Ends the current fragment at the next key frame.
    pub fn request_cut(&mut self) {
        self.muxer.request_cut();
    }

    async fn drain(&mut self) -> Result<()> {
        while let Some(out) = self.muxer.poll_output() {
            match out {
                FragmentOutput::Init(i) => self.inner.write_all(&i.bytes).await,
                FragmentOutput::Media(m) => write_all_vectored(&mut self.inner, &m.parts).await,
                FragmentOutput::Index(b) => self.inner.write_all(&b).await,
            }
            .map_err(io_err("writing a fragment"))?;
            // Complete: out of any buffer in front (and for `tokio::fs::File`, out of its
            // background write) into the file now, as the blocking writer does.
            self.inner
                .flush()
                .await
                .map_err(io_err("flushing a fragment"))?;
        }
        Ok(())
    }

    /// Writes the last fragment (and `mfra`), flushes and returns the writer.
    pub async fn finish(mut self) -> Result<W> {
        self.muxer.finish()?;
        self.drain().await?;
        self.inner.flush().await.map_err(io_err("flushing"))?;
        Ok(self.inner)
    }
}
