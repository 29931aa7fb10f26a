//! MP3 output (`.mp3`): the MP3 track's frames, as they came (no re-encoding). Frames
//! from an MP4 `mp4a` track (object type 0x6B/0x69) or an MP3 file are whole MPEG audio
//! frames, header included (ISO/IEC 11172-3 §2.4.1), so they are the file.

use std::path::PathBuf;
use std::time::SystemTime;

use super::stream_file::{StreamFile, check_single};
use crate::contract::{Sink, SinkFactory};
use crate::{Codec, Error, Packet, Track};

pub(crate) struct Mp3Factory {
    pub(crate) path: PathBuf,
}

impl SinkFactory for Mp3Factory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        check_single(&self.path, "one MP3 audio track", tracks, |t| {
            t.codec == Codec::Mp3
        })
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        Ok(Box::new(Mp3Sink {
            file: StreamFile::create(&self.path)?,
        }))
    }
}

struct Mp3Sink {
    file: StreamFile,
}

impl Sink for Mp3Sink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        self.file.write(&[packet.data])
    }

    fn set_codec(&mut self, _track: usize, config: &Track) -> Result<(), Error> {
        if config.codec == Codec::Mp3 {
            Ok(())
        } else {
            Err(Error::Output {
                output: "MP3".into(),
                reason: format!("the track changed to {}", config.codec.name()),
            })
        }
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.file.finish().map(Some)
    }
}
