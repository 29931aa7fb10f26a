//! RTCP sender reports (RFC 3550 §6.4.1): the wall-clock time of an RTP timestamp, which
//! a receiver needs to line up streams with different clocks (audio and video).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// Seconds from 1900 (NTP's epoch) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A sender report without report blocks: at `wall`, the stream `ssrc` was at RTP time
/// `rtp_timestamp`, having sent `packets` packets and `octets` payload octets.
pub fn sender_report(
    ssrc: u32,
    wall: SystemTime,
    rtp_timestamp: u32,
    packets: u32,
    octets: u32,
) -> Bytes {
    let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs().wrapping_add(NTP_UNIX_OFFSET) as u32;
    let fraction = ((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut report = BytesMut::with_capacity(28);
    report.put_u8(0x80); // version 2, no padding, no report block
    report.put_u8(200); // SR
    report.put_u16(6); // length in 32-bit words, minus one
    report.put_u32(ssrc);
    report.put_u32(seconds);
    report.put_u32(fraction);
    report.put_u32(rtp_timestamp);
    report.put_u32(packets);
    report.put_u32(octets);
    report.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_report_carries_ntp_time_and_counts() {
        let wall = UNIX_EPOCH + Duration::from_millis(1_500);
        let r = sender_report(0xaabb_ccdd, wall, 90_000, 10, 1000);
        assert_eq!(r.len(), 28);
        assert_eq!(&r[..4], &[0x80, 200, 0, 6]);
        assert_eq!(&r[4..8], &0xaabb_ccddu32.to_be_bytes());
        assert_eq!(&r[8..12], &(2_208_988_801u32).to_be_bytes());
        assert_eq!(&r[12..16], &(1u32 << 31).to_be_bytes(), "half a second");
        assert_eq!(&r[16..20], &90_000u32.to_be_bytes());
        assert_eq!(&r[20..28], &[0, 0, 0, 10, 0, 0, 3, 232]);
    }
}
