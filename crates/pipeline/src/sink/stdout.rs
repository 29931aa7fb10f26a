//! `-` as output: fragmented MP4 on standard output, for a player or another program.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use bmff_writer::FragmentedWriter;

use super::samples::{self, Timeline, configs, fragment_options, sample, track_config};
use crate::contract::{Sink, SinkFactory};
use crate::{Error, Options, Packet, Track};

pub(crate) struct StdoutFactory {
    pub(crate) options: Options,
}

impl SinkFactory for StdoutFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        samples::check("- (stdout)", tracks)
    }

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
            .set_config(track, track_config(config)?)
            .map_err(stdout_err)
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        let mut out = self.writer.finish().map_err(stdout_err)?;
        out.flush().map_err(|e| Error::io("flushing stdout", e))?;
        Ok(None)
    }
}
