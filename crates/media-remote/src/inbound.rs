//! The receiving side of a remote connection, sans-I/O: bytes in, [`InboundEvent`]s
//! out. data-stream's [`FrameDecoder`] (frame size cap) and [`Demultiplexer`] (stream
//! checks and limits) do the framing and the stream bookkeeping; this layer reads
//! control messages and media chunks (see [`crate::protocol`]).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::BytesMut;
use data_stream::{Demultiplexer, Event, FrameDecoder, Limits, StreamType};

use media_core::{Packet, Track};

use crate::error::Error;
use crate::media;
use crate::protocol::{
    self, CONTROL_TOPIC, MAX_CONTROL_SIZE, MAX_PACKET_SIZE, Message, TRACK_TOPIC,
};

/// What arrived.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InboundEvent {
    /// A control message.
    Control(Message),
    /// A track stream opened (again after a `track_updated` stop: a new configuration).
    TrackOpened {
        /// Track index in the recording.
        index: usize,
        /// The track.
        track: Track,
    },
    /// A media packet.
    Packet(Packet),
    /// A track stream ended.
    TrackEnded {
        /// Track index.
        index: usize,
        /// The `stop` attribute of a normal end.
        stop: Option<String>,
        /// Why it ended abnormally (the trailer's reason, or data-stream's error).
        error: Option<String>,
        /// The trailer's count of packets dropped for this client, when given.
        dropped: Option<u64>,
    },
}

/// Which side reads: a server reads only control messages from its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Reads what a client sends (control only; small frames).
    Server,
    /// Reads what a server sends (control and track streams).
    Client,
}

/// Decodes one direction of a connection; see the module docs.
pub struct Inbound {
    /// How much the read buffer grows by: a server reads small control frames from
    /// each client (and from every connection still waiting to say hello), a client
    /// reads media.
    grow: usize,
    decoder: FrameDecoder,
    demux: Demultiplexer,
    buf: BytesMut,
    control: HashMap<String, BytesMut>,
    tracks: HashMap<String, usize>,
    events: VecDeque<InboundEvent>,
}

impl Inbound {
    /// A decoder for `side` with the protocol's limits.
    pub fn new(side: Side) -> Self {
        let (max_frame, max_chunk) = match side {
            Side::Server => (protocol::MAX_SERVER_FRAME, MAX_CONTROL_SIZE),
            Side::Client => (protocol::MAX_CLIENT_FRAME, MAX_PACKET_SIZE),
        };
        let limits = {
            let mut limits = Limits::default();
            limits.max_frame_size = max_frame;
            limits.max_header_size = max_frame.min(data_stream::writer::MAX_HEADER_SIZE);
            limits.max_chunk_size = max_chunk; // A live track stream lasts as long as the recording.
            limits.max_stream_size = u64::MAX;
            limits.max_open_streams = 64; // Connection-level timeouts belong to the I/O layer.
            limits.inactivity_timeout = None;
            limits.stream_buffer_chunks = 16;
            limits
        };
        let mut demux = Demultiplexer::new(limits);
        let mut register = |kind, topic| {
            if let Err(e) = demux.register(kind, topic) {
                tracing::error!("remote: {e}"); // a fresh demultiplexer has no handler
            }
        };
        register(StreamType::Text, CONTROL_TOPIC);
        if side == Side::Client {
            register(StreamType::Bytes, TRACK_TOPIC);
        }
        let grow = match side {
            Side::Server => 4 * 1024,
            Side::Client => 64 * 1024,
        };
        Inbound {
            grow,
            decoder: FrameDecoder::new(max_frame),
            demux,
            buf: BytesMut::with_capacity(grow),
            control: HashMap::new(),
            tracks: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The buffer to read the transport into (then call [`Inbound::poll`]).
    pub fn buffer(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(self.grow);
        }
        &mut self.buf
    }

    /// Appends bytes received from the transport.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes of the transport consumed so far (complete frames).
    pub fn offset(&self) -> u64 {
        self.decoder.offset()
    }

    /// The next event, or `Ok(None)` when more bytes are needed. An error is fatal for
    /// the connection (bytes that are not this protocol, an oversize frame, a broken
    /// control message).
    pub fn poll(&mut self, now: Instant) -> Result<Option<InboundEvent>, Error> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            let Some(frame) = self.decoder.decode(&mut self.buf)? else {
                return Ok(None);
            };
            let offset = self.decoder.offset();
            self.demux.handle_frame(frame, now).map_err(|e| match e {
                data_stream::Error::Decode { message, .. } => {
                    data_stream::Error::Decode { offset, message }
                }
                other => other,
            })?;
            while let Some(event) = self.demux.poll_event() {
                self.on_event(event)?;
            }
        }
    }

    /// The transport ended: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), Error> {
        Ok(self.decoder.finish(&self.buf)?)
    }

    fn on_event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Opened(info) if info.topic == CONTROL_TOPIC => {
                self.control.insert(info.id, BytesMut::new());
            }
            Event::Opened(info) => {
                let (index, track) =
                    media::parse_track(&info.attributes).map_err(Error::Protocol)?;
                self.tracks.insert(info.id, index);
                self.events
                    .push_back(InboundEvent::TrackOpened { index, track });
            }
            Event::Chunk { stream_id, content } => {
                if let Some(text) = self.control.get_mut(&*stream_id) {
                    if text.len() + content.len() > MAX_CONTROL_SIZE {
                        return Err(Error::Protocol(format!(
                            "control message over {MAX_CONTROL_SIZE} bytes"
                        )));
                    }
                    text.extend_from_slice(&content);
                } else if let Some(&index) = self.tracks.get(&*stream_id) {
                    let packet = media::decode_media(index, content).map_err(Error::Protocol)?;
                    self.events.push_back(InboundEvent::Packet(packet));
                }
            }
            Event::Finished(info) => {
                if let Some(text) = self.control.remove(&info.id) {
                    let text = String::from_utf8_lossy(&text);
                    let message =
                        Message::parse(&text, &info.attributes).map_err(Error::Protocol)?;
                    self.events.push_back(InboundEvent::Control(message));
                } else if let Some(index) = self.tracks.remove(&info.id) {
                    let get = |k: &str| info.attributes.get(k);
                    self.events.push_back(InboundEvent::TrackEnded {
                        index,
                        stop: get("stop").cloned(),
                        error: None,
                        dropped: get("dropped").and_then(|d| d.parse().ok()),
                    });
                }
            }
            Event::Failed {
                stream_id, error, ..
            } => {
                if self.control.remove(&stream_id).is_some() {
                    return Err(Error::Stream(error));
                }
                if let Some(index) = self.tracks.remove(&stream_id) {
                    self.events.push_back(InboundEvent::TrackEnded {
                        index,
                        stop: None,
                        error: Some(error.to_string()),
                        dropped: None,
                    });
                }
            }
            Event::Unhandled(info) => {
                tracing::debug!(topic = %info.topic, "remote: stream on an unknown topic drained");
            }
            Event::Stray { .. } => {}
            other => tracing::debug!(event = ?other, "remote: data-stream event not handled"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use media_core::Codec;

    use super::*;
    use crate::protocol::ErrorCode;

    #[test]
    fn control_and_media_byte_by_byte() {
        let mut wire = BytesMut::new();
        Message::StartedRecording {
            session: 1,
            tracks: 1,
        }
        .write_framed("s1", &mut wire);
        let track = Track::audio(Codec::Mp3, 44_100, 2);
        let env = data_stream::Envelope::default();
        let packet = Packet::new(0, 1152, true, Bytes::from_static(b"frame"));
        let frames = [
            media::track_header("t1", 0, &track).unwrap(),
            data_stream::Frame::chunk(&env, "t1", 0, media::encode_media(&packet)),
            protocol::end_frame(
                "t1",
                "",
                [("stop".to_owned(), "stopped_playing".to_owned())].into(),
            ),
        ];
        for f in frames {
            f.write_framed(&mut wire, usize::MAX).unwrap();
        }
        let mut inbound = Inbound::new(Side::Client);
        let mut events = Vec::new();
        for b in wire.iter() {
            inbound.push(&[*b]);
            while let Some(e) = inbound.poll(Instant::now()).unwrap() {
                events.push(e);
            }
        }
        inbound.finish().unwrap();
        assert_eq!(
            events,
            [
                InboundEvent::Control(Message::StartedRecording {
                    session: 1,
                    tracks: 1
                }),
                InboundEvent::TrackOpened { index: 0, track },
                InboundEvent::Packet(packet),
                InboundEvent::TrackEnded {
                    index: 0,
                    stop: Some("stopped_playing".into()),
                    error: None,
                    dropped: None
                },
            ]
        );
    }

    #[test]
    fn garbage_and_oversize_frames_are_errors_with_offsets() {
        let mut inbound = Inbound::new(Side::Server);
        inbound.push(b"GET / HTTP/1.1\r\n\r\n");
        let err = inbound.poll(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("exceeds the maximum frame size"), "{err}");

        let mut inbound = Inbound::new(Side::Server);
        inbound.push(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
        let err = inbound.poll(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("not a valid DataPacket"), "{err}");

        // A server never takes track streams from a client: drained, not an error.
        let mut inbound = Inbound::new(Side::Server);
        let mut wire = BytesMut::new();
        media::track_header("x", 0, &Track::audio(Codec::Mp3, 8000, 1))
            .unwrap()
            .write_framed(&mut wire, usize::MAX)
            .unwrap();
        Message::Error {
            code: ErrorCode::Busy,
            message: "m".into(),
        }
        .write_framed("s", &mut wire);
        inbound.push(&wire);
        assert!(matches!(
            inbound.poll(Instant::now()).unwrap(),
            Some(InboundEvent::Control(Message::Error { .. }))
        ));
    }

    #[test]
    fn truncated_stream_is_reported() {
        let mut inbound = Inbound::new(Side::Client);
        inbound.push(&[0, 0, 0, 9, 1]);
        assert_eq!(inbound.poll(Instant::now()).unwrap(), None);
        assert!(inbound.finish().is_err());
    }
}
