//! The recorder: takes a source's events and drives the output's sinks. Track selection
//! (`--no-video`, `--no-audio`), the duration limit, and rotation live here; formats do
//! not (they are the sinks' business).
//!
//! Rotation follows Moonfire NVR: a new file starts at the first video key frame (any
//! audio frame for audio-only input) after each wall-clock boundary (multiples of the
//! segment length since the epoch), and after a reconnection or a parameter change.
//! Nothing is written before a file's first key frame.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::naming::next_boundary;
use crate::packet::{MediaKind, Packet, Track};
use crate::sink::{Sink, SinkFactory};
use crate::source::InputEvent;
use crate::{Error, Status};

/// What the recorder needs from the options.
#[derive(Debug, Clone)]
pub(crate) struct RecordOptions {
    pub(crate) duration: Option<Duration>,
    pub(crate) segment: Option<Duration>,
    pub(crate) video: bool,
    pub(crate) audio: bool,
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
    files: Vec<PathBuf>,
    status: watch::Sender<Status>,
}

impl Recorder {
    pub(crate) fn new(
        options: RecordOptions,
        factory: Box<dyn SinkFactory>,
        status: watch::Sender<Status>,
    ) -> Self {
        Recorder {
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
                self.close_file()?;
                self.elapsed_before +=
                    self.session_last - self.session_start.unwrap_or(self.session_last);
                self.session_start = None;
                self.session_last = 0.0;
            }
            InputEvent::Loss(n) => self.status.send_modify(|s| s.lost += n),
            InputEvent::End(result) => {
                self.close_file()?;
                result?;
                return Ok(Flow::Done);
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
        let track = &self.tracks[out];
        let secs = packet.seconds(track.timescale);
        let start = *self.session_start.get_or_insert(secs);
        let elapsed = self.elapsed_before + (secs - start).max(0.0);
        if let Some(limit) = self.options.duration
            && elapsed >= limit.as_secs_f64()
        {
            return Ok(Flow::Done);
        }
        let has_video = self.tracks.iter().any(|t| t.kind == MediaKind::Video);
        let cut_point = packet.keyframe && (track.kind == MediaKind::Video || !has_video);
        if self.sink.is_some()
            && cut_point
            && (self.restart || self.boundary.is_some_and(|b| wall >= b))
        {
            self.close_file()?;
        }
        if self.sink.is_none() {
            if !cut_point {
                return Ok(Flow::Continue); // a file starts at a key frame
            }
            self.sink = Some(self.factory.open(&self.tracks, wall)?);
            self.restart = false;
            self.boundary = self.options.segment.map(|s| next_boundary(wall, s));
        }
        self.session_last = self.session_last.max(secs);
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
        if let Some(sink) = self.sink.take()
            && let Some(path) = sink.finish()?
        {
            self.files.push(path);
            self.status.send_modify(|s| s.files += 1);
        }
        Ok(())
    }
}
