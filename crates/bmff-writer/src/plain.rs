//! The sans-I/O plain MP4 muxer: `ftyp`, `free` + `mdat` (size fixed up at finish), and
//! `moov` (ISO/IEC 14496-12 §8.2) at the end or, with faststart, moved in front of the
//! media data.
//!
//! Sample tables (§8.6–§8.7): `stts` run-length, `ctts` when an offset is non-zero (v1
//! when one is negative), `stss` unless every sample is sync, `stsc` with the right
//! `sample_description_index` per chunk run, `stsz`, and `stco`/`co64` chosen from the
//! largest offset. Samples of a track are gathered into chunks of about
//! [`Mp4Options::interleave`]. Tracks starting at different times get an edit list
//! (§8.6.6, an empty edit then the media from its first composition offset).

use std::time::Duration;

use bytes::Bytes;

use crate::boxes::BoxWriter;
use crate::codec::{Codec, TrackConfig};
use crate::column::Column;
use crate::journal::{JournalSample, JournalState, JournalTrack};
use crate::moov::{self, EditList, TrackSetup, TrakTimes};
use crate::stbl::{ChunkEntry, OpenChunk, TrackIndex, presentation_end, sample_tables};
use crate::{Error, Result, Sample, rescale};

/// Most samples held in one open chunk (bounds memory when timestamps barely advance).
const MAX_CHUNK_SAMPLES: usize = 4096;

/// Options of the plain MP4 muxer: start from [`Mp4Options::default`] and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mp4Options {
    /// Target duration of a chunk (a run of one track's samples in `mdat`).
    pub interleave: Duration,
    /// Upper bound of a chunk's bytes held before they are handed out.
    pub max_chunk_bytes: u64,
    /// Timescale of `mvhd`, `tkhd` and `elst` durations.
    pub movie_timescale: u32,
    /// Time zero on the samples' time line, as (ticks, timescale): what a track presents
    /// before it is hidden by the track's edit list (AAC encoder priming at −1024), as
    /// ffmpeg's MP4 muxer hides negative presentation times; a file whose samples all
    /// start later keeps starting at its earliest sample. `None`: the earliest sample is
    /// time zero and nothing is hidden. [`Muxer::set_time_zero`] sets it later.
    pub time_zero: Option<(i64, u32)>,
}

impl Default for Mp4Options {
    fn default() -> Self {
        Self {
            interleave: Duration::from_millis(500),
            max_chunk_bytes: 8 << 20,
            movie_timescale: 1000,
            time_zero: None,
        }
    }
}

/// Bytes to write at an absolute offset of the output, once everything was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Patch {
    /// Offset from the start of the output.
    pub offset: u64,
    /// The bytes.
    pub bytes: Bytes,
}

/// What [`Muxer::finish`] leaves to write.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finish {
    /// Remaining media data to append, in order.
    pub appends: Vec<Bytes>,
    /// Header fix-ups (the `mdat` size), applied after the appends.
    pub patches: Vec<Patch>,
    /// The `moov` box.
    pub moov: Bytes,
    /// `None`: append `moov` at the end. `Some(at)`: faststart; after the appends and
    /// patches, move every byte from `at` to the end forward by `moov.len()` and write
    /// `moov` at `at` (its chunk offsets already account for the move).
    pub moov_insert_at: Option<u64>,
}

/// The plain MP4 muxer. Feed it with [`push`](Self::push), write out what
/// [`take_appends`](Self::take_appends) returns after each call, then apply
/// [`finish`](Self::finish)'s result.
#[derive(Debug)]
pub struct Muxer {
    tracks: Vec<TrackIndex>,
    options: Mp4Options,
    position: u64,
    ftyp_len: u64,
    free_at: u64,
    payload_start: u64,
    appends: Vec<Bytes>,
    finished: bool,
    journal: Option<JournalState>,
}

impl Muxer {
    /// A muxer for `tracks` (track ids 1..=n in this order). The `ftyp`, `free` and
    /// `mdat` header bytes are the first appends.
    pub fn new(tracks: Vec<TrackConfig>, options: Mp4Options) -> Result<Self> {
        if tracks.is_empty() {
            return Err(Error::NoTracks);
        }
        if options.movie_timescale == 0 {
            return Err(Error::InvalidTrack {
                track: 0,
                reason: "movie timescale is 0",
            });
        }
        let has_avc = tracks.iter().any(|t| matches!(t.codec, Codec::Avc(_)));
        let tracks = tracks
            .into_iter()
            .enumerate()
            .map(|(i, config)| {
                let interleave_ticks = (options.interleave.as_micros() as i128
                    * i128::from(config.timescale)
                    / 1_000_000)
                    .max(1) as i64;
                Ok(TrackIndex {
                    setup: TrackSetup::new(i, config)?,
                    sizes: Column::default(),
                    durations: Column::default(),
                    cts: None,
                    sync: Column::default(),
                    all_sync: true,
                    chunks: Vec::new(),
                    first: None,
                    last_dts: 0,
                    last_duration: None,
                    total_duration: 0,
                    presentation_end: 0,
                    last_cts: 0,
                    open: OpenChunk::default(),
                    interleave_ticks,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut w = BoxWriter::new();
        let brands: &[&[u8; 4]] = if has_avc {
            &[b"isom", b"iso2", b"avc1", b"mp41"]
        } else {
            &[b"isom", b"iso2", b"mp41"]
        };
        moov::ftyp(&mut w, b"isom", brands)?;
        let ftyp_len = w.len() as u64;
        // An 8-byte `free` that becomes the start of a 16-byte largesize `mdat` header when
        // the media data passes 4 GiB (as ffmpeg does).
        w.u32(8);
        w.bytes(b"free");
        w.u32(0);
        w.bytes(b"mdat");
        let header = w.into_vec();
        let position = header.len() as u64;
        Ok(Self {
            tracks,
            options,
            position,
            ftyp_len,
            free_at: ftyp_len,
            payload_start: position,
            appends: vec![Bytes::from(header)],
            finished: false,
            journal: None,
        })
    }

    /// Adds one sample. Its payload is handed out later by [`take_appends`](Self::take_appends),
    /// once its chunk is complete.
    pub fn push(&mut self, sample: Sample) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        let count = self.tracks.len();
        let t = self
            .tracks
            .get_mut(sample.track)
            .ok_or(Error::UnknownTrack {
                track: sample.track,
                tracks: count,
            })?;
        if sample.data.is_empty() {
            return Err(Error::EmptySample {
                track: sample.track,
                dts: sample.dts,
            });
        }
        let size = u32::try_from(sample.data.len()).map_err(|_| Error::NotRepresentable {
            what: "sample size",
            value: sample.data.len() as u128,
        })?;
        if t.samples() == u32::MAX {
            return Err(Error::NotRepresentable {
                what: "sample count",
                value: u128::from(u32::MAX) + 1,
            });
        }
        let duration = match t.first {
            None => None,
            Some(_) => {
                if sample.dts <= t.last_dts {
                    return Err(Error::TimestampRegression {
                        track: sample.track,
                        previous: t.last_dts,
                        dts: sample.dts,
                    });
                }
                let d = i128::from(sample.dts) - i128::from(t.last_dts);
                Some(u32::try_from(d).map_err(|_| Error::NotRepresentable {
                    what: "sample duration (dts gap)",
                    value: d as u128,
                })?)
            }
        };
        if let Some(d) = duration {
            // The previous sample ends now: its presentation ends at its pts + d.
            let end = presentation_end(t.total_duration, t.last_cts, d);
            t.presentation_end = t.presentation_end.max(end);
            t.durations.push(d);
            t.total_duration += u64::from(d);
        } else {
            t.first = Some((sample.dts, sample.cts_offset));
        }
        let open = &t.open;
        if !open.data.is_empty()
            && (open.sdi != t.setup.current
                || i128::from(sample.dts) - i128::from(open.start_dts)
                    >= i128::from(t.interleave_ticks)
                || open.bytes + u64::from(size) > self.options.max_chunk_bytes
                || open.data.len() >= MAX_CHUNK_SAMPLES)
        {
            close_chunk(
                t,
                sample.track,
                &mut self.position,
                &mut self.appends,
                &mut self.journal,
            );
        }
        if let Some(j) = &mut self.journal {
            j.sample(JournalSample {
                track: sample.track as u8,
                offset: 0,
                size,
                dts: sample.dts,
                cts_offset: sample.cts_offset,
                sync: sample.sync,
            });
        }
        if t.open.data.is_empty() {
            t.open.start_dts = sample.dts;
            t.open.first_sample = t.samples();
            t.open.sdi = t.setup.current;
        }
        t.open.bytes += u64::from(size);
        t.open.data.push(sample.data);

        let n = t.samples() as usize;
        if n.is_multiple_of(64) {
            t.sync.push(0);
        }
        if sample.sync {
            if let Some(word) = t.sync.last_mut() {
                *word |= 1 << (n % 64);
            }
        } else {
            t.all_sync = false;
        }
        if sample.cts_offset != 0 && t.cts.is_none() {
            let mut c = Column::default();
            for _ in 0..n {
                c.push(0);
            }
            t.cts = Some(c);
        }
        if let Some(c) = &mut t.cts {
            c.push(sample.cts_offset);
        }
        t.sizes.push(size);
        t.last_dts = sample.dts;
        t.last_cts = sample.cts_offset;
        t.last_duration = sample.duration.filter(|&d| d > 0);
        Ok(())
    }

    /// Sets [`Mp4Options::time_zero`] (any time before [`finish`](Self::finish)): a
    /// caller that learns the time line's zero only from the first sample.
    pub fn set_time_zero(&mut self, zero: Option<(i64, u32)>) {
        self.options.time_zero = zero;
    }

    /// Switches `track` to a new codec configuration (e.g. new SPS/PPS). Later samples
    /// use a new `stsd` entry (or an identical earlier one) and start a new chunk.
    pub fn set_codec(&mut self, track: usize, codec: Codec) -> Result<()> {
        self.change(track, |setup| setup.set_codec(track, codec))
    }

    /// [`set_codec`](Self::set_codec) with the rest of the sample entry too: another
    /// picture size or sample rate (the track's timescale stays; `config`'s is not used).
    pub fn set_config(&mut self, track: usize, config: TrackConfig) -> Result<()> {
        self.change(track, |setup| setup.set_config(track, config))
    }

    fn change(
        &mut self,
        track: usize,
        change: impl FnOnce(&mut TrackSetup) -> Result<bool>,
    ) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        let count = self.tracks.len();
        let t = self.tracks.get_mut(track).ok_or(Error::UnknownTrack {
            track,
            tracks: count,
        })?;
        change(&mut t.setup)?;
        if let Some(j) = &mut self.journal {
            let entry = t.setup.entries.get(t.setup.current as usize - 1);
            j.codec(track, entry.cloned().unwrap_or_default());
        }
        Ok(())
    }

    /// Starts the index journal (see the `journal` module): from now on
    /// [`take_journal`](Self::take_journal) returns the records of the samples whose
    /// chunks were handed out, to write beside the file for [`crate::recover_plain`].
    /// Only before the first sample, and for at most 255 tracks.
    pub fn enable_journal(&mut self) -> Result<()> {
        if self.sample_count() > 0 || self.tracks.len() > 255 {
            return Err(Error::InvalidTrack {
                track: 0,
                reason: "the journal starts before the first sample, with at most 255 tracks",
            });
        }
        let tracks = self
            .tracks
            .iter()
            .map(|t| {
                let c = &t.setup.config;
                JournalTrack {
                    kind: c.kind(),
                    timescale: c.timescale,
                    width: c.width,
                    height: c.height,
                    sample_rate: c.sample_rate,
                    channels: c.channels,
                    default_duration: c.default_duration,
                    entry: t.setup.entries.first().cloned().unwrap_or_default(),
                }
            })
            .collect();
        self.journal = Some(JournalState::new(tracks));
        Ok(())
    }

    /// Journal bytes to append now (empty when the journal is off or nothing is new).
    pub fn take_journal(&mut self) -> Vec<u8> {
        self.journal
            .as_mut()
            .map(JournalState::take)
            .unwrap_or_default()
    }

    /// The bytes to append to the output now, in order (header, then chunk payloads).
    pub fn take_appends(&mut self) -> std::vec::Drain<'_, Bytes> {
        self.appends.drain(..)
    }

    /// Bytes handed out (or pending in `take_appends`) so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Heap bytes held by the sample index (sizes, durations, offsets, sync bits, chunk
    /// table), spare capacity included; excludes payloads waiting in open chunks.
    pub fn index_heap_bytes(&self) -> usize {
        self.tracks
            .iter()
            .map(|t| {
                t.sizes.heap_bytes()
                    + t.durations.heap_bytes()
                    + t.cts.as_ref().map_or(0, Column::heap_bytes)
                    + t.sync.heap_bytes()
                    + t.chunks.capacity() * std::mem::size_of::<ChunkEntry>()
            })
            .sum()
    }

    /// Samples pushed so far, all tracks.
    pub fn sample_count(&self) -> u64 {
        self.tracks.iter().map(|t| u64::from(t.samples())).sum()
    }

    /// Ends the file: the last chunks, the `mdat` size patch and the `moov` box, placed
    /// at the end or (with `faststart`) after `ftyp`.
    pub fn finish(&mut self, faststart: bool) -> Result<Finish> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if !t.open.data.is_empty() {
                close_chunk(
                    t,
                    i,
                    &mut self.position,
                    &mut self.appends,
                    &mut self.journal,
                );
            }
            if t.first.is_some() {
                // Never 0: the caller's duration, else the previous one, else a guess.
                let last = t
                    .last_duration
                    .or_else(|| t.durations.iter().last())
                    .or(t.setup.config.default_duration)
                    .unwrap_or((t.setup.config.timescale / 30).max(1));
                let end = presentation_end(t.total_duration, t.last_cts, last);
                t.presentation_end = t.presentation_end.max(end);
                t.durations.push(last);
                t.total_duration += u64::from(last);
            }
        }
        let payload = self.position - self.payload_start;
        let patch = match u32::try_from(payload + 8) {
            Ok(size) => Patch {
                offset: self.payload_start - 8,
                bytes: Bytes::copy_from_slice(&size.to_be_bytes()),
            },
            Err(_) => {
                let mut b = Vec::with_capacity(16);
                b.extend_from_slice(&1u32.to_be_bytes());
                b.extend_from_slice(b"mdat");
                b.extend_from_slice(&(payload + 16).to_be_bytes());
                Patch {
                    offset: self.free_at,
                    bytes: Bytes::from(b),
                }
            }
        };
        let moov = if faststart {
            // Chunk offsets move by the moov size, which depends on stco vs co64: size it
            // until stable (co64 only grows, so this ends in at most two extra rounds).
            let mut size = self.moov(0)?.len() as u64;
            let mut moov = self.moov(size)?;
            for _ in 0..3 {
                if moov.len() as u64 == size {
                    break;
                }
                size = moov.len() as u64;
                moov = self.moov(size)?;
            }
            moov
        } else {
            self.moov(0)?
        };
        Ok(Finish {
            appends: self.appends.drain(..).collect(),
            patches: vec![patch],
            moov: Bytes::from(moov),
            moov_insert_at: faststart.then_some(self.ftyp_len),
        })
    }

    fn moov(&self, shift: u64) -> Result<Vec<u8>> {
        let movie_ts = self.options.movie_timescale;
        let first_pts = |t: &TrackIndex| {
            t.first.map(|(dts, cts)| {
                rescale(
                    i128::from(dts) + i128::from(cts),
                    t.setup.config.timescale,
                    movie_ts,
                )
            })
        };
        let earliest = self.tracks.iter().filter_map(first_pts).min().unwrap_or(0);
        let zero = self
            .options
            .time_zero
            .map(|(ticks, ts)| (i128::from(ticks), ts));
        let movie_start = zero.map_or(earliest, |(ticks, ts)| {
            earliest.max(rescale(ticks, ts, movie_ts))
        });
        let mut times = Vec::with_capacity(self.tracks.len());
        for t in &self.tracks {
            let ts = t.setup.config.timescale;
            // Media presented before time zero, in this track's timescale (from the exact
            // zero, so priming stays 1024 ticks).
            let early = match (zero, t.first) {
                (Some((ticks, zero_ts)), Some((dts, cts))) => {
                    (rescale(ticks, zero_ts, ts) - (i128::from(dts) + i128::from(cts))).max(0)
                }
                _ => 0,
            };
            let delay = first_pts(t).map_or(0, |p| (p - movie_start).max(0));
            let media_time = t.first.map_or(0, |(_, cts)| i128::from(cts.max(0))) + early;
            let media_time = media_time.min(i128::from(t.presentation_end));
            let presented = rescale(i128::from(t.presentation_end) - media_time, ts, movie_ts);
            let to_u64 = |v: i128, what| {
                u64::try_from(v).map_err(|_| Error::NotRepresentable {
                    what,
                    value: v as u128,
                })
            };
            let edits = (delay > 0 || media_time > 0).then(|| -> Result<EditList> {
                Ok(EditList {
                    delay: to_u64(delay, "edit list delay")?,
                    media_time: to_u64(media_time, "edit list media time")?,
                    duration: to_u64(presented, "edit duration")?,
                })
            });
            let edits = edits.transpose()?;
            times.push(TrakTimes {
                track_duration: to_u64(delay + presented, "track duration")?,
                media_duration: t.total_duration,
                edits,
            });
        }
        let mut w = BoxWriter::with_capacity(4096 + self.sample_count() as usize * 8);
        let m = w.begin(b"moov");
        let used: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].first.is_some())
            .collect();
        let duration = used
            .iter()
            .map(|&i| times[i].track_duration)
            .max()
            .unwrap_or(0);
        let next_track_id = used.last().map_or(1, |&i| i as u32 + 2);
        moov::mvhd(&mut w, movie_ts, duration, next_track_id)?;
        for &i in &used {
            let t = &self.tracks[i];
            moov::trak(
                &mut w,
                i as u32 + 1,
                &t.setup.config,
                &t.setup.entries,
                &times[i],
                |w| sample_tables(w, t, shift),
            )?;
        }
        w.end(m)?;
        Ok(w.into_vec())
    }
}

fn close_chunk(
    t: &mut TrackIndex,
    track: usize,
    position: &mut u64,
    appends: &mut Vec<Bytes>,
    journal: &mut Option<JournalState>,
) {
    if let Some(j) = journal {
        j.chunk_written(track, *position);
    }
    t.chunks.push(ChunkEntry {
        offset: *position,
        first_sample: t.open.first_sample,
        sdi: t.open.sdi,
    });
    *position += t.open.bytes;
    appends.append(&mut t.open.data);
    t.open.bytes = 0;
}

#[cfg(test)]
#[path = "plain_tests.rs"]
mod tests;
