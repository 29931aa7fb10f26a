//! Matroska and WebM output (`.mkv`, `.mka`, `.webm`) through our `matroska` writer,
//! written as `NAME.partial` and renamed when finished. A recording killed on the way
//! is still a readable `.partial` up to its last whole cluster (a GOP), with no
//! `pipeline recover` needed: the reason OBS records to Matroska.
//!
//! Blocks carry presentation times in milliseconds from the earliest one at the file's
//! start (see `MatroskaSink::release`). New H.264/H.265 parameter sets
//! mid-stream (a splice to another picture size) go in band before the next key frame:
//! a Matroska track's codec private data cannot change.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use elementary::{VideoCodec, parameter_sets};
use matroska::{DocType, Writer};

use super::mp4::rename_finished;
use super::samples::{self, Timeline};
use super::stream_file::{Out, Target};
use crate::contract::{Sink, SinkFactory, describe};
use crate::naming::FileNames;
use crate::{Codec, Error, MediaKind, Options, Packet, Track};

/// What each kind of file takes, for misfit messages.
const TAKES_MATROSKA: &str = "H.264, H.265, VP8, VP9, AV1, AAC, MP3, AC-3, E-AC-3, Opus or G.711";
const TAKES_WEBM: &str = "VP8, VP9, AV1 or Opus (write .mkv for others)";

pub(crate) struct MatroskaFactory {
    /// The files' names; `None` writes to standard output.
    pub(crate) names: Option<FileNames>,
    pub(crate) options: Options,
    pub(crate) webm: bool,
}

impl MatroskaFactory {
    fn misfit(&self, index: usize, track: &Track) -> Error {
        Error::Misfit {
            endpoint: self
                .names
                .as_ref()
                .map_or_else(|| Target::Stdout.to_string(), |n| n.pattern().to_owned()),
            takes: if self.webm {
                TAKES_WEBM
            } else {
                TAKES_MATROSKA
            }
            .into(),
            found: describe(index, track),
        }
    }

    fn entries(&self, tracks: &[Track]) -> Result<Vec<matroska::Track>, Error> {
        tracks
            .iter()
            .enumerate()
            .map(|(index, track)| match entry(track) {
                Some(e) if !self.webm || e.codec().in_webm() => Ok(e),
                _ => Err(self.misfit(index, track)),
            })
            .collect()
    }
}

impl SinkFactory for MatroskaFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        self.entries(tracks).map(|_| ())
    }

    fn open(&mut self, tracks: &[Track], wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let entries = self.entries(tracks)?;
        let target = match &mut self.names {
            Some(names) => Target::File(names.next(wall)),
            None => Target::Stdout,
        };
        let (out, partial) = Out::open(&target)?;
        let file = match (&target, partial) {
            (Target::File(path), Some(partial)) => Some((partial, path.clone())),
            _ => None,
        };
        let name = file
            .as_ref()
            .map_or_else(|| target.to_string(), |(p, _)| p.display().to_string());
        let mut options = matroska::Options::default();
        options.doc_type = if self.webm {
            DocType::Webm
        } else {
            DocType::Matroska
        };
        options.date = Some(wall);
        options.writing_app = concat!("pipeline ", env!("CARGO_PKG_VERSION")).into();
        let writer = Writer::new(out, entries, &options).map_err(|e| Error::Output {
            output: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Box::new(MatroskaSink {
            writer,
            tracks: tracks.to_vec(),
            in_band: vec![None; tracks.len()],
            timeline: Timeline::default(),
            zero: None,
            held: Vec::new(),
            clusters: 0,
            layer_unknown: tracks.iter().map(|t| t.codec == Codec::Mp3).collect(),
            hide_before_zero: self.options.hide_before_zero,
            sync: self.options.fsync_policy() != bmff_writer::FsyncPolicy::Never,
            file,
            name,
        }))
    }
}

/// The Matroska track of a neutral one; `None` for codecs Matroska is not given here.
fn entry(track: &Track) -> Option<matroska::Track> {
    use matroska::Codec as M;
    let (codec, private) = match &track.codec {
        Codec::H264 { config } => (M::H264, Some(config)),
        Codec::H265 { config } => (M::H265, Some(config)),
        Codec::Vp8 => (M::Vp8, None),
        // WebM's own VP9 private data (a list of features) is optional; the MP4 record
        // is not it.
        Codec::Vp9 { .. } => (M::Vp9, None),
        Codec::Av1 { config } => (M::Av1, Some(config)),
        Codec::Aac { config } => (M::Aac, Some(config)),
        Codec::Mp3 => (M::Mp3, None),
        Codec::Ac3 { .. } => (M::Ac3, None),
        Codec::Eac3 { .. } => (M::Eac3, None),
        Codec::Opus { head } => (M::Opus, Some(head)),
        other => match media_core::G711::of(other)?.law {
            media_core::G711Law::ALaw => (M::Alaw, None),
            media_core::G711Law::MuLaw => (M::Mulaw, None),
            _ => return None,
        },
    };
    let mut entry = match track.kind {
        MediaKind::Video => {
            let e = matroska::Track::video(codec, track.width, track.height);
            match track.pixel_aspect {
                Some((h, v)) if h != v && v > 0 => {
                    let width = u64::from(track.width) * u64::from(h) / u64::from(v);
                    e.with_display_size(u32::try_from(width).ok()?, track.height)
                }
                _ => e,
            }
        }
        MediaKind::Audio => matroska::Track::audio(codec, track.sample_rate, track.channels),
        _ => return None,
    };
    if let Some(private) = private {
        entry = entry.with_private(private.to_vec());
    }
    if let Codec::Opus { head } = &track.codec {
        // The OpusHead's pre-skip (RFC 7845 §5.1), 48 kHz samples, as `CodecDelay`.
        let pre_skip = head
            .get(10..12)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        entry = entry.with_codec_delay(u64::from(pre_skip) * 1_000_000_000 / 48_000);
    }
    Some(entry)
}

struct MatroskaSink {
    writer: Writer<Out>,
    tracks: Vec<Track>,
    /// Per track, parameter sets to put before its next key frame (a changed record).
    in_band: Vec<Option<Bytes>>,
    timeline: Timeline,
    /// The file's time zero in nanoseconds on the time line, once known.
    zero: Option<i64>,
    /// Packets (and their presentation times) waiting for it.
    held: Vec<(Packet, i64)>,
    /// Clusters already logged.
    clusters: u64,
    /// Per track: MPEG audio whose layer the first frame has still to say.
    layer_unknown: Vec<bool>,
    /// The input has a time zero, which may lie after its first packets.
    hide_before_zero: bool,
    /// Sync the finished file before its rename (not under `FsyncPolicy::Never`).
    sync: bool,
    /// The file being written and its name when finished; `None` on standard output.
    file: Option<(PathBuf, PathBuf)>,
    /// The output's name in messages.
    name: String,
}

impl MatroskaSink {
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Output {
            output: self.name.clone(),
            reason: e.to_string(),
        }
    }
}

/// `ticks` of a `timescale` clock in nanoseconds.
fn nanoseconds(ticks: i64, timescale: u32) -> i64 {
    let ns = i128::from(ticks) * 1_000_000_000 / i128::from(timescale.max(1));
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// Packets are held until this much of the input has been seen: its earliest
/// presentation time in it is the file's time zero.
const START_WINDOW_NS: i64 = 500_000_000;
/// At most this many packets are held for it.
const START_PACKETS: usize = 64;

impl MatroskaSink {
    /// Holds the packet until the file's time zero is known, then writes it.
    fn take(&mut self, packet: Packet) -> Result<(), Error> {
        let Some(track) = self.tracks.get(packet.track) else {
            return Ok(());
        };
        let timescale = track.timescale;
        let Some(dts) = self.timeline.shift(packet.dts, timescale) else {
            return Ok(());
        };
        let time = nanoseconds(dts + i64::from(packet.cts_offset), timescale);
        if self.zero.is_some() {
            return self.put(packet, time);
        }
        let decoded = nanoseconds(dts, timescale);
        self.held.push((packet, time));
        if decoded >= START_WINDOW_NS || self.held.len() >= START_PACKETS {
            self.release()?;
        }
        Ok(())
    }

    /// Fixes the file's time zero and writes the packets held for it. Blocks count from
    /// the earliest presentation time seen at the start, or from the input's own time
    /// zero when that comes first: no block time is negative (what ffmpeg's Matroska
    /// muxer does, and what readers expect), B-frames and AAC priming included.
    fn release(&mut self) -> Result<(), Error> {
        if self.zero.is_some() {
            return Ok(());
        }
        let earliest = self.held.iter().map(|h| h.1).min().unwrap_or(0);
        let input_zero = match (self.hide_before_zero, self.timeline.zero()) {
            (true, Some((ticks, rate))) => nanoseconds(ticks, rate),
            _ => i64::MAX,
        };
        self.zero = Some(earliest.min(input_zero));
        for (packet, time) in std::mem::take(&mut self.held) {
            self.put(packet, time)?;
        }
        Ok(())
    }

    fn put(&mut self, packet: Packet, time: i64) -> Result<(), Error> {
        let time = time - self.zero.unwrap_or(0);
        let timescale = self.tracks.get(packet.track).map_or(1, |t| t.timescale);
        let duration = packet
            .duration
            .map(|d| nanoseconds(d.into(), timescale).max(0) as u64);
        let in_band = if packet.keyframe {
            self.in_band[packet.track].take()
        } else {
            None
        };
        let data = match in_band {
            Some(sets) => {
                let mut joined = BytesMut::with_capacity(sets.len() + packet.data.len());
                joined.put_slice(&sets);
                joined.put_slice(&packet.data);
                joined.freeze()
            }
            None => packet.data,
        };
        // MPEG audio goes in as `A_MPEG/L3` (the neutral codec does not say the layer);
        // a Layer II stream (DVB's MP2) is renamed by its first frame.
        if self.layer_unknown.get(packet.track) == Some(&true) {
            self.layer_unknown[packet.track] = false;
            let layer = mp3_frames::FrameHeader::parse_decodable(&data).map(|(_, h)| h.layer());
            if layer.is_ok_and(|l| l == mp3_frames::Layer::Layer2)
                && let Err(e) = self.writer.relabel(packet.track, matroska::Codec::Mp2)
            {
                // A pipe's header is out once a cluster is (audio that began late):
                // decoders find the layer in the frames themselves.
                if self.file.is_some() {
                    return Err(self.err(e));
                }
                tracing::warn!(output = %self.name, "MP2 stays labelled A_MPEG/L3: {e}");
            }
        }
        let frame = matroska::Frame::new(packet.track, time, packet.keyframe, &data)
            .with_duration(duration);
        self.writer.write(frame).map_err(|e| self.err(e))?;
        let written = self.writer.written();
        if written.clusters != self.clusters {
            self.clusters = written.clusters;
            // In the file: what a crash from here on keeps.
            let (video, audio) = samples::frames_by_kind(&self.tracks, &written.frames);
            tracing::debug!(
                file = %self.name,
                clusters = written.clusters,
                video_frames = video,
                audio_frames = audio,
                bytes = written.bytes,
                "cluster written"
            );
        }
        Ok(())
    }
}

impl Sink for MatroskaSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        self.take(packet)
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        let old = self.tracks.get(track).map(|t| &t.codec);
        let codec = match (&config.codec, old) {
            (new, Some(old)) if new == old => return Ok(()),
            (Codec::H264 { config }, Some(Codec::H264 { .. })) => (VideoCodec::H264, config),
            (Codec::H265 { config }, Some(Codec::H265 { .. })) => (VideoCodec::H265, config),
            _ => {
                return Err(self.err(format!(
                    "track {track} became {}: a Matroska track's configuration cannot change",
                    config.codec.name()
                )));
            }
        };
        // The held packets came before the change.
        self.release()?;
        let (sets, _) = parameter_sets(codec.0, codec.1).map_err(|e| self.err(e))?;
        let mut prefix = BytesMut::new();
        for nal in sets.all() {
            prefix.put_u32(nal.len() as u32);
            prefix.put_slice(nal);
        }
        self.in_band[track] = Some(prefix.freeze());
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.release()?;
        let err = |e: matroska::Error| Error::Output {
            output: self.name.clone(),
            reason: e.to_string(),
        };
        let Some((partial, path)) = self.file.take() else {
            self.writer.finish_pipe().map_err(err)?;
            return Ok(None);
        };
        let out = self.writer.finish().map_err(err)?;
        if let (Out::File(file), true) = (out, self.sync) {
            file.sync_all()
                .map_err(|e| Error::io(format!("syncing {}", partial.display()), e))?;
        }
        rename_finished(&partial, &path)?;
        Ok(Some(path))
    }
}
