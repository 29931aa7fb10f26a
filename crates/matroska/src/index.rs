//! The elements written last, by `Writer::finish` and by `recover` alike: the Cues, the
//! SeekHead (into the room kept at the Segment's start) and the Duration.

use crate::ebml::{self, id};

/// A cue: (time, track number, cluster position in the Segment, block offset in it).
pub(crate) type Cue = (i64, u64, u64, u64);

/// The Cues element of `cues` (nothing when there are none).
pub(crate) fn cues(cues: &[Cue]) -> Vec<u8> {
    if cues.is_empty() {
        return Vec::new();
    }
    let mut body = Vec::with_capacity(cues.len() * 24);
    for &(time, track, cluster, offset) in cues {
        let mut positions = Vec::with_capacity(16);
        ebml::uint(&mut positions, id::CUE_TRACK, track);
        ebml::uint(&mut positions, id::CUE_CLUSTER_POSITION, cluster);
        ebml::uint(&mut positions, id::CUE_RELATIVE_POSITION, offset);
        let mut point = Vec::with_capacity(24);
        ebml::uint(&mut point, id::CUE_TIME, time.max(0) as u64);
        ebml::binary(&mut point, id::CUE_TRACK_POSITIONS, &positions);
        ebml::binary(&mut body, id::CUE_POINT, &point);
    }
    let mut element = Vec::with_capacity(body.len() + 12);
    ebml::binary(&mut element, id::CUES, &body);
    element
}

/// A SeekHead of `entries` (element ID, position in the Segment) and a Void after it,
/// `room` bytes in all; `None` when they do not fit.
pub(crate) fn seek_head(entries: &[(u32, u64)], room: usize) -> Option<Vec<u8>> {
    let mut seeks = Vec::with_capacity(room);
    for &(element, at) in entries {
        let mut seek = Vec::with_capacity(24);
        let mut element_id = Vec::with_capacity(4);
        ebml::put_id(&mut element_id, element);
        ebml::binary(&mut seek, id::SEEK_ID, &element_id);
        ebml::uint8(&mut seek, id::SEEK_POSITION, at);
        ebml::binary(&mut seeks, id::SEEK, &seek);
    }
    let mut head = Vec::with_capacity(room);
    ebml::binary(&mut head, id::SEEK_HEAD, &seeks);
    let rest = room.checked_sub(head.len()).filter(|&r| r >= 2)?;
    ebml::void(&mut head, rest);
    Some(head)
}

/// The Duration element (11 bytes: what the room kept for it holds).
pub(crate) fn duration(units: i64) -> Vec<u8> {
    let mut element = Vec::with_capacity(11);
    ebml::float(&mut element, id::DURATION, units as f64);
    element
}
