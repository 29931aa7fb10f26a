//! The recorder: takes a source's events and drives the output's sinks. Track selection
//! (`--no-video`, `--no-audio`), the duration limit, and rotation live here; formats do
//! not (they are the sinks' business).
//!
//! Rotation follows Moonfire NVR: a new file starts at the first video key frame (any
//! audio frame for audio-only input) after each wall-clock boundary (multiples of the
//! segment length since the epoch), and after a reconnection, a parameter change or a
//! timestamp jump.
//! Nothing is written before a file's first key frame but the audio that leads in
//! (`lead_in`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::contract::{InputEvent, Sink, SinkFactory};
use crate::lead_in::LeadIn;
use crate::naming::next_boundary;
use crate::{Error, Status};
use crate::{MediaKind, Packet, Track};

/// What the recorder needs from the options.
#[derive(Debug, Clone)]
pub(crate) struct RecordOptions {
    pub(crate) duration: Option<Duration>,
    pub(crate) segment: Option<Duration>,
    pub(crate) video: bool,
    pub(crate) audio: bool,
    /// The input's times have a real zero (a file): see [`crate::lead_in`].
    pub(crate) time_zero: bool,
}

/// Whether to keep feeding the recorder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The recording is complete (duration reached or the input ended).
    Done,
}

pub(crate) struct Recorder {
    options: RecordOptions,
    factory: Box<dyn SinkFactory>,
    /// Per input track: its index among the recorded tracks.
    selected: Vec<Option<usize>>,
    tracks: Vec<Track>,
    sink: Option<Box<dyn Sink>>,
    /// Start a new file at the next key frame (reconnection, parameter change).
    restart: bool,
    boundary: Option<SystemTime>,
    /// Media time recorded in earlier sessions, and the first time of this session.
    elapsed_before: f64,
    session_start: Option<f64>,
    session_last: f64,
    /// Audio that came just before the first video key frame.
    lead_in: LeadIn,
    /// Time (seconds) of the open file's first key frame.
    file_start: Option<f64>,
    files: Vec<PathBuf>,
    status: watch::Sender<Status>,
}

impl Recorder {
    /// Whether the output can take these tracks (the transcoding stage asks).
    #[cfg_attr(not(feature = "codec"), allow(dead_code))]
    pub(crate) fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        self.factory.check(tracks)
    }

    /// The output's [`SinkFactory::left_out`].
    #[cfg(feature = "codec")]
    pub(crate) fn left_out(&self, tracks: &[Track]) -> Vec<usize> {
        self.factory.left_out(tracks)
    }

    pub(crate) fn new(
        options: RecordOptions,
        factory: Box<dyn SinkFactory>,
        status: watch::Sender<Status>,
    ) -> Self {
        Recorder {
            lead_in: LeadIn::new(options.time_zero),
            options,
            factory,
            selected: Vec::new(),
            tracks: Vec::new(),
            sink: None,
            restart: false,
            boundary: None,
            elapsed_before: 0.0,
            session_start: None,
            session_last: 0.0,
            file_start: None,
            files: Vec::new(),
            status,
        }
    }

    /// Handles one event of the source.
    pub(crate) fn handle(&mut self, event: InputEvent) -> Result<Flow, Error> {
        match event {
            InputEvent::Tracks(tracks) => self.set_tracks(tracks)?,
            InputEvent::TrackUpdated { index, track } => {
                let Some(Some(out)) = self.selected.get(index).copied() else {
                    return Ok(Flow::Continue);
                };
                self.tracks[out] = track.clone();
                if self.options.segment.is_some() {
                    self.restart = true;
                } else if let Some(sink) = &mut self.sink {
                    sink.set_codec(out, &track)?;
                }
            }
            InputEvent::Packet(packet, wall) => return self.packet(packet, wall),
            InputEvent::Discontinuity => {
                self.status.send_modify(|s| s.reconnections += 1);
                self.lead_in.clear();
                self.close_file()?;
                self.elapsed_before +=
                    self.session_last - self.session_start.unwrap_or(self.session_last);
                self.session_start = None;
                self.session_last = 0.0;
            }
            InputEvent::TimestampJump { track } => {
                // The source re-based the time, so the open file goes on; with rotation the
                // jump starts a new segment, as a reconnection would.
                if self.options.segment.is_some()
                    && self.selected.get(track).is_some_and(Option::is_some)
                {
                    self.restart = true;
                }
            }
            InputEvent::Loss(n) => self.status.send_modify(|s| s.lost += n),
            InputEvent::End(result) => {
                self.close_file()?;
                result?;
                return Ok(Flow::Done);
            }
            InputEvent::Batch(events) => {
                for event in events {
                    if matches!(self.handle(event)?, Flow::Done) {
                        return Ok(Flow::Done);
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Finalizes the current file; returns every file written.
    pub(crate) fn finish(mut self) -> Result<Vec<PathBuf>, Error> {
        self.close_file()?;
        Ok(self.files)
    }

    /// Leaves the current file as it is (`.partial`, not finalized): a kill.
    pub(crate) fn abandon(self) {
        drop(self.sink);
    }

    fn set_tracks(&mut self, tracks: Vec<Track>) -> Result<(), Error> {
        let keep = |t: &Track| match t.kind {
            MediaKind::Video => self.options.video,
            MediaKind::Audio => self.options.audio,
            other => {
                tracing::warn!(
                    "a {other:?} track is left out: the pipeline records video and audio"
                );
                false
            }
        };
        let mut selected = Vec::with_capacity(tracks.len());
        let mut kept = Vec::new();
        for t in tracks {
            if keep(&t) {
                selected.push(Some(kept.len()));
                kept.push(t);
            } else {
                selected.push(None);
            }
        }
        if kept.is_empty() {
            return Err(Error::InvalidOptions(
                "no track left to record (the input has none, or --no-video/--no-audio removed them)".into(),
            ));
        }
        // A misfit fails now, with one line, not at the first packet.
        self.factory.check(&kept)?;
        if self.sink.is_some() && kept != self.tracks {
            self.close_file()?; // new tracks need a new file
        }
        self.selected = selected;
        self.tracks = kept;
        Ok(())
    }

    fn packet(&mut self, mut packet: Packet, wall: SystemTime) -> Result<Flow, Error> {
        let Some(Some(out)) = self.selected.get(packet.track).copied() else {
            return Ok(Flow::Continue);
        };
        packet.track = out;
        let (kind, timescale) = (self.tracks[out].kind, self.tracks[out].timescale);
        let secs = packet.seconds(timescale);
        let ticks_per_second = f64::from(timescale.max(1));
        let end = packet
            .duration
            .map(|d| secs + f64::from(d) / ticks_per_second);
        let start = *self.session_start.get_or_insert(secs);
        let elapsed = self.elapsed_before + (secs - start).max(0.0);
        if let Some(limit) = self.options.duration
            && elapsed >= limit.as_secs_f64()
        {
            return Ok(Flow::Done);
        }
        let has_video = self.tracks.iter().any(|t| t.kind == MediaKind::Video);
        let cut_point = packet.keyframe && (kind == MediaKind::Video || !has_video);
        if self.sink.is_some()
            && cut_point
            && (self.restart || self.boundary.is_some_and(|b| wall >= b))
        {
            self.close_file()?;
        }
        if self.sink.is_none() {
            if !cut_point {
                // A file starts at a key frame; audio just before it may lead in.
                if kind == MediaKind::Audio {
                    self.lead_in.hold(packet, secs, end);
                }
                return Ok(Flow::Continue);
            }
            let mut sink = self.factory.open(&self.tracks, wall)?;
            for early in self.lead_in.take(secs) {
                let bytes = early.data.len() as u64;
                sink.write(early)?;
                self.status.send_modify(|s| {
                    s.packets += 1;
                    s.bytes += bytes;
                });
            }
            self.sink = Some(sink);
            self.file_start = Some(secs);
            self.restart = false;
            self.boundary = self.options.segment.map(|s| next_boundary(wall, s));
        }
        // Audio of before the file's start that comes after its key frame (the transcoding
        // stage releases what it held once the picture has passed): see `lead_in`.
        if let Some(file_start) = self.file_start
            && kind == MediaKind::Audio
            && secs < file_start
            && !self.lead_in.keeps_late(secs, end, file_start)
        {
            return Ok(Flow::Continue);
        }
        // The session lasts until the end of its last packet, when the packet says how long
        // it is (audio), so the duration limit counts across reconnections exactly.
        self.session_last = self.session_last.max(end.unwrap_or(secs));
        let bytes = packet.data.len() as u64;
        if let Some(sink) = &mut self.sink {
            sink.write(packet)?;
        }
        self.status.send_modify(|s| {
            s.packets += 1;
            s.bytes += bytes;
            s.media_seconds = s.media_seconds.max(elapsed);
        });
        Ok(Flow::Continue)
    }

    fn close_file(&mut self) -> Result<(), Error> {
        self.file_start = None;
        if let Some(sink) = self.sink.take()
            && let Some(path) = sink.finish()?
        {
            self.files.push(path);
            self.status.send_modify(|s| s.files += 1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The recorder's decisions on a scripted input, with a sink that only notes what it
    //! got (the real sinks are tested against ffprobe in `tests/`).
    use std::sync::{Arc, Mutex};
    use std::time::UNIX_EPOCH;

    use bytes::Bytes;

    use super::*;
    use crate::Codec;

    /// Per opened file: (its tracks' codecs, packets as (track, dts, keyframe)).
    type Files = Arc<Mutex<Vec<(Vec<Codec>, Vec<(usize, i64, bool)>)>>>;

    struct Notes(Files);
    struct NoteSink(Files, usize);

    impl SinkFactory for Notes {
        fn check(&self, _tracks: &[Track]) -> Result<(), Error> {
            Ok(())
        }
        fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
            let mut files = self.0.lock().unwrap();
            files.push((tracks.iter().map(|t| t.codec.clone()).collect(), Vec::new()));
            Ok(Box::new(NoteSink(self.0.clone(), files.len() - 1)))
        }
    }

    impl Sink for NoteSink {
        fn write(&mut self, p: Packet) -> Result<(), Error> {
            self.0.lock().unwrap()[self.1]
                .1
                .push((p.track, p.dts, p.keyframe));
            Ok(())
        }
        fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
            self.0.lock().unwrap()[self.1].0[track] = config.codec.clone();
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
            Ok(Some(PathBuf::from(format!("file-{}", self.1))))
        }
    }

    fn avc(n: u8) -> Codec {
        Codec::H264 {
            config: Bytes::from(vec![1, n]),
        }
    }

    fn tracks() -> Vec<Track> {
        vec![
            Track::video(avc(1), 90_000, 640, 360),
            Track::audio(
                Codec::Aac {
                    config: Bytes::from_static(&[0x11, 0x88]),
                },
                48_000,
                1,
            ),
        ]
    }

    fn recorder(segment: Option<u64>, duration: Option<f64>, video: bool) -> (Recorder, Files) {
        let files = Files::default();
        let options = RecordOptions {
            duration: duration.map(Duration::from_secs_f64),
            segment: segment.map(Duration::from_secs),
            video,
            audio: true,
            time_zero: false, // a camera's
        };
        let (status, _) = watch::channel(Status::default());
        (
            Recorder::new(options, Box::new(Notes(files.clone())), status),
            files,
        )
    }

    /// Video at 10 fps, key frame every 10 frames, plus one audio frame per video frame;
    /// arrival time = media time + `wall0` seconds.
    fn feed(r: &mut Recorder, from: i64, to: i64, wall0: u64) -> Flow {
        for i in from..to {
            let wall = UNIX_EPOCH + Duration::from_millis(wall0 * 1000 + i as u64 * 100);
            let video = Packet::new(0, i * 9000, i % 10 == 0, Bytes::from_static(b"v"));
            let audio =
                Packet::new(1, i * 4800, true, Bytes::from_static(b"a")).with_duration(Some(4800));
            for p in [audio, video] {
                if r.handle(InputEvent::Packet(p, wall)).unwrap() == Flow::Done {
                    return Flow::Done;
                }
            }
        }
        Flow::Continue
    }

    #[test]
    fn a_file_starts_at_a_video_key_frame() {
        let (mut r, files) = recorder(None, None, true);
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        feed(&mut r, 5, 25, 0);
        let written = r.finish().unwrap();
        assert_eq!(written.len(), 1);
        let files = files.lock().unwrap();
        assert_eq!(
            files[0].1.iter().find(|p| p.0 == 0),
            Some(&(0, 10 * 9000, true)),
            "frames 5..9 wait for the key frame"
        );
        // The audio of the key frame's instant, which arrived just before it, leads in;
        // the audio of frames 5..9 does not.
        assert_eq!(files[0].1.first(), Some(&(1, 10 * 4800, true)));
        assert_eq!(files[0].1.iter().filter(|p| p.0 == 1).count(), 15);
    }

    #[test]
    fn audio_just_before_the_first_key_frame_leads_in() {
        // A file input: AAC priming at -1024 samples (-21 ms), video from 0; and audio
        // 0.5 s earlier, which stays out.
        let (mut r, files) = recorder(None, None, true);
        r.lead_in = LeadIn::new(true); // a file input
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        let wall = UNIX_EPOCH;
        let audio = |dts: i64| {
            Packet::new(1, dts, true, Bytes::from_static(b"a")).with_duration(Some(1024))
        };
        for p in [
            audio(-24_000),
            audio(-1024),
            Packet::new(0, 0, true, Bytes::from_static(b"v")),
            audio(0),
        ] {
            r.handle(InputEvent::Packet(p, wall)).unwrap();
        }
        r.finish().unwrap();
        let files = files.lock().unwrap();
        assert_eq!(
            files[0].1,
            [(1, -1024, true), (0, 0, true), (1, 0, true)],
            "the priming packet first, the earlier audio dropped"
        );
    }

    #[test]
    fn a_live_file_starts_with_the_audio_that_covers_its_first_picture() {
        // A G.711 camera's 128 ms frames (6144 at 48 kHz), its first picture at 0.3 s: the
        // frame from 0.256 s covers it and goes in first; after the picture, audio released
        // late (transcoded) goes in only if it reaches the picture.
        let (mut r, files) = recorder(None, None, true);
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        let audio = |dts: i64, duration: u32| {
            Packet::new(1, dts, true, Bytes::from_static(b"a")).with_duration(Some(duration))
        };
        let video = Packet::new(0, 27_000, true, Bytes::from_static(b"v"));
        for p in [
            audio(0, 6144),
            audio(6144, 6144),
            audio(12_288, 6144),
            video,
            audio(8_400, 6000), // ends at 0.3 s
            audio(14_000, 1024),
        ] {
            r.handle(InputEvent::Packet(p, UNIX_EPOCH)).unwrap();
        }
        r.finish().unwrap();
        let files = files.lock().unwrap();
        assert_eq!(
            files[0].1,
            [(1, 12_288, true), (0, 27_000, true), (1, 14_000, true)]
        );
    }

    #[test]
    fn rotation_cuts_at_the_first_key_frame_after_each_boundary() {
        let (mut r, files) = recorder(Some(2), None, true);
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        // Wall clock 100.0 s + media time; boundaries at 102, 104...; key frames every 1 s.
        feed(&mut r, 0, 55, 100);
        r.finish().unwrap();
        let files = files.lock().unwrap();
        let starts: Vec<i64> = files
            .iter()
            .map(|f| f.1.iter().find(|p| p.0 == 0).unwrap().1 / 9000)
            .collect();
        assert_eq!(
            starts,
            [0, 20, 40],
            "files start at the key frames at 2 s and 4 s"
        );
        for f in files.iter() {
            assert!(
                f.1.iter().find(|p| p.0 == 0).unwrap().2,
                "starts with a key frame"
            );
        }
    }

    #[test]
    fn a_parameter_change_starts_a_new_file_when_rotating_else_a_new_entry() {
        for segment in [Some(3600), None] {
            let (mut r, files) = recorder(segment, None, true);
            r.handle(InputEvent::Tracks(tracks())).unwrap();
            feed(&mut r, 0, 15, 0);
            let track = Track::video(avc(2), 90_000, 1280, 720);
            r.handle(InputEvent::TrackUpdated { index: 0, track })
                .unwrap();
            feed(&mut r, 20, 35, 0);
            r.finish().unwrap();
            let files = files.lock().unwrap();
            match segment {
                Some(_) => {
                    assert_eq!(files.len(), 2);
                    assert_eq!((&files[0].0[0], &files[1].0[0]), (&avc(1), &avc(2)));
                    assert_eq!(
                        files[1].1.iter().find(|p| p.0 == 0),
                        Some(&(0, 20 * 9000, true))
                    );
                }
                None => {
                    assert_eq!(files.len(), 1);
                    assert_eq!(files[0].0[0], avc(2), "set_codec on the open file");
                }
            }
        }
    }

    #[test]
    fn a_discontinuity_closes_the_file_and_the_duration_counts_across_it() {
        let (mut r, files) = recorder(Some(3600), Some(3.0), true);
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        assert_eq!(feed(&mut r, 0, 20, 0), Flow::Continue); // 2 s
        r.handle(InputEvent::Discontinuity).unwrap();
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        // Timestamps restart; 1 more second reaches the 3 s limit.
        assert_eq!(feed(&mut r, 0, 30, 10), Flow::Done);
        assert_eq!(r.finish().unwrap().len(), 2);
        let files = files.lock().unwrap();
        let last_video = files[1]
            .1
            .iter()
            .filter(|p| p.0 == 0)
            .map(|p| p.1)
            .max()
            .unwrap();
        assert!((9 * 9000..10 * 9000).contains(&last_video), "{last_video}");
    }

    #[test]
    fn a_timestamp_jump_starts_a_new_file_only_when_rotating() {
        for segment in [Some(3600), None] {
            let (mut r, files) = recorder(segment, None, true);
            r.handle(InputEvent::Tracks(tracks())).unwrap();
            feed(&mut r, 0, 15, 0);
            // The source re-based the time: packets go on from where they were.
            r.handle(InputEvent::TimestampJump { track: 0 }).unwrap();
            feed(&mut r, 15, 35, 0);
            assert_eq!(
                r.finish().unwrap().len(),
                1 + usize::from(segment.is_some())
            );
            let files = files.lock().unwrap();
            if segment.is_some() {
                let first_video = files[1].1.iter().find(|p| p.0 == 0);
                assert_eq!(
                    first_video,
                    Some(&(0, 20 * 9000, true)),
                    "at the next key frame"
                );
            }
        }
    }

    #[test]
    fn no_video_keeps_audio_and_cuts_on_any_audio_frame() {
        let (mut r, files) = recorder(None, Some(1.0), false);
        r.handle(InputEvent::Tracks(tracks())).unwrap();
        assert_eq!(feed(&mut r, 3, 30, 0), Flow::Done);
        r.finish().unwrap();
        let files = files.lock().unwrap();
        assert_eq!(files[0].0, vec![tracks()[1].codec.clone()]);
        assert_eq!(files[0].1.len(), 10, "1 s of 100 ms audio frames");
        assert!(files[0].1.iter().all(|p| p.0 == 0));
    }

    #[test]
    fn nothing_left_to_record_is_an_error() {
        let (mut r, _) = recorder(None, None, false);
        let video_only = vec![tracks()[0].clone()];
        assert!(matches!(
            r.handle(InputEvent::Tracks(video_only)),
            Err(Error::InvalidOptions(_))
        ));
    }
}
