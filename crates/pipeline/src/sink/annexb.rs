//! H.264 / H.265 Annex B output (`.h264`, `.264`, `.h265`, `.265`) through the
//! `elementary` crate: each length-prefixed packet as start-code NAL units, the track's
//! parameter sets (from its `avcC` / `hvcC` record) before every key frame, so a player
//! can start at any of them.

use std::path::PathBuf;
use std::time::SystemTime;

use elementary::{AnnexBWriter, VideoCodec};

use super::stream_file::{StreamFile, Target, check_single};
use crate::contract::{Sink, SinkFactory};
use crate::{Codec, Error, Packet, Track};

pub(crate) struct AnnexBFactory {
    pub(crate) target: Target,
    pub(crate) codec: VideoCodec,
}

impl SinkFactory for AnnexBFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        let (takes, codec) = match self.codec {
            VideoCodec::H264 => ("one H.264 video track", VideoCodec::H264),
            VideoCodec::H265 => ("one H.265 video track", VideoCodec::H265),
            other => {
                return Err(Error::Output {
                    output: self.target.to_string(),
                    reason: format!("no Annex B output for {other:?}"),
                });
            }
        };
        check_single(&self.target, takes, tracks, |t| record(codec, t).is_some())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        let record = record(self.codec, &tracks[0]).cloned().unwrap_or_default();
        let writer = AnnexBWriter::new(self.codec, &record).map_err(|e| self.err(e))?;
        Ok(Box::new(AnnexBSink {
            file: StreamFile::create(&self.target)?,
            writer,
            codec: self.codec,
            target: self.target.clone(),
        }))
    }
}

impl AnnexBFactory {
    fn err(&self, e: elementary::Error) -> Error {
        Error::Output {
            output: self.target.to_string(),
            reason: e.to_string(),
        }
    }
}

/// The decoder configuration record of a track of `codec`.
fn record(codec: VideoCodec, track: &Track) -> Option<&bytes::Bytes> {
    match (codec, &track.codec) {
        (VideoCodec::H264, Codec::H264 { config }) | (VideoCodec::H265, Codec::H265 { config }) => {
            Some(config)
        }
        _ => None,
    }
}

struct AnnexBSink {
    file: StreamFile,
    writer: AnnexBWriter,
    codec: VideoCodec,
    target: Target,
}

impl AnnexBSink {
    fn err(&self, e: elementary::Error) -> Error {
        Error::Output {
            output: self.target.to_string(),
            reason: e.to_string(),
        }
    }
}

impl Sink for AnnexBSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let pieces = self
            .writer
            .access_unit(&packet.data, packet.keyframe)
            .map_err(|e| self.err(e))?;
        self.file.write(&pieces)
    }

    fn set_codec(&mut self, _track: usize, config: &Track) -> Result<(), Error> {
        let record = record(self.codec, config).ok_or_else(|| Error::Output {
            output: self.target.to_string(),
            reason: format!("the track changed to {}", config.codec.name()),
        })?;
        self.writer.set_record(record).map_err(|e| self.err(e))
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.file.finish()
    }
}
