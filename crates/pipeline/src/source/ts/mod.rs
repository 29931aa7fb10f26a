//! MPEG-TS file input (`.ts`) through `mpeg_ts`: H.264/H.265 (Annex B to length-prefixed
//! NAL units, in-band parameter sets to the avcC/hvcC configuration), AAC (ADTS to raw
//! access units), MPEG audio and AC-3 (split into frames). Other stream types are left
//! out.
//!
//! The tracks are sent once every stream's configuration is known (the first SPS/PPS,
//! ADTS header, MPEG audio or AC-3 frame header); frames are held until then, at most
//! [`HELD_FRAMES`] (streams still unknown then are left out, with a warning). Video
//! keeps the 90 kHz clock of TS; audio is counted in samples (timescale = sample rate),
//! following the PES times when they jump by more than half a frame. Timestamp jumps
//! (concatenated files, a restarted encoder) are re-based ([`jumps`]).
//!
//! The same reader takes the TS of an SRT input ([`srt`]).

mod jumps;
pub(crate) mod srt;

use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use mpeg_ts::nal::{self, VideoCodec};
use mpeg_ts::{DemuxedFrame, Demuxer, Event, StreamType, adts, sps};
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Error, Packet, Track};

/// Frames held while waiting for every stream's configuration.
const HELD_FRAMES: usize = 1000;
const CHUNK: usize = 188 * 512;

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    let file = std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let task_name = name.clone();
    crate::source::on_reader_thread(name, move || {
        read_blocking(task_name, file, FileSender::new(tx), &stop)
    })
    .await
}

/// Reads a transport stream from `input` on the calling thread (a file, an HLS
/// playlist's segments joined).
pub(crate) fn read_blocking<R: Read>(
    name: String,
    input: R,
    tx: FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    Reader::new(name, tx).read(input, stop)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video(VideoCodec),
    Aac,
    Mpeg,
    Ac3,
    Eac3,
    /// Opus with this many channels (from the PMT's descriptors).
    Opus(u8),
}

struct Stream {
    pid: u16,
    kind: Kind,
    track: Option<Track>,
    /// Index in the tracks sent.
    index: Option<usize>,
    /// Audio: the next frame's time in samples, when continuous.
    next: Option<i64>,
    /// Its correction across timestamp jumps.
    clock: jumps::TrackClock,
    /// AC-3/E-AC-3: the start of a frame or access unit the last PES cut (its time in
    /// samples, its bytes), completed by the next PES.
    partial: Option<(i64, Vec<u8>)>,
}

/// At most this much of a cut AC-3/E-AC-3 unit is carried to the next PES (a unit is at
/// most 7 substreams of 4 KiB frames).
const MAX_PARTIAL: usize = 64 * 1024;

struct Reader {
    name: String,
    tx: FileSender,
    streams: Vec<Option<Stream>>,
    held: Vec<DemuxedFrame>,
    sent: bool,
    /// The first decode time (90 kHz): time zero of every track.
    origin: i64,
    jumps: jumps::Jumps,
    /// Timestamp jumps re-based so far (the first is a warning, the others debug lines).
    jumped: u64,
    /// Audio PES that overlapped what came before (logged as the jumps are).
    overlaps: u64,
}

impl Reader {
    fn new(name: String, tx: FileSender) -> Reader {
        Reader {
            name,
            tx,
            streams: Vec::new(),
            held: Vec::new(),
            sent: false,
            origin: 0,
            jumps: jumps::Jumps::default(),
            jumped: 0,
            overlaps: 0,
        }
    }

    fn ts_err(&self) -> impl Fn(mpeg_ts::Error) -> Error + '_ {
        |source| Error::Ts {
            endpoint: self.name.clone(),
            source,
        }
    }

    fn read<R: Read>(mut self, mut reader: R, stop: &watch::Receiver<bool>) -> Result<(), Error> {
        let mut demuxer = Demuxer::new();
        let mut chunk = vec![0u8; CHUNK];
        while !*stop.borrow() {
            let n = reader
                .read(&mut chunk)
                .map_err(|e| Error::io(format!("reading {}", self.name), e))?;
            if n == 0 {
                let end = demuxer.finish();
                while let Some(event) = demuxer.poll() {
                    if !self.event(event)? {
                        return Ok(());
                    }
                }
                // No program at all says more than "no tracks".
                if let (false, Err(e @ mpeg_ts::Error::NoProgram { .. })) = (self.sent, &end) {
                    return Err(Error::Ts {
                        endpoint: self.name.clone(),
                        source: e.clone(),
                    });
                }
                if !self.sent && !self.send_tracks()? {
                    return Ok(());
                }
                return end.map_err(self.ts_err());
            }
            demuxer.push(&chunk[..n]).map_err(self.ts_err())?;
            while let Some(event) = demuxer.poll() {
                if !self.event(event)? {
                    return Ok(()); // the recorder stopped (duration reached)
                }
            }
        }
        Ok(())
    }

    /// Handles one event; false when the recorder is gone.
    fn event(&mut self, event: Event) -> Result<bool, Error> {
        match event {
            Event::Streams(infos) => {
                let streams = infos.iter().map(|info| self.stream_of(info)).collect();
                if self.sent {
                    return self.follow_program(streams);
                }
                self.streams = streams;
                self.held.clear();
                Ok(true)
            }
            Event::Frame(frame) => {
                if self.sent {
                    return self.emit(frame);
                }
                self.learn(&frame);
                self.held.push(frame);
                let known = self.streams.iter().flatten().all(|s| s.track.is_some());
                if known || self.held.len() >= HELD_FRAMES {
                    return self.send_tracks();
                }
                Ok(true)
            }
            other => {
                tracing::debug!(input = %self.name, "TS demuxer event {other:?} not used");
                Ok(true)
            }
        }
    }

    /// A stream of the program as the PMT describes it (`None`: a type left out).
    fn stream_of(&self, info: &mpeg_ts::StreamInfo) -> Option<Stream> {
        let kind = match info.stream_type {
            StreamType::H264 => Kind::Video(VideoCodec::H264),
            StreamType::H265 => Kind::Video(VideoCodec::H265),
            StreamType::AacAdts => Kind::Aac,
            StreamType::Mpeg1Audio | StreamType::Mpeg2Audio => Kind::Mpeg,
            StreamType::Opus { channels } => Kind::Opus(channels),
            StreamType::Ac3 => Kind::Ac3,
            StreamType::Eac3 => Kind::Eac3,
            other => {
                tracing::warn!(input = %self.name, pid = info.pid, "stream type {:#04x} left out", other.id());
                return None;
            }
        };
        let clock = match kind {
            Kind::Video(_) => jumps::TrackClock::reordered(),
            _ => jumps::TrackClock::default(),
        };
        Some(Stream {
            pid: info.pid,
            kind,
            track: None,
            index: None,
            next: None,
            clock,
            partial: None,
        })
    }

    /// The program changed after the tracks were sent (a PMT with other PIDs: a
    /// broadcast service changed, files of two encoders joined): each track goes on with
    /// the new program's next stream of its kind (its times re-based as any jump, new
    /// parameter sets a track update); new streams left over are left out. A track with
    /// no stream of its kind in the new program ends the input with one line.
    fn follow_program(&mut self, mut streams: Vec<Option<Stream>>) -> Result<bool, Error> {
        let mut tracks: Vec<Stream> = self
            .streams
            .drain(..)
            .flatten()
            .filter(|s| s.index.is_some())
            .collect();
        for slot in &mut streams {
            let Some(new) = slot else { continue };
            match tracks.iter().position(|t| t.kind == new.kind) {
                Some(i) => {
                    let mut track = tracks.remove(i);
                    if track.pid != new.pid {
                        tracing::info!(input = %self.name, "the program changes: PID {} goes on as PID {}", track.pid, new.pid);
                    }
                    track.pid = new.pid;
                    track.partial = None;
                    *slot = Some(track);
                }
                None => {
                    tracing::warn!(input = %self.name, pid = new.pid, "a stream added to the program is left out");
                    *slot = None;
                }
            }
        }
        if let Some(track) = tracks.first() {
            return Err(Error::Input {
                input: self.name.clone(),
                reason: format!(
                    "the program's streams change in the middle of the file: none of the kind of PID {} follows",
                    track.pid
                ),
            });
        }
        self.streams = streams;
        Ok(true)
    }

    /// Takes a stream's configuration from its first frames.
    fn learn(&mut self, frame: &DemuxedFrame) {
        let Some(Some(stream)) = self.streams.get_mut(frame.stream) else {
            return;
        };
        if stream.track.is_some() {
            return;
        }
        stream.track = match stream.kind {
            Kind::Video(codec) => {
                if !matches!(codec, VideoCodec::H264 | VideoCodec::H265) {
                    tracing::warn!(input = %self.name, pid = stream.pid, "video codec {codec:?} left out");
                    return;
                }
                let (_, sets) = nal::to_length_prefixed(codec, &frame.data);
                video_track(codec, &sets)
            }
            Kind::Aac => adts::split(&frame.data).0.map(|f| {
                Track::audio(
                    Codec::Aac {
                        config: f.audio_specific_config,
                    },
                    f.sample_rate,
                    f.channels,
                )
            }),
            Kind::Mpeg => mp3_frames::FrameHeader::parse_decodable(&frame.data)
                .ok()
                .map(|(_, h)| {
                    Track::audio(Codec::Mp3, h.sample_rate(), u16::from(h.mode().channels()))
                }),
            Kind::Ac3 => super::ac3_track(&frame.data),
            Kind::Eac3 => {
                let unit = elementary::eac3_units(&frame.data).0.into_iter().next();
                unit.and_then(|u| super::eac3_track(&frame.data[u]))
            }
            // TS carries no OpusHead: one is made, its pre-skip the start trim of the first
            // packet's control header (ffmpeg writes the encoder's pre-skip there).
            Kind::Opus(channels) => Some(Track::audio(
                Codec::Opus {
                    head: elementary::opus_head(
                        channels,
                        mpeg_ts::opus::start_trim(&frame.data).unwrap_or(0),
                    ),
                },
                48_000,
                u16::from(channels),
            )),
        };
    }

    fn send_tracks(&mut self) -> Result<bool, Error> {
        let mut tracks = Vec::new();
        for stream in self.streams.iter_mut().flatten() {
            match &stream.track {
                Some(track) => {
                    stream.index = Some(tracks.len());
                    tracks.push(track.clone());
                }
                None => tracing::warn!(input = %self.name, pid = stream.pid,
                    "left out: no configuration (parameter sets or audio header) in the first {HELD_FRAMES} frames"),
            }
        }
        if tracks.is_empty() {
            return Err(Error::Input {
                input: self.name.clone(),
                reason:
                    "no H.264, H.265, AAC, MPEG audio, AC-3, E-AC-3 or Opus stream with a readable configuration"
                        .into(),
            });
        }
        self.sent = true;
        jumps::in_time_order(&mut self.held, |f| f.dts);
        self.origin = jumps::origin(self.held.iter().filter_map(|f| f.dts));
        if !self.tx.send(InputEvent::Tracks(tracks)) {
            return Ok(false);
        }
        for frame in std::mem::take(&mut self.held) {
            if !self.emit(frame)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends a frame's packets; false when the recorder is gone.
    fn emit(&mut self, frame: DemuxedFrame) -> Result<bool, Error> {
        let origin = self.origin;
        let Some(Some(stream)) = self.streams.get_mut(frame.stream) else {
            return Ok(true);
        };
        let (Some(index), Some(track), Some(dts)) = (stream.index, &stream.track, frame.dts) else {
            return Ok(true);
        };
        if frame.pts.is_some_and(|p| p != dts) {
            stream.clock.has_decode_times();
        }
        let rebased = self
            .jumps
            .rebase(&mut stream.clock, dts.saturating_sub(origin));
        let dts = rebased.dts;
        let pts = frame.pts.map_or(dts, |p| {
            p.saturating_sub(origin)
                .saturating_add(stream.clock.offset())
        });
        if let Some(jump) = rebased.jump {
            self.jumped += 1;
            let seconds = jump as f64 / 90_000.0;
            let what = format!("timestamps jump by {seconds:+.3} s: re-based to continue");
            log_repeated(self.jumped, &self.name, stream.pid, &what);
            if !self.tx.send(InputEvent::TimestampJump { track: index }) {
                return Ok(false);
            }
        }
        let reached = stream.next;
        let mut packets = Vec::new();
        match stream.kind {
            Kind::Video(codec) => {
                let (sample, sets) = nal::to_length_prefixed(codec, &frame.data);
                if sample.is_empty() {
                    return Ok(true);
                }
                // New parameter sets (another picture size after a splice or an HLS
                // discontinuity): a track update, so the output describes the pictures
                // that follow (they are taken out of the samples, so a decoder would
                // otherwise read them with the old ones).
                if !sets.is_empty()
                    && let Some(new) = video_track(codec, &sets)
                    && new.codec != track.codec
                {
                    tracing::info!(input = %self.name, pid = stream.pid, "new {} parameter sets: {}x{}", new.codec.name(), new.width, new.height);
                    stream.track = Some(new.clone());
                    if !self.tx.send(InputEvent::TrackUpdated { index, track: new }) {
                        return Ok(false);
                    }
                }
                let keyframe = frame.random_access || has_random_access_unit(codec, &sample);
                let mut packet = Packet::new(index, dts, keyframe, sample);
                packet.cts_offset = i32::try_from(pts - dts).unwrap_or(0);
                packets.push(packet);
            }
            Kind::Aac => {
                let rate = i64::from(track.sample_rate);
                let units = adts::split(&frame.data).1;
                let mut at = audio_time(&mut stream.next, pts, rate, 1024);
                for unit in units {
                    packets.push(audio(index, at, 1024, unit));
                    at += 1024;
                }
                stream.next = Some(at);
                stream.clock.ends_at(at * 90_000 / rate);
            }
            Kind::Mpeg => {
                let rate = i64::from(track.sample_rate);
                let frames = super::mpeg_audio_frames(&frame.data);
                let samples = frames.first().map_or(1152, |(_, s)| *s);
                let mut at = audio_time(&mut stream.next, pts, rate, samples);
                for (data, samples) in frames {
                    packets.push(audio(index, at, samples, data));
                    at += i64::from(samples);
                }
                stream.next = Some(at);
                stream.clock.ends_at(at * 90_000 / rate);
            }
            Kind::Ac3 | Kind::Eac3 => {
                let rate = i64::from(track.sample_rate);
                let samples = elementary::AC3_FRAME_SAMPLES;
                // A unit the previous PES cut goes on here, at its own time.
                let (mut at, data) = match stream.partial.take() {
                    Some((at, mut bytes)) => {
                        bytes.extend_from_slice(&frame.data);
                        (at, Bytes::from(bytes))
                    }
                    None => (
                        audio_time(&mut stream.next, pts, rate, samples),
                        frame.data.clone(),
                    ),
                };
                let (units, end) = match stream.kind {
                    Kind::Ac3 => elementary::ac3_frames(&data),
                    _ => elementary::eac3_units(&data),
                };
                for range in units {
                    packets.push(audio(index, at, samples, data.slice(range)));
                    at += i64::from(samples);
                }
                let rest = &data[end..];
                let starts_a_frame = match stream.kind {
                    Kind::Ac3 => rest.starts_with(&[0x0B, 0x77]),
                    _ => elementary::Eac3Frame::parse(rest).is_some(),
                };
                if starts_a_frame && rest.len() <= MAX_PARTIAL {
                    stream.partial = Some((at, rest.to_vec()));
                }
                stream.next = Some(at);
                stream.clock.ends_at(at * 90_000 / rate);
            }
            Kind::Opus(_) => {
                let units = mpeg_ts::opus::packets(&frame.data).unwrap_or_else(|e| {
                    tracing::warn!(input = %self.name, pid = stream.pid, "{e}: PES left out");
                    Vec::new()
                });
                let samples = |unit: &Bytes| elementary::opus_packet_samples(unit).unwrap_or(960);
                let first = units.first().map_or(960, samples);
                let mut at = audio_time(&mut stream.next, pts, 48_000, first);
                for unit in units {
                    let duration = samples(&unit);
                    packets.push(audio(index, at, duration, unit));
                    at += i64::from(duration);
                }
                stream.next = Some(at);
                stream.clock.ends_at(at * 90_000 / 48_000);
            }
        }
        // Only audio sets `stream.next`.
        if let Some(reached) = reached {
            let before = packets.len();
            // Audio that starts before the track's content already reached overlaps it:
            // a splice whose second part begins before the first one's last PES ends
            // (`cat a.ts b.ts`, HLS segments joined; not a jump back, which is re-based
            // above). Those frames are left out, so times keep increasing and the
            // second part keeps its own times, in step with its video.
            packets.retain(|p| p.dts + i64::from(p.duration.unwrap_or(0) / 2) >= reached);
            if packets.len() < before {
                stream.next = stream.next.max(Some(reached));
                self.overlaps += 1;
                let dropped = before - packets.len();
                let what = format!("audio overlaps what came before: {dropped} frame(s) left out");
                log_repeated(self.overlaps, &self.name, stream.pid, &what);
            }
        }
        for packet in packets {
            if !self.tx.send(InputEvent::Packet(packet, SystemTime::now())) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The `count`th time something repeatable happened: the first is a warning, the later
/// ones debug lines (a stream of many splices must not flood the log).
fn log_repeated(count: u64, input: &str, pid: u16, what: &str) {
    if count == 1 {
        tracing::warn!(input, pid, "{what} (later ones are logged at debug level)");
    } else {
        tracing::debug!(input, pid, "{what}");
    }
}

fn audio(track: usize, dts: i64, samples: u32, data: Bytes) -> Packet {
    let mut packet = Packet::new(track, dts, true, data);
    packet.duration = Some(samples);
    packet
}

/// The track described by a video access unit's parameter sets (its decoder
/// configuration record and picture size), if they are all there.
fn video_track(codec: VideoCodec, sets: &[Bytes]) -> Option<Track> {
    // The decoder configuration record, the SPS's NAL type, the SPS reader and the neutral
    // codec of each video codec.
    type Dimensions = fn(&[u8]) -> Option<(u32, u32)>;
    type Neutral = fn(Bytes) -> Codec;
    let (record, sps_type, dimensions, neutral): (_, u8, Dimensions, Neutral) = match codec {
        VideoCodec::H264 => (nal::avc_record(sets), 7, sps::avc_dimensions, |config| {
            Codec::H264 { config }
        }),
        VideoCodec::H265 => (nal::hevc_record(sets), 33, sps::hevc_dimensions, |config| {
            Codec::H265 { config }
        }),
        _ => return None,
    };
    let size = sets
        .iter()
        .find(|s| codec.nal_type(s) == Some(sps_type))
        .and_then(|s| dimensions(s));
    match (record, size) {
        (Ok(config), Some((w, h))) => Some(Track::video(neutral(config), 90_000, w, h)),
        _ => None,
    }
}

/// The time in samples of an audio PES starting at `pts` (90 kHz): the continuation of
/// the previous one unless they differ by more than half a frame.
fn audio_time(next: &mut Option<i64>, pts: i64, rate: i64, frame: u32) -> i64 {
    let at = (i128::from(pts) * i128::from(rate) + 45_000).div_euclid(90_000) as i64;
    match *next {
        Some(n) if (n - at).abs() <= i64::from(frame / 2) => n,
        _ => at,
    }
}

/// Whether a length-prefixed sample holds an IDR (H.264) or IRAP (H.265) picture.
fn has_random_access_unit(codec: VideoCodec, sample: &Bytes) -> bool {
    nal::length_prefixed_units(sample).is_ok_and(|units| {
        units.iter().any(|u| match (codec, codec.nal_type(u)) {
            (VideoCodec::H264, Some(t)) => t == 5,
            (VideoCodec::H265, Some(t)) => (16..=21).contains(&t),
            _ => false,
        })
    })
}
