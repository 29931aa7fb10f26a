//! Completing a file whose writer was killed: what `Writer::finish` would have written,
//! from what the file holds. Cues come from each whole cluster's first block when it is
//! a key frame (a cluster of ours begins with one), the duration from the latest block
//! of the last cluster; the Segment's size, the SeekHead and the Duration go into the
//! room the writer kept for them. A file of another writer gets what fits its layout.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::Error;
use crate::ebml::{self, id};
use crate::index;
use crate::scan::{Element, Scan, header, vint, walk};

/// The most of a last cluster read to find its latest block (the writer's clusters are
/// at most 8 MiB and a frame).
const MAX_LAST_CLUSTER: u64 = 64 << 20;

/// Completes the file `len` bytes long if it was cut short: Cues are written after its
/// last whole cluster (over whatever half cluster follows it), then the Segment's size,
/// SeekHead and Duration where the writer kept room for them. Returns the scan of the
/// result; the caller truncates the file to its `end`. A finished file, or one without
/// a whole cluster, is left as it is; one with an element of unknown size (another
/// writer's live cluster) is an error, and untouched.
pub fn recover<F: Read + Write + Seek>(file: &mut F, len: u64) -> Result<Scan, Error> {
    let walk = walk(file, len)?;
    if let Some(at) = walk.unknown_size {
        return Err(Error::UnknownSize(at));
    }
    if walk.scan.finished || walk.scan.clusters == 0 {
        return Ok(walk.scan);
    }
    let segment = walk.segment.data;
    let clusters: Vec<&Element> = walk
        .children
        .iter()
        .filter(|c| c.id == id::CLUSTER)
        .collect();
    let mut cues = Vec::new();
    for cluster in &clusters {
        let mut head = [0u8; 64];
        let room = cluster.size.unwrap_or(0).min(64) as usize;
        file.seek(SeekFrom::Start(cluster.data))?;
        file.read_exact(&mut head[..room])?;
        if let Some(cue) = first_key(&head[..room], cluster.start - segment) {
            cues.push(cue);
        }
    }
    let mut end_time = 0i64;
    if let Some(last) = clusters
        .last()
        .filter(|c| c.size.unwrap_or(0) <= MAX_LAST_CLUSTER)
    {
        let mut body = vec![0u8; last.size.unwrap_or(0) as usize];
        file.seek(SeekFrom::Start(last.data))?;
        file.read_exact(&mut body)?;
        end_time = latest_block(&body);
    }

    let cues_at = walk.scan.end;
    let cues_element = index::cues(&cues);
    file.seek(SeekFrom::Start(cues_at))?;
    file.write_all(&cues_element)?;
    let end = cues_at + cues_element.len() as u64;

    // The Segment's size, when it has the 8 bytes of an unknown size to hold it.
    let sized = walk.segment.data - walk.segment.start == 12;
    if sized {
        let mut size = Vec::with_capacity(8);
        ebml::put_size_in(&mut size, (end - segment).min(ebml::MAX_SIZE), 8);
        file.seek(SeekFrom::Start(segment - 8))?;
        file.write_all(&size)?;
    }
    // The SeekHead, into a Void the writer put first.
    let find = |which: u32| walk.children.iter().find(|c| c.id == which);
    if let Some(room) = walk.children.first().filter(|c| c.id == id::VOID) {
        let mut entries: Vec<(u32, u64)> = [id::INFO, id::TRACKS]
            .iter()
            .filter_map(|&e| find(e).map(|c| (e, c.start - segment)))
            .collect();
        if !cues_element.is_empty() {
            entries.push((id::CUES, cues_at - segment));
        }
        let room_len = room.end().map_or(0, |e| e - room.start) as usize;
        if let Some(head) = index::seek_head(&entries, room_len) {
            file.seek(SeekFrom::Start(room.start))?;
            file.write_all(&head)?;
        }
    }
    // The Duration, into the 11-byte Void the writer left in Info.
    if let Some(info) = find(id::INFO) {
        let size = info.size.unwrap_or(0).min(4096) as usize;
        let mut body = vec![0u8; size];
        file.seek(SeekFrom::Start(info.data))?;
        file.read_exact(&mut body)?;
        let mut at = 0;
        while let Some((child, header_len, Some(child_size))) = body.get(at..).and_then(header) {
            let total =
                header_len.saturating_add(usize::try_from(child_size).unwrap_or(usize::MAX));
            if child == id::VOID && total == 11 && at + total <= body.len() {
                file.seek(SeekFrom::Start(info.data + at as u64))?;
                file.write_all(&index::duration(end_time))?;
                break;
            }
            at = at.saturating_add(total);
        }
    }
    file.flush()?;
    Ok(Scan {
        end,
        clusters: walk.scan.clusters,
        // Finished as `finish` leaves a file only when the Segment's size could be set.
        finished: sized,
    })
}

/// A cue for a cluster at `position` (in the Segment) whose first block is a key frame:
/// (time, track number, position, the block's offset in the cluster).
fn first_key(head: &[u8], position: u64) -> Option<(i64, u64, u64, u64)> {
    let (first, first_len, first_size) = header(head)?;
    if first != id::TIMESTAMP {
        return None;
    }
    let value_end = first_len + first_size? as usize;
    let time = head
        .get(first_len..value_end)?
        .iter()
        .fold(0i64, |v, &b| v << 8 | i64::from(b));
    let (block, block_len, _) = header(head.get(value_end..)?)?;
    if block != id::SIMPLE_BLOCK {
        return None;
    }
    let (track, relative, flags) = block_head(head.get(value_end + block_len..)?)?;
    (flags & 0x80 != 0).then_some((
        time.saturating_add(relative),
        track,
        position,
        value_end as u64,
    ))
}

/// A block's track number, relative time and flags.
fn block_head(bytes: &[u8]) -> Option<(u64, i64, u8)> {
    let (track, len) = vint(bytes)?;
    let rest = bytes.get(len..len + 3)?;
    Some((
        track,
        i64::from(i16::from_be_bytes([rest[0], rest[1]])),
        rest[2],
    ))
}

/// The latest block time in a cluster's body (its Timestamp plus the largest relative
/// time of its SimpleBlocks).
fn latest_block(body: &[u8]) -> i64 {
    let mut at = 0;
    let mut time = 0i64;
    let mut latest = 0i64;
    while let Some((child, header_len, Some(size))) = body.get(at..).and_then(header) {
        let data = &body[at + header_len..];
        let Some(value) = data.get(..size as usize) else {
            break;
        };
        match child {
            id::TIMESTAMP => time = value.iter().fold(0, |v, &b| v << 8 | i64::from(b)),
            id::SIMPLE_BLOCK => {
                if let Some((_, relative, _)) = block_head(value) {
                    latest = latest.max(time.saturating_add(relative));
                }
            }
            _ => {}
        }
        at += header_len + size as usize;
    }
    latest
}
