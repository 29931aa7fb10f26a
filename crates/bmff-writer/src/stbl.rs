//! One track's sample index and the sample table boxes written from it (ISO/IEC
//! 14496-12 §8.6.1.2 `stts`, §8.6.1.3 `ctts`, §8.6.2 `stss`, §8.7.4 `stsc`, §8.7.3
//! `stsz`, §8.7.5 `stco`/`co64`).
//!
//! Per sample the index keeps 4 bytes of size, 4 of duration, 4 of composition offset once
//! one is non-zero, and a sync bit, in fixed blocks ([`Column`]); chunks are kept per
//! ~0.5 s run, not per sample.

use bytes::Bytes;

use crate::Result;
use crate::boxes::BoxWriter;
use crate::codec::Codec;
use crate::column::Column;
use crate::moov::{self, TrackSetup};

#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkEntry {
    pub offset: u64,
    pub first_sample: u32,
    pub sdi: u32,
}

#[derive(Debug, Default)]
pub(crate) struct OpenChunk {
    pub data: Vec<Bytes>,
    pub start_dts: i64,
    pub bytes: u64,
    pub first_sample: u32,
    pub sdi: u32,
}

/// One track's sample index: about 8 bytes per sample (size and duration), 12 with
/// composition offsets, plus a sync bit; chunks are per ~0.5 s.
#[derive(Debug)]
pub(crate) struct TrackIndex {
    pub setup: TrackSetup,
    pub sizes: Column<u32>,
    pub durations: Column<u32>,
    pub cts: Option<Column<i32>>,
    pub sync: Column<u64>,
    pub all_sync: bool,
    pub chunks: Vec<ChunkEntry>,
    pub first: Option<(i64, i32)>,
    pub last_dts: i64,
    pub last_duration: Option<u32>,
    pub total_duration: u64,
    /// Latest presentation end seen so far, excluding the last sample (its duration is
    /// only known at finish): max(dts + cts + duration) relative to the first dts.
    pub presentation_end: i64,
    /// The last sample's composition offset.
    pub last_cts: i32,
    pub open: OpenChunk,
    pub interleave_ticks: i64,
}

impl TrackIndex {
    pub fn samples(&self) -> u32 {
        self.sizes.len() as u32
    }
}

/// Where a sample starting `start` ticks into the media ends on screen, clamped to i64.
pub(crate) fn presentation_end(start: u64, cts: i32, duration: u32) -> i64 {
    let end = i128::from(start) + i128::from(cts) + i128::from(duration);
    end.clamp(0, i128::from(i64::MAX)) as i64
}

/// Writes `count` then the entries `write` produces, patching the count afterwards.
fn counted(w: &mut BoxWriter, write: impl FnOnce(&mut BoxWriter) -> u32) {
    let at = w.len();
    w.u32(0);
    let n = write(w);
    w.patch_u32(at, n);
}

/// Run-length encodes `values` as (count, value) pairs.
fn runs<T: PartialEq + Copy>(values: impl Iterator<Item = T>, mut emit: impl FnMut(u32, T)) {
    let mut current: Option<(u32, T)> = None;
    for v in values {
        current = match current {
            Some((n, c)) if c == v => Some((n + 1, c)),
            Some((n, c)) => {
                emit(n, c);
                Some((1, v))
            }
            None => Some((1, v)),
        };
    }
    if let Some((n, c)) = current {
        emit(n, c);
    }
}

pub(crate) fn sample_tables(w: &mut BoxWriter, t: &TrackIndex, shift: u64) -> Result<()> {
    let n = t.samples();
    let m = w.begin_full(b"stts", 0, 0);
    counted(w, |w| {
        let mut entries = 0;
        runs(t.durations.iter(), |count, delta| {
            w.u32(count);
            w.u32(delta);
            entries += 1;
        });
        entries
    });
    w.end(m)?;

    if let Some(cts) = &t.cts {
        let negative = cts.iter().any(|c| c < 0);
        let m = w.begin_full(b"ctts", u8::from(negative), 0);
        counted(w, |w| {
            let mut entries = 0;
            runs(cts.iter(), |count, offset| {
                w.u32(count);
                w.i32(offset);
                entries += 1;
            });
            entries
        });
        w.end(m)?;
    }

    if !t.all_sync {
        let m = w.begin_full(b"stss", 0, 0);
        counted(w, |w| {
            let mut entries = 0;
            for (word_index, word) in t.sync.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    w.u32(word_index as u32 * 64 + bit + 1);
                    entries += 1;
                }
            }
            entries
        });
        w.end(m)?;
    }

    let m = w.begin_full(b"stsc", 0, 0);
    counted(w, |w| {
        let mut entries = 0;
        let mut previous = None;
        for (i, c) in t.chunks.iter().enumerate() {
            let end = t.chunks.get(i + 1).map_or(n, |next| next.first_sample);
            let run = (end - c.first_sample, c.sdi);
            if previous != Some(run) {
                w.u32(i as u32 + 1);
                w.u32(run.0);
                w.u32(run.1);
                entries += 1;
                previous = Some(run);
            }
        }
        entries
    });
    w.end(m)?;

    let m = w.begin_full(b"stsz", 0, 0);
    let first = t.sizes.iter().next().unwrap_or(0);
    if t.sizes.iter().all(|s| s == first) {
        w.u32(first);
        w.u32(n);
    } else {
        w.u32(0);
        w.u32(n);
        for s in t.sizes.iter() {
            w.u32(s);
        }
    }
    w.end(m)?;

    let last_offset = t.chunks.last().map_or(0, |c| c.offset) + shift;
    if last_offset > u64::from(u32::MAX) {
        let m = w.begin_full(b"co64", 0, 0);
        w.u32(t.chunks.len() as u32);
        for c in &t.chunks {
            w.u64(c.offset + shift);
        }
        w.end(m)?;
    } else {
        let m = w.begin_full(b"stco", 0, 0);
        w.u32(t.chunks.len() as u32);
        for c in &t.chunks {
            w.u32((c.offset + shift) as u32);
        }
        w.end(m)?;
    }

    match t.setup.config.codec {
        Codec::Aac { .. } => moov::roll_groups(w, n, -1)?,
        Codec::Opus(_) => {
            // Opus needs 80 ms of pre-roll (RFC 7845 §4.6): that many packets back.
            let first = t.durations.iter().next().unwrap_or(1).max(1);
            let preroll = u64::from(t.setup.config.timescale) * 80 / 1000;
            let packets = preroll.div_ceil(u64::from(first)).clamp(1, i16::MAX as u64);
            moov::roll_groups(w, n, -(packets as i16))?;
        }
        _ => {}
    }
    Ok(())
}
