//! MP4 file output through `bmff_writer`: plain or fragmented, written as
//! `NAME.partial` and renamed when finalized.
//!
//! The writers go straight to the file, with no buffer in front: they already write in
//! whole units (a fragment, or a plain chunk of ~0.5 s per track) with one vectored
//! write each, so a buffer would only copy the payloads and hold complete fragments
//! back from the file (a killed recorder then lost everything still in it). Syncing
//! follows `Options::fsync`; finishing syncs the file before the rename (unless the policy
//! is `Never`).

use std::fs::File;
use std::path::PathBuf;
use std::time::SystemTime;

use bmff_writer::{FragmentedWriter, Mp4Options, Mp4Writer, journal_path};

use super::samples::{self, Timeline, configs, fragment_options, sample, track_config};
use crate::contract::{Sink, SinkFactory};
use crate::naming::FileNames;
use crate::{Error, Options, Packet, Track};

pub(crate) struct FileFactory {
    pub(crate) names: FileNames,
    pub(crate) options: Options,
}

impl SinkFactory for FileFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        samples::check(self.names.pattern(), tracks)
    }

    fn open(&mut self, tracks: &[Track], wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let path = self.names.next(wall);
        let partial = partial_path(&path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        // Readable too: faststart reads the media data back to move it.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
        let out = file;
        let mp4_err = |source| Error::Mp4 {
            output: partial.display().to_string(),
            source,
        };
        let writer = if self.options.fragmented {
            FileWriter::Fragmented(
                FragmentedWriter::new(out, configs(tracks)?, fragment_options(&self.options))
                    .map_err(mp4_err)?
                    .with_fsync(self.options.fsync_policy()),
            )
        } else {
            // The first track's timescale as the movie's keeps `mvhd`'s duration exact
            // (MP3 durations to the sample rather than to the millisecond).
            let mut options = Mp4Options::default();
            options.movie_timescale = tracks.first().map_or(1000, |t| t.timescale.max(1));
            // The index journal beside the file: what `pipeline recover` rebuilds the
            // moov from after a kill or a power cut (synced with the file, each second by
            // default).
            let journal = journal_path(&partial);
            let journal_file = File::create(&journal)
                .map_err(|e| Error::io(format!("creating {}", journal.display()), e))?;
            FileWriter::Plain(
                Mp4Writer::new(out, configs(tracks)?, options)
                    .map_err(mp4_err)?
                    .with_fsync(self.options.fsync_policy())
                    .with_journal(journal_file)
                    .map_err(mp4_err)?,
            )
        };
        tracing::info!(file = %path.display(), "recording");
        Ok(Box::new(FileSink {
            writer,
            faststart: self.options.faststart,
            sync: self.options.fsync_policy() != bmff_writer::FsyncPolicy::Never,
            hide_before_zero: self.options.hide_before_zero,
            tracks: tracks.to_vec(),
            timeline: Timeline::default(),
            started: false,
            fragments: 0,
            partial,
            path,
        }))
    }
}

/// `NAME.partial` beside `NAME`.
pub(crate) fn partial_path(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Renames a finished `NAME.partial` to `NAME` (what a file sink's `finish` ends with).
pub(crate) fn rename_finished(
    partial: &std::path::Path,
    path: &std::path::Path,
) -> Result<(), Error> {
    std::fs::rename(partial, path).map_err(|e| {
        Error::io(
            format!("renaming {} to {}", partial.display(), path.display()),
            e,
        )
    })?;
    tracing::info!(file = %path.display(), "finished");
    Ok(())
}

enum FileWriter {
    Plain(Mp4Writer<File>),
    Fragmented(FragmentedWriter<File>),
}

struct FileSink {
    writer: FileWriter,
    faststart: bool,
    /// Sync the finished file before its rename (not under `FsyncPolicy::Never`).
    sync: bool,
    /// The input has a time zero, which may lie after its first packets.
    hide_before_zero: bool,
    tracks: Vec<Track>,
    timeline: Timeline,
    /// A packet was written (the time line's origin is known).
    started: bool,
    /// Fragments already logged.
    fragments: u64,
    partial: PathBuf,
    path: PathBuf,
}

impl FileSink {
    fn err(&self) -> impl Fn(bmff_writer::Error) -> Error + '_ {
        |source| Error::Mp4 {
            output: self.partial.display().to_string(),
            source,
        }
    }
}

impl Sink for FileSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let first = !self.started;
        self.started = true;
        let Some(sample) = sample(packet, &self.tracks, &mut self.timeline) else {
            return Ok(());
        };
        match &mut self.writer {
            FileWriter::Plain(w) => {
                // What a file (or code) presents before its time zero (AAC priming) is hidden by
                // an edit list, as ffmpeg does. A live source's first packet is its file's
                // start, whatever its decode time (a B-frame camera's first decode times lie
                // before zero, and hiding them hid 2 s of a recording).
                if first && self.hide_before_zero {
                    w.set_time_zero(self.timeline.zero());
                }
                w.push(sample).map_err(self.err())
            }
            FileWriter::Fragmented(w) => {
                let result = w.push(sample);
                let written = w.written();
                if written.fragments != self.fragments {
                    self.fragments = written.fragments;
                    // In the file (and flushed): what a crash from here on keeps.
                    let (video, audio) = samples::frames_by_kind(&self.tracks, &written.samples);
                    tracing::debug!(
                        file = %self.partial.display(),
                        fragments = written.fragments,
                        video_frames = video,
                        audio_frames = audio,
                        bytes = written.bytes,
                        "fragment written"
                    );
                }
                result.map_err(self.err())
            }
        }
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        // The whole sample entry: a new picture size too, not only the parameter sets.
        let config = track_config(config)?;
        let result = match &mut self.writer {
            FileWriter::Plain(w) => w.set_config(track, config),
            FileWriter::Fragmented(w) => w.set_config(track, config),
        };
        result.map_err(self.err())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        let err = |source| Error::Mp4 {
            output: self.partial.display().to_string(),
            source,
        };
        let plain = matches!(self.writer, FileWriter::Plain(_));
        let out = match self.writer {
            FileWriter::Plain(w) if self.faststart => w.finish_faststart(),
            FileWriter::Plain(w) => w.finish(),
            FileWriter::Fragmented(w) => w.finish(),
        }
        .map_err(err)?;
        if self.sync {
            out.sync_all()
                .map_err(|e| Error::io(format!("syncing {}", self.partial.display()), e))?;
        }
        drop(out);
        if plain {
            // Before the rename: a kill in between leaves a complete `.partial` (it has
            // its moov), which recovery only renames.
            let journal = journal_path(&self.partial);
            std::fs::remove_file(&journal)
                .map_err(|e| Error::io(format!("removing {}", journal.display()), e))?;
        }
        rename_finished(&self.partial, &self.path)?;
        Ok(Some(self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use bytes::Bytes;

    /// The `media_time` of the file's edit list (the ticks it hides), 0 without one.
    fn hidden_ticks(file: &[u8]) -> i64 {
        let Some(at) = file.windows(4).position(|w| w == b"elst") else {
            return 0;
        };
        let body = &file[at + 4..];
        let count = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        let (entry, last) = if body[0] == 1 {
            (20, 8..16)
        } else {
            (12, 4..8)
        };
        let e = &body[8 + (count - 1) * entry..];
        let bytes = &e[last];
        if bytes.len() == 8 {
            i64::from_be_bytes(bytes.try_into().unwrap())
        } else {
            i64::from(i32::from_be_bytes(bytes.try_into().unwrap()))
        }
    }

    /// One second of MP3 frames whose decode times start 0.5 s before zero.
    fn record(hide_before_zero: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.mp4");
        let options = Options {
            fsync: Some(bmff_writer::FsyncPolicy::Never),
            hide_before_zero,
            ..Options::default()
        };
        let mut factory = FileFactory {
            names: FileNames::new(path.clone(), false),
            options,
        };
        let tracks = [Track::audio(Codec::Mp3, 44_100, 2)];
        let mut sink = factory.open(&tracks, SystemTime::now()).unwrap();
        for i in 0..38 {
            let dts = i * 1152 - 22_050;
            let data = Bytes::from_static(&[0xff; 417]);
            let packet = Packet::new(0, dts, true, data).with_duration(Some(1152));
            sink.write(packet).unwrap();
        }
        assert_eq!(sink.finish().unwrap().as_deref(), Some(path.as_path()));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn only_an_input_with_a_time_zero_hides_what_precedes_it() {
        // A file (or code): the half second before zero is hidden, as ffmpeg hides
        // priming.
        assert_eq!(hidden_ticks(&record(true)), 22_050);
        // A live source (a B-frame camera's first decode times lie before its clock's
        // zero): everything written is shown.
        assert_eq!(hidden_ticks(&record(false)), 0);
    }
}
