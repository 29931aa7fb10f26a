//! rtp-media targets: what an RTP receiver parses.
//!
//! - `rtp_sdp`: any text as a session description, and every accessor of what it read;
//!   what it reads, written again, reads the same.
//! - `rtp_depacketize`: any datagrams through the reorder buffer and the depacketizer of
//!   each format (the first byte picks the format, then datagrams each after a 1-byte
//!   length); nothing held grows without bound.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtp_media::{Depacketizer, Format, ReorderBuffer, RtpPacket, Session};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] =
    &[("rtp_sdp", rtp_sdp), ("rtp_depacketize", rtp_depacketize)];

/// SDP parsing and the per-stream accessors.
pub fn rtp_sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(session) = Session::parse(&text) else {
        return;
    };
    for m in &session.media {
        let _ = (m.format(), m.clock_rate(), m.channels());
        let _ = (m.parameter_sets(), m.audio_specific_config());
    }
    let again = Session::parse(&session.to_string()).expect("what we write reads back");
    assert_eq!(again.media.len(), session.media.len());
}

/// Datagrams through a reorder buffer into a depacketizer.
pub fn rtp_depacketize(data: &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let formats = [
        Format::H264,
        Format::H265,
        Format::Aac,
        Format::Opus,
        Format::Mpa,
        Format::AacLatm,
    ];
    let format = formats[usize::from(first) % formats.len()];
    let mut reorder = ReorderBuffer::new(8, Duration::from_millis(50));
    let mut depacketizer = Depacketizer::new(format);
    let start = Instant::now();
    let mut tick = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        tick += 10;
        let now = start + Duration::from_millis(tick);
        if let Ok(packet) = RtpPacket::parse(Bytes::copy_from_slice(datagram)) {
            reorder.push(packet, now);
        }
        while let Some(packet) = reorder.pop(now) {
            depacketizer.push(&packet);
            while let Some(frame) = depacketizer.pull() {
                assert!(frame.data.len() <= 16 << 20);
            }
        }
    }
    while let Some(packet) = reorder.drain() {
        depacketizer.push(&packet);
    }
    depacketizer.finish();
    while depacketizer.pull().is_some() {}
}
