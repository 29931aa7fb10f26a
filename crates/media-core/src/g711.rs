//! G.711 (ITU-T G.711) as a [`Codec`]: many cameras send it (RTP PCMA/PCMU) and WebRTC
//! takes it as it is, while MP4 players do not. `Codec` has no variant for it; it is a
//! QuickTime sound sample description (`alaw`/`ulaw`, QuickTime File Format "Sound Sample
//! Descriptions", version 0) in [`Codec::SampleEntry`], which is also how a `.mov` file
//! carries it. Packets are the raw 8-bit samples, timestamps at the sample rate.

use bytes::{BufMut, BytesMut};

use crate::Codec;

/// G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum G711Law {
    /// A-law (PCMA, RTP payload type 8).
    ALaw,
    /// µ-law (PCMU, RTP payload type 0).
    MuLaw,
}

/// What a G.711 track is: its law, sample rate and channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct G711 {
    /// A-law or µ-law.
    pub law: G711Law,
    /// Samples per second (8000 for RTP's static payload types).
    pub rate: u32,
    /// Channels (1 for RTP's static payload types).
    pub channels: u16,
}

impl G711 {
    /// G.711 in `law` at `rate` Hz with `channels` channels.
    pub fn new(law: G711Law, rate: u32, channels: u16) -> G711 {
        G711 {
            law,
            rate,
            channels,
        }
    }

    /// The codec: a 36-byte `alaw`/`ulaw` sample description.
    pub fn codec(&self) -> Codec {
        let mut entry = BytesMut::with_capacity(36);
        entry.put_u32(36);
        entry.put_slice(match self.law {
            G711Law::ALaw => b"alaw",
            G711Law::MuLaw => b"ulaw",
        });
        entry.put_slice(&[0; 6]);
        entry.put_u16(1); // data reference index
        entry.put_u16(0); // version
        entry.put_u16(0); // revision
        entry.put_u32(0); // vendor
        entry.put_u16(self.channels);
        entry.put_u16(16); // sample size
        entry.put_u16(0); // compression id
        entry.put_u16(0); // packet size
        entry.put_u32(self.rate.min(0xFFFF) << 16); // 16.16 fixed point
        Codec::SampleEntry {
            entry: entry.freeze(),
        }
    }

    /// The G.711 a codec describes, if it is one.
    pub fn of(codec: &Codec) -> Option<G711> {
        let Codec::SampleEntry { entry } = codec else {
            return None;
        };
        let law = match entry.get(4..8)? {
            b"alaw" => G711Law::ALaw,
            b"ulaw" => G711Law::MuLaw,
            _ => return None,
        };
        let channels = u16::from_be_bytes(entry.get(24..26)?.try_into().ok()?);
        let rate = u32::from_be_bytes(entry.get(32..36)?.try_into().ok()?) >> 16;
        Some(G711::new(law, rate, channels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codec_says_what_it_was_made_of() {
        for law in [G711Law::ALaw, G711Law::MuLaw] {
            let g711 = G711::new(law, 8000, 1);
            assert_eq!(G711::of(&g711.codec()), Some(g711));
        }
        assert_eq!(G711::of(&Codec::Mp3), None);
        let short = Codec::SampleEntry {
            entry: bytes::Bytes::from_static(b"\0\0\0\x0calaw\0\0\0\0"),
        };
        assert_eq!(G711::of(&short), None, "a truncated entry is not G.711");
    }
}
