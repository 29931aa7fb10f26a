//! The remote media protocol, version 1, on data-stream (LiveKit `DataStream` header,
//! chunk and trailer packets, `livekit_models.proto`; 4-byte length framing).
//!
//! - **Control messages** are text streams on topic [`CONTROL_TOPIC`]: the text is the
//!   message name (`hello`, `started_playing`...), the header attributes its fields.
//! - **Media**: each track of a recording is one byte stream on topic [`TRACK_TOPIC`]
//!   whose header attributes carry the track and its codec configuration
//!   ([`track_attributes`]); each packet is one chunk: a 17-byte prefix (flags, decode
//!   time, composition offset, duration, big-endian) then the payload ([`encode_media`]).
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

use bytes::{BufMut, Bytes, BytesMut};
use data_stream::{Envelope, Frame, Header, Packet as StreamPacket, StreamInfo, StreamKind};
use data_stream::{TextInfo, Trailer};

use crate::packet::{Codec, MediaKind, Packet, Track};

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
        let info = StreamInfo {
            id: id.to_owned(),
            timestamp_ms: 0,
            topic: CONTROL_TOPIC.to_owned(),
            mime_type: "text/plain".to_owned(),
            total_length: Some(text.len() as u64),
            attributes: self.attributes(),
            kind: StreamKind::Text(TextInfo::default()),
        };
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
    let trailer = Trailer {
        stream_id: id.to_owned(),
        reason: reason.to_owned(),
        attributes,
    };
    StreamPacket::Trailer(trailer).to_frame(&Envelope::default())
}

/// The header frame of track `index`'s byte stream, as stream `id`.
pub(crate) fn track_header(id: &str, index: usize, track: &Track) -> Frame {
    let info = StreamInfo {
        id: id.to_owned(),
        timestamp_ms: 0,
        topic: TRACK_TOPIC.to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        total_length: None,
        attributes: track_attributes(index, track),
        kind: StreamKind::Bytes {
            name: format!("track-{index}"),
        },
    };
    StreamPacket::Header(Box::new(Header::new(info))).to_frame(&Envelope::default())
}

/// A track as header attributes: `index`, `kind`, `codec`, `config` (hex), `timescale`,
/// `width`, `height`, `par` (`h:v`), `sample_rate`, `channels`.
pub fn track_attributes(index: usize, track: &Track) -> HashMap<String, String> {
    let (codec, config) = match &track.codec {
        Codec::H264 { config } => ("h264", Some(config)),
        Codec::H265 { config } => ("h265", Some(config)),
        Codec::Aac { config } => ("aac", Some(config)),
        Codec::Mp3 => ("mp3", None),
        Codec::SampleEntry { entry } => ("sample-entry", Some(entry)),
    };
    let kind = match track.kind {
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
    };
    let mut a: HashMap<String, String> = [
        ("index", index.to_string()),
        ("kind", kind.to_owned()),
        ("codec", codec.to_owned()),
        ("timescale", track.timescale.to_string()),
        ("width", track.width.to_string()),
        ("height", track.height.to_string()),
        ("sample_rate", track.sample_rate.to_string()),
        ("channels", track.channels.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(config) = config {
        a.insert("config".into(), hex(config));
    }
    if let Some((h, v)) = track.pixel_aspect {
        a.insert("par".into(), format!("{h}:{v}"));
    }
    a
}

/// Reads [`track_attributes`] back: the track index and the track.
pub fn parse_track(attributes: &HashMap<String, String>) -> Result<(usize, Track), String> {
    let get = |k: &str| {
        attributes
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("track header: no {k:?} attribute"))
    };
    fn number<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("track header: {k:?}={v:?} is not a valid number"))
    }
    let config = || -> Result<Bytes, String> { unhex(get("config")?).map(Bytes::from) };
    let codec = match get("codec")? {
        "h264" => Codec::H264 { config: config()? },
        "h265" => Codec::H265 { config: config()? },
        "aac" => Codec::Aac { config: config()? },
        "mp3" => Codec::Mp3,
        "sample-entry" => Codec::SampleEntry { entry: config()? },
        other => return Err(format!("track header: unknown codec {other:?}")),
    };
    let kind = match get("kind")? {
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        other => return Err(format!("track header: unknown kind {other:?}")),
    };
    let timescale: u32 = number("timescale", get("timescale")?)?;
    if timescale == 0 {
        return Err("track header: timescale 0".into());
    }
    let pixel_aspect = match attributes.get("par") {
        Some(par) => {
            let (h, v) = par
                .split_once(':')
                .ok_or_else(|| format!("track header: par {par:?} is not h:v"))?;
            Some((number("par", h)?, number("par", v)?))
        }
        None => None,
    };
    let track = Track {
        kind,
        codec,
        timescale,
        width: number("width", get("width")?)?,
        height: number("height", get("height")?)?,
        pixel_aspect,
        sample_rate: number("sample_rate", get("sample_rate")?)?,
        channels: number("channels", get("channels")?)?,
    };
    Ok((number("index", get("index")?)?, track))
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| -> Result<u8, String> {
        char::from(c)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("track header: config is not hex ({:?})", char::from(c)))
    };
    if !s.len().is_multiple_of(2) {
        return Err("track header: config has an odd number of hex digits".into());
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Encodes one media packet as chunk content: `flags` (bit 0: key frame), `dts` (i64),
/// `cts_offset` (i32), `duration` (u32, 0 = unknown), then the payload. The payload is
/// copied once, behind the prefix; every client then shares the result.
pub fn encode_media(packet: &Packet) -> Bytes {
    let mut b = BytesMut::with_capacity(MEDIA_PREFIX + packet.data.len());
    b.put_u8(u8::from(packet.keyframe));
    b.put_i64(packet.dts);
    b.put_i32(packet.cts_offset);
    b.put_u32(packet.duration.unwrap_or(0));
    b.extend_from_slice(&packet.data);
    b.freeze()
}

/// Decodes [`encode_media`]'s chunk content of track `track` (the payload is a slice of
/// it, not a copy).
pub fn decode_media(track: usize, content: Bytes) -> Result<Packet, String> {
    let Some(p) = content.get(..MEDIA_PREFIX) else {
        return Err(format!(
            "media chunk of {} bytes, shorter than its {MEDIA_PREFIX}-byte prefix",
            content.len()
        ));
    };
    let be8 = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&p[i..i + 8]);
        a
    };
    let be4 = |i: usize| [p[i], p[i + 1], p[i + 2], p[i + 3]];
    if p[0] > 1 {
        return Err(format!("media chunk: unknown flags {:#04x}", p[0]));
    }
    let duration = u32::from_be_bytes(be4(13));
    Ok(Packet {
        track,
        dts: i64::from_be_bytes(be8(1)),
        cts_offset: i32::from_be_bytes(be4(9)),
        duration: (duration != 0).then_some(duration),
        keyframe: p[0] == 1,
        data: content.slice(MEDIA_PREFIX..),
    })
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
    fn tracks_round_trip_through_attributes() {
        let mut video = Track::video(
            Codec::H264 {
                config: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]),
            },
            90_000,
            640,
            360,
        );
        video.pixel_aspect = Some((4, 3));
        let audio = Track::audio(
            Codec::Aac {
                config: Bytes::from_static(&[0x12, 0x10]),
            },
            48_000,
            2,
        );
        for (i, t) in [video, audio, Track::audio(Codec::Mp3, 44_100, 1)]
            .into_iter()
            .enumerate()
        {
            assert_eq!(parse_track(&track_attributes(i, &t)).unwrap(), (i, t));
        }
        let mut bad = track_attributes(0, &Track::audio(Codec::Mp3, 44_100, 1));
        bad.insert("timescale".into(), "0".into());
        assert!(parse_track(&bad).is_err());
        bad.insert("codec".into(), "aac".into());
        bad.insert("config".into(), "zz".into());
        assert!(parse_track(&bad).unwrap_err().contains("hex"));
    }

    #[test]
    fn media_chunks_round_trip_and_refuse_short_content() {
        let packet = Packet {
            track: 1,
            dts: -5,
            cts_offset: 3003,
            duration: Some(1024),
            keyframe: true,
            data: Bytes::from_static(b"payload"),
        };
        assert_eq!(decode_media(1, encode_media(&packet)).unwrap(), packet);
        assert!(decode_media(0, Bytes::from_static(&[1, 2, 3])).is_err());
        let mut flags = encode_media(&packet).to_vec();
        flags[0] = 0x80;
        assert!(decode_media(0, flags.into()).is_err());
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
