//! MP3 output (`.mp3`): the MP3 track's frames, as they came (no re-encoding). Frames
//! from an MP4 `mp4a` track (object type 0x6B/0x69) or an MP3 file are whole MPEG audio
//! frames, header included (ISO/IEC 11172-3 §2.4.1), so they are the file; a Xing/Info
//! frame goes first (`mp3_frames::InfoFrameWriter`: frame and byte counts, seek table),
//! filled in when the file is finished, as LAME and ffmpeg write it: without one, players
//! guess a VBR file's duration from its first frame.

use std::path::PathBuf;
use std::time::SystemTime;

use super::stream_file::{StreamFile, Target, check_single};
use crate::contract::{Sink, SinkFactory};
use crate::{Codec, Error, Packet, Track};

pub(crate) struct Mp3Factory {
    pub(crate) target: Target,
}

impl SinkFactory for Mp3Factory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        check_single(&self.target, "one MP3 audio track", tracks, |t| {
            t.codec == Codec::Mp3
        })
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        Ok(Box::new(Mp3Sink {
            file: StreamFile::create(&self.target)?,
            info: mp3_frames::InfoFrameWriter::new(),
            placeholder: None,
            started: false,
        }))
    }
}

struct Mp3Sink {
    file: StreamFile,
    info: mp3_frames::InfoFrameWriter,
    /// The length of the info frame written first, if one was.
    placeholder: Option<usize>,
    /// A packet was written (the info frame goes before the first one, or not at all).
    started: bool,
}

impl Sink for Mp3Sink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        for frame in mp3_frames::Frames::new(&packet.data) {
            self.info.push(frame.data);
        }
        if !self.started {
            self.started = true;
            // Standard output cannot take the counts at the end: no info frame at all.
            if let Some(info) = self.info.placeholder().filter(|_| self.file.seekable()) {
                self.placeholder = Some(info.len());
                self.file.write(&[info.into()])?;
            }
        }
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

    fn finish(mut self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        if let Some(info) = self.info.info_frame()
            && self.placeholder == Some(info.len())
        {
            self.file.rewrite_start(&info)?;
        }
        self.file.finish()
    }
}
