//! What a cut file holds: the top-level elements of its Segment walked by their headers
//! alone, up to the first that does not end inside the file. A recorder killed while
//! writing a cluster leaves a part of it after the last whole one; readers then report
//! the file "ended prematurely", so recovery cuts it there (and [`crate::recover`] completes
//! what the writer's `finish` would have written).

use std::io::{Read, Seek, SeekFrom};

use crate::Error;
use crate::ebml::id;

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan {
    /// The end of the last whole element: where a cut file should end.
    pub end: u64,
    /// Whole clusters up to there.
    pub clusters: u64,
    /// The Segment has a known size and all of it is in the file: it was finished.
    pub finished: bool,
}

/// Walks the EBML header and the Segment's children of the file `len` bytes long.
/// A file that does not begin with an EBML header and a Segment is an error; anything
/// after that which does not fit (a cut header, an element running past the end, an
/// unknown size inside the Segment) ends the walk.
pub fn scan<R: Read + Seek>(file: &mut R, len: u64) -> Result<Scan, Error> {
    walk(file, len).map(|w| w.scan)
}

/// An element: its ID, where it begins, where its data begins, its size (`None`:
/// unknown).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element {
    pub(crate) id: u32,
    pub(crate) start: u64,
    pub(crate) data: u64,
    pub(crate) size: Option<u64>,
}

impl Element {
    pub(crate) fn end(&self) -> Option<u64> {
        self.size.and_then(|s| self.data.checked_add(s))
    }
}

/// The walk of a file's Segment, with what completing a cut file needs.
pub(crate) struct Walk {
    pub(crate) scan: Scan,
    pub(crate) segment: Element,
    /// The Segment's children that were whole, in order.
    pub(crate) children: Vec<Element>,
    /// Where a child of unknown size stopped the walk (a live recorder's cluster: where
    /// it ends is only found by reading its blocks).
    pub(crate) unknown_size: Option<u64>,
}

pub(crate) fn walk<R: Read + Seek>(file: &mut R, len: u64) -> Result<Walk, Error> {
    let not_matroska = || Error::NotMatroska;
    let header = element(file, 0, len)?.ok_or_else(not_matroska)?;
    if header.id != id::EBML {
        return Err(not_matroska());
    }
    let header_end = header
        .end()
        .filter(|&e| e <= len)
        .ok_or_else(not_matroska)?;
    let segment = element(file, header_end, len)?.ok_or_else(not_matroska)?;
    if segment.id != id::SEGMENT {
        return Err(not_matroska());
    }
    let limit = segment.end().map_or(len, |e| e.min(len));
    let mut scan = Scan {
        end: segment.data,
        clusters: 0,
        finished: false,
    };
    let mut children = Vec::new();
    let mut unknown_size = None;
    while let Some(child) = element(file, scan.end, limit)? {
        if child.size.is_none() {
            unknown_size = Some(child.start);
            break;
        }
        let Some(end) = child.end().filter(|&e| e <= limit) else {
            break;
        };
        scan.end = end;
        scan.clusters += u64::from(child.id == id::CLUSTER);
        children.push(child);
    }
    scan.finished = segment.end().is_some_and(|e| e <= len && scan.end == e);
    Ok(Walk {
        scan,
        segment,
        children,
        unknown_size,
    })
}

/// The header at `at`, or `None` when it is cut by `limit` or malformed.
pub(crate) fn element<R: Read + Seek>(
    file: &mut R,
    at: u64,
    limit: u64,
) -> Result<Option<Element>, Error> {
    let mut bytes = [0u8; 12];
    let room = usize::try_from(limit.saturating_sub(at))
        .unwrap_or(usize::MAX)
        .min(12);
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut bytes[..room])?;
    Ok(header(&bytes[..room]).map(|(id, len, size)| Element {
        id,
        start: at,
        data: at + len as u64,
        size,
    }))
}

/// An element header at the start of `bytes`: (ID, header length, size), or `None` when
/// it is cut or malformed.
pub(crate) fn header(bytes: &[u8]) -> Option<(u32, usize, Option<u64>)> {
    let id_len = bytes.first()?.leading_zeros() as usize + 1;
    if id_len > 4 || bytes.len() <= id_len {
        return None;
    }
    let id = bytes[..id_len]
        .iter()
        .fold(0u32, |v, &b| v << 8 | u32::from(b));
    let (size, size_len) = vint(&bytes[id_len..])?;
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Some((id, id_len + size_len, (!unknown).then_some(size)))
}

/// A variable-size integer at the start of `bytes`: (value, length).
pub(crate) fn vint(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || bytes.len() < len {
        return None;
    }
    let value = bytes[1..len]
        .iter()
        .fold(u64::from(first) & (0xFF >> len), |v, &b| {
            v << 8 | u64::from(b)
        });
    Some((value, len))
}
