//! An output that cannot seek (standard output, a pipe, a socket) for [`crate::Writer`],
//! which asks its output where it is and, to complete a file, seeks back.

use std::io::{self, Seek, SeekFrom, Write};

/// Wraps a [`Write`]: as a [`Seek`] it reports how many bytes went through and refuses to
/// move. End a [`crate::Writer`] on it with [`crate::Writer::finish_pipe`] (its `finish` seeks
/// back, and fails here).
#[derive(Debug)]
pub struct Pipe<W> {
    inner: W,
    position: u64,
}

impl<W: Write> Pipe<W> {
    /// Wraps `inner`, whose position counts from here.
    pub fn new(inner: W) -> Pipe<W> {
        Pipe { inner, position: 0 }
    }

    /// The output wrapped.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Pipe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Seek for Pipe<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.position),
            SeekFrom::Start(at) if at == self.position => Ok(at),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the output cannot seek (a pipe)",
            )),
        }
    }
}
