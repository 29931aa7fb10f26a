//! The remote media protocol, version 1, on data-stream (LiveKit `DataStream` header,
//! chunk and trailer packets, `livekit_models.proto`; 4-byte length framing).
//!
//! - **Control messages** are text streams on topic [`CONTROL_TOPIC`]: the text is the
//!   message name (`hello`, `started_playing`...), the header attributes its fields.
//! - **Media**: each track of a recording is one byte stream on topic [`TRACK_TOPIC`]
//!   whose header attributes carry the track and its codec configuration
//!   ([`track_attributes`](crate::media::track_attributes)); each packet is one chunk: a 17-byte prefix (flags, decode
//!   time, composition offset, duration, big-endian) then the payload ([`encode_media`](crate::media::encode_media)).
//!   The trailer ends the track: an empty reason and a `stop` attribute for a normal
//!   stop (`stopped_playing`, `stopped_recording`, `track_updated`), with the client's
//!   `sent` and `dropped` counters; a non-empty reason when the server aborts.
//!
//! Handshake and states (cpl_media's RemoteVideoRecorder, made explicit):
//!
//! ```text
//! client                                   server
//! hello{protocol,version,token?}   ──▶
//!                                  ◀──     welcome{version} | error{code} + close
//! started_playing                  ──▶
//!                                  ◀──     started_recording{session,tracks}   (now, or when recording starts)
//!                                  ◀──     track streams: header, chunk per packet
//! started_playing (again)          ──▶
//!                                  ◀──     error{already_playing}              (connection stays)
//! stopped_playing                  ──▶
//!                                  ◀──     track trailers{stop}, stopped_playing (the acknowledgement)
//!                                  ◀──     track trailers{stop}, stopped_recording{session} (recording ends)
//!                                  ◀──     goodbye + close                     (the server's input ended)
//! ```
//!
//! A client stays subscribed across recordings until `stopped_playing`: the next
//! recording (after a rotation or a reconnection of the server's input) sends
//! `started_recording` again.

use std::collections::HashMap;
use std::fmt;

use bytes::{Bytes, BytesMut};
use data_stream::{Envelope, Frame, Header, Packet as StreamPacket, StreamInfo, StreamKind};
use data_stream::{TextInfo, Trailer};

/// The protocol's name, sent in `hello` and `welcome`.
pub const PROTOCOL: &str = "pipeline-media";
/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Topic of control messages (text streams).
pub const CONTROL_TOPIC: &str = "control";
/// Topic of track streams (byte streams, one per track).
pub const TRACK_TOPIC: &str = "track";
/// Largest chunk content of a media packet (prefix + payload).
pub const MAX_PACKET_SIZE: usize = 8 << 20;
/// Largest frame a client accepts (a media chunk with its packet head).
pub const MAX_CLIENT_FRAME: usize = MAX_PACKET_SIZE + 4096;
/// Largest frame a server accepts from a client (control messages only).
pub const MAX_SERVER_FRAME: usize = 16 * 1024;
/// Largest control message text plus attributes a receiver keeps.
pub const MAX_CONTROL_SIZE: usize = 4096;
/// Bytes before the payload in a media chunk.
pub const MEDIA_PREFIX: usize = 17;

/// Why a server refuses or warns a client (the `code` of an `error` message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Missing or wrong token.
    Unauthorized,
    /// The client speaks another protocol version.
    UnsupportedVersion,
    /// The server has its maximum number of clients.
    Busy,
    /// Bytes that are not this protocol, an oversize frame, or a message out of place.
    Protocol,
    /// `started_playing` while already playing.
    AlreadyPlaying,
    /// `stopped_playing` while not playing.
    NotPlaying,
    /// No `hello` within the handshake timeout, or the client stopped reading.
    Timeout,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Busy => "busy",
            ErrorCode::Protocol => "protocol",
            ErrorCode::AlreadyPlaying => "already_playing",
            ErrorCode::NotPlaying => "not_playing",
            ErrorCode::Timeout => "timeout",
        }
    }

    fn parse(s: &str) -> Option<ErrorCode> {
        Some(match s {
            "unauthorized" => ErrorCode::Unauthorized,
            "unsupported_version" => ErrorCode::UnsupportedVersion,
            "busy" => ErrorCode::Busy,
            "protocol" => ErrorCode::Protocol,
            "already_playing" => ErrorCode::AlreadyPlaying,
            "not_playing" => ErrorCode::NotPlaying,
            "timeout" => ErrorCode::Timeout,
            _ => return None,
        })
    }

    /// Whether the server closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        !matches!(self, ErrorCode::AlreadyPlaying | ErrorCode::NotPlaying)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A control message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Client, first message: protocol, version, optional token.
    Hello {
        /// The version the client speaks.
        version: u32,
        /// The shared token.
        token: Option<String>,
    },
    /// Server: handshake accepted.
    Welcome {
        /// The version the server speaks.
        version: u32,
    },
    /// Client: send me media.
    StartedPlaying,
    /// Client: stop sending media; server: the acknowledgement.
    StoppedPlaying {
        /// Server: media packets sent to this client so far.
        sent: u64,
        /// Server: media packets dropped for this client so far.
        dropped: u64,
    },
    /// Server: a recording started; its `tracks` track streams follow.
    StartedRecording {
        /// Recording number on this server.
        session: u64,
        /// Number of track streams that follow.
        tracks: usize,
    },
    /// Server: the recording ended.
    StoppedRecording {
        /// Recording number.
        session: u64,
        /// Media packets sent to this client so far.
        sent: u64,
        /// Media packets dropped for this client so far.
        dropped: u64,
    },
    /// Server: it is closing (its input ended); no recording will follow.
    Goodbye,
    /// Server: something went wrong; fatal codes close the connection.
    Error {
        /// What.
        code: ErrorCode,
        /// For people.
        message: String,
    },
}

impl Message {
    /// The wire name (the text of the control stream).
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::StartedPlaying => "started_playing",
            Message::StoppedPlaying { .. } => "stopped_playing",
            Message::StartedRecording { .. } => "started_recording",
            Message::StoppedRecording { .. } => "stopped_recording",
            Message::Goodbye => "goodbye",
            Message::Error { .. } => "error",
        }
    }

    fn attributes(&self) -> HashMap<String, String> {
        let mut a = HashMap::new();
        let mut put = |k: &str, v: String| {
            a.insert(k.to_owned(), v);
        };
        match self {
            Message::Hello { version, token } => {
                put("protocol", PROTOCOL.into());
                put("version", version.to_string());
                if let Some(t) = token {
                    put("token", t.clone());
                }
            }
            Message::Welcome { version } => {
                put("protocol", PROTOCOL.into());
                put("version", version.to_string());
            }
            Message::StartedPlaying | Message::Goodbye => {}
            Message::StoppedPlaying { sent, dropped } => {
                put("sent", sent.to_string());
                put("dropped", dropped.to_string());
            }
            Message::StartedRecording { session, tracks } => {
                put("session", session.to_string());
                put("tracks", tracks.to_string());
            }
            Message::StoppedRecording {
                session,
                sent,
                dropped,
            } => {
                put("session", session.to_string());
                put("sent", sent.to_string());
                put("dropped", dropped.to_string());
            }
            Message::Error { code, message } => {
                put("code", code.as_str().into());
                put("message", message.clone());
            }
        }
        a
    }

    /// The three packets (header, chunk, trailer) of this message as stream `id`.
    pub fn to_frames(&self, id: &str) -> [Frame; 3] {
        let text = Bytes::from_static(self.name().as_bytes());
        let info = StreamInfo::new(id, StreamKind::Text(TextInfo::default()))
            .with_topic(CONTROL_TOPIC)
            .with_mime_type("text/plain")
            .with_total_length(Some(text.len() as u64))
            .with_attributes(self.attributes());
        let envelope = Envelope::default();
        [
            StreamPacket::Header(Box::new(Header::new(info))).to_frame(&envelope),
            Frame::chunk(&envelope, id, 0, text),
            end_frame(id, "", HashMap::new()),
        ]
    }

    /// Appends this message, framed, to `dst`.
    pub fn write_framed(&self, id: &str, dst: &mut BytesMut) {
        for frame in self.to_frames(id) {
            // Control messages are a few hundred bytes: far under any frame limit.
            if let Err(e) = frame.write_framed(dst, usize::MAX) {
                tracing::error!("control message not framed: {e}");
            }
        }
    }

    /// Reads a control stream: its text and its header (+ trailer) attributes.
    pub fn parse(text: &str, attributes: &HashMap<String, String>) -> Result<Message, String> {
        let get = |k: &str| attributes.get(k).map(String::as_str);
        let num = |k: &str| -> Result<u64, String> {
            let v = get(k).ok_or_else(|| format!("{text}: no {k:?} attribute"))?;
            v.parse()
                .map_err(|_| format!("{text}: attribute {k:?}={v:?} is not a number"))
        };
        let counter = |k: &str| num(k).unwrap_or(0);
        Ok(match text {
            "hello" | "welcome" => {
                if get("protocol") != Some(PROTOCOL) {
                    return Err(format!(
                        "{text}: protocol {:?}, expected {PROTOCOL:?}",
                        get("protocol").unwrap_or("")
                    ));
                }
                let version = u32::try_from(num("version")?)
                    .map_err(|_| format!("{text}: version out of range"))?;
                if text == "hello" {
                    Message::Hello {
                        version,
                        token: get("token").map(str::to_owned),
                    }
                } else {
                    Message::Welcome { version }
                }
            }
            "started_playing" => Message::StartedPlaying,
            "stopped_playing" => Message::StoppedPlaying {
                sent: counter("sent"),
                dropped: counter("dropped"),
            },
            "started_recording" => Message::StartedRecording {
                session: num("session")?,
                tracks: usize::try_from(num("tracks")?)
                    .map_err(|_| "started_recording: too many tracks".to_owned())?,
            },
            "stopped_recording" => Message::StoppedRecording {
                session: num("session")?,
                sent: counter("sent"),
                dropped: counter("dropped"),
            },
            "goodbye" => Message::Goodbye,
            "error" => Message::Error {
                code: get("code")
                    .and_then(ErrorCode::parse)
                    .unwrap_or(ErrorCode::Protocol),
                message: get("message").unwrap_or("").to_owned(),
            },
            other => return Err(format!("unknown control message {other:?}")),
        })
    }
}

/// A trailer frame.
pub(crate) fn end_frame(id: &str, reason: &str, attributes: HashMap<String, String>) -> Frame {
    let mut trailer = Trailer::new(id);
    trailer.reason = reason.to_owned();
    trailer.attributes = attributes;
    StreamPacket::Trailer(trailer).to_frame(&Envelope::default())
}

/// Compares two tokens in time that does not depend on where they differ.
pub(crate) fn token_matches(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_attributes() {
        let messages = [
            Message::Hello {
                version: 1,
                token: Some("s3cret".into()),
            },
            Message::Hello {
                version: 7,
                token: None,
            },
            Message::Welcome { version: 1 },
            Message::StartedPlaying,
            Message::StoppedPlaying {
                sent: 4,
                dropped: 2,
            },
            Message::StartedRecording {
                session: 3,
                tracks: 2,
            },
            Message::StoppedRecording {
                session: 3,
                sent: 9,
                dropped: 1,
            },
            Message::Goodbye,
            Message::Error {
                code: ErrorCode::AlreadyPlaying,
                message: "already playing".into(),
            },
        ];
        for m in messages {
            assert_eq!(Message::parse(m.name(), &m.attributes()).unwrap(), m);
        }
        let err = Message::parse("hello", &HashMap::new()).unwrap_err();
        assert!(err.contains("protocol"), "{err}");
        assert!(Message::parse("launch_missiles", &HashMap::new()).is_err());
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", Some("abc")));
        assert!(!token_matches("abc", Some("abd")));
        assert!(!token_matches("abc", Some("abcd")));
        assert!(!token_matches("abc", Some("")));
        assert!(!token_matches("abc", None));
    }
}
