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
            // bsid 9 and 10 halve and quarter the rate (ATSC A/52 Annex E's low rates,
            // as ffmpeg reads them); the frame size table stays.
            sample_rate: [48_000, 44_100, 32_000][usize::from(fscod)] >> (bsid.max(8) - 8),
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
    let bsid = (a >> 1) & 0x1F;
    let rate = *[48_000, 44_100, 32_000].get(usize::from(a >> 6))? >> (bsid.max(8) - 8).min(2);
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

/// What one Enhanced AC-3 (E-AC-3, Dolby Digital Plus) sync frame's header says (ETSI TS
/// 102 366 Annex E, `bsid` 16).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eac3Frame {
    /// The whole frame's length in bytes.
    pub len: usize,
    /// An independent substream (or AC-3 converted to one); `false` for a dependent one,
    /// which adds channels to the independent substream before it.
    pub independent: bool,
    /// The substream's id (0–7).
    pub substream: u8,
    /// 48 000, 44 100, 32 000, or half of them.
    pub sample_rate: u32,
    /// Audio blocks of 256 samples in the frame: 1, 2, 3 or 6.
    pub blocks: u8,
    /// The audio coding mode (as AC-3's `acmod`).
    pub acmod: u8,
    /// A low-frequency effects channel.
    pub lfe: bool,
    /// A dependent substream's channel map (Table E.1.4), when it has one.
    pub chanmap: Option<u16>,
}

/// Reads bits from the most significant down.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = v << 1 | u32::from(byte >> (7 - self.at % 8) & 1);
            self.at += 1;
        }
        Some(v)
    }
}

impl Eac3Frame {
    /// Reads the header of the E-AC-3 sync frame at the start of `data`; `None` without
    /// the sync word, for a `bsid` outside 11–16 (AC-3 is 0–10) or a reserved rate.
    pub fn parse(data: &[u8]) -> Option<Eac3Frame> {
        if data.get(..2)? != [0x0B, 0x77] {
            return None;
        }
        let mut b = Bits { data, at: 16 };
        let strmtyp = b.read(2)?;
        let substream = b.read(3)? as u8;
        let frmsiz = b.read(11)? as usize;
        let fscod = b.read(2)? as usize;
        let (sample_rate, blocks) = if fscod == 3 {
            let half = [24_000, 22_050, 16_000].get(b.read(2)? as usize).copied()?;
            (half, 6)
        } else {
            (
                [48_000, 44_100, 32_000][fscod],
                [1, 2, 3, 6][b.read(2)? as usize],
            )
        };
        let acmod = b.read(3)? as u8;
        let lfe = b.read(1)? == 1;
        let bsid = b.read(5)?;
        if !(11..=16).contains(&bsid) || strmtyp == 3 {
            return None;
        }
        // dialnorm, compr; the second channel's for 1+1; then a dependent substream's map.
        b.read(5)?;
        if b.read(1)? == 1 {
            b.read(8)?;
        }
        if acmod == 0 {
            b.read(5)?;
            if b.read(1)? == 1 {
                b.read(8)?;
            }
        }
        let chanmap = if strmtyp == 1 && b.read(1)? == 1 {
            Some(b.read(16)? as u16)
        } else {
            None
        };
        Some(Eac3Frame {
            len: (frmsiz + 1) * 2,
            independent: strmtyp != 1,
            substream,
            sample_rate,
            blocks,
            acmod,
            lfe,
            chanmap,
        })
    }

    /// Bits per second of this frame's substream.
    fn bit_rate(&self) -> u64 {
        self.len as u64 * 8 * u64::from(self.sample_rate) / (u64::from(self.blocks) * 256)
    }
}

/// The E-AC-3 access units at the start of `data`, each as a range: 1536 samples of the
/// first independent substream (one frame of 6 blocks, or several shorter ones) with the
/// frames of every other substream that go with them, as MP4 and Matroska store a
/// sample. The second value is where the first byte not in a whole unit starts.
pub fn eac3_units(data: &[u8]) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut units = Vec::new();
    let (mut start, mut at, mut blocks) = (0, 0, 0u8);
    while let Some(frame) = data.get(at..).and_then(Eac3Frame::parse) {
        if at + frame.len > data.len() {
            break;
        }
        if frame.independent && frame.substream == 0 {
            if blocks >= 6 {
                units.push(start..at);
                start = at;
                blocks = 0;
            }
            blocks = blocks.saturating_add(frame.blocks);
        }
        at += frame.len;
    }
    if blocks >= 6 {
        units.push(start..at);
        start = at;
    }
    (units, start)
}

/// What an E-AC-3 access unit says: the body of MP4's `EC3SpecificBox` (`dec3`, ETSI TS
/// 102 366 F.6), the sample rate and the channels (the first independent substream's and
/// those its dependent substreams add). `bsmod` is written as 0 (a complete main
/// service): it sits behind the mixing metadata, which is not read.
pub fn eac3_config(unit: &[u8]) -> Option<(Vec<u8>, u32, u16)> {
    // Per independent substream: its first frame, its dependent substreams (a bit per
    // substream id: one with several frames in the unit counts once) and their channel
    // locations (F.6.2.13: `chan_loc` from the map's bits, Lc/Rc first).
    let mut substreams: Vec<(Eac3Frame, u8, u16)> = Vec::new();
    let mut data_rate = 0;
    let mut at = 0;
    while let Some(frame) = unit.get(at..).and_then(Eac3Frame::parse) {
        data_rate = data_rate.max(frame.bit_rate() / 1000);
        if frame.independent {
            if !substreams.iter().any(|s| s.0.substream == frame.substream) {
                substreams.push((frame, 0, 0));
            }
        } else if let Some(last) = substreams.last_mut() {
            last.1 |= 1 << frame.substream;
            // Table E.1.4 (bit 15 = L … bit 0 = LFE) to F.6.1 (bit 0 = Lc/Rc … bit 8 = LFE2).
            let map = frame.chanmap.unwrap_or(0);
            for (k, bit) in [10, 9, 8, 7, 6, 5, 4, 3, 1].iter().enumerate() {
                if map >> bit & 1 == 1 {
                    last.2 |= 1 << k;
                }
            }
        }
        at += frame.len;
    }
    let first = substreams.first()?.0;
    let mut dec3 = Vec::with_capacity(2 + 3 * substreams.len());
    let rate = u16::try_from(data_rate.min(0x1FFF)).ok()?;
    dec3.extend_from_slice(&(rate << 3 | (substreams.len() as u16 - 1)).to_be_bytes());
    let mut channels = 0;
    for (i, (f, dependents, chan_loc)) in substreams.iter().enumerate() {
        let deps = dependents.count_ones() as u8;
        let fscod = match f.sample_rate {
            48_000 => 0,
            44_100 => 1,
            32_000 => 2,
            _ => 3,
        };
        dec3.push(fscod << 6 | 16 << 1);
        dec3.push(f.acmod << 1 | u8::from(f.lfe));
        if deps > 0 {
            dec3.push(deps << 1 | (chan_loc >> 8) as u8);
            dec3.push(*chan_loc as u8);
        } else {
            dec3.push(0);
        }
        if i == 0 {
            channels = eac3_channels(f.acmod, f.lfe, *chan_loc);
        }
    }
    Some((dec3, first.sample_rate, channels))
}

/// Samples in an E-AC-3 block of frames (a Matroska block, an MP4 sample): 256 per audio
/// block of the first independent substream's frames.
pub fn eac3_samples(data: &[u8]) -> Option<u32> {
    let mut at = 0;
    let mut blocks = 0u32;
    while let Some(frame) = data.get(at..).and_then(Eac3Frame::parse) {
        if frame.independent && frame.substream == 0 {
            blocks += u32::from(frame.blocks);
        }
        at += frame.len;
    }
    (blocks > 0).then_some(blocks * 256)
}

/// Channels of an independent substream with its dependent substreams' locations.
fn eac3_channels(acmod: u8, lfe: bool, chan_loc: u16) -> u16 {
    // F.6.1: pairs (Lc/Rc, Lrs/Rrs, Lsd/Rsd, Lw/Rw, Lvh/Rvh) count two.
    const TWO: [bool; 9] = [true, true, false, false, true, true, true, false, false];
    let added: u16 = (0..9)
        .filter(|k| chan_loc >> k & 1 == 1)
        .map(|k| if TWO[k] { 2 } else { 1 })
        .sum();
    CHANNELS[usize::from(acmod & 7)] + u16::from(lfe) + added
}

/// What a `dec3` body says of its first independent substream: sample rate (`None` for
/// the halved rates, which it does not tell apart) and channels.
pub fn eac3_dec3_config(dec3: &[u8]) -> Option<(Option<u32>, u16)> {
    let (a, b) = (*dec3.get(2)?, *dec3.get(3)?);
    let deps = (dec3.get(4)? >> 1) & 0xF;
    let chan_loc = if deps > 0 {
        u16::from(dec3.get(4)? & 1) << 8 | u16::from(*dec3.get(5)?)
    } else {
        0
    };
    let rate = [Some(48_000), Some(44_100), Some(32_000), None][usize::from(a >> 6)];
    Some((rate, eac3_channels((b >> 1) & 7, b & 1 == 1, chan_loc)))
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
        h[5] = 9 << 3; // half rate
        let half = Ac3Frame::parse(&h).unwrap();
        assert_eq!(half.sample_rate, 24_000);
        assert_eq!(ac3_config(&half.dac3), Some((24_000, 2)));
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

    /// An E-AC-3 frame of `len` bytes: independent (or dependent with `chanmap`),
    /// substream `id`, 48 kHz, `blocks` audio blocks (1, 2, 3 or 6), `acmod`, `lfe`.
    fn eac3(len: usize, chanmap: Option<u16>, id: u8, blocks: u8, acmod: u8, lfe: bool) -> Vec<u8> {
        let mut bits: Vec<(u32, usize)> = vec![
            (u32::from(chanmap.is_some()), 2),
            (u32::from(id), 3),
            ((len / 2 - 1) as u32, 11),
            (0, 2),
            (
                [1, 2, 3, 6].iter().position(|b| *b == blocks).unwrap() as u32,
                2,
            ),
            (u32::from(acmod), 3),
            (u32::from(lfe), 1),
            (16, 5),
            (31, 5),
            (0, 1),
        ];
        if let Some(map) = chanmap {
            bits.extend([(1, 1), (u32::from(map), 16)]);
        }
        let mut out = vec![0x0B, 0x77];
        let (mut acc, mut n) = (0u64, 0);
        for (v, width) in bits {
            acc = acc << width | u64::from(v);
            n += width;
            while n >= 8 {
                out.push((acc >> (n - 8)) as u8);
                n -= 8;
            }
        }
        out.push((acc << (8 - n)) as u8);
        out.resize(len, 0);
        out
    }

    #[test]
    fn eac3_units_and_dec3() {
        // ffmpeg's 5.1 at 384 kbit/s: frames of 1536 bytes, dec3 0c 00 20 0f 00.
        let frame = eac3(1536, None, 0, 6, 7, true);
        let f = Eac3Frame::parse(&frame).unwrap();
        assert_eq!(
            (f.len, f.sample_rate, f.blocks, f.independent),
            (1536, 48_000, 6, true)
        );
        assert_eq!(Ac3Frame::parse(&frame), None, "not AC-3");
        let (dec3, rate, channels) = eac3_config(&frame).unwrap();
        assert_eq!(dec3, [0x0c, 0x00, 0x20, 0x0f, 0x00]);
        assert_eq!((rate, channels), (48_000, 6));
        assert_eq!(eac3_dec3_config(&dec3), Some((Some(48_000), 6)));
        // Two units, then a cut one.
        let mut data = [frame.clone(), frame.clone()].concat();
        data.extend_from_slice(&frame[..100]);
        assert_eq!(eac3_units(&data), (vec![0..1536, 1536..3072], 3072));
        // Frames of one block: six make a unit; a dependent substream (Lrs/Rrs, chanmap
        // bit 9) follows each and goes with it: 7.1.
        let mut data = Vec::new();
        for _ in 0..7 {
            data.extend(eac3(256, None, 0, 1, 7, true));
            data.extend(eac3(128, Some(1 << 9), 0, 1, 2, false));
        }
        let (units, end) = eac3_units(&data);
        assert_eq!(units, vec![0..6 * 384]);
        assert_eq!(end, 6 * 384, "the seventh pair waits for five more");
        assert_eq!(eac3_samples(&data[units[0].clone()]), Some(1536));
        let (dec3, _, channels) = eac3_config(&data[units[0].clone()]).unwrap();
        assert_eq!(channels, 8);
        // num_dep_sub 1, chan_loc bit 1 (Lrs/Rrs).
        assert_eq!(&dec3[4..], &[1 << 1, 0x02]);
        assert_eq!(eac3_dec3_config(&dec3), Some((Some(48_000), 8)));
    }

    proptest::proptest! {
        /// Any bytes as E-AC-3: no panic, units in order inside the bytes.
        #[test]
        fn any_bytes_as_eac3(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000)) {
            let (units, end) = eac3_units(&data);
            let mut at = 0;
            for u in &units {
                proptest::prop_assert_eq!(u.start, at);
                at = u.end;
                let _ = eac3_config(&data[u.clone()]);
            }
            proptest::prop_assert_eq!(end, at);
            let _ = eac3_samples(&data);
            let _ = eac3_dec3_config(&data);
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
