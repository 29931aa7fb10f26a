//! The sans-I/O fragmented MP4 muxer (ISO/IEC 14496-12 §8.8 movie fragments, §8.16.3
//! `sidx`, §8.8.9–8.8.11 `mfra`; the byte-stream rules of the MSE ISO BMFF format).
//!
//! The init segment is `ftyp` (major `iso5`, compatible `iso5 iso6 mp41`, as ffmpeg
//! writes with `default_base_moof`) and a `moov` with empty sample tables and `mvex`/`trex`.
//! Each fragment is `moof` (`mfhd`, then per track `traf` = `tfhd` with
//! default-base-is-moof, `tfdt` v1, `trun` with data offset and per-sample size, duration,
//! flags and composition offset) followed by `mdat`. A fragment starts at a key frame of
//! the first video track, once the current one reaches the target duration (or when a
//! cut was requested); audio-only output is cut by duration.
//!
//! The last sample of each track is held until the next one gives its duration, so a
//! fragment's decode times (`tfdt`) always equal the accumulated real durations.
//!
//! Time zero of the output is the decode time of the first sample pushed (any track); a
//! track starting later gets a larger first `tfdt`, which keeps tracks in sync without
//! edit lists. Memory is one fragment: its samples' payload references and ~48 bytes per
//! sample of state (a fragment ends at the first key frame past the target duration, so
//! a long GOP makes a long fragment).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::boxes::{BoxWriter, mdat_header};
use crate::codec::{Codec, TrackConfig, TrackKind};
use crate::moov::{self, TrackSetup, TrakTimes};
use crate::{Error, Result, Sample, index, rescale};

mod segment;

pub use segment::{FragmentOptions, FragmentOutput, InitSegment, MediaSegment};

#[derive(Debug)]
struct Pending {
    dts: i64,
    /// 0 until the next sample's decode time is known.
    duration: u32,
    cts: i32,
    sync: bool,
    data: Bytes,
}

#[derive(Debug)]
struct FragTrack {
    setup: TrackSetup,
    pending: Vec<Pending>,
    last_dts: Option<i64>,
    last_duration: Option<u32>,
    prev_duration: Option<u32>,
    /// `tfdt` of the next sample to go out.
    decode_time: Option<u64>,
    codec_changed: bool,
    /// (time, moof offset, traf number) per fragment, for `mfra`.
    tfra: Vec<(u64, u64, u8)>,
}

/// The fragmented MP4 muxer. Call [`push`](Self::push) per sample and drain
/// [`poll_output`](Self::poll_output) after each call; the first output is the init
/// segment.
#[derive(Debug)]
pub struct FragmentedMuxer {
    tracks: Vec<FragTrack>,
    options: FragmentOptions,
    reference: usize,
    reference_is_video: bool,
    target_ticks: i64,
    fragment_start: Option<i64>,
    cut_requested: bool,
    sequence: u32,
    init_number: u32,
    position: u64,
    origin: Option<(i64, u32)>,
    outputs: VecDeque<FragmentOutput>,
    finished: bool,
}

impl FragmentedMuxer {
    /// A muxer for `tracks` (track ids 1..=n). Queues the init segment.
    pub fn new(tracks: Vec<TrackConfig>, options: FragmentOptions) -> Result<Self> {
        if tracks.is_empty() {
            return Err(Error::NoTracks);
        }
        let reference = tracks
            .iter()
            .position(|t| t.kind() == TrackKind::Video)
            .unwrap_or(0);
        let reference_is_video = tracks[reference].kind() == TrackKind::Video;
        let target_ticks = (options.fragment_duration.as_micros() as i128
            * i128::from(tracks[reference].timescale)
            / 1_000_000)
            .clamp(1, i128::from(i64::MAX)) as i64;
        let tracks = tracks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                Ok(FragTrack {
                    setup: TrackSetup::new(i, c)?,
                    pending: Vec::new(),
                    last_dts: None,
                    last_duration: None,
                    prev_duration: None,
                    decode_time: None,
                    codec_changed: false,
                    tfra: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut m = Self {
            tracks,
            options,
            reference,
            reference_is_video,
            target_ticks,
            fragment_start: None,
            cut_requested: false,
            sequence: 1,
            init_number: 0,
            position: 0,
            origin: None,
            outputs: VecDeque::new(),
            finished: false,
        };
        m.queue_init()?;
        Ok(m)
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<FragmentOutput> {
        self.outputs.pop_front()
    }

    /// The latest init segment (e.g. to serve it again to a new client).
    pub fn init_segment(&self) -> Result<InitSegment> {
        Ok(InitSegment {
            number: self.init_number.max(1),
            bytes: Bytes::from(self.init_bytes()?),
        })
    }

    /// Asks for the current fragment to end: the next one starts at the next key frame
    /// of the reference (first video) track, or the next sample for audio-only output.
    /// Use it to cut HLS/DASH segments on your own boundaries.
    pub fn request_cut(&mut self) {
        self.cut_requested = true;
    }

    /// Switches `track` to a new codec configuration. When the sample entry changes, the
    /// fragment is cut before the track's next sample and a new init segment with the new
    /// entry is queued (what MSE and HLS `EXT-X-MAP` expect).
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
        if change(&mut t.setup)? {
            t.codec_changed = true;
        }
        Ok(())
    }

    /// Adds one sample; may complete a fragment.
    pub fn push(&mut self, sample: Sample) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        let count = self.tracks.len();
        let t = self.tracks.get(sample.track).ok_or(Error::UnknownTrack {
            track: sample.track,
            tracks: count,
        })?;
        if sample.data.is_empty() {
            return Err(Error::EmptySample {
                track: sample.track,
                dts: sample.dts,
            });
        }
        if u32::try_from(sample.data.len()).is_err() {
            return Err(Error::NotRepresentable {
                what: "sample size",
                value: sample.data.len() as u128,
            });
        }
        let duration = match t.last_dts {
            Some(prev) => {
                if sample.dts <= prev {
                    return Err(Error::TimestampRegression {
                        track: sample.track,
                        previous: prev,
                        dts: sample.dts,
                    });
                }
                let d = i128::from(sample.dts) - i128::from(prev);
                Some(u32::try_from(d).map_err(|_| Error::NotRepresentable {
                    what: "sample duration (dts gap)",
                    value: d as u128,
                })?)
            }
            None => {
                if sample.track == self.reference && self.reference_is_video && !sample.sync {
                    return Err(Error::NotKeyframe {
                        track: sample.track,
                        dts: sample.dts,
                    });
                }
                None
            }
        };
        let t = &mut self.tracks[sample.track];
        if let (Some(d), Some(last)) = (duration, t.pending.last_mut()) {
            last.duration = d;
        }
        if duration.is_some() {
            t.prev_duration = duration;
        }
        let codec_changed = std::mem::take(&mut t.codec_changed);
        let is_reference = sample.track == self.reference;
        let boundary = is_reference && (sample.sync || !self.reference_is_video);
        let due = self.fragment_start.is_some_and(|start| {
            self.cut_requested
                || i128::from(sample.dts) - i128::from(start) >= i128::from(self.target_ticks)
        });
        if codec_changed || (boundary && due) {
            self.flush(false)?;
            self.cut_requested = false;
            if codec_changed {
                // The new init segment carries only the new entry: players switch
                // configuration by (re)appending an init segment (MSE, HLS EXT-X-MAP),
                // while few honour a tfhd sample_description_index.
                let setup = &mut self.tracks[sample.track].setup;
                let entry = setup.entries[setup.current as usize - 1].clone();
                setup.entries = vec![entry];
                setup.current = 1;
                self.queue_init()?;
            }
            self.fragment_start = self.tracks[self.reference].pending.first().map(|p| p.dts);
        }

        let timescale = self.tracks[sample.track].setup.config.timescale;
        let (origin, origin_ts) = *self.origin.get_or_insert((sample.dts, timescale));
        let t = &mut self.tracks[sample.track];
        if t.decode_time.is_none() {
            let o = rescale(i128::from(origin), origin_ts, timescale);
            t.decode_time = Some(u64::try_from(i128::from(sample.dts) - o).unwrap_or(0));
        }
        t.last_dts = Some(sample.dts);
        t.last_duration = sample.duration.filter(|&d| d > 0);
        t.pending.push(Pending {
            dts: sample.dts,
            duration: 0,
            cts: sample.cts_offset,
            sync: sample.sync,
            data: sample.data,
        });
        if is_reference && self.fragment_start.is_none() {
            self.fragment_start = Some(sample.dts);
        }
        Ok(())
    }

    /// Ends the output: the last fragment (last samples take their own duration, else
    /// the previous one) and, if enabled, `mfra`.
    pub fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        for t in &mut self.tracks {
            let fallback = t
                .last_duration
                .or(t.prev_duration)
                .or(t.setup.config.default_duration)
                .unwrap_or((t.setup.config.timescale / 30).max(1));
            if let Some(last) = t.pending.last_mut() {
                last.duration = fallback;
            }
        }
        self.flush(true)?;
        if self.options.mfra {
            let mfra = self.mfra()?;
            self.outputs
                .push_back(FragmentOutput::Index(Bytes::from(mfra)));
        }
        Ok(())
    }

    /// Bytes buffered for the current fragment (payloads plus per-sample state).
    pub fn buffered_bytes(&self) -> usize {
        self.tracks
            .iter()
            .map(|t| {
                t.pending.capacity() * std::mem::size_of::<Pending>()
                    + t.pending.iter().map(|p| p.data.len()).sum::<usize>()
            })
            .sum()
    }

    fn init_bytes(&self) -> Result<Vec<u8>> {
        let mut w = BoxWriter::with_capacity(1024);
        moov::ftyp(&mut w, b"iso5", &[b"iso5", b"iso6", b"mp41"])?;
        let m = w.begin(b"moov");
        moov::mvhd(&mut w, 1000, 0, self.tracks.len() as u32 + 1)?;
        let zero = TrakTimes {
            track_duration: 0,
            media_duration: 0,
            edits: None,
        };
        for (i, t) in self.tracks.iter().enumerate() {
            moov::trak(
                &mut w,
                i as u32 + 1,
                &t.setup.config,
                &t.setup.entries,
                &zero,
                |w| {
                    for fourcc in [b"stts", b"stsc", b"stco"] {
                        let m = w.begin_full(fourcc, 0, 0);
                        w.u32(0);
                        w.end(m)?;
                    }
                    let m = w.begin_full(b"stsz", 0, 0);
                    w.u64(0);
                    w.end(m)
                },
            )?;
        }
        let mvex = w.begin(b"mvex");
        for i in 0..self.tracks.len() {
            let m = w.begin_full(b"trex", 0, 0);
            w.u32(i as u32 + 1);
            w.u32(1); // default_sample_description_index
            w.u32(0);
            w.u32(0);
            w.u32(0);
            w.end(m)?;
        }
        w.end(mvex)?;
        w.end(m)?;
        Ok(w.into_vec())
    }

    fn queue_init(&mut self) -> Result<()> {
        let bytes = Bytes::from(self.init_bytes()?);
        self.init_number += 1;
        self.position += bytes.len() as u64;
        self.outputs.push_back(FragmentOutput::Init(InitSegment {
            number: self.init_number,
            bytes,
        }));
        Ok(())
    }

    /// Writes out every pending sample whose duration is known (all at finish).
    fn flush(&mut self, all: bool) -> Result<()> {
        let takes: Vec<usize> = self
            .tracks
            .iter()
            .map(|t| {
                if all {
                    t.pending.len()
                } else {
                    t.pending.iter().take_while(|p| p.duration > 0).count()
                }
            })
            .collect();
        if takes.iter().all(|&n| n == 0) {
            return Ok(());
        }
        // Decode times after this fragment; checked first so that an error leaves the
        // muxer unchanged.
        let mut next_times = Vec::with_capacity(self.tracks.len());
        for (t, &n) in self.tracks.iter().zip(&takes) {
            let advanced: u64 = t.pending[..n].iter().map(|s| u64::from(s.duration)).sum();
            let start = t.decode_time.unwrap_or(0);
            let next = start.checked_add(advanced).ok_or(Error::NotRepresentable {
                what: "tfdt base media decode time",
                value: u128::from(start) + u128::from(advanced),
            })?;
            next_times.push(next);
        }
        let mut w = BoxWriter::with_capacity(256 + takes.iter().sum::<usize>() * 16);
        let moof = w.begin(b"moof");
        let m = w.begin_full(b"mfhd", 0, 0);
        w.u32(self.sequence);
        w.end(m)?;
        let mut offset_fields = Vec::new();
        let mut payload = 0u64;
        let mut traf_number = 0u8;
        let mut starts = vec![0u64; self.tracks.len()];
        for (i, t) in self.tracks.iter().enumerate() {
            let samples = &t.pending[..takes[i]];
            if samples.is_empty() {
                continue;
            }
            traf_number = traf_number.saturating_add(1);
            let decode_time = t.decode_time.unwrap_or(0);
            starts[i] = decode_time;
            let traf = w.begin(b"traf");
            // default-base-is-moof; every sample uses the init segment's only entry.
            let m = w.begin_full(b"tfhd", 0, 0x02_0000);
            w.u32(i as u32 + 1);
            w.end(m)?;
            let m = w.begin_full(b"tfdt", 1, 0);
            w.u64(decode_time);
            w.end(m)?;
            let any_cts = samples.iter().any(|s| s.cts != 0);
            let negative = samples.iter().any(|s| s.cts < 0);
            let flags = 0x0001 | 0x0100 | 0x0200 | 0x0400 | if any_cts { 0x0800 } else { 0 };
            let m = w.begin_full(b"trun", u8::from(negative), flags);
            w.u32(samples.len() as u32);
            offset_fields.push((w.len(), payload));
            w.u32(0);
            let video = t.setup.config.kind() == TrackKind::Video;
            for s in samples {
                w.u32(s.duration);
                w.u32(s.data.len() as u32);
                w.u32(match (video, s.sync) {
                    (false, _) | (true, true) => 0x0200_0000, // depends on no other sample
                    (true, false) => 0x0101_0000,             // depends on others, non-sync
                });
                if any_cts {
                    w.i32(s.cts);
                }
                payload += s.data.len() as u64;
            }
            w.end(m)?;
            w.end(traf)?;
        }
        w.end(moof)?;
        let header = mdat_header(payload);
        let moof_len = w.len() as u64;
        for (at, offset) in offset_fields {
            let data_offset = moof_len + header.len() as u64 + offset;
            let v = u32::try_from(data_offset).map_err(|_| Error::NotRepresentable {
                what: "trun data_offset",
                value: u128::from(data_offset),
            })?;
            w.patch_u32(at, v);
        }
        let moof = w.into_vec();
        let fragment_len = moof_len + header.len() as u64 + payload;

        // The reference track sets the segment's times; audio-only or a fragment without
        // it falls back to the first track present.
        let r = if takes[self.reference] > 0 {
            self.reference
        } else {
            takes.iter().position(|&n| n > 0).unwrap_or(0)
        };
        let rt = &self.tracks[r];
        let rts = f64::from(rt.setup.config.timescale);
        let ref_duration: u64 = rt.pending[..takes[r]]
            .iter()
            .map(|s| u64::from(s.duration))
            .sum();
        let starts_with_keyframe = rt.pending.first().is_some_and(|s| s.sync);

        let mut parts = Vec::with_capacity(3 + takes.iter().sum::<usize>());
        let mut sidx_len = 0;
        if self.options.sidx {
            let first_cts = i128::from(rt.pending.first().map_or(0, |s| s.cts));
            let earliest = u64::try_from(i128::from(starts[r]) + first_cts).unwrap_or(0);
            let sidx = index::sidx(&index::SidxEntry {
                reference_id: r as u32 + 1,
                timescale: rt.setup.config.timescale,
                earliest_presentation_time: earliest,
                referenced_size: fragment_len,
                duration: ref_duration,
                starts_with_sap: starts_with_keyframe,
            })?;
            sidx_len = sidx.len() as u64;
            parts.push(Bytes::from(sidx));
        }
        parts.push(Bytes::from(moof));
        parts.push(Bytes::from(header));
        let moof_offset = self.position + sidx_len;
        let mut traf_number = 0u8;
        for (i, t) in self.tracks.iter_mut().enumerate() {
            let n = takes[i];
            if n == 0 {
                continue;
            }
            traf_number = traf_number.saturating_add(1);
            if self.options.mfra {
                t.tfra.push((starts[i], moof_offset, traf_number));
            }
            t.decode_time = Some(next_times[i]);
            parts.extend(t.pending.drain(..n).map(|s| s.data));
        }
        let size = sidx_len + fragment_len;
        self.position += size;
        self.outputs.push_back(FragmentOutput::Media(MediaSegment {
            sequence_number: self.sequence,
            init_number: self.init_number,
            start: starts[r] as f64 / rts,
            duration: ref_duration as f64 / rts,
            starts_with_keyframe,
            samples: takes.iter().map(|&n| n as u32).collect(),
            parts,
            size,
        }));
        self.sequence = self.sequence.wrapping_add(1).max(1);
        Ok(())
    }

    fn mfra(&self) -> Result<Vec<u8>> {
        let per_track: Vec<&[(u64, u64, u8)]> = self.tracks.iter().map(|t| &t.tfra[..]).collect();
        index::mfra(&per_track)
    }
}
