//! The index journal of a plain MP4 being written: enough to rebuild its `moov` after a
//! kill or a power cut, when the sample tables (kept in memory until `finish`) are lost.
//!
//! Layout: the magic `BMFFJNL1`, then records, each `tag u8, body length u32, body,
//! FNV-1a 32 of tag + body` (big-endian). A torn or zero-filled tail (a power cut during
//! an append) fails its length or checksum; decoding stops there and keeps what came
//! before. Records:
//! - track (tag 1): kind, timescale, width, height, sample rate, channels, default
//!   duration (0: none) and the `stsd` sample entry, one per track in track order;
//! - sample (tag 2): track, file offset, size, decode time, composition offset, sync;
//!   35 bytes with framing, written once the sample's chunk is in the file;
//! - codec (tag 3): track and its new sample entry, before the samples that use it.
//!
//! Encoding and decoding are pure functions; [`crate::Mp4Writer::with_journal`] writes
//! them beside the file and [`crate::recover_plain`] replays them.

use bytes::Bytes;

use crate::TrackKind;

/// First bytes of every journal.
pub const JOURNAL_MAGIC: &[u8; 8] = b"BMFFJNL1";

/// Largest record body accepted by the decoder (a sample entry is a few hundred bytes).
const MAX_BODY: u32 = 1 << 20;

/// A track as the journal describes it: what [`crate::Codec::Raw`] needs, and `tkhd`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalTrack {
    /// Video or audio.
    pub kind: TrackKind,
    /// Ticks per second of the track's timestamps.
    pub timescale: u32,
    /// Video width in pixels.
    pub width: u16,
    /// Video height in pixels.
    pub height: u16,
    /// Audio sample rate in Hz.
    pub sample_rate: u32,
    /// Audio channels.
    pub channels: u16,
    /// Duration of a lone last sample.
    pub default_duration: Option<u32>,
    /// The `stsd` sample entry box.
    pub entry: Bytes,
}

/// One sample whose payload is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalSample {
    /// Track index.
    pub track: u8,
    /// Offset of the payload in the file.
    pub offset: u64,
    /// Payload bytes.
    pub size: u32,
    /// Decode time in the track's timescale.
    pub dts: i64,
    /// Composition offset.
    pub cts_offset: i32,
    /// Key frame.
    pub sync: bool,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalRecord {
    /// A track's description (all of them come first, in track order).
    Track(JournalTrack),
    /// A sample in the file.
    Sample(JournalSample),
    /// A track switches to a new sample entry for the samples that follow.
    Codec {
        /// Track index.
        track: u8,
        /// The new sample entry box.
        entry: Bytes,
    },
}

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for &b in *p {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Appends one encoded record to `out`.
pub fn encode_record(record: &JournalRecord, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(32);
    let tag = match record {
        JournalRecord::Track(t) => {
            body.push(match t.kind {
                TrackKind::Video => 0,
                TrackKind::Audio => 1,
            });
            body.extend_from_slice(&t.timescale.to_be_bytes());
            body.extend_from_slice(&t.width.to_be_bytes());
            body.extend_from_slice(&t.height.to_be_bytes());
            body.extend_from_slice(&t.sample_rate.to_be_bytes());
            body.extend_from_slice(&t.channels.to_be_bytes());
            body.extend_from_slice(&t.default_duration.unwrap_or(0).to_be_bytes());
            body.extend_from_slice(&t.entry);
            1
        }
        JournalRecord::Sample(s) => {
            body.push(s.track);
            body.extend_from_slice(&s.offset.to_be_bytes());
            body.extend_from_slice(&s.size.to_be_bytes());
            body.extend_from_slice(&s.dts.to_be_bytes());
            body.extend_from_slice(&s.cts_offset.to_be_bytes());
            body.push(u8::from(s.sync));
            2
        }
        JournalRecord::Codec { track, entry } => {
            body.push(*track);
            body.extend_from_slice(entry);
            3
        }
    };
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&fnv1a(&[&[tag], &body]).to_be_bytes());
}

/// What [`decode`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Journal {
    /// The records, in order.
    pub records: Vec<JournalRecord>,
    /// Bytes of valid records (magic included); anything after is a torn tail.
    pub valid_len: usize,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

fn decode_body(tag: u8, body: &[u8]) -> Option<JournalRecord> {
    let mut r = Reader(body);
    match tag {
        1 => {
            let kind = match r.take::<1>()?[0] {
                0 => TrackKind::Video,
                1 => TrackKind::Audio,
                _ => return None,
            };
            let timescale = u32::from_be_bytes(r.take()?);
            let width = u16::from_be_bytes(r.take()?);
            let height = u16::from_be_bytes(r.take()?);
            let sample_rate = u32::from_be_bytes(r.take()?);
            let channels = u16::from_be_bytes(r.take()?);
            let default_duration = Some(u32::from_be_bytes(r.take()?)).filter(|&d| d > 0);
            Some(JournalRecord::Track(JournalTrack {
                kind,
                timescale,
                width,
                height,
                sample_rate,
                channels,
                default_duration,
                entry: Bytes::copy_from_slice(r.0),
            }))
        }
        2 => {
            let track = r.take::<1>()?[0];
            let offset = u64::from_be_bytes(r.take()?);
            let size = u32::from_be_bytes(r.take()?);
            let dts = i64::from_be_bytes(r.take()?);
            let cts_offset = i32::from_be_bytes(r.take()?);
            let sync = match r.take::<1>()?[0] {
                0 => false,
                1 => true,
                _ => return None,
            };
            r.0.is_empty()
                .then_some(JournalRecord::Sample(JournalSample {
                    track,
                    offset,
                    size,
                    dts,
                    cts_offset,
                    sync,
                }))
        }
        3 => {
            let track = r.take::<1>()?[0];
            Some(JournalRecord::Codec {
                track,
                entry: Bytes::copy_from_slice(r.0),
            })
        }
        _ => None,
    }
}

/// Decodes a journal: `None` without the magic; otherwise every record up to the first
/// torn, corrupt or unknown one.
pub fn decode(data: &[u8]) -> Option<Journal> {
    let rest = data.strip_prefix(JOURNAL_MAGIC.as_slice())?;
    let mut journal = Journal {
        records: Vec::new(),
        valid_len: JOURNAL_MAGIC.len(),
    };
    let mut r = Reader(rest);
    while let Some([tag]) = r.take::<1>() {
        let Some(len) = r.take::<4>().map(u32::from_be_bytes) else {
            break;
        };
        if len > MAX_BODY || r.0.len() < len as usize + 4 {
            break;
        }
        let (body, tail) = r.0.split_at(len as usize);
        let Some(sum) = Reader(tail).take::<4>().map(u32::from_be_bytes) else {
            break;
        };
        if sum != fnv1a(&[&[tag], body]) {
            break;
        }
        let Some(record) = decode_body(tag, body) else {
            break;
        };
        r.0 = tail.get(4..).unwrap_or_default();
        journal.records.push(record);
        journal.valid_len += 1 + 4 + len as usize + 4;
    }
    Some(journal)
}

/// A sample or codec change waiting for its chunk to be written.
#[derive(Debug)]
enum Pending {
    Sample(JournalSample),
    Codec(Bytes),
}

/// The journal side of a [`crate::Muxer`]: records held per track until their chunk has
/// an offset, then encoded in file order.
#[derive(Debug, Default)]
pub(crate) struct JournalState {
    pending: Vec<Vec<Pending>>,
    out: Vec<u8>,
}

impl JournalState {
    pub(crate) fn new(tracks: Vec<JournalTrack>) -> Self {
        let mut out = JOURNAL_MAGIC.to_vec();
        let pending = tracks.iter().map(|_| Vec::new()).collect();
        for t in tracks {
            encode_record(&JournalRecord::Track(t), &mut out);
        }
        Self { pending, out }
    }

    pub(crate) fn sample(&mut self, sample: JournalSample) {
        if let Some(p) = self.pending.get_mut(usize::from(sample.track)) {
            p.push(Pending::Sample(sample));
        }
    }

    pub(crate) fn codec(&mut self, track: usize, entry: Bytes) {
        if let Some(p) = self.pending.get_mut(track) {
            p.push(Pending::Codec(entry));
        }
    }

    /// `track`'s open chunk went out at `offset`: its samples' records can be written.
    pub(crate) fn chunk_written(&mut self, track: usize, mut offset: u64) {
        let Some(pending) = self.pending.get_mut(track) else {
            return;
        };
        for p in pending.drain(..) {
            let record = match p {
                Pending::Sample(mut s) => {
                    s.offset = offset;
                    offset += u64::from(s.size);
                    JournalRecord::Sample(s)
                }
                Pending::Codec(entry) => JournalRecord::Codec {
                    track: track as u8,
                    entry,
                },
            };
            encode_record(&record, &mut self.out);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn track() -> JournalRecord {
        JournalRecord::Track(JournalTrack {
            kind: TrackKind::Audio,
            timescale: 48000,
            width: 0,
            height: 0,
            sample_rate: 48000,
            channels: 2,
            default_duration: Some(1024),
            entry: Bytes::from_static(&[0, 0, 0, 8, b'm', b'p', b'4', b'a']),
        })
    }

    #[test]
    fn a_sample_record_is_35_bytes_and_a_torn_tail_is_dropped() {
        let sample = JournalRecord::Sample(JournalSample {
            track: 1,
            offset: 1 << 33,
            size: 400,
            dts: -5,
            cts_offset: -3000,
            sync: true,
        });
        let mut out = JOURNAL_MAGIC.to_vec();
        encode_record(&track(), &mut out);
        let before = out.len();
        encode_record(&sample, &mut out);
        assert_eq!(out.len() - before, 35);
        let whole = decode(&out).unwrap();
        assert_eq!(whole.records, vec![track(), sample.clone()]);
        assert_eq!(whole.valid_len, out.len());
        for cut in before..out.len() {
            let torn = decode(&out[..cut]).unwrap();
            assert_eq!((torn.records.len(), torn.valid_len), (1, before));
        }
        // A power cut can leave zeros where the tail was appended.
        let mut zeros = out[..before].to_vec();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(decode(&zeros).unwrap().records.len(), 1);
        let mut flipped = out.clone();
        flipped[before + 10] ^= 1;
        assert_eq!(decode(&flipped).unwrap().records.len(), 1);
        assert_eq!(decode(b"BMFFJNL0"), None);
    }

    fn record() -> impl Strategy<Value = JournalRecord> {
        prop_oneof![
            (
                any::<u8>(),
                any::<u64>(),
                any::<u32>(),
                any::<i64>(),
                any::<i32>(),
                any::<bool>()
            )
                .prop_map(|(track, offset, size, dts, cts_offset, sync)| {
                    JournalRecord::Sample(JournalSample {
                        track,
                        offset,
                        size,
                        dts,
                        cts_offset,
                        sync,
                    })
                }),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
                |(track, entry)| JournalRecord::Codec {
                    track,
                    entry: Bytes::from(entry),
                }
            ),
            (
                any::<bool>(),
                any::<u32>(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(video, timescale, width, entry)| {
                    JournalRecord::Track(JournalTrack {
                        kind: if video {
                            TrackKind::Video
                        } else {
                            TrackKind::Audio
                        },
                        timescale,
                        width,
                        height: width / 2,
                        sample_rate: timescale,
                        channels: width % 8,
                        default_duration: Some(timescale).filter(|&d| d > 0),
                        entry: Bytes::from(entry),
                    })
                }),
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip_and_any_prefix_decodes_to_a_prefix(
            records in proptest::collection::vec(record(), 0..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut out = JOURNAL_MAGIC.to_vec();
            for r in &records {
                encode_record(r, &mut out);
            }
            let whole = decode(&out).unwrap();
            prop_assert_eq!(&whole.records, &records);
            let at = cut.index(out.len() + 1).max(JOURNAL_MAGIC.len());
            let prefix = decode(&out[..at]).unwrap();
            prop_assert!(prefix.valid_len <= at);
            prop_assert_eq!(&prefix.records[..], &records[..prefix.records.len()]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut input = JOURNAL_MAGIC.to_vec();
            input.extend_from_slice(&data);
            let j = decode(&input).unwrap();
            prop_assert!(j.valid_len <= input.len());
        }
    }
}
