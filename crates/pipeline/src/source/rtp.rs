//! An `.sdp` file as input: the RTP streams it describes (as ffmpeg's `-sdp_file` or our
//! `rtp://` output's `--sdp` writes it), received on one UDP port per media section, put
//! back in sequence order ([`rtp_media::ReorderBuffer`]: 64 packets or 200 ms), rebuilt
//! into frames ([`rtp_media::Depacketizer`]) and sent as the pipeline's packets.
//!
//! Each socket is bound to the section's `c=` address when it is one of this host's,
//! else to the unspecified address of its family (multicast groups are not joined).
//! RTCP (the next port) is not read: tracks are lined up by when each one's first frame
//! arrived, as the WHIP input does, not by sender reports. Video tracks are announced
//! once each has its parameter sets (from the SDP or in band) and a key frame; RTP times
//! are presentation times, and decode times come from rtsp-source's
//! [`TrackTimeline`] (the (R+1)-th largest presentation time so far), as for a camera.
//! Lost packets are sent as [`InputEvent::Loss`]. The input ends after 5 s without a
//! packet (an error if none ever came) or on stop.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use elementary::{ParameterSets, VideoCodec};
use rtp_media::{Depacketizer, Format, Frame, MediaDescription, ReorderBuffer, RtpPacket, Session};
use rtsp_source::timeline::TrackTimeline;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::contract::InputEvent;
use crate::{Codec, Error, Packet, Track};

/// Without a packet this long, an `.sdp` input ends (nothing else says its sender left).
const IDLE: Duration = Duration::from_secs(5);
/// The reorder buffer of each stream: packets, and how long a gap is waited for.
const REORDER_PACKETS: usize = 64;
const REORDER_DELAY: Duration = Duration::from_millis(200);
/// Frames kept while waiting for the parameter sets; beyond, the oldest go.
const MAX_PENDING: usize = 1024;

/// One media section of the SDP: its socket's packets on their way to being packets.
pub(crate) struct Stream {
    format: Format,
    media: MediaDescription,
    clock_rate: u32,
    reorder: ReorderBuffer,
    depacketizer: Depacketizer,
    /// Video: parameter sets from the SDP and in band.
    sets: ParameterSets,
    /// MPEG audio: the sample rate and channels of the first frame.
    mp3: Option<(u32, u16)>,
    /// The last RTP timestamp and its value extended to 64 bits.
    last_rtp: Option<(u32, i64)>,
    timeline: Option<TrackTimeline>,
    /// The first frame's time (in the track's timescale) and where it is placed.
    first: Option<(i64, i64)>,
    index: usize,
    seen_key: bool,
    lost_sent: u64,
    /// The sender this stream latched onto: the address of its first RTP packet of the
    /// right payload type. Packets from any other address (a flood, a second sender)
    /// are dropped and counted, as RTP receivers latch onto their source.
    sender: Option<SocketAddr>,
    foreign: u64,
}

impl Stream {
    fn video_codec(&self) -> Option<VideoCodec> {
        match self.format {
            Format::H264 => Some(VideoCodec::H264),
            Format::H265 => Some(VideoCodec::H265),
            _ => None,
        }
    }

    /// Whether the track can be described: video has its parameter sets, MPEG audio
    /// its first frame.
    fn describable(&self) -> bool {
        match (self.video_codec(), self.format) {
            (Some(codec), _) => self.sets.complete(codec),
            (None, Format::Mpa) => self.mp3.is_some(),
            _ => true,
        }
    }

    /// The track's timescale: the RTP clock, except MPEG audio's 90 kHz.
    fn timescale(&self) -> u32 {
        self.mp3.map_or(self.clock_rate, |(rate, _)| rate)
    }
}

struct Receiver<'a> {
    name: String,
    streams: Vec<Stream>,
    tx: &'a mpsc::Sender<InputEvent>,
    announced: bool,
    pending: VecDeque<(usize, Frame, Instant)>,
    origin: Option<Instant>,
}

/// A datagram of stream `index` (by position among the streams), when it came and from
/// where.
pub(crate) type Incoming = (usize, Bytes, Instant, SocketAddr);

pub(crate) async fn run(
    path: &Path,
    tx: &mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {name}"), e))?;
    let session = Session::parse(&text).map_err(|e| Error::Input {
        input: name.clone(),
        reason: e.to_string(),
    })?;
    let (streams, _) = streams(&session, &name)?;
    let mut sockets = JoinSet::new();
    let (datagrams, received) = mpsc::channel::<Incoming>(1024);
    for (index, stream) in streams.iter().enumerate() {
        let media = &stream.media;
        let address = media
            .address
            .clone()
            .unwrap_or_else(|| session.address.clone());
        let socket = bind(&address, media.port)
            .await
            .map_err(|e| Error::io(format!("{name}: binding UDP port {}", media.port), e))?;
        let sender = datagrams.clone();
        sockets.spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                let datagram = Bytes::copy_from_slice(&buffer[..n]);
                if sender
                    .send((index, datagram, Instant::now(), from))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    drop(datagrams);
    let result = receive(name, streams, received, IDLE, tx, stop).await;
    sockets.abort_all();
    result
}

/// The streams of `session` that can be rebuilt into frames, in order, and for each media
/// section the position of its stream (`None`: left out).
pub(crate) fn streams(
    session: &Session,
    name: &str,
) -> Result<(Vec<Stream>, Vec<Option<usize>>), Error> {
    let bad = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let mut streams = Vec::new();
    let mut positions = Vec::new();
    for media in &session.media {
        let Some(format) = media.format() else {
            tracing::warn!(input = name, "{}: no depacketizer, left out", media.rtpmap);
            positions.push(None);
            continue;
        };
        if format == Format::Aac
            && (media.parameter("sizelength") != Some("13")
                || media.parameter("indexlength") != Some("3"))
        {
            return Err(bad(
                "AAC other than AAC-hbr (sizelength 13, indexlength 3)".into()
            ));
        }
        let index = streams.len();
        positions.push(Some(index));
        let mut sets = ParameterSets::default();
        let codec = match format {
            Format::H265 => VideoCodec::H265,
            _ => VideoCodec::H264,
        };
        for set in media.parameter_sets() {
            sets.take(codec, &Bytes::from(set));
        }
        streams.push(Stream {
            format,
            clock_rate: media.clock_rate().filter(|r| *r > 0).unwrap_or(90_000),
            media: media.clone(),
            reorder: ReorderBuffer::new(REORDER_PACKETS, REORDER_DELAY),
            depacketizer: Depacketizer::new(format),
            sets,
            mp3: None,
            last_rtp: None,
            timeline: None,
            first: None,
            index,
            seen_key: false,
            lost_sent: 0,
            sender: None,
            foreign: 0,
        });
    }
    if streams.is_empty() {
        return Err(bad(
            "no stream of H.264, H.265, AAC, Opus or MPEG audio".into()
        ));
    }
    Ok((streams, positions))
}

/// Rebuilds `streams` from the datagrams on `received` until it closes, nothing comes for
/// `idle`, or a stop.
pub(crate) async fn receive(
    name: String,
    streams: Vec<Stream>,
    mut received: mpsc::Receiver<Incoming>,
    idle: Duration,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let bad = |reason: String| Error::Input {
        input: name.clone(),
        reason,
    };
    let mut receiver = Receiver {
        name: name.clone(),
        streams,
        tx,
        announced: false,
        pending: VecDeque::new(),
        origin: None,
    };
    let mut last_packet = Instant::now();
    let mut packets = 0u64;
    let mut bad_packets = 0u64;
    loop {
        let event = tokio::select! {
            _ = stop.changed() => break,
            e = tokio::time::timeout(Duration::from_millis(50), received.recv()) => e,
        };
        let now = Instant::now();
        match event {
            Ok(Some((index, datagram, at, from))) => match RtpPacket::parse(datagram) {
                Ok(packet) => {
                    let stream = &mut receiver.streams[index];
                    if packet.payload_type == stream.media.payload_type
                        && *stream.sender.get_or_insert(from) != from
                    {
                        stream.foreign += 1;
                        if stream.foreign == 1 {
                            tracing::warn!(
                                input = name,
                                port = stream.media.port,
                                "RTP from {from} left out: the stream's sender is another"
                            );
                        }
                    } else if packet.payload_type == stream.media.payload_type {
                        stream.reorder.push(packet, at);
                        packets += 1;
                        last_packet = at;
                    }
                }
                Err(e) => {
                    bad_packets += 1;
                    tracing::debug!(input = name, "{e}");
                }
            },
            Ok(None) => break,
            Err(_) => {}
        }
        if !receiver.release(now, false).await? {
            return Ok(());
        }
        if now.saturating_duration_since(last_packet) >= idle {
            break;
        }
    }
    receiver.release(Instant::now(), true).await?;
    for (i, s) in receiver.streams.iter().enumerate() {
        tracing::info!(
            input = name,
            stream = i,
            lost = s.reorder.lost(),
            duplicates = s.reorder.duplicates(),
            late = s.reorder.late(),
            units_dropped = s.depacketizer.dropped(),
            "RTP stream ended"
        );
    }
    tracing::info!(input = name, packets, bad_packets, "RTP input ended");
    if packets == 0 {
        return Err(bad(format!(
            "no RTP packet arrived in {} s",
            idle.as_secs()
        )));
    }
    if !receiver.announced {
        return Err(bad("the video's parameter sets never arrived".into()));
    }
    Ok(())
}

/// A UDP socket on `port` of `address` when it is this host's, else of the unspecified
/// address of its family.
async fn bind(address: &str, port: u16) -> std::io::Result<UdpSocket> {
    let ip: IpAddr = address.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !ip.is_multicast()
        && let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)).await
    {
        return Ok(socket);
    }
    let any = if ip.is_ipv6() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    UdpSocket::bind(SocketAddr::new(any, port)).await
}

impl Receiver<'_> {
    /// Packets released by the reorder buffers (all of them when `end`) into frames and
    /// on; `false` once the recorder is gone.
    async fn release(&mut self, now: Instant, end: bool) -> Result<bool, Error> {
        for i in 0..self.streams.len() {
            let stream = &mut self.streams[i];
            loop {
                let packet = if end {
                    stream.reorder.drain()
                } else {
                    stream.reorder.pop(now)
                };
                let Some(packet) = packet else { break };
                stream.depacketizer.push(&packet);
            }
            if end {
                stream.depacketizer.finish();
            }
            let lost = stream.reorder.lost() - stream.lost_sent;
            stream.lost_sent += lost;
            let frames: Vec<Frame> = std::iter::from_fn(|| stream.depacketizer.pull()).collect();
            if lost > 0 && !self.send(InputEvent::Loss(lost)).await {
                return Ok(false);
            }
            for frame in frames {
                if !self.frame(i, frame, now).await? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// One frame of stream `i`: learned from, held until the tracks are announced, sent.
    async fn frame(&mut self, i: usize, frame: Frame, at: Instant) -> Result<bool, Error> {
        let stream = &mut self.streams[i];
        if let Some(codec) = stream.video_codec() {
            for nal in elementary::nal_units(&frame.data, 4).unwrap_or_default() {
                stream.sets.take(codec, &nal);
            }
        } else if stream.format == Format::Mpa && stream.mp3.is_none() {
            stream.mp3 = mp3_frames::Frames::new(&frame.data).next().map(|f| {
                (
                    f.header.sample_rate(),
                    u16::from(f.header.mode().channels()),
                )
            });
        }
        self.origin.get_or_insert(at);
        if self.announced {
            return self.send_frame(i, frame, at).await;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((i, frame, at));
        if !self.streams.iter().all(Stream::describable) {
            return Ok(true);
        }
        self.announce();
        let tracks = self
            .streams
            .iter()
            .map(track)
            .collect::<Result<Vec<_>, _>>();
        let tracks = tracks.map_err(|reason| Error::Input {
            input: self.name.clone(),
            reason,
        })?;
        if !self.send(InputEvent::Tracks(tracks)).await {
            return Ok(false);
        }
        while let Some((i, frame, at)) = self.pending.pop_front() {
            if !self.send_frame(i, frame, at).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sets up each stream's timeline.
    fn announce(&mut self) {
        for stream in &mut self.streams {
            let timescale = stream.timescale();
            stream.timeline = Some(match stream.video_codec() {
                Some(codec) => {
                    let sps = stream.sets.sps.first().map(|sps| &sps[..]);
                    super::video_timeline(codec, sps, timescale)
                }
                None => {
                    let aac = matches!(stream.format, Format::Aac | Format::AacLatm);
                    let step = aac.then_some(1024);
                    TrackTimeline::audio(timescale, step)
                }
            });
        }
        self.announced = true;
    }

    async fn send_frame(&mut self, i: usize, frame: Frame, at: Instant) -> Result<bool, Error> {
        let origin = *self.origin.get_or_insert(at);
        let stream = &mut self.streams[i];
        if stream.video_codec().is_some() {
            stream.seen_key |= frame.key;
            if !stream.seen_key {
                return Ok(true); // nothing decodes before the first key frame
            }
        }
        let extended = extend(stream.last_rtp, frame.timestamp);
        stream.last_rtp = Some((frame.timestamp, extended));
        let timescale = stream.timescale();
        let ticks = extended * i64::from(timescale) / i64::from(stream.clock_rate);
        let (first, placed) = *stream.first.get_or_insert_with(|| {
            // One second of lead so that the first decode times, placed before their
            // presentation, stay positive; every track gets the same.
            let since = at.saturating_duration_since(origin).as_secs_f64() + 1.0;
            (ticks, (since * f64::from(timescale)) as i64)
        });
        let Some(timeline) = stream.timeline.as_mut() else {
            return Ok(true);
        };
        let timing = timeline.push(ticks - first + placed, at);
        let index = stream.index;
        let wall = SystemTime::now();
        let mut packets = Vec::new();
        match stream.format {
            Format::H264 | Format::H265 => {
                let cts = i32::try_from(timing.presentation - timing.decode).unwrap_or(0);
                let packet = Packet::new(index, timing.decode, frame.key, frame.data);
                packets.push(packet.with_cts_offset(cts));
            }
            Format::Aac | Format::AacLatm => packets.push(
                Packet::new(index, timing.decode, true, frame.data).with_duration(Some(1024)),
            ),
            Format::Opus => {
                let samples = elementary::opus_packet_samples(&frame.data);
                packets.push(
                    Packet::new(index, timing.decode, true, frame.data).with_duration(samples),
                );
            }
            _ => {
                let mut dts = timing.decode;
                for f in mp3_frames::Frames::new(&frame.data) {
                    let data = frame.data.slice_ref(f.data);
                    let samples = f.samples();
                    packets.push(Packet::new(index, dts, true, data).with_duration(Some(samples)));
                    dts += i64::from(samples);
                }
            }
        }
        if timing.jump.is_some() && !self.send(InputEvent::TimestampJump { track: index }).await {
            return Ok(false);
        }
        for packet in packets {
            if !self.send(InputEvent::Packet(packet, wall)).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn send(&self, event: InputEvent) -> bool {
        self.tx.send(event).await.is_ok()
    }
}

/// `timestamp` extended to 64 bits from the last one and its extension: the nearest
/// value either way, so the 32-bit wrap (13 hours at 90 kHz) and B-frames going back
/// both come out right.
fn extend(last: Option<(u32, i64)>, timestamp: u32) -> i64 {
    match last {
        Some((raw, extended)) => extended + i64::from(timestamp.wrapping_sub(raw) as i32),
        None => i64::from(timestamp),
    }
}

/// The track a stream becomes.
fn track(stream: &Stream) -> Result<Track, String> {
    let media = &stream.media;
    Ok(match (stream.video_codec(), stream.format) {
        (Some(codec), _) => {
            let record = elementary::record(codec, &stream.sets)
                .map_err(|e| format!("{}: parameter sets: {e}", media.rtpmap))?;
            let sps = stream.sets.sps.first().cloned().unwrap_or_default();
            let info = elementary::sps_info(codec, &sps)
                .map_err(|e| format!("{}: SPS: {e}", media.rtpmap))?;
            let codec = match codec {
                VideoCodec::H265 => Codec::H265 { config: record },
                _ => Codec::H264 { config: record },
            };
            Track::video(codec, stream.clock_rate, info.width, info.height)
        }
        (None, Format::Aac | Format::AacLatm) => {
            let config = media
                .audio_specific_config()
                .ok_or("AAC without its config= parameter")?;
            let codec = Codec::Aac {
                config: Bytes::from(config),
            };
            Track::audio(codec, stream.clock_rate, media.channels())
        }
        (None, Format::Opus) => {
            let stereo = media.parameter("sprop-stereo") == Some("1");
            let channels = if stereo { 2 } else { 1 };
            Track::audio(
                Codec::Opus {
                    head: elementary::opus_head(channels, 0),
                },
                48_000,
                channels.into(),
            )
        }
        _ => {
            let (rate, channels) = stream.mp3.unwrap_or((44_100, 2));
            Track::audio(Codec::Mp3, rate, channels)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_extend_across_the_wrap_and_back() {
        let mut last = None;
        let mut got = Vec::new();
        for t in [u32::MAX - 3000, u32::MAX - 6000, 2000, 500, 5000] {
            let e = extend(last, t);
            last = Some((t, e));
            got.push(e - i64::from(u32::MAX - 3000));
        }
        assert_eq!(got, [0, -3000, 5001, 3501, 8001]);
    }
}
