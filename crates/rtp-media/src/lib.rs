//! RTP for media, without I/O: frames cut into RTP packets by the payload formats of
//! H.264 (RFC 6184, packetization mode 1), H.265 (RFC 7798), AAC (RFC 3640, `AAC-hbr`),
//! Opus (RFC 7587) and MPEG audio (RFC 2250), RTCP sender reports (RFC 3550 §6.4.1) that
//! tie each stream's clock to wall time (what a receiver needs to keep audio and video in
//! step), and the SDP (RFC 8866) that tells a receiver such as ffmpeg or GStreamer what
//! arrives on which port.
//!
//! Receiving is the inverse: [`RtpPacket::parse`], a [`ReorderBuffer`] that puts packets
//! back in sequence order and counts losses, a [`Depacketizer`] per stream that rebuilds
//! the frames, and [`Session::parse`] for an SDP file (ours or ffmpeg's).
//!
//! With the `udp` feature, the one piece with I/O: `udp::Outbox` sends a frame's datagrams
//! to one receiver in one `sendmsg` with UDP segmentation offload, never blocking.
//!
//! ```
//! use rtp_media::{Format, Packetizer};
//! let mut video = Packetizer::new(Format::H264, 96, 0x1234_5678, 1200);
//! // One access unit: 4-byte length-prefixed NAL units, as in MP4.
//! let unit = [&[0, 0, 0, 3][..], &[0x65, 0x88, 0x84]].concat();
//! let packets = video.packetize(90_000, &unit)?;
//! assert_eq!(packets.len(), 1);
//! assert_eq!(packets[0][1], 0x80 | 96); // marker: the access unit's last packet
//! # Ok::<(), rtp_media::Error>(())
//! ```

mod depacketize;
mod packet;
mod packetize;
mod reorder;
mod rtcp;
mod sdp;
mod sdp_read;
#[cfg(feature = "udp")]
pub mod udp;

pub use depacketize::{Depacketizer, Frame};
pub use packet::RtpPacket;
pub use packetize::{Format, NalPayload, Packetizer, nal_payloads};
pub use reorder::ReorderBuffer;
pub use rtcp::sender_report;
pub use sdp::{MediaDescription, Session};

/// What cannot be packetized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A length-prefixed NAL unit runs past the end of the access unit.
    #[error("NAL unit of {length} bytes at byte {at} runs past the {size}-byte access unit")]
    NalTruncated {
        /// Where its length prefix starts.
        at: usize,
        /// The length it claims.
        length: usize,
        /// The access unit's size.
        size: usize,
    },
    /// An AAC access unit longer than the 13-bit size field of `AAC-hbr`.
    #[error("AAC access unit of {0} bytes exceeds the 8191 bytes AAC-hbr can describe")]
    AacTooLong(usize),
    /// The packet size leaves no room for payload.
    #[error("a maximum packet size of {0} bytes leaves no room for a payload")]
    PacketSize(usize),
    /// A datagram that is not an RTP packet.
    #[error("bad RTP packet of {length} bytes: {reason}")]
    BadPacket {
        /// What is wrong with it.
        reason: &'static str,
        /// The datagram's size.
        length: usize,
    },
    /// A session description that cannot be read.
    #[error("SDP line {line}: {reason}")]
    Sdp {
        /// The line, from 1 (0: the description as a whole).
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The fixed RTP header (RFC 3550 §5.1), version 2, no CSRC, no extension.
pub const HEADER_LEN: usize = 12;
