//! `.flv` output: the FLV tags an RTMP publish sends (`flv_tags.rs`: H.264 or H.265 and
//! AAC or MP3, sequence headers first) framed as an FLV file by the `flv` crate's `file`
//! module: the header with the audio and video flags, then each tag with its size after
//! it. Written as `NAME.partial` and renamed when finished. No `onMetaData` script tag:
//! ffmpeg, VLC and our own input read the tags without one, but a player's seek bar has
//! no duration before it has read the file.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use flv::file::{FileHeader, TagHead, TagKind, previous_tag_size};

use super::flv_tags::{Tag, Tagger, select};
use super::stream_file::{StreamFile, Target};
use crate::contract::{Sink, SinkFactory};
use crate::{Error, Packet, Track};

pub(crate) struct FlvFactory {
    pub(crate) target: Target,
}

impl SinkFactory for FlvFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        select(tracks, &self.target.to_string()).map(|_| ())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let endpoint = self.target.to_string();
        let selection = select(tracks, &endpoint)?;
        let header = FileHeader {
            audio: selection.metadata.audio_codec_id.is_some(),
            video: selection.metadata.video_codec_id.is_some(),
        };
        let mut sink = FlvSink {
            file: StreamFile::create(&self.target)?,
            tags: Tagger::new(&selection, &endpoint),
            endpoint,
        };
        sink.file
            .write(&[Bytes::copy_from_slice(&header.to_bytes())])?;
        for tag in sink.tags.headers()? {
            sink.put(tag)?;
        }
        Ok(Box::new(sink))
    }
}

struct FlvSink {
    file: StreamFile,
    tags: Tagger,
    endpoint: String,
}

impl FlvSink {
    /// Writes a tag: its header, its payload, then its size (`PreviousTagSize`).
    fn put(&mut self, tag: Tag) -> Result<(), Error> {
        let (kind, timestamp, data) = match tag {
            Tag::Video(at, data) => (TagKind::Video, at, data),
            Tag::Audio(at, data) => (TagKind::Audio, at, data),
        };
        let too_large = |e: flv::Error| Error::Output {
            output: self.endpoint.clone(),
            reason: e.to_string(),
        };
        let size = u32::try_from(data.len())
            .map_err(|_| too_large(flv::Error::TagTooLarge(data.len())))?;
        let head = TagHead {
            kind,
            size,
            timestamp,
        }
        .to_bytes()
        .map_err(too_large)?;
        let after = previous_tag_size(data.len());
        self.file.write(&[
            Bytes::copy_from_slice(&head),
            data,
            Bytes::copy_from_slice(&after),
        ])
    }
}

impl Sink for FlvSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        match self.tags.packet(packet)? {
            Some(tag) => self.put(tag),
            None => Ok(()),
        }
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        match self.tags.set_codec(track, config)? {
            Some(tag) => self.put(tag),
            None => Ok(()),
        }
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.file.finish()
    }
}
