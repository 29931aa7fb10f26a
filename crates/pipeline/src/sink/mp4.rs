//! MP4 outputs through `bmff_writer`: a plain or fragmented file (written as
//! `NAME.partial`, renamed when finalized) and fragmented MP4 on standard output.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use bmff_writer::{
    FragmentOptions, FragmentedWriter, HevcTag, Mp4Options, Mp4Writer, ParameterSets, Sample,
    TrackConfig,
};

use super::{Sink, SinkFactory, Timeline};
use crate::naming::FileNames;
use crate::{Codec, MediaKind, Packet, Track};
use crate::{Error, Options};

/// The writer's description of a neutral track.
pub(crate) fn track_config(track: &Track) -> Result<TrackConfig, Error> {
    let codec = match &track.codec {
        Codec::H264 { config } => bmff_writer::Codec::Avc(ParameterSets::Record(config.clone())),
        Codec::H265 { config } => bmff_writer::Codec::Hevc {
            parameters: ParameterSets::Record(config.clone()),
            tag: HevcTag::Hvc1,
        },
        Codec::Aac { config } => bmff_writer::Codec::Aac {
            audio_specific_config: config.clone(),
        },
        Codec::Mp3 => bmff_writer::Codec::Mp3,
        Codec::SampleEntry { entry } => bmff_writer::Codec::Raw {
            entry: entry.clone(),
            kind: match track.kind {
                MediaKind::Video => bmff_writer::TrackKind::Video,
                MediaKind::Audio => bmff_writer::TrackKind::Audio,
            },
        },
        other => {
            return Err(Error::Output {
                output: "MP4".into(),
                reason: format!("MP4 cannot hold {} tracks", other.name()),
            });
        }
    };
    let config = match track.kind {
        MediaKind::Video => {
            let size = |v: u32, what: &str| {
                u16::try_from(v).map_err(|_| Error::Output {
                    output: "MP4".into(),
                    reason: format!("video {what} {v} does not fit MP4's 16-bit field"),
                })
            };
            let mut c = TrackConfig::video(
                codec,
                track.timescale,
                size(track.width, "width")?,
                size(track.height, "height")?,
            );
            if let Some((h, v)) = track.pixel_aspect {
                c = c.with_pixel_aspect(h, v);
            }
            c
        }
        MediaKind::Audio => TrackConfig::audio(codec, track.sample_rate, track.channels)
            .with_timescale(track.timescale),
    };
    Ok(config)
}

fn configs(tracks: &[Track]) -> Result<Vec<TrackConfig>, Error> {
    tracks.iter().map(track_config).collect()
}

/// A neutral packet as the writer's sample, on the file's timeline; `None` before it.
pub(super) fn sample(packet: Packet, tracks: &[Track], timeline: &mut Timeline) -> Option<Sample> {
    let timescale = tracks.get(packet.track)?.timescale;
    let dts = timeline.shift(packet.dts, timescale)?;
    Some(Sample {
        track: packet.track,
        dts,
        cts_offset: packet.cts_offset,
        duration: packet.duration,
        sync: packet.keyframe,
        data: packet.data,
    })
}

fn fragment_options(options: &Options) -> FragmentOptions {
    FragmentOptions {
        fragment_duration: options.fragment_duration,
        ..FragmentOptions::default()
    }
}

pub(crate) struct FileFactory {
    pub(crate) names: FileNames,
    pub(crate) options: Options,
}

impl SinkFactory for FileFactory {
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
        let out = BufFile(BufWriter::with_capacity(1 << 20, file));
        let mp4_err = |source| Error::Mp4 {
            output: partial.display().to_string(),
            source,
        };
        let writer = if self.options.fragmented {
            FileWriter::Fragmented(
                FragmentedWriter::new(out, configs(tracks)?, fragment_options(&self.options))
                    .map_err(mp4_err)?,
            )
        } else {
            // The first track's timescale as the movie's keeps `mvhd`'s duration exact
            // (MP3 durations to the sample rather than to the millisecond).
            let options = Mp4Options {
                movie_timescale: tracks.first().map_or(1000, |t| t.timescale.max(1)),
                ..Mp4Options::default()
            };
            FileWriter::Plain(Mp4Writer::new(out, configs(tracks)?, options).map_err(mp4_err)?)
        };
        tracing::info!(file = %path.display(), "recording");
        Ok(Box::new(FileSink {
            writer,
            faststart: self.options.faststart,
            tracks: tracks.to_vec(),
            timeline: Timeline::default(),
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

enum FileWriter {
    Plain(Mp4Writer<BufFile>),
    Fragmented(FragmentedWriter<BufFile>),
}

struct FileSink {
    writer: FileWriter,
    faststart: bool,
    tracks: Vec<Track>,
    timeline: Timeline,
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
        let Some(sample) = sample(packet, &self.tracks, &mut self.timeline) else {
            return Ok(());
        };
        let result = match &mut self.writer {
            FileWriter::Plain(w) => w.push(sample),
            FileWriter::Fragmented(w) => w.push(sample),
        };
        result.map_err(self.err())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        let codec = track_config(config)?.codec;
        let result = match &mut self.writer {
            FileWriter::Plain(w) => w.set_codec(track, codec),
            FileWriter::Fragmented(w) => w.set_codec(track, codec),
        };
        result.map_err(self.err())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        let err = |source| Error::Mp4 {
            output: self.partial.display().to_string(),
            source,
        };
        let out = match self.writer {
            FileWriter::Plain(w) if self.faststart => w.finish_faststart(),
            FileWriter::Plain(w) => w.finish(),
            FileWriter::Fragmented(w) => w.finish(),
        }
        .map_err(err)?;
        let file = out.0.into_inner().map_err(|e| {
            Error::io(
                format!("flushing {}", self.partial.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", self.partial.display()), e))?;
        drop(file);
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            Error::io(
                format!(
                    "renaming {} to {}",
                    self.partial.display(),
                    self.path.display()
                ),
                e,
            )
        })?;
        tracing::info!(file = %self.path.display(), "finished");
        Ok(Some(self.path))
    }
}

/// A buffered file that can also be read back (faststart moves the media data).
struct BufFile(BufWriter<File>);

impl Write for BufFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Seek for BufFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos) // flushes first
    }
}

impl Read for BufFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.flush()?;
        self.0.get_mut().read(buf)
    }
}

pub(crate) struct StdoutFactory {
    pub(crate) options: Options,
}

impl SinkFactory for StdoutFactory {
    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let out = BufWriter::with_capacity(256 << 10, io::stdout());
        let writer = FragmentedWriter::new(out, configs(tracks)?, fragment_options(&self.options))
            .map_err(|source| Error::Mp4 {
                output: "stdout".into(),
                source,
            })?;
        Ok(Box::new(StdoutSink {
            writer,
            tracks: tracks.to_vec(),
            timeline: Timeline::default(),
        }))
    }
}

struct StdoutSink {
    writer: FragmentedWriter<BufWriter<io::Stdout>>,
    tracks: Vec<Track>,
    timeline: Timeline,
}

fn stdout_err(source: bmff_writer::Error) -> Error {
    Error::Mp4 {
        output: "stdout".into(),
        source,
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        match sample(packet, &self.tracks, &mut self.timeline) {
            Some(s) => self.writer.push(s).map_err(stdout_err),
            None => Ok(()),
        }
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        self.writer
            .set_codec(track, track_config(config)?.codec)
            .map_err(stdout_err)
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        let mut out = self.writer.finish().map_err(stdout_err)?;
        out.flush().map_err(|e| Error::io("flushing stdout", e))?;
        Ok(None)
    }
}
