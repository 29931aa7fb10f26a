//! AC-3 (Dolby Digital) sync frames, ETSI TS 102 366 (ATSC A/52): the `syncinfo` and the
//! start of the `bsi` of each frame give its length, sample rate and channels, and the
//! three bytes of the `dac3` box (Annex F.4) that MP4 and the neutral track carry as the
//! decoder configuration. Every frame holds 1536 samples (6 blocks of 256).

/// Samples in one AC-3 sync frame.
pub const AC3_FRAME_SAMPLES: u32 = 1536;

/// Nominal bit rates in kbit/s by `frmsizecod >> 1` (Table 4.13).
const BIT_RATES: [u16; 19] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
];

/// Full-bandwidth channels by `acmod` (Table 4.3): 1+1, 1/0, 2/0, 3/0, 2/1, 3/1, 2/2, 3/2.
const CHANNELS: [u16; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// What one AC-3 sync frame's header says.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ac3Frame {
    /// The whole frame's length in bytes.
    pub len: usize,
    /// 48 000, 44 100 or 32 000.
    pub sample_rate: u32,
    /// Channels, the low-frequency effects channel included.
    pub channels: u16,
    /// The body of an MP4 `AC3SpecificBox` (`dac3`): fscod, bsid, bsmod, acmod, lfeon,
    /// bit_rate_code, 5 reserved bits.
    pub dac3: [u8; 3],
}

impl Ac3Frame {
    /// Reads the header of the sync frame at the start of `data` (7 bytes at least);
    /// `None` without the sync word, for a reserved rate or size code, or for a `bsid`
    /// above 10 (Enhanced AC-3 uses 16 and is another codec).
    pub fn parse(data: &[u8]) -> Option<Ac3Frame> {
        let h = data.get(..7)?;
        if h[0] != 0x0B || h[1] != 0x77 {
            return None;
        }
        let fscod = h[4] >> 6;
        let frmsizecod = h[4] & 0x3F;
        let bsid = h[5] >> 3;
        let bsmod = h[5] & 7;
        let acmod = h[6] >> 5;
        if fscod == 3 || bsid > 10 {
            return None;
        }
        let kbps = u32::from(*BIT_RATES.get(usize::from(frmsizecod >> 1))?);
        // 16-bit words per frame (Table 4.13): 2 per kbit/s at 48 kHz, 3 at 32 kHz, and
        // at 44.1 kHz 1536/44.1/16 per kbit/s rounded down, one more for odd codes.
        let words = match fscod {
            0 => 2 * kbps,
            1 => kbps * 1536 * 1000 / 44_100 / 16 + u32::from(frmsizecod & 1),
            _ => 3 * kbps,
        };
        // After acmod (the top 3 bits of byte 6): cmixlev when there are three front
        // channels, surmixlev with a surround channel, dsurmod in 2/0, then lfeon
        // (§4.3.2); at most 7 bits in, so still in byte 6.
        let mut lfe_at = 3;
        if acmod & 1 != 0 && acmod != 1 {
            lfe_at += 2;
        }
        if acmod & 4 != 0 {
            lfe_at += 2;
        }
        if acmod == 2 {
            lfe_at += 2;
        }
        let lfeon = u8::from(h[6] & (0x80 >> lfe_at) != 0);
        let bit_rate_code = frmsizecod >> 1;
        Some(Ac3Frame {
            len: words as usize * 2,
            sample_rate: [48_000, 44_100, 32_000][usize::from(fscod)],
            channels: CHANNELS[usize::from(acmod)] + u16::from(lfeon),
            dac3: [
                fscod << 6 | bsid << 1 | bsmod >> 2,
                (bsmod & 3) << 6 | acmod << 3 | lfeon << 2 | bit_rate_code >> 3,
                (bit_rate_code & 7) << 5,
            ],
        })
    }
}

/// What a `dac3` body says: sample rate and channels (`None` when it is not 3 bytes or
/// its rate code is reserved).
pub fn ac3_config(dac3: &[u8]) -> Option<(u32, u16)> {
    let [a, b, _] = *dac3 else {
        return None;
    };
    let rate = *[48_000, 44_100, 32_000].get(usize::from(a >> 6))?;
    let acmod = (b >> 3) & 7;
    let lfeon = (b >> 2) & 1;
    Some((rate, CHANNELS[usize::from(acmod)] + u16::from(lfeon)))
}

/// The sync frames at the start of `data`, each as a range, and where the first byte not
/// in a whole frame starts (a frame cut at the end, or bytes that do not start with a
/// sync word: the caller skips or keeps them).
pub fn ac3_frames(data: &[u8]) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(frame) = data.get(at..).and_then(Ac3Frame::parse) {
        let end = at + frame.len;
        if end > data.len() {
            break;
        }
        frames.push(at..end);
        at = end;
    }
    (frames, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame header: 48 kHz, 192 kbit/s (frmsizecod 20), bsid 8, bsmod 0, and `acmod`,
    /// `lfeon` as given.
    fn header(acmod: u8, lfeon: bool) -> Vec<u8> {
        let mut h = vec![0x0B, 0x77, 0, 0, 20, 8 << 3];
        // acmod, then the mix levels it implies, then lfeon.
        let mut bits: u32 = u32::from(acmod);
        let mut n = 3;
        let extra = [acmod & 1 != 0 && acmod != 1, acmod & 4 != 0, acmod == 2];
        for present in extra {
            if present {
                bits <<= 2;
                n += 2;
            }
        }
        bits = bits << 1 | u32::from(lfeon);
        n += 1;
        let word = (bits << (16 - n)) as u16;
        h.extend_from_slice(&word.to_be_bytes());
        h
    }

    #[test]
    fn channels_and_lfe_from_every_mode() {
        for acmod in 0..8u8 {
            for lfe in [false, true] {
                let f = Ac3Frame::parse(&header(acmod, lfe)).unwrap();
                assert_eq!(
                    f.channels,
                    CHANNELS[usize::from(acmod)] + u16::from(lfe),
                    "acmod {acmod} lfe {lfe}"
                );
                assert_eq!(f.sample_rate, 48_000);
                assert_eq!(f.len, 768, "192 kbit/s at 48 kHz");
                assert_eq!(ac3_config(&f.dac3), Some((48_000, f.channels)));
                // bit_rate_code 10 (192 kbit/s), bsid 8.
                assert_eq!((f.dac3[1] & 3) << 3 | f.dac3[2] >> 5, 10);
                assert_eq!((f.dac3[0] >> 1) & 0x1F, 8);
            }
        }
    }

    #[test]
    fn frame_sizes_at_each_rate() {
        let mut h = header(2, false);
        h[4] = 0x40; // 44.1 kHz, 32 kbit/s
        assert_eq!(Ac3Frame::parse(&h).unwrap().len, 138);
        h[4] = 0x41;
        assert_eq!(Ac3Frame::parse(&h).unwrap().len, 140);
        h[4] = 0x80 | 37; // 32 kHz, 640 kbit/s
        assert_eq!(Ac3Frame::parse(&h).unwrap().len, 3840);
        h[4] = 38; // reserved size code
        assert_eq!(Ac3Frame::parse(&h), None);
        h[4] = 0xC0; // reserved rate
        assert_eq!(Ac3Frame::parse(&h), None);
        h[4] = 20;
        h[5] = 16 << 3; // E-AC-3
        assert_eq!(Ac3Frame::parse(&h), None);
    }

    proptest::proptest! {
        /// Any bytes: no panic, and every frame found lies inside them, in order.
        #[test]
        fn any_bytes_split_safely(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000)) {
            let _ = Ac3Frame::parse(&data);
            let (frames, end) = ac3_frames(&data);
            let mut at = 0;
            for f in &frames {
                proptest::prop_assert_eq!(f.start, at);
                at = f.end;
            }
            proptest::prop_assert_eq!(end, at);
            proptest::prop_assert!(end <= data.len());
        }
    }

    #[test]
    fn frames_are_split_and_a_cut_one_left() {
        let mut data = Vec::new();
        for _ in 0..3 {
            let mut f = header(7, true);
            f.resize(768, 0);
            data.extend(f);
        }
        data.truncate(768 * 3 - 10);
        let (frames, end) = ac3_frames(&data);
        assert_eq!(frames, vec![0..768, 768..1536]);
        assert_eq!(end, 1536);
        assert_eq!(ac3_frames(&[0x0B, 0x77, 0]).0, Vec::new());
    }
}
