//! `icecast://USER:PASS@HOST:PORT/MOUNT`: a live radio stream through
//! [`icecast_source`], from any source whose one audio track is MP3 or AAC.
//!
//! MP3 packets are whole frames and go out as they are (`audio/mpeg`); AAC packets are raw
//! access units and go out as ADTS frames (`audio/aac`, ISO/IEC 14496-3 §1.A.2). The
//! stream is paced in real time by icecast-source; a file input is therefore played at
//! its own speed, and the recorder's thread waits (backpressure) while it does.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use icecast_source::{AudioFrame, ContentType, IcecastConfig, IcecastStream, StreamOptions};
use media_core::SecretUrl;
use tokio::runtime::Handle;

use crate::contract::{Sink, SinkFactory, describe};
use crate::{Codec, Error, MediaKind, Options, Packet, Track};

/// What an Icecast output takes, for misfit messages.
const TAKES: &str = "one MP3 or AAC audio track";

/// Opens an Icecast stream per input stream (a reconnection of the input is a new one).
pub(crate) fn factory(url: &SecretUrl, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    let mut config = IcecastConfig::from_url(url.expose())?;
    config.info = options.icecast.info.clone();
    if let Some(agent) = &options.icecast.user_agent {
        config.user_agent.clone_from(agent);
    }
    Ok(Box::new(IcecastFactory {
        url: url.clone(),
        config,
        stream: options.icecast.stream.clone(),
        title: options.icecast.title.clone(),
        runtime: Handle::try_current().map_err(|e| Error::Output {
            output: url.to_string(),
            reason: format!("needs a tokio runtime: {e}"),
        })?,
    }))
}

struct IcecastFactory {
    url: SecretUrl,
    config: IcecastConfig,
    stream: StreamOptions,
    title: Option<String>,
    runtime: Handle,
}

impl SinkFactory for IcecastFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        let misfit = |found: String| Error::Misfit {
            endpoint: self.url.to_string(),
            takes: TAKES.into(),
            found,
        };
        for (index, track) in tracks.iter().enumerate() {
            if track.kind == MediaKind::Video {
                return Err(misfit(format!(
                    "{}, use --no-video",
                    describe(index, track)
                )));
            }
            if !matches!(track.codec, Codec::Mp3 | Codec::Aac { .. }) {
                return Err(misfit(describe(index, track)));
            }
        }
        if tracks.len() > 1 {
            return Err(misfit(format!(
                "the input has {} audio tracks",
                tracks.len()
            )));
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        let track = tracks[0].clone();
        let mut config = self.config.clone();
        config.content_type = match track.codec {
            Codec::Aac { .. } => ContentType::Aac,
            _ => ContentType::Mpeg,
        };
        config.info.sample_rate = Some(track.sample_rate);
        config.info.channels = u8::try_from(track.channels).ok();
        // `start` spawns the stream's task: it needs the runtime's context.
        let stream = {
            let _context = self.runtime.enter();
            IcecastStream::start(config, self.stream.clone())
        };
        if let Some(title) = &self.title {
            // Set once connected, at the first frame.
            self.runtime.block_on(stream.set_title(title.clone()));
        }
        Ok(Box::new(IcecastSink {
            stream: Some(stream),
            track,
            runtime: self.runtime.clone(),
        }))
    }
}

struct IcecastSink {
    stream: Option<IcecastStream>,
    track: Track,
    runtime: Handle,
}

impl IcecastSink {
    fn frame(&self, data: Bytes) -> Result<AudioFrame, Error> {
        Ok(match &self.track.codec {
            Codec::Aac { config } => {
                let adts = icecast_source::adts::frame(config, &data)?;
                AudioFrame::adts(adts)?
            }
            _ => AudioFrame::mp3(data)?,
        })
    }

    /// The stream's own error, when it ended early.
    fn ended(&mut self) -> Error {
        match self.stream.take() {
            Some(stream) => match self.runtime.block_on(stream.wait()) {
                Err(e) => e.into(),
                Ok(()) => Error::OutputClosed,
            },
            None => Error::OutputClosed,
        }
    }
}

impl Sink for IcecastSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let frame = self.frame(packet.data)?;
        let Some(stream) = &self.stream else {
            return Err(Error::OutputClosed);
        };
        // On the recorder's blocking thread: waiting here is the real-time pacing.
        match self.runtime.block_on(stream.send(frame)) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.ended()),
        }
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        // Listeners' decoders were set up for the first format.
        if track != 0 || config.codec != self.track.codec {
            return Err(Error::Misfit {
                endpoint: "icecast".into(),
                takes: "one format for the whole stream".into(),
                found: format!("{} changed its configuration", describe(track, config)),
            });
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        if let Some(stream) = self.stream.take() {
            self.runtime.block_on(stream.wait())?;
        }
        Ok(None)
    }
}
