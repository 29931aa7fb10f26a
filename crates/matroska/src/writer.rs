//! The file writer: EBML header, a Segment of unknown size, room for the SeekHead and the
//! duration, Info, Tracks; then Clusters of SimpleBlocks, each written whole when the
//! next begins; at the end the Cues, and the Segment's size, SeekHead and duration
//! written into the room kept for them. Killed before the end, the file still reads to
//! its last whole cluster (a Segment of unknown size runs to the end of the file), as
//! OBS's Matroska recordings do.
//!
//! The header goes out with the first cluster: until then a codec's name can still change
//! ([`Writer::relabel`]) without seeking, so a pipe ([`crate::Pipe`]) gets it right too.
//! A pipe's file is ended by [`Writer::finish_pipe`], which seeks nowhere: its Segment keeps the
//! unknown size a live stream has, and it has no Cues (nothing could point to them).

use std::io::{Seek, SeekFrom, Write};
use std::time::SystemTime;

use crate::cluster::Cluster;
use crate::ebml::{self, id};
use crate::index::{self, Cue};
use crate::{Codec, Error, Track, TrackKind};

/// Room kept for the SeekHead (three entries of 8-byte positions: 68 bytes).
const SEEK_HEAD_ROOM: usize = 96;
/// A Duration element: 2-byte ID, 1-byte size, an 8-byte float.
const DURATION_LEN: usize = 11;
/// Nanoseconds per block time unit: `TimestampScale`, the default of a millisecond.
const TIMESTAMP_SCALE: u64 = 1_000_000;
/// A cluster begins at a video key frame once the open one spans this much.
const MIN_CLUSTER_MS: i64 = 500;
/// Without video, clusters of this length (what ffmpeg writes for audio).
const AUDIO_CLUSTER_MS: i64 = 5_000;
/// A cluster in memory is written out once it holds this much (a long GOP of a high
/// bit rate is split: memory stays bounded).
const MAX_CLUSTER_BYTES: usize = 8 << 20;
/// Track numbers are written in one byte of a block header.
const MAX_TRACKS: usize = 126;
/// Seconds between 1970-01-01 and `DateUTC`'s origin, 2001-01-01 (both UTC).
const DATE_ORIGIN_UNIX: u64 = 978_307_200;

/// `DocType`: Matroska, or its WebM subset (VP8, VP9, AV1 and Opus only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DocType {
    /// `matroska`: every codec of [`crate::Codec`].
    #[default]
    Matroska,
    /// `webm`: tracks of other codecs are refused.
    Webm,
}

/// What the file says about itself. `Options::default()`, then fields set.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Matroska or WebM.
    pub doc_type: DocType,
    /// The recording's start (`DateUTC`; ffprobe's `creation_time`).
    pub date: Option<SystemTime>,
    /// `WritingApp`; this crate's name when empty.
    pub writing_app: String,
}

/// One frame: its track (an index into the tracks given), presentation time, key flag
/// and the bytes Matroska stores for its codec.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    track: usize,
    time_ns: i64,
    duration_ns: Option<u64>,
    keyframe: bool,
    data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A frame of `track` presented at `time_ns` nanoseconds (blocks keep milliseconds).
    pub fn new(track: usize, time_ns: i64, keyframe: bool, data: &'a [u8]) -> Frame<'a> {
        Frame {
            track,
            time_ns,
            duration_ns: None,
            keyframe,
            data,
        }
    }

    /// The frame's duration, when known (audio): the file's duration ends with it.
    #[must_use]
    pub fn with_duration(mut self, nanoseconds: Option<u64>) -> Frame<'a> {
        self.duration_ns = nanoseconds;
        self
    }
}

/// What is in the output so far: what a reader finds if the writer stops here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// Clusters written out.
    pub clusters: u64,
    /// Frames in them, per track.
    pub frames: Vec<u64>,
    /// Bytes from the writer's start position to the end of the last cluster.
    pub bytes: u64,
}

/// Writes one Matroska or WebM file. [`Writer::finish`] completes it.
pub struct Writer<W: Write + Seek> {
    out: W,
    tracks: Vec<Track>,
    /// The first video track, whose key frames begin clusters.
    video: Option<usize>,
    /// Where the file begins in `out`.
    start: u64,
    /// Where the Segment's data begins in `out`.
    segment: u64,
    /// Bytes of Segment data written.
    written: u64,
    /// Positions in the Segment of Info and Tracks (for the SeekHead).
    info_at: u64,
    tracks_at: u64,
    /// Where the room for the Duration is in `out`.
    duration_at: u64,
    cluster: Option<Cluster>,
    cues: Vec<Cue>,
    /// Clusters and frames written out.
    clusters: u64,
    frames: Vec<u64>,
    /// Per track: its earliest and latest block time and its number of blocks.
    spans: Vec<Option<(i64, i64, u64)>>,
    /// The latest end of a frame whose duration was given, in block time units.
    end: i64,
    /// Per track: where its `CodecID` string is in `out` (for [`Writer::relabel`]).
    codec_ids: Vec<Option<u64>>,
    /// The header, until the first cluster (or the end) writes it.
    head: Vec<u8>,
}

impl<W: Write + Seek> Writer<W> {
    /// Writes the header of a file with these tracks (at most 126) at `out`'s position.
    pub fn new(mut out: W, tracks: Vec<Track>, options: &Options) -> Result<Writer<W>, Error> {
        check(&tracks, options.doc_type)?;
        let start = out.stream_position()?;
        let mut head = Vec::with_capacity(1024);
        let mut header = Vec::with_capacity(48);
        ebml::uint(&mut header, id::EBML_VERSION, 1);
        ebml::uint(&mut header, id::EBML_READ_VERSION, 1);
        ebml::uint(&mut header, id::EBML_MAX_ID_LENGTH, 4);
        ebml::uint(&mut header, id::EBML_MAX_SIZE_LENGTH, 8);
        let doc_type = match options.doc_type {
            DocType::Matroska => "matroska",
            DocType::Webm => "webm",
        };
        ebml::string(&mut header, id::DOC_TYPE, doc_type);
        // Version 4 for CodecDelay and SeekPreRoll; readers of version 2 read the rest.
        ebml::uint(&mut header, id::DOC_TYPE_VERSION, 4);
        ebml::uint(&mut header, id::DOC_TYPE_READ_VERSION, 2);
        ebml::binary(&mut head, id::EBML, &header);
        ebml::put_id(&mut head, id::SEGMENT);
        head.extend_from_slice(&ebml::UNKNOWN_SIZE);
        let segment_in_head = head.len();
        ebml::void(&mut head, SEEK_HEAD_ROOM);

        let mut info = Vec::with_capacity(128);
        ebml::uint(&mut info, id::TIMESTAMP_SCALE, TIMESTAMP_SCALE);
        let muxer = concat!("media-toolkit-matroska ", env!("CARGO_PKG_VERSION"));
        ebml::string(&mut info, id::MUXING_APP, muxer);
        let app = if options.writing_app.is_empty() {
            muxer
        } else {
            &options.writing_app
        };
        ebml::string(&mut info, id::WRITING_APP, app);
        if let Some(date) = options.date.and_then(date_utc) {
            ebml::binary(&mut info, id::DATE_UTC, &date.to_be_bytes());
        }
        let duration_in_info = info.len();
        ebml::void(&mut info, DURATION_LEN);
        let info_at = head.len() - segment_in_head;
        ebml::binary(&mut head, id::INFO, &info);
        let duration_in_head = head.len() - info.len() + duration_in_info;

        let mut entries = Vec::with_capacity(256);
        for (index, track) in tracks.iter().enumerate() {
            track.entry(index as u64 + 1, &mut entries);
        }
        let tracks_at = head.len() - segment_in_head;
        ebml::binary(&mut head, id::TRACKS, &entries);
        // Each CodecID string (element 0x86, a one-byte size) in track order.
        let mut codec_ids = Vec::with_capacity(tracks.len());
        let mut from = tracks_at + segment_in_head;
        for track in &tracks {
            let name = track.codec.id().as_bytes();
            let mut element = vec![0x86, 0x80 | name.len() as u8];
            element.extend_from_slice(name);
            let at = head[from..]
                .windows(element.len())
                .position(|w| w == element)
                .map(|p| from + p + 2);
            codec_ids.push(at.map(|at| start + at as u64));
            from = at.unwrap_or(from);
        }
        let video = tracks
            .iter()
            .position(|t| matches!(t.kind, TrackKind::Video { .. }));
        Ok(Writer {
            out,
            spans: vec![None; tracks.len()],
            frames: vec![0; tracks.len()],
            clusters: 0,
            start,
            tracks,
            video,
            segment: start + segment_in_head as u64,
            written: (head.len() - segment_in_head) as u64,
            info_at: info_at as u64,
            tracks_at: tracks_at as u64,
            duration_at: start + duration_in_head as u64,
            cluster: None,
            cues: Vec::new(),
            end: 0,
            codec_ids,
            head,
        })
    }

    /// Names a track's codec anew where the name has the same length, in the header
    /// already written: MPEG audio's layer (`A_MPEG/L3` ↔ `A_MPEG/L2`), which a caller may
    /// learn only from the first frame.
    pub fn relabel(&mut self, track: usize, codec: Codec) -> Result<(), Error> {
        let old = self.tracks.get(track).ok_or(Error::NoTrack(track))?.codec;
        let mpeg = |c: Codec| matches!(c, Codec::Mp3 | Codec::Mp2);
        let at = self.codec_ids.get(track).copied().flatten();
        let Some(at) = at.filter(|_| mpeg(old) && mpeg(codec)) else {
            return Err(Error::Track {
                track,
                reason: format!("{} cannot be renamed {}", old.id(), codec.id()),
            });
        };
        let name = codec.id().as_bytes();
        if self.head.is_empty() {
            let here = self.out.stream_position()?;
            self.out.seek(SeekFrom::Start(at))?;
            self.out.write_all(name)?;
            self.out.seek(SeekFrom::Start(here))?;
        } else {
            let at = (at - self.start) as usize;
            self.head[at..at + name.len()].copy_from_slice(name);
        }
        self.tracks[track].codec = codec;
        Ok(())
    }

    /// The tracks, as given.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Adds a frame. Frames come in decode order; each cluster is written out whole when
    /// the next one begins (at a video key frame, or every 5 s without video).
    pub fn write(&mut self, frame: Frame<'_>) -> Result<(), Error> {
        if frame.track >= self.tracks.len() {
            return Err(Error::NoTrack(frame.track));
        }
        let time = frame.time_ns.div_euclid(TIMESTAMP_SCALE as i64)
            + i64::from(
                frame.time_ns.rem_euclid(TIMESTAMP_SCALE as i64) * 2 >= TIMESTAMP_SCALE as i64,
            );
        if time < i64::from(i16::MIN) {
            return Err(Error::TimeBeforeStart {
                track: frame.track,
                time_ms: time,
            });
        }
        let size = frame.data.len() as u64 + 4;
        if size > ebml::MAX_SIZE {
            return Err(Error::FrameTooLarge(frame.data.len()));
        }
        self.note_end(&frame, time);
        if self.starts_cluster(&frame, time) {
            self.close_cluster()?;
            // The first video track's key frames get the cues (without video, the first
            // track's).
            let cues_number = self.video.unwrap_or(0) as u8 + 1;
            let capacity = frame.data.len() + 1024;
            self.cluster = Some(Cluster::new(time, self.tracks.len(), cues_number, capacity));
        }
        let Some(cluster) = self.cluster.as_mut() else {
            return Ok(());
        };
        cluster.push(frame.track, time, frame.keyframe, frame.data);
        if cluster.len() >= MAX_CLUSTER_BYTES {
            self.close_cluster()?;
        }
        Ok(())
    }

    /// Whether `frame` begins a new cluster.
    fn starts_cluster(&self, frame: &Frame<'_>, time: i64) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        // Every block's time must fit 16 signed bits around the cluster's.
        if cluster.span_with(time) > i64::from(i16::MAX) {
            return true;
        }
        let span = time - cluster.first;
        match self.video {
            Some(video) => {
                frame.track == video && frame.keyframe && cluster.has_key && span >= MIN_CLUSTER_MS
            }
            None => span >= AUDIO_CLUSTER_MS,
        }
    }

    /// Follows where the media ends: a frame's end when its duration is given, else its
    /// track's latest time plus the track's mean frame interval (blocks come in decode
    /// order, so neighbouring times say nothing with B-frames).
    fn note_end(&mut self, frame: &Frame<'_>, time: i64) {
        if let Some(d) = frame.duration_ns {
            let end = time.saturating_add(i64::try_from(d / TIMESTAMP_SCALE).unwrap_or(i64::MAX));
            self.end = self.end.max(end);
            return;
        }
        let span = self.spans[frame.track].get_or_insert((time, time, 0));
        *span = (span.0.min(time), span.1.max(time), span.2 + 1);
    }

    /// The end of the media, in block time units.
    fn end(&self) -> i64 {
        self.spans
            .iter()
            .flatten()
            .map(|&(first, last, count)| {
                let interval = if count > 1 {
                    (last - first) / (count as i64 - 1)
                } else {
                    0
                };
                last + interval
            })
            .fold(self.end, i64::max)
    }

    /// Writes the header out if it is still held.
    fn write_head(&mut self) -> Result<(), Error> {
        if !self.head.is_empty() {
            self.out.write_all(&std::mem::take(&mut self.head))?;
        }
        Ok(())
    }

    /// Writes the open cluster out, if any.
    fn close_cluster(&mut self) -> Result<(), Error> {
        let Some(cluster) = self.cluster.take() else {
            return Ok(());
        };
        self.write_head()?;
        let cluster = cluster.close();
        let mut head = Vec::with_capacity(12);
        ebml::put_id(&mut head, id::CLUSTER);
        ebml::put_size(&mut head, cluster.body.len() as u64);
        self.out.write_all(&head)?;
        self.out.write_all(&cluster.body)?;
        if let Some((time, track, offset)) = cluster.cue {
            self.cues.push((time, track, self.written, offset));
        }
        self.written += (head.len() + cluster.body.len()) as u64;
        self.clusters += 1;
        for (total, n) in self.frames.iter_mut().zip(cluster.frames) {
            *total += n;
        }
        Ok(())
    }

    /// What is in the output so far (the open cluster is not).
    pub fn written(&self) -> Written {
        Written {
            clusters: self.clusters,
            frames: self.frames.clone(),
            bytes: self.segment + self.written - self.start,
        }
    }

    /// Writes the last cluster and the cues, then the Segment's size, SeekHead and
    /// duration into the room kept for them; returns the output, positioned at the end.
    pub fn finish(mut self) -> Result<W, Error> {
        self.close_cluster()?;
        self.write_head()?;
        let cues_at = self.written;
        let cues = index::cues(&self.cues);
        self.out.write_all(&cues)?;
        self.written += cues.len() as u64;

        let mut entries = vec![(id::INFO, self.info_at), (id::TRACKS, self.tracks_at)];
        if !cues.is_empty() {
            entries.push((id::CUES, cues_at));
        }
        if let Some(room) = index::seek_head(&entries, SEEK_HEAD_ROOM) {
            self.out.seek(SeekFrom::Start(self.segment))?;
            self.out.write_all(&room)?;
        }
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        self.out.write_all(&index::duration(self.end()))?;

        let mut size = Vec::with_capacity(8);
        ebml::put_size_in(&mut size, self.written.min(ebml::MAX_SIZE), 8);
        self.out.seek(SeekFrom::Start(self.segment - 8))?;
        self.out.write_all(&size)?;
        self.out
            .seek(SeekFrom::Start(self.segment + self.written))?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Ends a file that cannot be completed in place (a [`crate::Pipe`]): writes the
    /// last cluster and nothing after it. Readers take the Segment's unknown size as
    /// "to the end of the stream", as for a live one.
    pub fn finish_pipe(mut self) -> Result<W, Error> {
        self.close_cluster()?;
        self.write_head()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The tracks a file of `doc_type` can hold, or why not.
fn check(tracks: &[Track], doc_type: DocType) -> Result<(), Error> {
    if tracks.len() > MAX_TRACKS {
        return Err(Error::TooManyTracks(tracks.len()));
    }
    for (index, track) in tracks.iter().enumerate() {
        let refuse = |reason: String| {
            Err(Error::Track {
                track: index,
                reason,
            })
        };
        if doc_type == DocType::Webm && !track.codec.in_webm() {
            return refuse(format!(
                "WebM cannot hold {:?} (VP8, VP9, AV1 and Opus only): write Matroska",
                track.codec
            ));
        }
        if track.codec.needs_private() && track.private.as_ref().is_none_or(Vec::is_empty) {
            return refuse(format!("{:?} needs its codec private data", track.codec));
        }
        let video = matches!(track.kind, TrackKind::Video { .. });
        let video_codec = matches!(
            track.codec,
            crate::Codec::H264
                | crate::Codec::H265
                | crate::Codec::Vp8
                | crate::Codec::Vp9
                | crate::Codec::Av1
        );
        if video != video_codec {
            return refuse(format!("{:?} on a track of the other kind", track.codec));
        }
    }
    Ok(())
}

/// `DateUTC`: nanoseconds since 2001-01-01T00:00:00 UTC.
fn date_utc(date: SystemTime) -> Option<i64> {
    let since_unix = date.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let ns =
        i128::try_from(since_unix.as_nanos()).ok()? - i128::from(DATE_ORIGIN_UNIX) * 1_000_000_000;
    i64::try_from(ns).ok()
}
