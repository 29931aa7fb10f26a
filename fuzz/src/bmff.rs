//! bmff-writer targets: the muxer APIs driven by arbitrary operations, and decoder
//! configurations (SPS/PPS/VPS, avcC/hvcC records, OpusHead) from arbitrary bytes.

use bmff_writer::{
    Bytes, Codec, FragmentOptions, FragmentedMuxer, HevcTag, Mp4Options, Muxer, OpusConfig,
    ParameterSets, Sample, TrackConfig, TrackKind,
};

/// This crate's targets.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("bmff_muxer_ops", muxer_ops),
    ("bmff_parameter_sets", parameter_sets),
    ("bmff_journal", journal),
];

/// Reads fuzz bytes as numbers, yielding zeros once exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, max: usize) -> Bytes {
        let n = usize::from(self.u8()).min(max).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Bytes::copy_from_slice(b)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A real libx264 SPS/PPS, so pushes get past track setup most of the time.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

fn codec(input: &mut Input<'_>) -> Codec {
    match input.u8() % 7 {
        0 => Codec::Avc(ParameterSets::Nal {
            vps: vec![],
            sps: vec![Bytes::from_static(SPS)],
            pps: vec![Bytes::from_static(PPS)],
        }),
        1 => Codec::Avc(ParameterSets::Nal {
            vps: vec![],
            sps: vec![input.bytes(64)],
            pps: vec![input.bytes(16)],
        }),
        2 => Codec::Aac {
            audio_specific_config: input.bytes(8),
        },
        3 => Codec::Mp3,
        4 => {
            // The input is read in this order (the corpus depends on it).
            let mut opus = OpusConfig::new(input.u8(), input.u16());
            opus.input_sample_rate = input.u32();
            opus.output_gain = input.u16() as i16;
            opus.mapping_family = input.u8() % 2;
            opus.mapping_table = input.bytes(8);
            Codec::Opus(opus)
        }
        5 => Codec::Hevc {
            parameters: ParameterSets::Record(input.bytes(64)),
            tag: HevcTag::Hvc1,
        },
        _ => Codec::Raw {
            entry: input.bytes(32),
            kind: if input.u8().is_multiple_of(2) {
                TrackKind::Video
            } else {
                TrackKind::Audio
            },
        },
    }
}

fn track(input: &mut Input<'_>) -> TrackConfig {
    let codec = codec(input);
    let timescale = u32::from(input.u16());
    if matches!(codec, Codec::Avc(_) | Codec::Hevc { .. })
        || matches!(
            codec,
            Codec::Raw {
                kind: TrackKind::Video,
                ..
            }
        )
    {
        TrackConfig::video(codec, timescale, input.u16(), input.u16())
    } else {
        let rate = [8000, 16000, 22050, 44100, 48000, 96000][usize::from(input.u8() % 6)];
        TrackConfig::audio(codec, rate, u16::from(input.u8() % 9)).with_timescale(timescale)
    }
}

/// Plain or fragmented muxer, fed operations until the bytes run out; errors are fine,
/// panics are not. Checks that output sizes add up.
pub fn muxer_ops(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    let tracks: Vec<TrackConfig> = (0..1 + usize::from(input.u8() % 3))
        .map(|_| track(&mut input))
        .collect();
    let payload = Bytes::from(vec![0x5au8; 256]);
    let mut dts = [0i64; 4];
    let mut sample = |input: &mut Input<'_>| {
        let track = usize::from(input.u8() % 4);
        let step = i64::from(input.u16() as i16) * i64::from(1 + input.u8() % 4).pow(8);
        dts[track] = if step == 0x7f00 {
            // Now and then an arbitrary absolute time, to reach the i64 extremes.
            i64::from(input.u32()) << 32 | i64::from(input.u32())
        } else {
            dts[track].saturating_add(step)
        };
        let len = usize::from(input.u8());
        // The input is read in this order (the corpus depends on it).
        let cts_offset = i32::from(input.u16() as i16);
        let duration = (input.u8().is_multiple_of(2)).then(|| u32::from(input.u16()));
        let sync = !input.u8().is_multiple_of(3);
        Sample::new(track, dts[track], sync, payload.slice(..len))
            .with_cts_offset(cts_offset)
            .with_duration(duration)
    };
    if mode % 2 == 0 {
        let mut options = Mp4Options::default();
        options.interleave = std::time::Duration::from_millis(u64::from(input.u16()));
        options.max_chunk_bytes = u64::from(input.u16());
        options.movie_timescale = u32::from(input.u16());
        let Ok(mut m) = Muxer::new(tracks, options) else {
            return;
        };
        let mut written = 0u64;
        while !input.is_empty() {
            match input.u8() % 8 {
                0 => {
                    let c = codec(&mut input);
                    let _ = m.set_codec(usize::from(input.u8() % 4), c);
                }
                1 if input.u8() % 16 == 0 => break,
                _ => {
                    let s = sample(&mut input);
                    let _ = m.push(s);
                }
            }
            written += m.take_appends().map(|b| b.len() as u64).sum::<u64>();
            assert_eq!(written, m.position(), "appends add up to the position");
        }
        if let Ok(f) = m.finish(mode & 2 != 0) {
            let total = written + f.appends.iter().map(|b| b.len() as u64).sum::<u64>();
            assert_eq!(total, m.position());
            for p in &f.patches {
                assert!(
                    p.offset + p.bytes.len() as u64 <= total,
                    "patches stay inside the file"
                );
            }
            assert_eq!(&f.moov[4..8], b"moov");
        }
    } else {
        let mut options =
            FragmentOptions::new(std::time::Duration::from_millis(u64::from(input.u16())));
        options.sidx = mode & 2 != 0;
        options.mfra = mode & 4 != 0;
        let Ok(mut m) = FragmentedMuxer::new(tracks, options) else {
            return;
        };
        while !input.is_empty() {
            match input.u8() % 8 {
                0 => {
                    let c = codec(&mut input);
                    let _ = m.set_codec(usize::from(input.u8() % 4), c);
                }
                1 => m.request_cut(),
                _ => {
                    let s = sample(&mut input);
                    let _ = m.push(s);
                }
            }
            while let Some(out) = m.poll_output() {
                if let bmff_writer::FragmentOutput::Media(seg) = out {
                    assert_eq!(
                        seg.size,
                        seg.parts.iter().map(|b| b.len() as u64).sum::<u64>()
                    );
                }
            }
        }
        let _ = m.finish();
        while m.poll_output().is_some() {}
    }
}

/// Decoder configurations from arbitrary bytes: building the sample entry and the codec
/// string must fail cleanly or succeed.
pub fn parameter_sets(data: &[u8]) {
    let mut input = Input(data);
    let which = input.u8();
    let nal = |input: &mut Input<'_>| {
        (0..input.u8() % 3)
            .map(|_| input.bytes(255))
            .collect::<Vec<_>>()
    };
    let parameters = if which & 1 == 0 {
        ParameterSets::Nal {
            vps: nal(&mut input),
            sps: nal(&mut input),
            pps: nal(&mut input),
        }
    } else {
        ParameterSets::Record(input.bytes(255))
    };
    let codec = match which % 6 {
        0 | 1 => Codec::Avc(parameters),
        2 | 3 => Codec::Hevc {
            parameters,
            tag: if which & 8 == 0 {
                HevcTag::Hvc1
            } else {
                HevcTag::Hev1
            },
        },
        4 => match OpusConfig::from_opus_head(input.0) {
            Ok(o) => Codec::Opus(o),
            Err(_) => return,
        },
        _ => Codec::Aac {
            audio_specific_config: input.bytes(255),
        },
    };
    let config = if matches!(codec, Codec::Opus(_) | Codec::Aac { .. }) {
        TrackConfig::audio(codec, 48000, 2)
    } else {
        TrackConfig::video(codec, 90000, 320, 240)
    };
    let _ = config.codec_string();
    let _ = Muxer::new(vec![config], Mp4Options::default());
}

/// An index journal from arbitrary bytes (what a power cut or a corrupt disk leaves):
/// decoding must stop cleanly at the first bad record, and what it keeps re-encodes to the
/// same bytes.
pub fn journal(data: &[u8]) {
    let mut input = bmff_writer::journal::JOURNAL_MAGIC.to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        let Some(j) = bmff_writer::journal::decode(bytes) else {
            continue;
        };
        assert!(j.valid_len <= bytes.len());
        let mut again = bmff_writer::journal::JOURNAL_MAGIC.to_vec();
        for r in &j.records {
            bmff_writer::journal::encode_record(r, &mut again);
        }
        assert_eq!(&again[..], &bytes[..j.valid_len]);
    }
}
