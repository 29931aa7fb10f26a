//! Length-delimited framing for byte transports (TCP, pipes, files): each frame is a
//! 4-byte big-endian length followed by one serialized `DataPacket`, the layout of
//! tokio-util's `LengthDelimitedCodec` defaults. LiveKit itself sends packets over a data
//! channel, which keeps message boundaries; on a byte transport this prefix restores them.
//!
//! The decoder is sans-I/O: the caller appends whatever the transport gave into a
//! [`BytesMut`] and takes out complete frames as [`Bytes`] that share that buffer.

use bytes::{Buf, Bytes, BytesMut};

use crate::{Error, Result};

/// Default maximum frame size: 1 MiB (LiveKit packets stay under 64 000 bytes).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 1 << 20;

/// Splits a byte stream into frames, refusing any larger than the maximum.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
    /// Transport offset of the first byte not yet consumed (for error context).
    offset: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames over `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder {
            max_frame_size,
            offset: 0,
        }
    }

    /// The configured maximum frame size.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Transport offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Takes the next complete frame (without its prefix) from the front of `buf`, or
    /// `Ok(None)` when more bytes are needed. A frame that announces more than the maximum
    /// is an error at once, before its bytes arrive (so memory stays bounded).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > self.max_frame_size {
            return Err(Error::FrameTooLarge {
                len: len as u64,
                offset: self.offset,
                max: self.max_frame_size,
            });
        }
        if buf.len() < 4 + len {
            // Make room for the rest of the frame in one go.
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        self.offset += 4 + len as u64;
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// Called when the transport ended: an error if part of a frame is left in `buf`.
    pub fn finish(&self, buf: &BytesMut) -> Result<()> {
        if buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TruncatedFrame {
                offset: self.offset,
                pending: buf.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn splits_frames_fed_byte_by_byte() {
        let mut wire = BytesMut::new();
        for payload in [&b"abc"[..], b"", b"hello world"] {
            wire.put_u32(payload.len() as u32);
            wire.extend_from_slice(payload);
        }
        let mut decoder = FrameDecoder::new(100);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(f) = decoder.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, [&b"abc"[..], b"", b"hello world"]);
        assert_eq!(decoder.offset(), wire.len() as u64);
        decoder.finish(&buf).unwrap();
    }

    #[test]
    fn refuses_oversized_frame_before_its_bytes() {
        let mut buf = BytesMut::from(&[0u8, 0, 1, 0][..]);
        let err = FrameDecoder::new(255).decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            Error::FrameTooLarge {
                len: 256,
                offset: 0,
                max: 255
            }
        );
    }

    #[test]
    fn truncated_frame_is_reported_at_the_end() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        let mut decoder = FrameDecoder::default();
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(
            decoder.finish(&buf).unwrap_err(),
            Error::TruncatedFrame {
                offset: 0,
                pending: 6
            }
        );
    }
}
