//! One track as an RTP stream, shared by the outputs that send RTP (`rtp://`,
//! `rtsp-listen://`): its payload format and SDP section (`rtp_media`), the track's
//! times on the RTP clock from a random start, parameter sets in band before every key
//! frame (a receiver that starts late, or lost the SDP's, still decodes), and a sender
//! report once a second so that a receiver lines audio up with video.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use elementary::VideoCodec;
use media_core::{Codec, Track};
use rtp_media::{Format, MediaDescription, Packetizer, sender_report};

use crate::Packet;

/// What an RTP output takes, for misfit messages.
pub(crate) const TAKES: &str = "H.264, H.265, AAC, Opus or MPEG audio tracks";

/// RTP packets at most this long (header included): within any path's MTU.
const MAX_PACKET: usize = 1200;

/// The payload format of a codec.
pub(crate) fn format(codec: &Codec) -> Option<Format> {
    Some(match codec {
        Codec::H264 { .. } => Format::H264,
        Codec::H265 { .. } => Format::H265,
        Codec::Aac { .. } => Format::Aac,
        Codec::Opus { .. } => Format::Opus,
        Codec::Mp3 => Format::Mpa,
        _ => return None,
    })
}

pub(crate) struct RtpStream {
    packetizer: Packetizer,
    /// The track's timescale and the RTP clock rate.
    timescale: u32,
    clock: u32,
    /// Added to every RTP timestamp: a random start, as RFC 3550 wants.
    offset: u32,
    /// Parameter sets, sent before each key frame (video).
    sets: Vec<Bytes>,
    last_report: Option<Instant>,
    /// The SDP section's port (`rtp://` sends there; `rtsp-listen://` says 0).
    port: u16,
}

impl RtpStream {
    /// Track `index` as an RTP stream described on `port`; `seed` makes its SSRC and
    /// timestamp start. Its SDP section comes with it.
    pub(crate) fn new(
        track: &Track,
        index: usize,
        seed: u64,
        port: u16,
    ) -> Result<(RtpStream, MediaDescription), String> {
        let fmt = format(&track.codec)
            .ok_or_else(|| format!("RTP cannot carry {}", track.codec.name()))?;
        let payload_type = payload_type(fmt, index);
        let ssrc = (seed >> (index % 4 * 8)) as u32 ^ index as u32;
        let (description, clock, sets) = describe_track(track, fmt, port, payload_type)?;
        let stream = RtpStream {
            packetizer: Packetizer::new(fmt, payload_type, ssrc, MAX_PACKET),
            timescale: track.timescale.max(1),
            clock,
            offset: (seed >> 32) as u32 ^ ssrc,
            sets,
            last_report: None,
            port,
        };
        Ok((stream, description))
    }

    /// `ticks` of the track's timescale on the RTP clock, from the random start.
    fn rtp_time(&self, ticks: i64) -> u32 {
        let scaled = i128::from(ticks) * i128::from(self.clock) / i128::from(self.timescale);
        (scaled as u32).wrapping_add(self.offset)
    }

    /// The packet's RTP packets (a key frame's parameter sets first).
    pub(crate) fn packets(&mut self, packet: &Packet) -> Result<Vec<Bytes>, String> {
        let shown = packet.dts.saturating_add(i64::from(packet.cts_offset));
        let timestamp = self.rtp_time(shown);
        let mut datagrams = Vec::new();
        if packet.keyframe && !self.sets.is_empty() {
            let unit: Vec<u8> = self
                .sets
                .iter()
                .flat_map(|s| {
                    (s.len() as u32)
                        .to_be_bytes()
                        .into_iter()
                        .chain(s.iter().copied())
                })
                .collect();
            // The picture's packets end the access unit: no marker on the sets.
            let sets = self.packetizer.packetize_part(timestamp, &unit, false);
            datagrams.extend(sets.map_err(|e| e.to_string())?);
        }
        let frame = self.packetizer.packetize(timestamp, &packet.data);
        datagrams.extend(frame.map_err(|e| format!("track {}: {e}", packet.track))?);
        Ok(datagrams)
    }

    /// A sender report at the first packet and once a second after: the stream is paced
    /// on decode times, so now is the decode time `dts`'s RTP time.
    pub(crate) fn report(&mut self, dts: i64) -> Option<Bytes> {
        if self
            .last_report
            .is_some_and(|t| t.elapsed().as_secs_f64() < 1.0)
        {
            return None;
        }
        self.last_report = Some(Instant::now());
        let (packets, octets) = self.packetizer.counts();
        let now = self.rtp_time(dts);
        let ssrc = self.packetizer.ssrc();
        Some(sender_report(ssrc, SystemTime::now(), now, packets, octets))
    }

    /// New parameter sets go in band before each key frame from now on; the SDP a
    /// receiver already opened keeps the old ones (it decodes from the in-band sets).
    pub(crate) fn set_codec(&mut self, track: &Track, index: usize) -> Result<(), String> {
        if let Some(fmt) = format(&track.codec) {
            let payload_type = payload_type(fmt, index);
            self.sets = describe_track(track, fmt, self.port, payload_type)?.2;
        }
        Ok(())
    }
}

/// MPEG audio's static payload type, else a dynamic one per track.
fn payload_type(fmt: Format, index: usize) -> u8 {
    if fmt == Format::Mpa {
        14
    } else {
        96 + index as u8
    }
}

/// The track's media section, its RTP clock rate, and (video) its parameter sets, sent in
/// band before every key frame.
fn describe_track(
    track: &Track,
    fmt: Format,
    port: u16,
    payload_type: u8,
) -> Result<(MediaDescription, u32, Vec<Bytes>), String> {
    let sets = |codec, config: &Bytes| {
        elementary::parameter_sets(codec, config)
            .map(|(sets, _)| sets)
            .map_err(|e| format!("the track's decoder configuration: {e}"))
    };
    Ok(match &track.codec {
        Codec::H264 { config } => {
            let s = sets(VideoCodec::H264, config)?;
            let d = MediaDescription::h264(port, payload_type, &refs(&s.sps), &refs(&s.pps));
            (d, 90_000, [s.sps, s.pps].concat())
        }
        Codec::H265 { config } => {
            let s = sets(VideoCodec::H265, config)?;
            let (vps, sps, pps) = (refs(&s.vps), refs(&s.sps), refs(&s.pps));
            let d = MediaDescription::h265(port, payload_type, &vps, &sps, &pps);
            (
                d,
                90_000,
                [s.vps.clone(), s.sps.clone(), s.pps.clone()].concat(),
            )
        }
        Codec::Aac { config } => {
            let rate = track.sample_rate.max(1);
            let d = MediaDescription::aac(port, payload_type, rate, track.channels, config);
            (d, rate, Vec::new())
        }
        Codec::Opus { .. } => (
            MediaDescription::opus(port, payload_type, track.channels),
            48_000,
            Vec::new(),
        ),
        _ if fmt == Format::Mpa => (MediaDescription::mpa(port), 90_000, Vec::new()),
        other => return Err(format!("RTP cannot carry {}", other.name())),
    })
}

fn refs(list: &[Bytes]) -> Vec<&[u8]> {
    list.iter().map(|s| &s[..]).collect()
}

/// A random number for SSRCs and timestamp starts (std's hasher keys are random per
/// process).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}
