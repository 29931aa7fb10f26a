//! The duration of an Opus packet from its table-of-contents byte (RFC 6716 §3.1): the
//! frame size from the configuration number, the frame count from the code (and, for
//! code 3, from the second byte). Ogg pages and MP4 samples carry no per-packet
//! duration, so writers and readers compute it.

/// An `OpusHead` (RFC 7845 §5.1) for a stream that has none of its own (RTP, WebRTC,
/// MPEG-TS): version 1, `channels` (1 or 2: channel mapping family 0), `pre_skip`
/// samples, 48 kHz, no gain.
pub fn opus_head(channels: u8, pre_skip: u16) -> bytes::Bytes {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    bytes::Bytes::from(head)
}

/// Samples at 48 kHz in one Opus packet; `None` for an empty or malformed packet or one
/// longer than the 120 ms RFC 6716 allows.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples (RFC 6716 Table 2): SILK 10/20/40/60 ms, Hybrid
    // 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    #[test]
    fn opus_head_says_its_channels_and_pre_skip() {
        let head = super::opus_head(2, 312);
        assert_eq!((&head[..8], head[9], head.len()), (&b"OpusHead"[..], 2, 19));
        assert_eq!((head[10], head[11]), (0x38, 0x01));
    }

    use super::*;

    #[test]
    fn frame_sizes_and_counts() {
        assert_eq!(opus_packet_samples(&[0xF8]), Some(960)); // CELT FB 20 ms, 1 frame
        assert_eq!(opus_packet_samples(&[0x79]), Some(2 * 960)); // Hybrid FB 20 ms, 2 frames
        assert_eq!(opus_packet_samples(&[0x18]), Some(2880)); // SILK 60 ms
        assert_eq!(opus_packet_samples(&[0x1B, 0x03]), None); // 3 × 60 ms: over 120 ms
        assert_eq!(opus_packet_samples(&[0xE3, 0x04]), Some(4 * 120)); // CELT 2.5 ms ×4
        assert_eq!(opus_packet_samples(&[0x1B, 0x00]), None); // code 3 with no frame
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
