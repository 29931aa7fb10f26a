//! Vectored writes of the muxers' output pieces: header and payload `Bytes` handed to the
//! operating system together, never copied into one buffer.

use std::io::{self, IoSlice, Write};

use bytes::Bytes;

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
