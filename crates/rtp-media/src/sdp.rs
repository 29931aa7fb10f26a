//! The session description (RFC 8866) of what is sent: one media section per stream, each
//! on a port of its own (RTP on the even port, RTCP on the next), with the payload
//! format's parameters (the decoder configuration a receiver needs before the first
//! key frame).

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One stream of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaDescription {
    /// `video` or `audio`.
    pub media: &'static str,
    /// The RTP port (RTCP on the next one).
    pub port: u16,
    /// The payload type.
    pub payload_type: u8,
    /// `a=rtpmap` after the payload type: encoding name, clock rate, channels.
    pub rtpmap: String,
    /// `a=fmtp` after the payload type, when the format has parameters.
    pub fmtp: Option<String>,
    /// The stream's own `c=` address, when it has one (else the session's).
    pub address: Option<String>,
    /// `a=control`: the stream's URL relative to the session's (RTSP, RFC 2326 C.1.1).
    pub control: Option<String>,
}

impl MediaDescription {
    /// H.264 in packetization mode 1 (RFC 6184 §8.1), with the profile and level of the
    /// first SPS and every parameter set for the decoder.
    pub fn h264(port: u16, payload_type: u8, sps: &[&[u8]], pps: &[&[u8]]) -> MediaDescription {
        let mut fmtp = String::from("packetization-mode=1");
        if let Some(first) = sps.first().and_then(|s| s.get(1..4)) {
            let _ = write!(fmtp, ";profile-level-id={}", hex(first));
        }
        let sets: Vec<String> = sps.iter().chain(pps).map(|s| STANDARD.encode(s)).collect();
        if !sets.is_empty() {
            let _ = write!(fmtp, ";sprop-parameter-sets={}", sets.join(","));
        }
        MediaDescription::new("video", port, payload_type, "H264/90000".into(), Some(fmtp))
    }

    /// H.265 (RFC 7798 §7.1) with its VPS, SPS and PPS.
    pub fn h265(
        port: u16,
        payload_type: u8,
        vps: &[&[u8]],
        sps: &[&[u8]],
        pps: &[&[u8]],
    ) -> MediaDescription {
        let join = |sets: &[&[u8]]| {
            sets.iter()
                .map(|s| STANDARD.encode(s))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut params = Vec::new();
        for (name, sets) in [("sprop-vps", vps), ("sprop-sps", sps), ("sprop-pps", pps)] {
            if !sets.is_empty() {
                params.push(format!("{name}={}", join(sets)));
            }
        }
        let fmtp = (!params.is_empty()).then(|| params.join(";"));
        MediaDescription::new("video", port, payload_type, "H265/90000".into(), fmtp)
    }

    /// AAC as `mpeg4-generic` in `AAC-hbr` mode (RFC 3640 §3.3.6) with its
    /// AudioSpecificConfig.
    pub fn aac(
        port: u16,
        payload_type: u8,
        sample_rate: u32,
        channels: u16,
        audio_specific_config: &[u8],
    ) -> MediaDescription {
        let fmtp = format!(
            "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={}",
            hex(audio_specific_config)
        );
        // The rtpmap's channels must be the config's (retina refuses a mismatch; an MP4's
        // `mp4a` box may say 2 for a mono stream).
        let channels = config_channels(audio_specific_config).unwrap_or(channels);
        let rtpmap = format!("MPEG4-GENERIC/{sample_rate}/{channels}");
        MediaDescription::new("audio", port, payload_type, rtpmap, Some(fmtp))
    }

    /// Opus (RFC 7587 §7): always `opus/48000/2` in the rtpmap; a stereo stream says so.
    pub fn opus(port: u16, payload_type: u8, channels: u16) -> MediaDescription {
        let fmtp = (channels > 1).then(|| "sprop-stereo=1".to_owned());
        MediaDescription::new("audio", port, payload_type, "opus/48000/2".into(), fmtp)
    }

    /// MPEG audio (RFC 3551 static payload type 14, 90 kHz).
    pub fn mpa(port: u16) -> MediaDescription {
        MediaDescription::new("audio", port, 14, "MPA/90000".into(), None)
    }

    fn new(
        media: &'static str,
        port: u16,
        payload_type: u8,
        rtpmap: String,
        fmtp: Option<String>,
    ) -> MediaDescription {
        MediaDescription {
            media,
            port,
            payload_type,
            rtpmap,
            fmtp,
            address: None,
            control: None,
        }
    }
}

/// A session sent to `address` (the receiver's host, which `c=` names).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The destination host, an IPv4 or IPv6 address.
    pub address: String,
    /// `s=`.
    pub name: String,
    /// One per stream.
    pub media: Vec<MediaDescription>,
}

impl Session {
    /// A session named `name` to `address`, with `media`.
    pub fn new(address: &str, name: &str, media: Vec<MediaDescription>) -> Session {
        Session {
            address: address.to_owned(),
            name: name.to_owned(),
            media,
        }
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = if self.address.contains(':') {
            "IP6"
        } else {
            "IP4"
        };
        write!(f, "v=0\r\n")?;
        write!(f, "o=- 0 0 IN {family} {}\r\n", self.address)?;
        write!(f, "s={}\r\n", self.name)?;
        if !self.address.is_empty() {
            write!(f, "c=IN {family} {}\r\n", self.address)?;
        }
        write!(f, "t=0 0\r\n")?;
        for m in &self.media {
            write!(f, "m={} {} RTP/AVP {}\r\n", m.media, m.port, m.payload_type)?;
            if let Some(address) = &m.address {
                let family = if address.contains(':') { "IP6" } else { "IP4" };
                write!(f, "c=IN {family} {address}\r\n")?;
            }
            write!(f, "a=rtpmap:{} {}\r\n", m.payload_type, m.rtpmap)?;
            if let Some(fmtp) = &m.fmtp {
                write!(f, "a=fmtp:{} {fmtp}\r\n", m.payload_type)?;
            }
            if let Some(control) = &m.control {
                write!(f, "a=control:{control}\r\n")?;
            }
        }
        Ok(())
    }
}

/// The channel count an AudioSpecificConfig's channelConfiguration gives (ISO/IEC
/// 14496-3 1.6.2.1 and 1.6.3.4: 1–6 as counted, 7 is 7.1); `None` when it names none (0:
/// in a program config element) or the config is cut short.
fn config_channels(config: &[u8]) -> Option<u16> {
    let bits = config
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let len = config.len().min(16) * 8;
    let read = |at: usize, n: usize| -> Option<u32> {
        (at + n <= len).then(|| ((bits >> (len - at - n)) & ((1 << n) - 1)) as u32)
    };
    let mut at = 5;
    if read(0, 5)? == 31 {
        at += 6;
    }
    if read(at, 4)? == 0xf {
        at += 24;
    }
    match read(at + 4, 4)? {
        c @ 1..=6 => Some(c as u16),
        7 => Some(8),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_channels_come_from_the_config() {
        // AAC-LC 48 kHz mono, with the SBR sync extension ffmpeg writes after it.
        let mono = MediaDescription::aac(0, 97, 48_000, 2, &[0x11, 0x88, 0x56, 0xe5, 0x00]);
        assert_eq!(mono.rtpmap, "MPEG4-GENERIC/48000/1");
        // 7.1 is configuration 7; 0 (a program config element) keeps what was given.
        assert_eq!(config_channels(&[0x11, 0xb8]), Some(8));
        assert_eq!(config_channels(&[0x11, 0x80]), None);
        assert_eq!(config_channels(&[0x11]), None);
        // An escaped object type (31 + 6 bits) and an explicit frequency (0xf + 24 bits).
        assert_eq!(
            config_channels(&[0xf8, 0x1e, 0x01, 0x58, 0x88, 0x40]),
            Some(2)
        );
    }

    #[test]
    fn a_session_of_h264_and_aac() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let session = Session::new(
            "127.0.0.1",
            "test",
            vec![
                MediaDescription::h264(5004, 96, &[&sps], &[&pps]),
                MediaDescription::aac(5006, 97, 48_000, 2, &[0x11, 0x90]),
            ],
        );
        let text = session.to_string();
        assert!(text.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\n"));
        assert!(text.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(text.contains("m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"));
        assert!(text.contains(
            "a=fmtp:96 packetization-mode=1;profile-level-id=64001f;sprop-parameter-sets=Z2QAH6w=,aO48gA==\r\n"
        ));
        assert!(text.contains("a=rtpmap:97 MPEG4-GENERIC/48000/2\r\n"));
        assert!(text.contains(";config=1190\r\n"));
    }

    #[test]
    fn opus_mpa_and_h265_lines() {
        assert_eq!(
            MediaDescription::opus(1, 98, 2).fmtp.as_deref(),
            Some("sprop-stereo=1")
        );
        assert_eq!(MediaDescription::opus(1, 98, 1).rtpmap, "opus/48000/2");
        assert_eq!(MediaDescription::mpa(1).payload_type, 14);
        let h265 = MediaDescription::h265(1, 96, &[&[0x40, 1]], &[&[0x42, 1]], &[&[0x44, 1]]);
        assert_eq!(
            h265.fmtp.as_deref(),
            Some("sprop-vps=QAE=;sprop-sps=QgE=;sprop-pps=RAE=")
        );
        let v6 = Session::new("::1", "x", Vec::new()).to_string();
        assert!(v6.contains("c=IN IP6 ::1\r\n"));
    }
}
