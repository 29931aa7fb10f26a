//! Matroska and WebM input (`.mkv`, `.webm`, `.mka`): what browsers' MediaRecorder, OBS
//! and ffmpeg write. Read by `matroska-demuxer` (blocks and laces, clusters of unknown
//! size as live recorders write them); one video and one audio track are taken, the
//! first of each kind this pipeline carries:
//!
//! | Matroska codec ID | track | configuration from |
//! |---|---|---|
//! | `V_MPEG4/ISO/AVC`, `V_MPEGH/ISO/HEVC` | H.264, H.265 | CodecPrivate (`avcC`, `hvcC`) |
//! | `V_VP8` | VP8 | – (size from the track) |
//! | `V_VP9` | VP9 | the first key frame's header |
//! | `V_AV1` | AV1 | CodecPrivate (`av1C`), else the first key frame's sequence header |
//! | `A_OPUS` | Opus | CodecPrivate (`OpusHead`) |
//! | `A_AAC` | AAC | CodecPrivate (AudioSpecificConfig) |
//! | `A_MPEG/L3`, `A_MPEG/L2` | MPEG audio | – |
//!
//! Other tracks (Vorbis, subtitles, …) are left out with a log line. Matroska gives
//! presentation times in `TimestampScale` units (milliseconds by default): video goes on
//! a 90 kHz clock with decode times from [`reorder`]; audio counts its samples from the
//! first block's time (a block more than 100 ms off the count, a gap, sets it anew), so
//! millisecond rounding does not jitter AAC frame durations.

mod reading;
mod reorder;

use std::fs::File;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use matroska_demuxer::{Frame, MatroskaFile, TrackEntry, TrackType};
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Error, Packet, Track};

use reading::{BUDGET_TIMES, Budget, LiveSizes};
use reorder::Reorder;

/// Frames held while a track's configuration waits for its first key frame.
const HELD_FRAMES: usize = 600;

/// Audio packets waiting for video at most (about 10 s of AAC at 48 kHz).
const MAX_WAITING: usize = 500;

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    crate::source::on_reader_thread("Matroska".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("opening {name}"), e))?
            .len();
        let reader = Budget::new(LiveSizes::new(file, len), len);
        read(&name, reader, &mut FileSender::new(tx), &stop)
    })
    .await
}

/// Reads a Matroska file held in memory (for fuzzing: the same code as a file).
pub(crate) fn read_bytes(
    data: &[u8],
    tx: mpsc::Sender<InputEvent>,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let len = data.len() as u64;
    let reader = Budget::new(LiveSizes::new(std::io::Cursor::new(data), len), len);
    read("Matroska", reader, &mut FileSender::new(tx), stop)
}

/// What a chosen track's blocks become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    H264,
    H265,
    Vp8,
    Vp9,
    Av1,
    Opus,
    Aac,
    Mpeg,
    /// AC-3: its `dac3` comes from the first frame (Matroska stores no private data).
    Ac3,
    /// E-AC-3: its `dec3` from the first block, as for AC-3.
    Eac3,
}

impl Kind {
    fn of(codec_id: &str) -> Option<Kind> {
        Some(match codec_id {
            "V_MPEG4/ISO/AVC" => Kind::H264,
            "V_MPEGH/ISO/HEVC" => Kind::H265,
            "V_VP8" => Kind::Vp8,
            "V_VP9" => Kind::Vp9,
            "V_AV1" => Kind::Av1,
            "A_OPUS" => Kind::Opus,
            "A_MPEG/L3" | "A_MPEG/L2" => Kind::Mpeg,
            "A_AC3" => Kind::Ac3,
            "A_EAC3" => Kind::Eac3,
            id if id.starts_with("A_AAC") => Kind::Aac,
            _ => return None,
        })
    }

    fn is_video(self) -> bool {
        matches!(
            self,
            Kind::H264 | Kind::H265 | Kind::Vp8 | Kind::Vp9 | Kind::Av1
        )
    }
}

/// A track taken from the file.
struct Chosen {
    number: u64,
    kind: Kind,
    /// Its place in the pipeline's track list.
    index: usize,
    track: Option<Track>,
    /// Video: decode times from presentation times.
    reorder: Reorder<(Packet, i64)>,
    /// Audio: the next packet's time in samples, and the sample rate.
    next: Option<i64>,
    rate: u32,
    /// Audio timed while the video's decode times wait for the frames after them, with
    /// its decode time in seconds: sent once video of that decode time has gone, so the two stay interleaved (a recorder
    /// starts at the first video key frame and would drop audio sent ahead of it).
    waiting: std::collections::VecDeque<(f64, Packet)>,
}

fn read<R: Read + Seek>(
    name: &str,
    reader: Budget<R>,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let spent = reader.spent.clone();
    let looping = || {
        invalid(format!(
            "malformed: the demuxer read over {BUDGET_TIMES} times the file's bytes (a loop in it)"
        ))
    };
    let mut file = MatroskaFile::open(reader).map_err(|e| {
        if spent.load(Ordering::Relaxed) {
            looping()
        } else {
            invalid(format!("not a readable Matroska file: {e}"))
        }
    })?;
    // Nanoseconds per tick.
    let scale = file.info().timestamp_scale().get();
    let mut chosen = choose(name, file.tracks());
    if chosen.is_empty() {
        return Err(invalid(
            "no H.264, H.265, VP8, VP9, AV1, Opus, AAC or MPEG audio track".into(),
        ));
    }
    let mut frame = Frame::default();
    // Frames read before every track's configuration was known.
    let mut held: Vec<(usize, Packet, i64)> = Vec::new();
    let mut announced = false;
    while !*stop.borrow() {
        // matroska-demuxer 0.8.1 panics on a block time of −32768 when built with
        // overflow checks (debug builds; see xtask's `RELEASE_ONLY`): a malformed file,
        // not a reason to take the process down.
        let more =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| file.next_frame(&mut frame)))
                .map_err(|_| invalid("a malformed block (the demuxer failed on it)".into()))?
                .map_err(|e| invalid(format!("reading a block: {e}")))?;
        if !more {
            break;
        }
        let Some(at) = chosen.iter().position(|c| c.number == frame.track) else {
            continue;
        };
        let c = &mut chosen[at];
        let data = Bytes::from(std::mem::take(&mut frame.data));
        let keyframe = frame
            .is_keyframe
            .unwrap_or_else(|| key_frame(c.kind, &data));
        if c.track.is_none() && keyframe {
            c.track = key_frame_track(c.kind, &data);
        }
        let nanos = i128::from(frame.timestamp) * i128::from(scale);
        let packet = Packet::new(c.index, 0, keyframe, data);
        if !announced {
            // Held while a track waits for its first key frame.
            held.push((at, packet, clamp(nanos)));
            let ready = chosen.iter().all(|c| c.track.is_some());
            if !ready && held.len() < HELD_FRAMES {
                continue;
            }
            announced = true;
            if !start(name, &mut chosen, &mut held, tx)? {
                return Ok(());
            }
            continue;
        }
        if !emit(name, &mut chosen, at, packet, clamp(nanos), tx)? {
            return Ok(());
        }
    }
    // The demuxer takes an I/O error for the end of the file.
    if spent.load(Ordering::Relaxed) {
        return Err(looping());
    }
    if !announced && !start(name, &mut chosen, &mut held, tx)? {
        return Ok(());
    }
    for at in 0..chosen.len() {
        let released = chosen[at].reorder.finish();
        if !release(&mut chosen, at, released, tx) {
            return Ok(());
        }
    }
    for c in &mut chosen {
        for (_, packet) in c.waiting.drain(..) {
            if !tx.send(InputEvent::Packet(packet, SystemTime::now())) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Announces the tracks and sends the frames held until then; false once the recorder
/// is gone.
fn start(
    name: &str,
    chosen: &mut [Chosen],
    held: &mut Vec<(usize, Packet, i64)>,
    tx: &mut FileSender,
) -> Result<bool, Error> {
    if !announce(name, chosen, tx) {
        return Ok(false);
    }
    for (at, packet, nanos) in held.drain(..) {
        if !emit(name, chosen, at, packet, nanos, tx)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn clamp(nanos: i128) -> i64 {
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// The first supported track of each kind; the others are logged.
fn choose(name: &str, tracks: &[TrackEntry]) -> Vec<Chosen> {
    let mut chosen: Vec<Chosen> = Vec::new();
    for t in tracks {
        let number = t.track_number().get();
        let Some(kind) = Kind::of(t.codec_id()) else {
            if matches!(t.track_type(), TrackType::Video | TrackType::Audio) {
                tracing::warn!(input = %name, track = number, codec = t.codec_id(), "track left out: codec not supported");
            }
            continue;
        };
        if chosen.iter().any(|c| c.kind.is_video() == kind.is_video()) {
            tracing::info!(input = %name, track = number, "track skipped: one track per kind");
            continue;
        }
        let rate = t
            .audio()
            .map(|a| a.sampling_frequency().round() as u32)
            .unwrap_or(0);
        let track = track_of(kind, t);
        chosen.push(Chosen {
            number,
            kind,
            index: 0,
            track,
            reorder: Reorder::default(),
            next: None,
            waiting: std::collections::VecDeque::new(),
            rate: match kind {
                Kind::Opus => 48_000,
                _ => rate,
            },
        });
    }
    chosen
}

/// The track its entry describes, when the entry is enough (VP9, and AV1 without
/// CodecPrivate, wait for a key frame).
fn track_of(kind: Kind, t: &TrackEntry) -> Option<Track> {
    let private = t.codec_private().map(Bytes::copy_from_slice);
    let (width, height) = t.video().map_or((0, 0), |v| {
        (
            u32::try_from(v.pixel_width().get()).unwrap_or(0),
            u32::try_from(v.pixel_height().get()).unwrap_or(0),
        )
    });
    let channels = t
        .audio()
        .map_or(2, |a| u16::try_from(a.channels().get()).unwrap_or(2));
    let rate = t
        .audio()
        .map_or(0, |a| a.sampling_frequency().round() as u32);
    Some(match kind {
        Kind::H264 => Track::video(Codec::H264 { config: private? }, 90_000, width, height),
        Kind::H265 => Track::video(Codec::H265 { config: private? }, 90_000, width, height),
        Kind::Vp8 => Track::video(Codec::Vp8, 90_000, width, height),
        Kind::Vp9 | Kind::Ac3 | Kind::Eac3 => return None,
        Kind::Av1 => {
            let config = private.filter(|p| p.len() >= 4)?;
            Track::video(Codec::Av1 { config }, 90_000, width, height)
        }
        Kind::Opus => {
            let head = private.filter(|p| p.starts_with(b"OpusHead") && p.len() >= 19)?;
            let channels = u16::from(head[9]);
            Track::audio(Codec::Opus { head }, 48_000, channels)
        }
        Kind::Aac => Track::audio(Codec::Aac { config: private? }, rate, channels),
        Kind::Mpeg => Track::audio(Codec::Mp3, rate, channels),
    })
}

/// A VP9, AV1, AC-3 or E-AC-3 track from its first key frame.
fn key_frame_track(kind: Kind, data: &[u8]) -> Option<Track> {
    match kind {
        Kind::Eac3 => super::eac3_track(data),
        Kind::Ac3 => super::ac3_track(data),
        Kind::Vp9 => {
            let key = elementary::vp9_key_frame(data)?;
            Some(Track::video(
                Codec::Vp9 {
                    config: key.record(),
                },
                90_000,
                key.width,
                key.height,
            ))
        }
        Kind::Av1 => {
            let sequence = elementary::av1_sequence_header(data)?;
            Some(Track::video(
                Codec::Av1 {
                    config: sequence.record(),
                },
                90_000,
                sequence.width,
                sequence.height,
            ))
        }
        _ => None,
    }
}

/// Whether a frame of a Block (not a SimpleBlock, which says so) is a key frame.
fn key_frame(kind: Kind, data: &[u8]) -> bool {
    match kind {
        Kind::H264 => nal_types(data).any(|t| t & 0x1F == 5),
        Kind::H265 => nal_types(data).any(|t| (16..=23).contains(&(t >> 1 & 0x3F))),
        Kind::Vp8 => elementary::vp8_key_frame(data),
        Kind::Vp9 => elementary::vp9_is_key_frame(data),
        Kind::Av1 => elementary::av1_sequence_header(data).is_some(),
        Kind::Opus | Kind::Aac | Kind::Mpeg | Kind::Ac3 | Kind::Eac3 => true,
    }
}

/// The first header byte of each 4-byte length-prefixed NAL unit.
fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = data.get(at..at + 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let first = *data.get(at + 4)?;
        at = at.saturating_add(4).saturating_add(len);
        Some(first)
    })
}

/// Sends the tracks (those still unknown are left out, with a line, their frames
/// dropped); false once the recorder is gone.
fn announce(name: &str, chosen: &mut [Chosen], tx: &mut FileSender) -> bool {
    let mut tracks = Vec::new();
    for c in chosen.iter_mut() {
        match &c.track {
            Some(track) => {
                c.index = tracks.len();
                tracks.push(track.clone());
            }
            None => {
                tracing::warn!(input = %name, track = c.number, "track left out: no configuration (no key frame in the first {HELD_FRAMES} frames, or a bad CodecPrivate)");
            }
        }
    }
    tx.send(InputEvent::Tracks(tracks))
}

/// Times and sends one frame of `chosen[at]` read at `nanos`; false once the recorder
/// is gone.
fn emit(
    name: &str,
    chosen: &mut [Chosen],
    at: usize,
    mut packet: Packet,
    nanos: i64,
    tx: &mut FileSender,
) -> Result<bool, Error> {
    let c = &mut chosen[at];
    if c.track.is_none() {
        return Ok(true); // left out when the tracks were announced
    }
    packet.track = c.index;
    if c.kind.is_video() {
        let pts = nanos.saturating_mul(9) / 100_000; // 90 kHz
        let released = c.reorder.push(pts, (packet, nanos));
        return Ok(release(chosen, at, released, tx));
    }
    let rate = i64::from(c.rate.max(1));
    let samples = match c.kind {
        Kind::Opus => elementary::opus_packet_samples(&packet.data),
        Kind::Aac => Some(1024),
        Kind::Ac3 => Some(elementary::AC3_FRAME_SAMPLES),
        Kind::Eac3 => elementary::eac3_samples(&packet.data),
        _ => mp3_frames::FrameHeader::parse_decodable(&packet.data)
            .ok()
            .map(|(_, h)| h.samples()),
    }
    .ok_or_else(|| Error::Input {
        input: name.to_owned(),
        reason: format!(
            "an audio block of {} bytes whose duration cannot be read",
            packet.data.len()
        ),
    })?;
    let count = i64::try_from(i128::from(nanos) * i128::from(rate) / 1_000_000_000).unwrap_or(0);
    let dts = match c.next {
        // Within 100 ms of the count: the count (block times are rounded).
        Some(next) if count.saturating_sub(next).saturating_abs() <= rate / 10 => next,
        _ => count,
    };
    c.next = Some(dts.saturating_add(i64::from(samples)));
    packet.dts = dts;
    packet.duration = Some(samples);
    if chosen.iter().any(|v| v.kind.is_video()) {
        let waiting = &mut chosen[at].waiting;
        waiting.push_back((dts as f64 / rate as f64, packet));
        // Video that stopped (or a long gap in it) does not hold audio without bound.
        while waiting.len() > MAX_WAITING {
            if let Some((_, audio)) = waiting.pop_front()
                && !tx.send(InputEvent::Packet(audio, SystemTime::now()))
            {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    Ok(tx.send(InputEvent::Packet(packet, SystemTime::now())))
}

/// Sends video frames whose decode times are known, each after the audio read before it;
/// false once the recorder is gone.
fn release(
    chosen: &mut [Chosen],
    at: usize,
    released: Vec<(i64, i64, (Packet, i64))>,
    tx: &mut FileSender,
) -> bool {
    for (dts, pts, (mut packet, _)) in released {
        packet.track = chosen[at].index;
        packet.dts = dts;
        packet.cts_offset = i32::try_from(pts.saturating_sub(dts)).unwrap_or(0);
        // Interleaved by decode time: the audio up to this frame's goes first (so audio
        // just before the first key frame leads in, and audio after it follows it).
        let seconds = dts as f64 / 90_000.0;
        for c in chosen.iter_mut() {
            while c.waiting.front().is_some_and(|(t, _)| *t <= seconds) {
                if let Some((_, audio)) = c.waiting.pop_front()
                    && !tx.send(InputEvent::Packet(audio, SystemTime::now()))
                {
                    return false;
                }
            }
        }
        if !tx.send(InputEvent::Packet(packet, SystemTime::now())) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An EBML header for WebM, then a Segment whose first child is a CRC-32 element.
    fn crc32_first() -> Vec<u8> {
        let mut file = vec![
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01, 0x42,
            0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm',
            0x42, 0x87, 0x81, 0x02, 0x42, 0x85, 0x81, 0x02, 0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0,
            0, 0, 0, 0x40,
        ];
        file.extend([0xBF, 0x84, 1, 2, 3, 4]);
        file
    }

    #[test]
    fn a_demuxer_loop_ends_in_an_error() {
        let (tx, _rx) = mpsc::channel(64);
        let (_stop_tx, stop) = watch::channel(false);
        let started = std::time::Instant::now();
        let err = read_bytes(&crc32_first(), tx, &stop)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a loop in it"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
