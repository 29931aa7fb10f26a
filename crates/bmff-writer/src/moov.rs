//! Boxes shared by plain files and init segments: `ftyp` (§4.3), `mvhd` (§8.2.2), and a
//! `trak` skeleton (§8.3–§8.4: `tkhd`, `edts`/`elst`, `mdia`/`mdhd`/`hdlr`/`minf`) whose
//! sample table body is supplied by the caller.

use bytes::Bytes;

use crate::Result;
use crate::boxes::{BoxWriter, FourCc, version_for};
use crate::codec::{TrackConfig, TrackKind};

/// Writes `ftyp` with `major`, minor version 512 and the compatible brands.
pub(crate) fn ftyp(w: &mut BoxWriter, major: &FourCc, compatible: &[&FourCc]) -> Result<()> {
    let m = w.begin(b"ftyp");
    w.bytes(major);
    w.u32(512);
    for b in compatible {
        w.bytes(*b);
    }
    w.end(m)
}

/// Writes `mvhd`; `duration` is in `timescale` units.
pub(crate) fn mvhd(
    w: &mut BoxWriter,
    timescale: u32,
    duration: u64,
    next_track_id: u32,
) -> Result<()> {
    let v = version_for(&[duration]);
    let m = w.begin_full(b"mvhd", v, 0);
    w.u32_or_u64(v, 0); // creation_time
    w.u32_or_u64(v, 0); // modification_time
    w.u32(timescale);
    w.u32_or_u64(v, duration);
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.unity_matrix();
    w.zeros(24); // pre_defined
    w.u32(next_track_id);
    w.end(m)
}

/// One edit list: an optional empty edit (the track starts later than the movie), then
/// the media from `media_time` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EditList {
    /// Empty edit duration, movie timescale.
    pub delay: u64,
    /// Where the presentation starts in media time (skips a B-frame lead-in).
    pub media_time: u64,
    /// Duration of the media edit, movie timescale.
    pub duration: u64,
}

/// Times of a `trak`.
pub(crate) struct TrakTimes {
    /// `tkhd` duration, movie timescale.
    pub track_duration: u64,
    /// `mdhd` duration, track timescale.
    pub media_duration: u64,
    pub edits: Option<EditList>,
}

/// Writes a `trak`; `stbl_rest` appends the sample tables after `stsd`.
pub(crate) fn trak(
    w: &mut BoxWriter,
    track_id: u32,
    config: &TrackConfig,
    entries: &[Bytes],
    times: &TrakTimes,
    stbl_rest: impl FnOnce(&mut BoxWriter) -> Result<()>,
) -> Result<()> {
    let video = config.kind() == TrackKind::Video;
    let trak = w.begin(b"trak");

    let v = version_for(&[times.track_duration]);
    let m = w.begin_full(b"tkhd", v, 0x000003); // enabled, in movie
    w.u32_or_u64(v, 0);
    w.u32_or_u64(v, 0);
    w.u32(track_id);
    w.u32(0);
    w.u32_or_u64(v, times.track_duration);
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if video { 0 } else { 0x0100 });
    w.u16(0);
    match config.display_matrix {
        Some(matrix) => matrix.iter().for_each(|&v| w.u32(v as u32)),
        None => w.unity_matrix(),
    }
    w.u32(u32::from(config.width) << 16);
    w.u32(u32::from(config.height) << 16);
    w.end(m)?;

    if let Some(e) = times.edits {
        let edts = w.begin(b"edts");
        let count = 1 + u32::from(e.delay > 0);
        let v = version_for(&[e.delay, e.media_time, e.duration]);
        let m = w.begin_full(b"elst", v, 0);
        w.u32(count);
        if e.delay > 0 {
            w.u32_or_u64(v, e.delay);
            if v == 1 {
                w.u64(u64::MAX); // media_time -1: empty edit
            } else {
                w.u32(u32::MAX);
            }
            w.u32(0x0001_0000);
        }
        w.u32_or_u64(v, e.duration);
        w.u32_or_u64(v, e.media_time);
        w.u32(0x0001_0000); // media_rate 1.0
        w.end(m)?;
        w.end(edts)?;
    }

    let mdia = w.begin(b"mdia");
    let v = version_for(&[times.media_duration]);
    let m = w.begin_full(b"mdhd", v, 0);
    w.u32_or_u64(v, 0);
    w.u32_or_u64(v, 0);
    w.u32(config.timescale);
    w.u32_or_u64(v, times.media_duration);
    w.u16(0x55c4); // language "und"
    w.u16(0);
    w.end(m)?;

    let m = w.begin_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(if video { b"vide" } else { b"soun" });
    w.zeros(12);
    w.bytes(if video {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.end(m)?;

    let minf = w.begin(b"minf");
    if video {
        let m = w.begin_full(b"vmhd", 0, 1);
        w.zeros(8);
        w.end(m)?;
    } else {
        let m = w.begin_full(b"smhd", 0, 0);
        w.zeros(4);
        w.end(m)?;
    }
    let dinf = w.begin(b"dinf");
    let dref = w.begin_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.begin_full(b"url ", 0, 1); // media in this file
    w.end(url)?;
    w.end(dref)?;
    w.end(dinf)?;

    let stbl = w.begin(b"stbl");
    let stsd = w.begin_full(b"stsd", 0, 0);
    w.u32(entries.len() as u32);
    for e in entries {
        w.bytes(e);
    }
    w.end(stsd)?;
    stbl_rest(w)?;
    w.end(stbl)?;
    w.end(minf)?;
    w.end(mdia)?;
    w.end(trak)
}

/// A track's configuration and its distinct sample entries (`stsd`), the current one
/// last-used; a codec change adds an entry or reuses an identical earlier one.
#[derive(Debug, Clone)]
pub(crate) struct TrackSetup {
    pub config: TrackConfig,
    pub entries: Vec<Bytes>,
    /// 1-based index into `entries` used by new samples.
    pub current: u32,
}

impl TrackSetup {
    pub fn new(index: usize, config: TrackConfig) -> Result<Self> {
        config.validate(index)?;
        let entry = config.sample_entry(index as u32 + 1)?;
        Ok(Self {
            config,
            entries: vec![entry],
            current: 1,
        })
    }

    /// Switches to `codec`; returns whether the sample entry changed.
    pub fn set_codec(&mut self, index: usize, codec: crate::Codec) -> Result<bool> {
        let mut config = self.config.clone();
        config.codec = codec;
        self.set_config(index, config)
    }

    /// Switches to `config` (codec, picture size, sample rate: what a sample entry says);
    /// returns whether the sample entry changed. The kind stays, and so do the timescale
    /// (the track's times are in it) and the display matrix (`tkhd`'s, one per track):
    /// `config`'s are not used; a size or a rate of 0 (not known) keeps the track's.
    pub fn set_config(&mut self, index: usize, mut config: TrackConfig) -> Result<bool> {
        config.timescale = self.config.timescale;
        config.display_matrix = self.config.display_matrix;
        if config.width == 0 || config.height == 0 {
            (config.width, config.height) = (self.config.width, self.config.height);
        }
        if config.sample_rate == 0 || config.channels == 0 {
            (config.sample_rate, config.channels) = (self.config.sample_rate, self.config.channels);
        }
        config.validate(index)?;
        if config.kind() != self.config.kind() {
            return Err(crate::Error::InvalidTrack {
                track: index,
                reason: "a codec change cannot switch between video and audio",
            });
        }
        let entry = config.sample_entry(index as u32 + 1)?;
        self.config = config;
        let sdi = match self.entries.iter().position(|e| *e == entry) {
            Some(i) => i as u32 + 1,
            None => {
                self.entries.push(entry);
                self.entries.len() as u32
            }
        };
        let changed = sdi != self.current;
        self.current = sdi;
        Ok(changed)
    }
}

/// Sample group boxes for audio pre-roll: `sgpd` v1 `roll` with `distance` (negative:
/// samples to decode before one is right) and the `sbgp` mapping all `samples` to it
/// (ISO/IEC 14496-12 §10.1; ffmpeg writes −1 for AAC and 80 ms worth for Opus).
pub(crate) fn roll_groups(w: &mut BoxWriter, samples: u32, distance: i16) -> Result<()> {
    let m = w.begin_full(b"sgpd", 1, 0);
    w.bytes(b"roll");
    w.u32(2); // default_length
    w.u32(1);
    w.u16(distance as u16);
    w.end(m)?;
    let m = w.begin_full(b"sbgp", 0, 0);
    w.bytes(b"roll");
    w.u32(1);
    w.u32(samples);
    w.u32(1);
    w.end(m)
}
