//! `rtp://host:port`: RTP over UDP, one port per track (the first on `port`, the next on
//! `port + 2`, …), with RTCP sender reports on each port + 1 once a second, so that a
//! receiver lines audio up with video. The payload formats and the SDP are `rtp_media`'s;
//! this module does the clocks and the sockets. The SDP is logged and, with
//! `Options::sdp_file`, written to a file (atomically) when the tracks are known: a
//! receiver opens it (`ffmpeg -protocol_whitelist file,udp,rtp -i stream.sdp`).
//!
//! The output is paced in real time (a file input is sent at its media pace). Video
//! carries its parameter sets in band before every key frame besides the SDP's, so a
//! receiver that starts late or lost the SDP's can still decode. Nothing is queued: a
//! UDP send either goes or fails, and a failure ends the pipeline with one line.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use elementary::VideoCodec;
use media_core::{Codec, Track};
use rtp_media::{Format, MediaDescription, Packetizer, Session, sender_report};

use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Options, Packet};

/// What an RTP output takes, for misfit messages.
const TAKES: &str = "H.264, H.265, AAC, Opus or MPEG audio tracks";

/// RTP packets at most this long (header included): within any path's MTU.
const MAX_PACKET: usize = 1200;

pub(crate) fn factory(addr: &str, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    Ok(Box::new(RtpFactory {
        addr: addr.to_owned(),
        sdp_file: options.sdp_file.clone(),
    }))
}

struct RtpFactory {
    addr: String,
    sdp_file: Option<PathBuf>,
}

impl RtpFactory {
    fn endpoint(&self) -> String {
        format!("rtp://{}", self.addr)
    }

    fn err(&self, reason: String) -> Error {
        Error::Output {
            output: self.endpoint(),
            reason,
        }
    }
}

impl SinkFactory for RtpFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        for (index, track) in tracks.iter().enumerate() {
            if format(&track.codec).is_none() {
                return Err(Error::Misfit {
                    endpoint: self.endpoint(),
                    takes: TAKES.into(),
                    found: describe(index, track),
                });
            }
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let (host, base) = self
            .addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
            .ok_or_else(|| self.err("takes rtp://host:port".into()))?;
        let base: u16 = base;
        let destination = (host.as_str(), base)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| self.err(format!("cannot resolve {host}")))?;
        let local = if destination.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local)
            .map_err(|e| Error::io(format!("opening a UDP socket for {}", self.endpoint()), e))?;
        let seed = random_u64();
        let mut streams = Vec::new();
        let mut media = Vec::new();
        for (index, track) in tracks.iter().enumerate() {
            let port = u16::try_from(usize::from(base) + 2 * index)
                .ok()
                .filter(|p| *p < u16::MAX)
                .ok_or_else(|| self.err(format!("no port left for track {index}")))?;
            let fmt = format(&track.codec).ok_or_else(|| self.err(describe(index, track)))?;
            let payload_type = if fmt == Format::Mpa {
                14
            } else {
                96 + index as u8
            };
            let ssrc = (seed >> (index % 4 * 8)) as u32 ^ index as u32;
            let (description, clock, sets) = describe_track(track, fmt, port, payload_type)
                .map_err(|reason| self.err(reason))?;
            media.push(description);
            let mut rtp = destination;
            rtp.set_port(port);
            let mut rtcp = destination;
            rtcp.set_port(port + 1);
            streams.push(Stream {
                packetizer: Packetizer::new(fmt, payload_type, ssrc, MAX_PACKET),
                timescale: track.timescale.max(1),
                clock,
                offset: (seed >> 32) as u32 ^ ssrc,
                sets,
                rtp,
                rtcp,
                last_report: None,
            });
        }
        let sdp = Session::new(&host, "media-toolkit", media).to_string();
        tracing::info!(output = %self.endpoint(), "session description:\n{sdp}");
        if let Some(path) = &self.sdp_file {
            write_atomically(path, &sdp)?;
        }
        Ok(Box::new(RtpSink {
            endpoint: self.endpoint(),
            socket,
            streams,
        }))
    }
}

/// The payload format of a codec.
fn format(codec: &Codec) -> Option<Format> {
    Some(match codec {
        Codec::H264 { .. } => Format::H264,
        Codec::H265 { .. } => Format::H265,
        Codec::Aac { .. } => Format::Aac,
        Codec::Opus { .. } => Format::Opus,
        Codec::Mp3 => Format::Mpa,
        _ => return None,
    })
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

struct Stream {
    packetizer: Packetizer,
    /// The track's timescale and the RTP clock rate.
    timescale: u32,
    clock: u32,
    /// Added to every RTP timestamp: a random start, as RFC 3550 wants.
    offset: u32,
    /// Parameter sets, sent before each key frame (video).
    sets: Vec<Bytes>,
    rtp: SocketAddr,
    rtcp: SocketAddr,
    last_report: Option<Instant>,
}

impl Stream {
    /// `ticks` of the track's timescale on the RTP clock, from the random start.
    fn rtp_time(&self, ticks: i64) -> u32 {
        let scaled = i128::from(ticks) * i128::from(self.clock) / i128::from(self.timescale);
        (scaled as u32).wrapping_add(self.offset)
    }
}

struct RtpSink {
    endpoint: String,
    socket: UdpSocket,
    streams: Vec<Stream>,
}

impl RtpSink {
    fn send(&self, to: SocketAddr, datagram: &[u8]) -> Result<(), Error> {
        self.socket
            .send_to(datagram, to)
            .map(|_| ())
            .map_err(|e| Error::io(format!("sending to {}", self.endpoint), e))
    }
}

impl Sink for RtpSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let Some(stream) = self.streams.get_mut(packet.track) else {
            return Ok(());
        };
        let shown = packet.dts.saturating_add(i64::from(packet.cts_offset));
        let timestamp = stream.rtp_time(shown);
        let mut datagrams = Vec::new();
        if packet.keyframe && !stream.sets.is_empty() {
            let unit: Vec<u8> = stream
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
            let sets = stream.packetizer.packetize_part(timestamp, &unit, false);
            datagrams.extend(sets.map_err(|e| Error::Output {
                output: self.endpoint.clone(),
                reason: e.to_string(),
            })?);
        }
        datagrams.extend(
            stream
                .packetizer
                .packetize(timestamp, &packet.data)
                .map_err(|e| Error::Output {
                    output: self.endpoint.clone(),
                    reason: format!("track {}: {e}", packet.track),
                })?,
        );
        // A sender report at the first packet and once a second after: the stream is
        // paced on decode times, so now is the decode time's RTP time.
        let report = stream
            .last_report
            .is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0)
            .then(|| {
                stream.last_report = Some(Instant::now());
                let (packets, octets) = stream.packetizer.counts();
                let now = stream.rtp_time(packet.dts);
                (
                    stream.rtcp,
                    sender_report(
                        stream.packetizer.ssrc(),
                        SystemTime::now(),
                        now,
                        packets,
                        octets,
                    ),
                )
            });
        let to = stream.rtp;
        if let Some((rtcp, report)) = report {
            self.send(rtcp, &report)?;
        }
        for datagram in datagrams {
            self.send(to, &datagram)?;
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        // New parameter sets go in band before each key frame from now on; the SDP a
        // receiver already opened keeps the old ones (it decodes from the in-band sets).
        if let Some(stream) = self.streams.get_mut(track)
            && let Some(fmt) = format(&config.codec)
        {
            let port = stream.rtp.port();
            let payload_type = if fmt == Format::Mpa {
                14
            } else {
                96 + track as u8
            };
            let (_, _, sets) =
                describe_track(config, fmt, port, payload_type).map_err(|reason| {
                    Error::Output {
                        output: self.endpoint.clone(),
                        reason,
                    }
                })?;
            stream.sets = sets;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        Ok(None)
    }
}

/// The SDP written whole under a temporary name and renamed, so a receiver waiting for the
/// file never reads half of it.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("writing the SDP {}", path.display()), e))
}

/// A random number for SSRCs and timestamp starts (std's hasher keys are random per
/// process).
fn random_u64() -> u64 {
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
