//! MP4 input: plain MP4 (moov in front or at the end, `stco` or `co64`), fragmented MP4
//! (ours, ffmpeg's `frag_keyframe+empty_moov`, CMAF with `sidx`, HLS fMP4 segments
//! through their playlist) and `.m4a`, read with
//! shiguredo_mp4's sans-I/O demuxers (ISO/IEC 14496-12). This file is the thin I/O
//! adapter: it reads the byte ranges the demuxer asks for and turns samples into packets.
//!
//! - The first video and the first audio track are read, or the tracks whose ids
//!   `Options::track_ids` lists (see [`tracks::choose`]); the recorder drops a kind on
//!   `--no-video`/`--no-audio`.
//! - Times are placed on the movie's time line as ffmpeg does: a leading empty edit
//!   delays the track, the first edit's media time becomes time 0 (no sample is dropped:
//!   encoder priming keeps its negative time); composition offsets (`ctts`, `trun`,
//!   negative ones too) are kept as they are.
//! - A sample entry change (several `stsd` entries) becomes [`InputEvent::TrackUpdated`].
//! - A file without `moov`, or whose samples lie past its end, is an error naming what is
//!   missing; a fragmented file cut in its last fragment yields every complete fragment.

mod quicktime;
mod stream;
mod tracks;
mod window;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use shiguredo_mp4::boxes::{MoofBox, MoovBox};
use shiguredo_mp4::demux::{
    DemuxError, Fmp4SegmentDemuxer, Input, Mp4FileDemuxer, Sample, TrackInfo,
};
use shiguredo_mp4::{BoxHeader, Decode, Encode};
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Error, Packet};
use tracks::Chosen;
use window::{Pool, Window};

pub(crate) use stream::read_stream;

pub(crate) async fn run_file(
    path: PathBuf,
    track_ids: Vec<u32>,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    crate::source::on_reader_thread("MP4".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {name}"), e))?
            .len();
        let mut reader = FileReader::new(file, len, name.clone());
        let mut sender = FileSender::new(tx);
        let mut emit = |event| !*stop.borrow() && sender.send(event);
        read(&mut reader, &track_ids, &mut emit)
    })
    .await
}

/// Reads fragmented MP4 joined from an HLS playlist's segments (`source/playlist.rs`):
/// as one file, or as a stream when an init segment changes on the way (`several_inits`).
pub(crate) fn read_segments<R: Read + Seek>(
    name: String,
    joined: R,
    len: u64,
    track_ids: &[u32],
    several_inits: bool,
    emit: &mut dyn FnMut(InputEvent) -> Open,
) -> Result<(), Error> {
    if several_inits {
        return stream::read_stream_tracks(&name, joined, track_ids, emit);
    }
    read(&mut FileReader::new(joined, len, name), track_ids, emit)
}

/// Whether the recorder still listens (it stops reading at the duration limit).
pub(crate) type Open = bool;

/// Reads an MP4 held in memory, handing every event to `emit` (for fuzzing: the same
/// code as a file, without a runtime).
pub(crate) fn read_bytes(
    data: &[u8],
    emit: &mut dyn FnMut(InputEvent) -> Open,
) -> Result<(), Error> {
    let mut reader = FileReader::new(std::io::Cursor::new(data), data.len() as u64, "MP4".into());
    read(&mut reader, &[], emit)
}

fn read<R: Read + Seek>(
    reader: &mut FileReader<R>,
    track_ids: &[u32],
    emit: &mut dyn FnMut(InputEvent) -> Open,
) -> Result<(), Error> {
    let (moov_at, moov_size, mut moov_bytes) = find_moov(reader)?;
    if let Some(iso) = quicktime::normalize_moov(&moov_bytes) {
        // The demuxer reads `moov` again through `read_up_to`: it gets this one too.
        moov_bytes = iso.clone();
        reader.moov = Some((moov_at, iso));
    }
    let invalid = |reason| reader.invalid(reason);
    let (moov, chosen) = chosen_tracks(&moov_bytes, moov_at, &reader.name, track_ids, &invalid)?;
    let mut out = Output::new(chosen, emit);
    if !out.send(InputEvent::Tracks(
        out.tracks.iter().map(|c| c.track.clone()).collect(),
    )) {
        return Ok(());
    }
    if moov.mvex_box.is_some() {
        read_fragments(reader, &moov_bytes, moov_at + moov_size, &mut out)?;
    } else {
        read_plain(reader, &mut out)?;
    }
    out.finish();
    Ok(())
}

/// Plain MP4: shiguredo_mp4 walks the sample tables and returns samples in time order.
fn read_plain<R: Read + Seek>(
    reader: &mut FileReader<R>,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut demuxer = Mp4FileDemuxer::new();
    let mut counts = vec![0u64; out.tracks.len()];
    let mut windows: Vec<Window> = out.tracks.iter().map(|_| Window::default()).collect();
    let mut pool = Pool::default();
    loop {
        let sample = match demuxer.next_sample() {
            Ok(Some(sample)) => sample,
            Ok(None) => return Ok(()),
            Err(DemuxError::InputRequired(required)) => {
                let data = reader.read_up_to(required.position, required.size)?;
                demuxer.handle_input(Input {
                    position: required.position,
                    data: &data,
                });
                continue;
            }
            Err(e) => return Err(reader.invalid(e.to_string())),
        };
        let Some(index) = out.index_of(sample.track) else {
            continue;
        };
        let end = sample.data_offset.saturating_add(sample.data_size as u64);
        if end > reader.len {
            return Err(reader.invalid(format!(
                "sample {} of track {} (bytes {}..{end}) lies past the end of the file ({} bytes): the file is truncated",
                counts[index] + 1,
                sample.track.track_id,
                sample.data_offset,
                reader.len
            )));
        }
        counts[index] += 1;
        let meta = SampleMeta::of(&sample);
        let data =
            windows[index].sample(reader, &mut pool, sample.data_offset, sample.data_size)?;
        if !out.packet(index, meta, data)? {
            return Ok(());
        }
    }
}

/// Fragmented MP4: every `moof` + `mdat` pair is read whole and handed to shiguredo_mp4's
/// segment demuxer; payloads are slices of that one buffer.
fn read_fragments<R: Read + Seek>(
    reader: &mut FileReader<R>,
    moov: &[u8],
    mut offset: u64,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut demuxer = Fmp4SegmentDemuxer::new();
    demuxer
        .handle_init_segment(moov)
        .map_err(|e| reader.invalid(format!("moov box: {e}")))?;
    while offset < reader.len {
        let Some((kind, size)) = reader.box_at(offset)? else {
            reader.cut("a box header", offset);
            return Ok(());
        };
        if &kind != b"moof" {
            offset = offset.saturating_add(size);
            continue;
        }
        let mdat_at = offset.saturating_add(size);
        let Some((mdat, mdat_size)) = reader.box_at(mdat_at)? else {
            reader.cut("the mdat after the moof", offset);
            return Ok(());
        };
        if &mdat != b"mdat" {
            return Err(reader.invalid(format!("no mdat after the moof at byte {offset}")));
        }
        let fragment_size = size.saturating_add(mdat_size);
        if offset.saturating_add(fragment_size) > reader.len {
            reader.cut("the fragment", offset);
            return Ok(());
        }
        let fragment = reader.read_vec_at(offset, fragment_size)?;
        let invalid = |reason| reader.invalid(reason);
        if !emit_fragment(&mut demuxer, fragment, offset, size, out, &invalid)? {
            return Ok(());
        }
        offset = offset.saturating_add(fragment_size);
    }
    Ok(())
}

/// shiguredo_mp4's segment demuxer takes an explicit `tfhd` base_data_offset as relative
/// to the segment; ffmpeg's `frag_keyframe` files without `default_base_moof` write it
/// as a file position (ISO/IEC 14496-12 §8.8.7). Rewrites it in place (same size).
fn relative_base_offsets(fragment: &mut [u8], moof_at: u64, moof_size: u64) -> Result<(), String> {
    let moof_len = usize::try_from(moof_size).map_err(|e| e.to_string())?;
    let (mut moof, _) = MoofBox::decode(&fragment[..moof_len]).map_err(|e| e.to_string())?;
    let mut changed = false;
    for traf in &mut moof.traf_boxes {
        if let Some(base) = traf.tfhd_box.base_data_offset.as_mut() {
            *base = base
                .checked_sub(moof_at)
                .ok_or("tfhd base_data_offset before its moof")?;
            changed = true;
        }
    }
    if changed {
        let bytes = moof.encode_to_vec().map_err(|e| e.to_string())?;
        if bytes.len() != moof_len {
            return Err("moof changed size when re-encoded".into());
        }
        fragment[..moof_len].copy_from_slice(&bytes);
    }
    Ok(())
}

/// The `moov` at byte `at` and the tracks chosen in it (at least one).
fn chosen_tracks(
    moov: &[u8],
    at: u64,
    name: &str,
    track_ids: &[u32],
    invalid: &dyn Fn(String) -> Error,
) -> Result<(MoovBox, Vec<Chosen>), Error> {
    let (moov, _) =
        MoovBox::decode(moov).map_err(|e| invalid(format!("moov box at byte {at}: {e}")))?;
    let chosen = tracks::choose(&moov, name, track_ids).map_err(invalid)?;
    if chosen.is_empty() {
        return Err(invalid(
            "no H.264, H.265, VP8, VP9, AV1, AAC, MP3 or Opus track".into(),
        ));
    }
    Ok((moov, chosen))
}

/// Demuxes one `moof` + `mdat` (`fragment`, at byte `offset`, its `moof` `moof_size`
/// bytes) and sends its samples, interleaved by time as a plain file's are.
fn emit_fragment(
    demuxer: &mut Fmp4SegmentDemuxer,
    mut fragment: Vec<u8>,
    offset: u64,
    moof_size: u64,
    out: &mut Output<'_>,
    invalid: &dyn Fn(String) -> Error,
) -> Result<Open, Error> {
    relative_base_offsets(&mut fragment, offset, moof_size)
        .map_err(|e| invalid(format!("moof at byte {offset}: {e}")))?;
    let fragment = Bytes::from(fragment);
    let mut samples: Vec<(f64, usize, SampleMeta, Bytes)> = Vec::new();
    let list = demuxer
        .handle_media_segment(&fragment)
        .map_err(|e| invalid(format!("fragment at byte {offset}: {e}")))?;
    for sample in list {
        let Some(index) = out.index_of(sample.track) else {
            continue;
        };
        let start = usize::try_from(sample.data_offset).unwrap_or(usize::MAX);
        let Some(end) = start
            .checked_add(sample.data_size)
            .filter(|&end| end <= fragment.len())
        else {
            return Err(invalid(format!(
                "a sample of track {} lies past the fragment at byte {offset}",
                sample.track.track_id
            )));
        };
        let meta = SampleMeta::of(&sample);
        let time = meta.dts as f64 / f64::from(sample.track.timescale.get());
        samples.push((time, index, meta, fragment.slice(start..end)));
    }
    // A fragment holds one run per track; interleave them by time as a plain file is.
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, index, meta, data) in samples {
        if !out.packet(index, meta, data)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Walks the top-level boxes to `moov`: its position, size and bytes.
fn find_moov<R: Read + Seek>(reader: &mut FileReader<R>) -> Result<(u64, u64, Vec<u8>), Error> {
    let mut offset = 0u64;
    loop {
        let Some((kind, size)) = reader.box_at(offset)? else {
            return Err(reader.invalid(format!(
                "no moov box (the top-level boxes end at byte {offset} of {}): the file is truncated or not MP4",
                reader.len
            )));
        };
        if &kind == b"moov" {
            if offset.saturating_add(size) > reader.len {
                return Err(reader.invalid(format!(
                    "the moov box at byte {offset} ({size} bytes) is cut: the file ends at byte {}",
                    reader.len
                )));
            }
            return Ok((offset, size, reader.read_vec_at(offset, size)?));
        }
        offset = offset.saturating_add(size);
    }
}

/// What a sample says about timing, taken out of the demuxer's borrow.
struct SampleMeta {
    dts: i64,
    cts_offset: i64,
    duration: u32,
    keyframe: bool,
    entry: Option<shiguredo_mp4::boxes::SampleEntry>,
    timescale: u32,
}

impl SampleMeta {
    fn of(sample: &Sample<'_>) -> SampleMeta {
        SampleMeta {
            dts: i64::try_from(sample.timestamp).unwrap_or(i64::MAX),
            cts_offset: sample.composition_time_offset.unwrap_or(0),
            duration: sample.duration,
            keyframe: sample.keyframe,
            entry: sample.sample_entry.cloned(),
            timescale: sample.track.timescale.get(),
        }
    }
}

/// The chosen tracks, the channel to the recorder, and the packets waiting for their
/// turn on the movie's time line.
struct Output<'a> {
    tracks: Vec<Chosen>,
    emit: &'a mut dyn FnMut(InputEvent) -> Open,
    waiting: BinaryHeap<Reverse<Waiting>>,
    sequence: u64,
}

/// An event held until no earlier one can come: the demuxer gives samples in the
/// order of their media times, but edit lists shift each track by its own amount.
struct Waiting {
    seconds: f64,
    sequence: u64,
    event: InputEvent,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.seconds
            .total_cmp(&other.seconds)
            .then(self.sequence.cmp(&other.sequence))
    }
}

impl<'a> Output<'a> {
    fn new(tracks: Vec<Chosen>, emit: &'a mut dyn FnMut(InputEvent) -> Open) -> Self {
        Output {
            tracks,
            emit,
            waiting: BinaryHeap::new(),
            sequence: 0,
        }
    }

    fn index_of(&self, track: &TrackInfo) -> Option<usize> {
        self.tracks
            .iter()
            .position(|c| c.track_id == track.track_id)
    }

    fn send(&mut self, event: InputEvent) -> Open {
        (self.emit)(event)
    }

    /// The smallest shift of any track, in seconds: a sample at media time `t` comes
    /// after every event placed before `t` plus this.
    fn least_shift(&self) -> f64 {
        self.tracks
            .iter()
            .map(|c| c.shift as f64 / f64::from(c.track.timescale.max(1)))
            .fold(f64::INFINITY, f64::min)
    }

    fn hold(&mut self, seconds: f64, event: InputEvent) {
        self.sequence += 1;
        self.waiting.push(Reverse(Waiting {
            seconds,
            sequence: self.sequence,
            event,
        }));
    }

    /// Sends the held events placed at or before `seconds` (all with `None`).
    fn release(&mut self, seconds: Option<f64>) -> Open {
        while let Some(Reverse(first)) = self.waiting.peek() {
            if seconds.is_some_and(|s| first.seconds > s) {
                break;
            }
            let Some(Reverse(first)) = self.waiting.pop() else {
                break;
            };
            if !self.send(first.event) {
                return false;
            }
        }
        true
    }

    fn packet(&mut self, index: usize, meta: SampleMeta, data: Bytes) -> Result<Open, Error> {
        let chosen = &self.tracks[index];
        let timescale = f64::from(chosen.track.timescale.max(1));
        let media_seconds = meta.dts as f64 / timescale;
        let dts = meta.dts.saturating_add(chosen.shift);
        let seconds = dts as f64 / timescale;
        if let Some(entry) = &meta.entry {
            let mut track =
                tracks::track_of(entry, meta.timescale).map_err(|what| Error::Input {
                    input: format!("MP4 track {}", chosen.track_id),
                    reason: format!("the sample entry changes to one that cannot be read: {what}"),
                })?;
            // The track's (`tkhd`), not the sample entry's.
            track.display_matrix = chosen.track.display_matrix;
            if track != chosen.track {
                self.tracks[index].track = track.clone();
                self.hold(seconds, InputEvent::TrackUpdated { index, track });
            }
        }
        let cts_offset = i32::try_from(meta.cts_offset).map_err(|_| Error::Input {
            input: format!("MP4 track {}", self.tracks[index].track_id),
            reason: format!("composition offset {} out of range", meta.cts_offset),
        })?;
        let packet = Packet::new(index, dts, meta.keyframe, data)
            .with_cts_offset(cts_offset)
            .with_duration(Some(meta.duration));
        self.hold(seconds, InputEvent::Packet(packet, SystemTime::now()));
        let ready = media_seconds + self.least_shift();
        Ok(self.release(Some(ready)))
    }

    /// Sends what is still held: the input ended.
    fn finish(&mut self) -> Open {
        self.release(None)
    }
}

/// The file, read at the positions the demuxer asks for.
struct FileReader<R> {
    file: R,
    len: u64,
    name: String,
    /// A rewritten `moov` (QuickTime sound descriptions) and where it lies: reads over
    /// it get these bytes instead of the file's (the same length).
    moov: Option<(u64, Vec<u8>)>,
}

impl<R: Read + Seek> FileReader<R> {
    fn new(file: R, len: u64, name: String) -> FileReader<R> {
        FileReader {
            file,
            len,
            name,
            moov: None,
        }
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Input {
            input: self.name.clone(),
            reason,
        }
    }

    /// Logs that a fragmented file ends inside a fragment: what came before is kept.
    fn cut(&self, what: &str, offset: u64) {
        tracing::warn!(
            input = self.name,
            "{what} at byte {offset} is cut (the file ends at byte {}): stopped after the last complete fragment",
            self.len
        );
    }

    /// The type and size of the box at `offset`; `None` at the end of the file or when
    /// the header itself is cut. A size of 0 means "to the end of the file".
    fn box_at(&mut self, offset: u64) -> Result<Option<([u8; 4], u64)>, Error> {
        if offset >= self.len {
            return Ok(None);
        }
        let head = self.read_up_to(offset, Some(BoxHeader::MAX_SIZE))?;
        let Ok((header, header_size)) = BoxHeader::decode(&head) else {
            return Ok(None);
        };
        let size = match header.box_size.get() {
            0 => self.len - offset,
            n if n < header_size as u64 => {
                return Err(self.invalid(format!("box at byte {offset} has size {n}")));
            }
            n => n,
        };
        let mut kind = [0u8; 4];
        kind.copy_from_slice(&head[4..8]);
        Ok(Some((kind, size)))
    }

    /// Up to `size` bytes at `position` (to the end of the file with `None`), fewer at
    /// the end of the file.
    fn read_up_to(&mut self, position: u64, size: Option<usize>) -> Result<Vec<u8>, Error> {
        let available = self.len.saturating_sub(position);
        let size = size.map_or(available, |s| (s as u64).min(available));
        let mut data = self.read_vec_at(position, size)?;
        if let Some((at, moov)) = &self.moov {
            // The overlap of [position, position + size) with the rewritten moov.
            let start = position.max(*at);
            let end = (position + data.len() as u64).min(at + moov.len() as u64);
            if start < end {
                let (from, to) = ((start - at) as usize, (end - at) as usize);
                let into = (start - position) as usize;
                data[into..into + (to - from)].copy_from_slice(&moov[from..to]);
            }
        }
        Ok(data)
    }

    fn read_vec_at(&mut self, position: u64, size: u64) -> Result<Vec<u8>, Error> {
        let size = self.fits(position, size)?;
        let mut buf = vec![0; size];
        self.read_exact_at(position, &mut buf)?;
        Ok(buf)
    }

    /// `size` as a buffer length.
    fn fits(&self, position: u64, size: u64) -> Result<usize, Error> {
        usize::try_from(size)
            .map_err(|_| self.invalid(format!("{size} bytes at byte {position} do not fit")))
    }

    fn read_exact_at(&mut self, position: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.file
            .seek(SeekFrom::Start(position))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(|e| Error::io(format!("reading {} at byte {position}", self.name), e))
    }
}
