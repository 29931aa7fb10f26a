//! `rtmp://host[:port]/app/key`: publishes to an RTMP server (nginx-rtmp, YouTube,
//! Twitch, our own `rtmp-listen://`). rml_rtmp does the handshake, chunk streams and
//! client session (sans-I/O: bytes in, packets to send and events out); the `flv` crate
//! writes the tags; this module does the clock and the queue, [`connection`] the socket.
//!
//! One H.264 or H.265 video track and one AAC or MP3 audio track go out: H.264 as
//! classic FLV, H.265 through Enhanced RTMP (`hvc1`), first an `onMetaData` (what
//! rtmp-listen and players use to know which tracks to wait for), then the sequence
//! headers, then the frames with their decode time in milliseconds from the first packet
//! and the composition time (presentation − decode) in the tag. Another codec fails when
//! the tracks are known, naming it.
//!
//! The connection starts when the tracks are known and fit (TCP, handshake, `connect` to
//! the app, `createStream` and `publish` of the key, at most [`connection::CONNECT`] in
//! all), not with the pipeline: an input that takes long to come (a camera, a publisher
//! into `rtmp-listen://`) would otherwise leave an idle publisher that servers drop.
//! Messages wait for it in a bounded queue, so a slow server holds the input back. A refused connection, a
//! server that refuses the app or the key, or one that closes while we publish fails the
//! pipeline with one line naming the endpoint, whose key is masked everywhere
//! (`rtmp://host:1935/live?key=***`). At the end the stream is unpublished
//! (`deleteStream`) and the connection closed from our side first.

mod connection;

use std::time::SystemTime;

use bytes::Bytes;
use flv::{AudioTag, VideoCodec, VideoTag};
use media_core::{Codec, MediaKind, SecretUrl, Track};
use rml_rtmp::sessions::StreamMetadata;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Packet};
use connection::publish;

/// What an RTMP output takes, for misfit messages.
const TAKES: &str = "one H.264 or H.265 video track and one AAC or MP3 audio track";
/// Messages waiting to be sent: about 5 s of 25 frames/s video with its audio.
const QUEUE: usize = 384;

pub(crate) fn factory(url: &SecretUrl) -> Result<Box<dyn SinkFactory>, Error> {
    let target = Target::parse(url)?;
    let runtime = Handle::try_current().map_err(|e| Error::Output {
        output: url.to_string(),
        reason: format!("needs a tokio runtime: {e}"),
    })?;
    Ok(Box::new(RtmpFactory { target, runtime }))
}

/// Where to publish: the parts of the endpoint's stored form
/// `rtmp://host:port/app?key=KEY` (see `Endpoint::Rtmp`).
#[derive(Clone)]
struct Target {
    /// The endpoint as shown (key masked).
    shown: String,
    authority: String,
    app: String,
    key: String,
}

impl Target {
    fn parse(url: &SecretUrl) -> Result<Target, Error> {
        let invalid = || Error::InvalidUrl {
            url: url.to_string(),
            reason: "not rtmp://host:port/app?key=KEY".into(),
        };
        let rest = url.expose().strip_prefix("rtmp://").ok_or_else(invalid)?;
        let (authority, rest) = rest.split_once('/').ok_or_else(invalid)?;
        let (app, key) = rest.rsplit_once("?key=").ok_or_else(invalid)?;
        let key = percent_encoding::percent_decode_str(key)
            .decode_utf8()
            .map_err(|_| invalid())?;
        Ok(Target {
            shown: url.to_string(),
            authority: authority.to_owned(),
            app: app.to_owned(),
            key: key.into_owned(),
        })
    }

    /// A server's text with the stream key masked (a server may echo it).
    fn masked(&self, text: &str) -> String {
        text.replace(&self.key, "***")
    }
}

struct RtmpFactory {
    target: Target,
    runtime: Handle,
}

/// The video track that goes out.
#[derive(Clone)]
struct VideoOut {
    index: usize,
    codec: VideoCodec,
    config: Bytes,
    timescale: u32,
}

/// The audio track that goes out.
#[derive(Clone)]
struct AudioOut {
    index: usize,
    /// The AudioSpecificConfig; `None` for MP3.
    aac: Option<Bytes>,
    timescale: u32,
}

/// Which tracks go out, and the metadata that announces them.
struct Selection {
    video: Option<VideoOut>,
    audio: Option<AudioOut>,
    metadata: StreamMetadata,
}

fn select(tracks: &[Track], endpoint: &str) -> Result<Selection, Error> {
    let misfit = |found: String| Error::Misfit {
        endpoint: endpoint.to_owned(),
        takes: TAKES.into(),
        found,
    };
    let mut s = Selection {
        video: None,
        audio: None,
        metadata: StreamMetadata::new(),
    };
    for (index, track) in tracks.iter().enumerate() {
        let timescale = track.timescale.max(1);
        match (&track.codec, track.kind) {
            (Codec::H264 { config } | Codec::H265 { config }, MediaKind::Video) => {
                if s.video.is_some() {
                    return Err(misfit(format!(
                        "{} is a second video track",
                        describe(index, track)
                    )));
                }
                let codec = match track.codec {
                    Codec::H265 { .. } => VideoCodec::H265,
                    _ => VideoCodec::H264,
                };
                s.metadata.video_codec_id = Some(match codec {
                    // Classic FLV's codec id; Enhanced RTMP's FourCC as a number.
                    VideoCodec::H264 => 7,
                    _ => u32::from_be_bytes(codec.fourcc()),
                });
                s.metadata.video_width = Some(track.width);
                s.metadata.video_height = Some(track.height);
                s.video = Some(VideoOut {
                    index,
                    codec,
                    config: config.clone(),
                    timescale,
                });
            }
            (Codec::Aac { .. } | Codec::Mp3, MediaKind::Audio) => {
                if s.audio.is_some() {
                    return Err(misfit(format!(
                        "{} is a second audio track",
                        describe(index, track)
                    )));
                }
                let aac = match &track.codec {
                    Codec::Aac { config } => Some(config.clone()),
                    _ => None,
                };
                s.metadata.audio_codec_id = Some(if aac.is_some() { 10 } else { 2 });
                s.metadata.audio_sample_rate = Some(track.sample_rate);
                s.metadata.audio_channels = Some(u32::from(track.channels));
                s.metadata.audio_is_stereo = Some(track.channels >= 2);
                s.audio = Some(AudioOut {
                    index,
                    aac,
                    timescale,
                });
            }
            _ => return Err(misfit(describe(index, track))),
        }
    }
    if s.video.is_none() && s.audio.is_none() {
        return Err(misfit("the input has no track".into()));
    }
    s.metadata.encoder = Some(concat!("pipeline ", env!("CARGO_PKG_VERSION")).into());
    Ok(s)
}

impl SinkFactory for RtmpFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        select(tracks, &self.target.shown).map(|_| ())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let selection = select(tracks, &self.target.shown)?;
        // A connection per output: after a discontinuity of the input, a new one (the
        // last one was closed).
        let (tx, rx) = mpsc::channel(QUEUE);
        let sender = self.runtime.spawn(publish(self.target.clone(), rx));
        let mut sink = RtmpSink {
            tx: Some(tx),
            sender: Some(sender),
            runtime: self.runtime.clone(),
            endpoint: self.target.shown.clone(),
            video: selection.video,
            audio: selection.audio,
            origin: None,
            last: 0,
        };
        sink.send(Message::Metadata(selection.metadata))?;
        if let Some(video) = sink.video.clone() {
            sink.video_header(&video)?;
        }
        if let Some(AudioOut {
            aac: Some(config), ..
        }) = sink.audio.clone()
        {
            sink.send(Message::Audio(
                0,
                flv::write_audio(&AudioTag::AacConfig(config)),
            ))?;
        }
        Ok(Box::new(sink))
    }
}

/// What the sender task is given to publish.
enum Message {
    Metadata(StreamMetadata),
    /// A video tag and its timestamp (ms).
    Video(u32, Bytes),
    /// An audio tag and its timestamp (ms).
    Audio(u32, Bytes),
}

struct RtmpSink {
    tx: Option<mpsc::Sender<Message>>,
    sender: Option<JoinHandle<Result<(), Error>>>,
    runtime: Handle,
    endpoint: String,
    video: Option<VideoOut>,
    audio: Option<AudioOut>,
    /// The first packet's decode time (ms): RTMP time zero.
    origin: Option<i64>,
    /// The last timestamp sent (for a new sequence header).
    last: u32,
}

/// `time` ticks of `timescale` in milliseconds, rounded to nearest.
fn to_ms(time: i64, timescale: u32) -> i64 {
    let scale = i128::from(timescale);
    ((i128::from(time) * 1000 + scale / 2).div_euclid(scale)) as i64
}

impl RtmpSink {
    /// The RTMP timestamp of a decode time in ms: from the first packet on, never before
    /// it (a packet that decodes earlier is sent at 0), wrapping after 49.7 days as RTMP's
    /// 32-bit clock does.
    fn stamp(&mut self, dts_ms: i64) -> u32 {
        let origin = *self.origin.get_or_insert(dts_ms);
        self.last = (dts_ms - origin).max(0) as u32;
        self.last
    }

    fn video_header(&mut self, video: &VideoOut) -> Result<(), Error> {
        let tag = VideoTag::SequenceHeader {
            codec: video.codec,
            config: video.config.clone(),
        };
        let data = flv::write_video(&tag).map_err(|e| self.tag_error(e))?;
        self.send(Message::Video(self.last, data))
    }

    fn tag_error(&self, e: flv::Error) -> Error {
        Error::Output {
            output: self.endpoint.clone(),
            reason: e.to_string(),
        }
    }

    /// Queues a message; when the sender has ended, its error.
    fn send(&mut self, message: Message) -> Result<(), Error> {
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        if tx.blocking_send(message).is_err() {
            self.tx = None;
            self.sender_result()?;
            return Err(Error::Output {
                output: self.endpoint.clone(),
                reason: "the RTMP connection ended".into(),
            });
        }
        Ok(())
    }

    /// The sender's result, once it has ended.
    fn sender_result(&mut self) -> Result<(), Error> {
        let Some(sender) = self.sender.take() else {
            return Ok(());
        };
        // On the recorder's blocking thread: waiting here is allowed.
        self.runtime.block_on(sender).map_err(|e| Error::Output {
            output: self.endpoint.clone(),
            reason: format!("sender task failed: {e}"),
        })?
    }
}

impl Sink for RtmpSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        if let Some(video) = &self.video
            && video.index == packet.track
        {
            let dts = to_ms(packet.dts, video.timescale);
            let pts = to_ms(packet.dts + i64::from(packet.cts_offset), video.timescale);
            let tag = VideoTag::Frame {
                codec: video.codec,
                keyframe: packet.keyframe,
                composition_time: i32::try_from(pts - dts).unwrap_or(i32::MAX),
                data: packet.data,
            };
            let data = flv::write_video(&tag).map_err(|e| self.tag_error(e))?;
            let at = self.stamp(dts);
            return self.send(Message::Video(at, data));
        }
        if let Some(audio) = &self.audio
            && audio.index == packet.track
        {
            let tag = match audio.aac {
                Some(_) => AudioTag::AacFrame(packet.data),
                None => AudioTag::Mp3(packet.data),
            };
            let at = to_ms(packet.dts, audio.timescale);
            let at = self.stamp(at);
            return self.send(Message::Audio(at, flv::write_audio(&tag)));
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        match (&config.codec, self.video.clone(), self.audio.clone()) {
            (Codec::H264 { config } | Codec::H265 { config }, Some(mut video), _)
                if video.index == track =>
            {
                video.config = config.clone();
                self.video_header(&video)?;
                self.video = Some(video);
            }
            (Codec::Aac { config }, _, Some(mut audio)) if audio.index == track => {
                audio.aac = Some(config.clone());
                let tag = flv::write_audio(&AudioTag::AacConfig(config.clone()));
                self.send(Message::Audio(self.last, tag))?;
                self.audio = Some(audio);
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Option<std::path::PathBuf>, Error> {
        self.tx = None;
        // Once the sender has failed (its error was returned by a write), nothing more.
        let sending = self.sender.is_some();
        self.sender_result()?;
        if sending {
            tracing::info!(endpoint = %self.endpoint, "finished");
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_to_nearest() {
        assert_eq!(to_ms(1024, 48_000), 21);
        assert_eq!(to_ms(2048, 48_000), 43);
        assert_eq!(to_ms(-1024, 48_000), -21);
        assert_eq!(to_ms(512, 12_800), 40);
    }

    #[test]
    fn what_goes_out_and_what_is_a_misfit() {
        let avc = Codec::H264 {
            config: Bytes::from_static(&[1]),
        };
        let aac = Codec::Aac {
            config: Bytes::from_static(&[0x11, 0x90]),
        };
        let video = Track::video(avc.clone(), 90_000, 320, 240);
        let audio = Track::audio(aac, 48_000, 2);
        let s = select(&[video.clone(), audio.clone()], "rtmp://h/live?key=***").unwrap();
        assert_eq!(s.metadata.video_codec_id, Some(7));
        assert_eq!(s.metadata.audio_codec_id, Some(10));
        let hevc = Track::video(
            Codec::H265 {
                config: Bytes::from_static(&[1]),
            },
            90_000,
            320,
            240,
        );
        let s = select(&[hevc], "x").unwrap();
        assert_eq!(s.metadata.video_codec_id, Some(0x6876_6331));
        let opus = Track::audio(
            Codec::Opus {
                head: Bytes::from_static(b"OpusHead"),
            },
            48_000,
            2,
        );
        for (tracks, found) in [
            (vec![video.clone(), opus], "track 1 is Opus audio"),
            (
                vec![video.clone(), video],
                "track 1 is H.264 video is a second video track",
            ),
            (vec![], "the input has no track"),
        ] {
            let Err(Error::Misfit { found: f, .. }) = select(&tracks, "x") else {
                panic!("{found}: no misfit");
            };
            assert_eq!(f, found);
        }
    }

    #[test]
    fn the_stored_form_gives_the_key_back() {
        let url = SecretUrl::new("rtmp://h:1935/app/sub?key=k%3Fa%3D1%26b");
        let target = Target::parse(&url).unwrap();
        assert_eq!(
            (&target.authority[..], &target.app[..], &target.key[..]),
            ("h:1935", "app/sub", "k?a=1&b")
        );
        assert_eq!(target.shown, "rtmp://h:1935/app/sub?key=***");
        assert_eq!(target.masked("bad name k?a=1&b"), "bad name ***");
    }
}
