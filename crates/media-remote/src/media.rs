//! How tracks and packets travel (protocol version 1, see [`crate::protocol`]): a
//! track is a byte stream on topic [`TRACK_TOPIC`] whose header attributes describe it;
//! a packet is one chunk of that stream, a 17-byte big-endian prefix then the payload.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use data_stream::{Envelope, Frame, Header, Packet as StreamPacket, StreamInfo, StreamKind};

use media_core::{Codec, MediaKind, Packet, Track};

use crate::error::Error;
use crate::protocol::{MEDIA_PREFIX, TRACK_TOPIC, VERSION};

/// The header frame of track `index`'s byte stream, as stream `id`: an error for a
/// codec this protocol has no name for, or a header over data-stream's header limit
/// (clients refuse it).
pub fn track_header(id: &str, index: usize, track: &Track) -> Result<Frame, Error> {
    let info = StreamInfo::new(
        id,
        StreamKind::Bytes {
            name: format!("track-{index}"),
        },
    )
    .with_topic(TRACK_TOPIC)
    .with_mime_type("application/octet-stream")
    .with_attributes(track_attributes(index, track)?);
    let frame = StreamPacket::Header(Box::new(Header::new(info))).to_frame(&Envelope::default());
    let max = data_stream::writer::MAX_HEADER_SIZE;
    if frame.len() > max {
        return Err(Error::TrackHeaderTooLarge {
            track: index,
            codec: track.codec.name(),
            size: frame.len(),
            max,
        });
    }
    Ok(frame)
}

/// A track as header attributes: `index`, `kind`, `codec`, `config` (hex), `timescale`,
/// `width`, `height`, `par` (`h:v`), `sample_rate`, `channels`. A codec newer than this
/// protocol version ([`Codec`] is `#[non_exhaustive]`) is an [`Error::UnknownCodec`]:
/// refused here, on the sending side, rather than sent under a name no receiver knows; so
/// is a kind of media newer than video and audio ([`Error::UnknownMediaKind`]).
pub fn track_attributes(index: usize, track: &Track) -> Result<HashMap<String, String>, Error> {
    let (codec, config) = match &track.codec {
        Codec::H264 { config } => ("h264", Some(config)),
        Codec::H265 { config } => ("h265", Some(config)),
        Codec::Aac { config } => ("aac", Some(config)),
        Codec::Mp3 => ("mp3", None),
        Codec::SampleEntry { entry } => ("sample-entry", Some(entry)),
        other => {
            return Err(Error::UnknownCodec {
                track: index,
                codec: other.name(),
                version: VERSION,
            });
        }
    };
    let kind = match track.kind {
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        _ => {
            return Err(Error::UnknownMediaKind {
                track: index,
                version: VERSION,
            });
        }
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
    Ok(a)
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
    // Built field by field: Track is #[non_exhaustive] (media-core may add fields).
    let mut track = Track::video(
        codec,
        timescale,
        number("width", get("width")?)?,
        number("height", get("height")?)?,
    );
    track.kind = kind;
    track.pixel_aspect = pixel_aspect;
    track.sample_rate = number("sample_rate", get("sample_rate")?)?;
    track.channels = number("channels", get("channels")?)?;
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
    Ok(Packet::new(
        track,
        i64::from_be_bytes(be8(1)),
        p[0] == 1,
        content.slice(MEDIA_PREFIX..),
    )
    .with_cts_offset(i32::from_be_bytes(be4(9)))
    .with_duration((duration != 0).then_some(duration)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(
                parse_track(&track_attributes(i, &t).unwrap()).unwrap(),
                (i, t)
            );
        }
        let mut bad = track_attributes(0, &Track::audio(Codec::Mp3, 44_100, 1)).unwrap();
        bad.insert("timescale".into(), "0".into());
        assert!(parse_track(&bad).is_err());
        bad.insert("codec".into(), "aac".into());
        bad.insert("config".into(), "zz".into());
        assert!(parse_track(&bad).unwrap_err().contains("hex"));
    }

    #[test]
    fn a_header_over_the_clients_limit_is_refused() {
        // A 40 KB sample entry is 80 KB of hex in the track header: over 64 KiB.
        let entry = Bytes::from(vec![7u8; 40_000]);
        let track = Track::video(Codec::SampleEntry { entry }, 90_000, 64, 64);
        let err = track_header("t", 0, &track).unwrap_err();
        assert!(err.is_permanent());
        let err = err.to_string();
        assert!(
            err.contains("track 0 (sample entry)") && err.contains("over the 65536 bytes"),
            "{err}"
        );
    }

    #[test]
    fn media_chunks_round_trip_and_refuse_short_content() {
        let packet = Packet::new(1, -5, true, Bytes::from_static(b"payload"))
            .with_cts_offset(3003)
            .with_duration(Some(1024));
        assert_eq!(decode_media(1, encode_media(&packet)).unwrap(), packet);
        assert!(decode_media(0, Bytes::from_static(&[1, 2, 3])).is_err());
        let mut flags = encode_media(&packet).to_vec();
        flags[0] = 0x80;
        assert!(decode_media(0, flags.into()).is_err());
    }
}
