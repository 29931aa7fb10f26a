//! A cluster being filled: its blocks, in the order written, ready to go out as they are
//! when their times never go back; otherwise merged by time across tracks (each track's
//! own order kept) when the cluster closes. Frames come in decode order and from live
//! sources in arrival order (a WebRTC publish's audio arrives tens of milliseconds ahead
//! of its video); Chromium's WebM parser refuses a cluster whose block times go back
//! ("a block with a timecode before the previous block"), as ffmpeg's interleaving
//! never writes one.

use crate::ebml::{self, id};

/// One block's place: its time, track number, key flag, and where its frame's bytes are.
#[derive(Debug, Clone, Copy)]
struct Block {
    time: i64,
    number: u8,
    key: bool,
    data: usize,
    len: usize,
}

/// A cluster's blocks before it is written.
pub(crate) struct Cluster {
    /// The first block's time, which the blocks in `body` are relative to (at least 0).
    base: i64,
    /// The time of the first block written.
    pub(crate) first: i64,
    min: i64,
    max: i64,
    /// `Timestamp`, then the blocks in the order written.
    body: Vec<u8>,
    blocks: Vec<Block>,
    /// Block times have never gone back: `body` is the cluster as it goes out.
    ordered: bool,
    /// The track number whose first key frame gets the cue, and whether one came.
    cues_number: u8,
    pub(crate) has_key: bool,
    /// Frames per track index.
    pub(crate) frames: Vec<u64>,
}

/// A written cluster's body, and its cue: (time, track number, block offset in the body).
pub(crate) struct Closed {
    pub(crate) body: Vec<u8>,
    pub(crate) cue: Option<(i64, u64, u64)>,
    pub(crate) frames: Vec<u64>,
}

impl Cluster {
    pub(crate) fn new(first: i64, tracks: usize, cues_number: u8, capacity: usize) -> Cluster {
        let base = first.max(0);
        let mut body = Vec::with_capacity(capacity);
        ebml::uint(&mut body, id::TIMESTAMP, base as u64);
        Cluster {
            base,
            first,
            min: first,
            max: first,
            body,
            blocks: Vec::new(),
            ordered: true,
            cues_number,
            has_key: false,
            frames: vec![0; tracks],
        }
    }

    /// The span of block times with `time` added (what must fit a block's signed 16 bits).
    pub(crate) fn span_with(&self, time: i64) -> i64 {
        self.max.max(time) - self.min.min(time)
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.body.len()
    }

    /// Adds a block of track `index` (number `index + 1`).
    pub(crate) fn push(&mut self, index: usize, time: i64, key: bool, data: &[u8]) {
        let number = index as u8 + 1;
        self.ordered &= time >= self.max;
        self.min = self.min.min(time);
        self.max = self.max.max(time);
        self.has_key |= key && number == self.cues_number;
        put_block(&mut self.body, number, time - self.base, key, data);
        self.blocks.push(Block {
            time,
            number,
            key,
            data: self.body.len() - data.len(),
            len: data.len(),
        });
        self.frames[index] += 1;
    }

    /// The cluster as it goes out.
    pub(crate) fn close(self) -> Closed {
        if self.ordered {
            let cue = self.cue(self.blocks.iter().map(|b| (b, b.data - 4 - header_len(b))));
            return Closed {
                cue,
                body: self.body,
                frames: self.frames,
            };
        }
        let base = self.min.max(0);
        let mut body = Vec::with_capacity(self.body.len());
        ebml::uint(&mut body, id::TIMESTAMP, base as u64);
        let mut offsets = Vec::with_capacity(self.blocks.len());
        for block in merged(&self.blocks) {
            offsets.push((block, body.len()));
            let data = &self.body[block.data..block.data + block.len];
            put_block(&mut body, block.number, block.time - base, block.key, data);
        }
        let cue = self.cue(offsets.into_iter());
        Closed {
            body,
            cue,
            frames: self.frames,
        }
    }

    /// The cue of the first key frame of the cues track, from (block, offset) in order.
    fn cue<'a>(&self, blocks: impl Iterator<Item = (&'a Block, usize)>) -> Option<(i64, u64, u64)> {
        blocks
            .filter(|(b, _)| b.key && b.number == self.cues_number)
            .map(|(b, at)| (b.time, u64::from(b.number), at as u64))
            .next()
    }
}

/// The blocks merged by time across tracks, each track's own order kept (a B-frame
/// track's times go back and forth; its decode order must not change).
fn merged(blocks: &[Block]) -> Vec<&Block> {
    let mut heads: Vec<(u8, std::collections::VecDeque<&Block>)> = Vec::new();
    for block in blocks {
        match heads.iter_mut().find(|(n, _)| *n == block.number) {
            Some((_, queue)) => queue.push_back(block),
            None => heads.push((block.number, [block].into())),
        }
    }
    let mut out = Vec::with_capacity(blocks.len());
    while let Some((_, queue)) = heads
        .iter_mut()
        .filter(|(_, q)| !q.is_empty())
        .min_by_key(|(_, q)| q.front().map(|b| b.time))
    {
        out.extend(queue.pop_front());
    }
    out
}

/// The header bytes of a SimpleBlock element before its frame, less the 4 of the block
/// header (track number, time, flags): the element's ID and size.
fn header_len(block: &Block) -> usize {
    let mut size = Vec::with_capacity(8);
    ebml::put_size(&mut size, block.len as u64 + 4);
    1 + size.len()
}

/// A SimpleBlock of track `number` at `relative` time (the caller keeps it in i16).
fn put_block(out: &mut Vec<u8>, number: u8, relative: i64, key: bool, data: &[u8]) {
    ebml::put_id(out, id::SIMPLE_BLOCK);
    ebml::put_size(out, data.len() as u64 + 4);
    out.push(0x80 | number);
    out.extend_from_slice(&(relative as i16).to_be_bytes());
    out.push(if key { 0x80 } else { 0 });
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::header;

    /// (track number, time, offset) of each block of a closed cluster's body.
    fn blocks(body: &[u8]) -> Vec<(u8, i64, usize)> {
        let (_, len, size) = header(body).unwrap();
        let mut at = len + size.unwrap() as usize;
        let base = i64::from(body[len]);
        let mut out = Vec::new();
        while let Some((element, len, Some(size))) = body.get(at..).and_then(header) {
            assert_eq!(element, id::SIMPLE_BLOCK);
            let b = &body[at + len..];
            out.push((
                b[0] & 0x7F,
                base + i64::from(i16::from_be_bytes([b[1], b[2]])),
                at,
            ));
            at += len + size as usize;
        }
        out
    }

    #[test]
    fn blocks_go_out_in_time_order_each_track_in_its_own() {
        // Video with a B-frame (decode order 100, 180, 140) and audio that arrived ahead.
        let mut cluster = Cluster::new(100, 2, 1, 256);
        cluster.push(0, 100, true, b"v0");
        cluster.push(1, 120, true, b"a0");
        cluster.push(1, 140, true, b"a1");
        cluster.push(0, 180, false, b"v1");
        cluster.push(0, 140, false, b"v2");
        cluster.push(1, 160, true, b"a2");
        let closed = cluster.close();
        let order: Vec<(u8, i64)> = blocks(&closed.body).iter().map(|b| (b.0, b.1)).collect();
        assert_eq!(
            order,
            [(1, 100), (2, 120), (2, 140), (2, 160), (1, 180), (1, 140)]
        );
        assert_eq!(closed.cue, Some((100, 1, blocks(&closed.body)[0].2 as u64)));
        assert_eq!(closed.frames, [3, 3]);
    }

    #[test]
    fn blocks_in_order_go_out_as_written() {
        let mut cluster = Cluster::new(40, 2, 1, 256);
        cluster.push(1, 40, true, b"a0");
        cluster.push(0, 60, true, b"v0");
        cluster.push(1, 60, true, b"a1");
        let written = cluster.body.clone();
        let closed = cluster.close();
        assert_eq!(closed.body, written);
        let found = blocks(&closed.body);
        assert_eq!(closed.cue, Some((60, 1, found[1].2 as u64)));
    }
}
