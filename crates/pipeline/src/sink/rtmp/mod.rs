//! `rtmp://host[:port]/app/key`: publishes to an RTMP server (nginx-rtmp, YouTube,
//! Twitch, our own `rtmp-listen://`). rml_rtmp does the handshake, chunk streams and
//! client session (sans-I/O: bytes in, packets to send and events out); the `flv` crate
//! writes the tags; this module does the clock and the queue, [`connection`] the socket.
//!
//! One H.264 or H.265 video track and one AAC or MP3 audio track go out as FLV tags
//! (`flv_tags.rs`, shared with `.flv` files), first an `onMetaData` (what rtmp-listen and
//! players use to know which tracks to wait for). Another codec fails when the tracks are
//! known, naming it.
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
use media_core::{SecretUrl, Track};
use rml_rtmp::sessions::StreamMetadata;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::flv_tags::{Tag, Tagger, select};
use crate::contract::{Sink, SinkFactory};
use crate::{Error, Packet};
use connection::publish;

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
            tags: Tagger::new(&selection, &self.target.shown),
        };
        sink.send(Message::Metadata(selection.metadata))?;
        for tag in sink.tags.headers()? {
            sink.send(tag.into())?;
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

impl From<Tag> for Message {
    fn from(tag: Tag) -> Message {
        match tag {
            Tag::Video(at, data) => Message::Video(at, data),
            Tag::Audio(at, data) => Message::Audio(at, data),
        }
    }
}

struct RtmpSink {
    tx: Option<mpsc::Sender<Message>>,
    sender: Option<JoinHandle<Result<(), Error>>>,
    runtime: Handle,
    endpoint: String,
    tags: Tagger,
}

impl RtmpSink {
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
        match self.tags.packet(packet)? {
            Some(tag) => self.send(tag.into()),
            None => Ok(()),
        }
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        match self.tags.set_codec(track, config)? {
            Some(tag) => self.send(tag.into()),
            None => Ok(()),
        }
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
