//! ADTS AAC output (`.aac`): the AAC track's raw access units, each behind an ADTS header
//! built from the track's AudioSpecificConfig by `icecast_source::adts::frame`
//! (ISO/IEC 14496-3 §1.A.2.2).

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;

use super::stream_file::{StreamFile, Target, check_single};
use crate::contract::{Sink, SinkFactory};
use crate::{Codec, Error, Packet, Track};

pub(crate) struct AdtsFactory {
    pub(crate) target: Target,
}

impl SinkFactory for AdtsFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        check_single(&self.target, "one AAC audio track", tracks, |t| {
            matches!(t.codec, Codec::Aac { .. })
        })
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        let mut sink = AdtsSink {
            file: StreamFile::create(&self.target)?,
            config: Bytes::new(),
        };
        sink.set_codec(0, &tracks[0])?;
        Ok(Box::new(sink))
    }
}

struct AdtsSink {
    file: StreamFile,
    config: Bytes,
}

impl Sink for AdtsSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let frame = icecast_source::adts::frame(&self.config, &packet.data)?;
        self.file.write(&[frame])
    }

    fn set_codec(&mut self, _track: usize, config: &Track) -> Result<(), Error> {
        match &config.codec {
            Codec::Aac { config } => {
                self.config = config.clone();
                Ok(())
            }
            other => Err(Error::Output {
                output: "ADTS".into(),
                reason: format!("the track changed to {}", other.name()),
            }),
        }
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.file.finish()
    }
}
