//! `icecast://USER:PASS@HOST:PORT/MOUNT` (`icecasts://` for TLS): a live radio stream
//! through [`icecast_source`], from any source whose one audio track is MP3, AAC or Opus.
//!
//! MP3 packets are whole frames and go out as they are (`audio/mpeg`); AAC packets are raw
//! access units and go out as ADTS frames (`audio/aac`, ISO/IEC 14496-3 §1.A.2); Opus
//! packets go out as Ogg pages (`application/ogg`, RFC 7845: the track's `OpusHead` and an
//! `OpusTags` page, then pages of about 100 ms written by the `ogg` crate, each paced by
//! its granule advance). The stream is paced in real time by icecast-source; a file input
//! is therefore played at its own speed, and the recorder's thread waits (backpressure)
//! while it does.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use elementary::opus_packet_samples;
use icecast_source::ogg::OggPages;
use icecast_source::{AudioFrame, ContentType, IcecastConfig, IcecastStream, StreamOptions};
use media_core::SecretUrl;
use ogg::{PacketWriteEndInfo, PacketWriter};
use tokio::runtime::Handle;

use crate::contract::{Sink, SinkFactory, describe};
use crate::{Codec, Error, MediaKind, Options, Packet, Track};

/// What an Icecast output takes, for misfit messages.
const TAKES: &str = "one MP3, AAC or Opus audio track";

/// Samples per Ogg page (100 ms at 48 kHz): short pages keep the pacing smooth and a mute
/// prompt, at about 3 kbit/s of page headers.
const PAGE_SAMPLES: u64 = 4_800;

/// Opens an Icecast stream per input stream (a reconnection of the input is a new one).
pub(crate) fn factory(url: &SecretUrl, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    let mut config = IcecastConfig::from_url(url.expose())?;
    config.info = options.icecast.info.clone();
    if let Some(agent) = &options.icecast.user_agent {
        config.user_agent.clone_from(agent);
    }
    config.tls |= options.icecast.tls || options.icecast.tls_ca.is_some();
    if options.icecast.tls_ca.is_some() {
        config.tls_ca.clone_from(&options.icecast.tls_ca);
    }
    config.admin.clone_from(&options.icecast.admin);
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
            if !matches!(
                track.codec,
                Codec::Mp3 | Codec::Aac { .. } | Codec::Opus { .. }
            ) {
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
            Codec::Opus { .. } => ContentType::Ogg,
            _ => ContentType::Mpeg,
        };
        let ogg = match &track.codec {
            Codec::Opus { head } => Some(OggFraming::new(head, &self.url)?),
            _ => None,
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
        let mut sink = IcecastSink {
            stream: Some(stream),
            track,
            runtime: self.runtime.clone(),
            ogg,
        };
        // The Ogg header pages go first.
        if let Some(ogg) = sink.ogg.as_mut() {
            let pages = ogg.pages()?;
            sink.send(pages)?;
        }
        Ok(Box::new(sink))
    }
}

struct IcecastSink {
    stream: Option<IcecastStream>,
    track: Track,
    runtime: Handle,
    /// Opus packets on their way into Ogg pages.
    ogg: Option<OggFraming>,
}

/// Opus packets into Ogg pages of one logical stream (RFC 7845), through the `ogg` crate.
struct OggFraming {
    writer: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    /// The last packet, written when the next one (or the end) says how its page ends.
    held: Option<Bytes>,
    /// Samples up to the end of the held packet.
    granule: u64,
    /// Granule at the end of the last page ended.
    page_start: u64,
    /// Granule of the last page sent: each page is paced by its advance.
    sent_granule: i64,
    output: String,
}

impl OggFraming {
    fn new(head: &Bytes, url: &SecretUrl) -> Result<Self, Error> {
        // A serial unlike the last stream's on this mount (RFC 3533 §4), from the clock.
        let serial = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        let mut framing = OggFraming {
            writer: PacketWriter::new(Vec::new()),
            serial,
            held: None,
            granule: 0,
            page_start: 0,
            sent_granule: 0,
            output: url.to_string(),
        };
        framing.put(head.to_vec(), PacketWriteEndInfo::EndPage, 0)?;
        framing.put(super::ogg::opus_tags(), PacketWriteEndInfo::EndPage, 0)?;
        Ok(framing)
    }

    fn put(&mut self, data: Vec<u8>, end: PacketWriteEndInfo, granule: u64) -> Result<(), Error> {
        self.writer
            .write_packet(data, self.serial, end, granule)
            .map_err(|e| Error::Output {
                output: self.output.clone(),
                reason: format!("writing an Ogg page: {e}"),
            })
    }

    /// Takes a packet (`duration`: 48 kHz samples, else read from its TOC).
    fn packet(&mut self, data: Bytes, duration: Option<u32>) -> Result<(), Error> {
        self.flush_held(false)?;
        let samples = duration.or_else(|| opus_packet_samples(&data)).unwrap_or(0);
        self.granule += u64::from(samples);
        self.held = Some(data);
        Ok(())
    }

    fn flush_held(&mut self, last: bool) -> Result<(), Error> {
        let Some(data) = self.held.take() else {
            return Ok(());
        };
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if self.granule - self.page_start >= PAGE_SAMPLES {
            self.page_start = self.granule;
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        self.put(data.to_vec(), end, self.granule)
    }

    /// The pages written so far, as frames paced by their granule advance.
    fn pages(&mut self) -> Result<Vec<AudioFrame>, Error> {
        let bytes = Bytes::from(std::mem::take(self.writer.inner_mut()));
        let mut frames = Vec::new();
        for page in OggPages::new(bytes) {
            let page = page.map_err(|reason| Error::Output {
                output: self.output.clone(),
                reason: format!("the ogg crate wrote no page: {reason}"),
            })?;
            let samples = if page.granule > self.sent_granule {
                let advance = page.granule - self.sent_granule;
                self.sent_granule = page.granule;
                u32::try_from(advance).unwrap_or(u32::MAX)
            } else {
                0
            };
            frames.push(AudioFrame::new(page.data, samples, 48_000));
        }
        Ok(frames)
    }
}

impl IcecastSink {
    /// Sends frames in order, waiting while the stream is ahead of real time.
    fn send(&mut self, frames: Vec<AudioFrame>) -> Result<(), Error> {
        for frame in frames {
            let Some(stream) = &self.stream else {
                return Err(Error::OutputClosed);
            };
            // On the recorder's blocking thread: waiting here is the real-time pacing.
            if self.runtime.block_on(stream.send(frame)).is_err() {
                return Err(self.ended());
            }
        }
        Ok(())
    }

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
        let frames = match self.ogg.as_mut() {
            Some(ogg) => {
                ogg.packet(packet.data, packet.duration)?;
                ogg.pages()?
            }
            None => vec![self.frame(packet.data)?],
        };
        self.send(frames)
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
        if let Some(ogg) = self.ogg.as_mut() {
            ogg.flush_held(true)?;
            let pages = ogg.pages()?;
            self.send(pages)?;
        }
        if let Some(stream) = self.stream.take() {
            self.runtime.block_on(stream.wait())?;
        }
        Ok(None)
    }
}
