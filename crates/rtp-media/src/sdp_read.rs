//! Reading a session description (RFC 8866 §5): the lines a receiver needs — `c=` at
//! session or media level, `m=` with its port and payload types, `a=rtpmap` and `a=fmtp`
//! of each stream's first payload type — from what [`Session`] writes and what ffmpeg's
//! `-sdp_file` writes (`; ` between format parameters, `c=` per media section), and each
//! stream's `a=control` (its RTSP URL, relative to the session's). Other
//! lines are stepped over; media other than audio and video are left out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{Error, Format, MediaDescription, Session};

/// The longest description read, and the most streams: an SDP file is small.
const MAX_LEN: usize = 64 << 10;
const MAX_MEDIA: usize = 64;

impl Session {
    /// Reads a session description. A missing `c=` for a stream, a malformed `m=` or
    /// `c=` line or a payload type without a known encoding is [`Error::Sdp`].
    pub fn parse(text: &str) -> Result<Session, Error> {
        let bad = |line: usize, reason: &'static str| Error::Sdp { line, reason };
        if text.len() > MAX_LEN {
            return Err(bad(0, "longer than 64 KiB"));
        }
        let mut session = Session::new("", "", Vec::new());
        // The current media section (None before the first m=, or for one left out).
        let mut current: Option<MediaDescription> = None;
        let mut in_media = false;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.trim_end_matches('\r');
            let Some((kind, value)) = line.split_once('=') else {
                continue;
            };
            match kind {
                "s" if !in_media => session.name = value.to_owned(),
                "c" => {
                    let address = connection_address(value).ok_or(bad(number, "bad c= line"))?;
                    match (&mut current, in_media) {
                        (Some(m), _) => m.address = Some(address),
                        (None, false) => session.address = address,
                        (None, true) => {}
                    }
                }
                "m" => {
                    in_media = true;
                    if let Some(m) = current.take() {
                        session.media.push(m);
                    }
                    if session.media.len() >= MAX_MEDIA {
                        return Err(bad(number, "more than 64 media sections"));
                    }
                    current = media_line(value).ok_or(bad(number, "bad m= line"))?;
                }
                "a" => {
                    let Some(m) = current.as_mut() else { continue };
                    let Some((name, rest)) = value.split_once(':') else {
                        continue;
                    };
                    if name == "control" {
                        m.control = Some(rest.trim().to_owned());
                        continue;
                    }
                    let Some((pt, body)) = rest.split_once(' ') else {
                        continue;
                    };
                    if pt.trim().parse::<u8>().ok() != Some(m.payload_type) {
                        continue;
                    }
                    match name {
                        "rtpmap" => m.rtpmap = body.trim().to_owned(),
                        "fmtp" => m.fmtp = Some(body.trim().to_owned()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        session.media.extend(current);
        for m in &session.media {
            if m.rtpmap.is_empty() {
                return Err(bad(
                    0,
                    "a payload type without a=rtpmap nor a static encoding",
                ));
            }
            if m.address.is_none() && session.address.is_empty() {
                return Err(bad(0, "a media section without a c= address"));
            }
        }
        Ok(session)
    }
}

/// `IN IP4 224.2.1.1/127/3` or `IN IP6 ::1`: the address, without TTL or count.
fn connection_address(value: &str) -> Option<String> {
    let mut parts = value.split_whitespace();
    let (net, family, address) = (parts.next()?, parts.next()?, parts.next()?);
    let address = address.split('/').next()?;
    let parsed: std::net::IpAddr = address.parse().ok()?;
    (net == "IN" && parsed.is_ipv6() == (family == "IP6")).then(|| address.to_owned())
}

/// `video 5004 RTP/AVP 96 97`: the stream on its port with its first payload type, or
/// None for media other than audio and video.
fn media_line(value: &str) -> Option<Option<MediaDescription>> {
    let mut parts = value.split_whitespace();
    let (media, port, _proto) = (parts.next()?, parts.next()?, parts.next()?);
    let port: u16 = port.split('/').next()?.parse().ok()?;
    let payload_type: u8 = parts.next()?.parse().ok().filter(|pt| *pt < 128)?;
    let media = match media {
        "video" => "video",
        "audio" => "audio",
        _ => return Some(None),
    };
    // RFC 3551's static payload types need no rtpmap.
    let rtpmap = match payload_type {
        0 => "PCMU/8000/1",
        8 => "PCMA/8000/1",
        14 => "MPA/90000",
        _ => "",
    };
    let mut m = MediaDescription::h264(port, payload_type, &[], &[]);
    m.media = media;
    m.rtpmap = rtpmap.to_owned();
    m.fmtp = None;
    Some(Some(m))
}

impl MediaDescription {
    /// The payload format its `a=rtpmap` names (case-insensitive), if one this crate
    /// depacketizes.
    pub fn format(&self) -> Option<Format> {
        let name = self.rtpmap.split('/').next()?.to_ascii_uppercase();
        Some(match name.as_str() {
            "H264" => Format::H264,
            "H265" => Format::H265,
            "MPEG4-GENERIC" => Format::Aac,
            "MP4A-LATM" => Format::AacLatm,
            "OPUS" => Format::Opus,
            "MPA" => Format::Mpa,
            _ => return None,
        })
    }

    /// The clock rate of `a=rtpmap` (90 000 for video).
    pub fn clock_rate(&self) -> Option<u32> {
        self.rtpmap.split('/').nth(1)?.trim().parse().ok()
    }

    /// The channels of `a=rtpmap` (1 when not given).
    pub fn channels(&self) -> u16 {
        self.rtpmap
            .split('/')
            .nth(2)
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1)
    }

    /// The value of format parameter `name` in `a=fmtp` (names case-insensitive).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.fmtp.as_deref()?.split(';').find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The parameter sets of the format parameters, decoded from base64: H.264's
    /// `sprop-parameter-sets`, H.265's `sprop-vps`, `sprop-sps` and `sprop-pps` in that
    /// order. Undecodable ones are left out.
    pub fn parameter_sets(&self) -> Vec<Vec<u8>> {
        [
            "sprop-parameter-sets",
            "sprop-vps",
            "sprop-sps",
            "sprop-pps",
        ]
        .iter()
        .filter_map(|name| self.parameter(name))
        .flat_map(|value| value.split(','))
        .filter_map(|set| STANDARD.decode(set.trim()).ok())
        .filter(|set| !set.is_empty())
        .collect()
    }

    /// AAC's AudioSpecificConfig: the hex `config=` parameter of `mpeg4-generic`, or for
    /// `MP4A-LATM` taken out of the StreamMuxConfig there (`cpresent=0`; audioMuxVersion
    /// 0, one program and layer: ISO/IEC 14496-3 1.7.3), the AAC configurations without
    /// an explicit frequency or an escaped object type (AAC-LC, HE-AAC signalled
    /// implicitly: 2 bytes).
    pub fn audio_specific_config(&self) -> Option<Vec<u8>> {
        let hex = self.parameter("config")?;
        if hex.len() % 2 != 0 || hex.is_empty() {
            return None;
        }
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        if self.format() != Some(Format::AacLatm) {
            return Some(bytes);
        }
        // audioMuxVersion (1 bit), allStreamsSameTimeFraming (1), numSubFrames (6),
        // numProgram (4), numLayer (3): the AudioSpecificConfig starts at bit 15.
        let bit = |n: usize| bytes.get(n / 8).map(|b| (b >> (7 - n % 8)) & 1);
        if bit(0)? != 0 {
            return None; // audioMuxVersion 1: lengths before the config, not sent by payloaders
        }
        let config: Vec<u8> = (0..2)
            .map(|byte| (0..8).try_fold(0u8, |acc, i| Some((acc << 1) | bit(15 + byte * 8 + i)?)))
            .collect::<Option<_>>()?;
        // The escaped forms are longer than 2 bytes: not taken.
        let object = config[0] >> 3;
        let frequency = ((config[0] & 7) << 1) | (config[1] >> 7);
        (object != 31 && frequency != 15).then_some(config)
    }
}

#[cfg(test)]
#[path = "sdp_read_tests.rs"]
mod tests;
