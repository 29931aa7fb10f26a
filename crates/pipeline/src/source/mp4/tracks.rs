//! shiguredo_mp4's tracks and sample entries as the contract's [`Track`]s, and the
//! selection of the tracks to read (the first video and the first audio track that the
//! contract can carry).
//!
//! Sample entries (ISO/IEC 14496-12 §8.5.2): `avc1` (and `avc3` whose record holds the
//! parameter sets) → H.264 with the `avcC` record
//! (ISO/IEC 14496-15 §5.3.3.1), `hev1`/`hvc1` → H.265 with the `hvcC` record (§8.3.3.1),
//! `vp08`/`vp09` → VP8/VP9 (the `vpcC` record, "VP Codec ISO Media File Format Binding"
//! §2.2), `av01` → AV1 (the `av1C` record, "AV1 Codec ISO Media File Format Binding"
//! §2.3), `mp4a` → AAC (object type 0x40, the AudioSpecificConfig) or MPEG audio (0x69,
//! 0x6B: MP3 as ffmpeg writes it, ISO/IEC 14496-1 Table 5), `Opus` → Opus with an
//! `OpusHead` made from `dOps` (Opus in ISOBMFF §4.3.2).

use bytes::Bytes;
use shiguredo_mp4::boxes::{Avc1Box, AvccBox, MoovBox, SampleEntry, TrakBox};
use shiguredo_mp4::{BoxHeader, Decode, Encode};

use crate::{Codec, MediaKind, Track};

/// One track chosen for reading: its id in the file and what the contract calls it.
#[derive(Debug, Clone)]
pub(super) struct Chosen {
    /// `tkhd` track id.
    pub(super) track_id: u32,
    /// The neutral description (from the first sample entry).
    pub(super) track: Track,
    /// Added to every decode time to place the media on the movie's time line (see
    /// [`edit_shift`]), in the track's timescale.
    pub(super) shift: i64,
}

/// The tracks to read: those of `wanted` (track ids, all of them readable), or without
/// it the first video and the first audio track whose first sample entry the contract
/// can carry; others are named in the log and skipped.
pub(super) fn choose(moov: &MoovBox, name: &str, wanted: &[u32]) -> Result<Vec<Chosen>, String> {
    let movie_timescale = u64::from(moov.mvhd_box.timescale.get());
    let mut chosen: Vec<Chosen> = Vec::new();
    for trak in &moov.trak_boxes {
        let track_id = trak.tkhd_box.track_id;
        let asked = wanted.contains(&track_id);
        if !wanted.is_empty() && !asked {
            continue;
        }
        let timescale = trak.mdia_box.mdhd_box.timescale.get();
        let Some(entry) = trak.mdia_box.minf_box.stbl_box.stsd_box.entries.first() else {
            continue;
        };
        let mut track = match track_of(entry, timescale) {
            Ok(track) => track,
            Err(what) if asked => return Err(format!("track {track_id} cannot be read: {what}")),
            Err(what) => {
                tracing::warn!(input = name, track_id, "track skipped: {what}");
                continue;
            }
        };
        if !asked && chosen.iter().any(|c| c.track.kind == track.kind) {
            tracing::info!(input = name, track_id, "track skipped: one track per kind");
            continue;
        }
        // A phone's portrait video: a landscape picture shown rotated (`tkhd`).
        if track.kind == MediaKind::Video && trak.tkhd_box.matrix != UNITY {
            track.display_matrix = Some(trak.tkhd_box.matrix);
        }
        let shift = edit_shift(trak, movie_timescale, timescale);
        chosen.push(Chosen {
            track_id,
            track,
            shift,
        });
    }
    if let Some(missing) = wanted
        .iter()
        .find(|id| !chosen.iter().any(|c| c.track_id == **id))
    {
        let ids: Vec<String> = moov
            .trak_boxes
            .iter()
            .map(|t| t.tkhd_box.track_id.to_string())
            .collect();
        return Err(format!(
            "no track {missing} (its tracks are {})",
            ids.join(", ")
        ));
    }
    Ok(chosen)
}

/// The `tkhd` matrix that shows pictures as coded.
const UNITY: [i32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Where the edit list (ISO/IEC 14496-12 §8.6.6) puts the media on the movie's time
/// line, as ffmpeg reads it: leading empty edits (`media_time` −1) delay the track, and
/// the first edit's `media_time` is the media time shown at that point. In the media
/// timescale; no sample is dropped, so encoder priming keeps its (negative) time.
fn edit_shift(trak: &TrakBox, movie_timescale: u64, media_timescale: u32) -> i64 {
    let Some(elst) = trak.edts_box.as_ref().and_then(|e| e.elst_box.as_ref()) else {
        return 0;
    };
    let empty: u64 = elst
        .entries
        .iter()
        .take_while(|e| e.media_time < 0)
        .map(|e| e.edit_duration)
        .fold(0, u64::saturating_add);
    let media_time = elst
        .entries
        .iter()
        .find(|e| e.media_time >= 0)
        .map_or(0, |e| e.media_time);
    let delay = if movie_timescale == 0 {
        0
    } else {
        let ticks = u128::from(empty) * u128::from(media_timescale) / u128::from(movie_timescale);
        i64::try_from(ticks).unwrap_or(i64::MAX)
    };
    delay.saturating_sub(media_time)
}

/// The neutral track of a sample entry, or what the contract cannot carry.
pub(super) fn track_of(entry: &SampleEntry, timescale: u32) -> Result<Track, String> {
    match entry {
        SampleEntry::Avc1(b) => Ok(Track::video(
            Codec::H264 {
                config: avc_config(&b.avcc_box)?,
            },
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Hev1(b) => Ok(Track::video(
            Codec::H265 {
                config: box_body(&b.hvcc_box)?,
            },
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Hvc1(b) => Ok(Track::video(
            Codec::H265 {
                config: box_body(&b.hvcc_box)?,
            },
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Vp08(b) => Ok(Track::video(
            Codec::Vp8,
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Vp09(b) => Ok(Track::video(
            Codec::Vp9 {
                // The record follows `vpcC`'s version and flags (a full box).
                config: box_body(&b.vpcc_box)?.slice(4..),
            },
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Av01(b) => Ok(Track::video(
            Codec::Av1 {
                config: box_body(&b.av1c_box)?,
            },
            timescale,
            u32::from(b.visual.width),
            u32::from(b.visual.height),
        )),
        SampleEntry::Mp4a(b) => {
            let dc = &b.esds_box.es.dec_config_descr;
            let codec = match dc.object_type_indication {
                0x40 => Codec::Aac {
                    config: Bytes::from(
                        dc.dec_specific_info
                            .as_ref()
                            .map(|i| i.payload.clone())
                            .ok_or("AAC without an AudioSpecificConfig")?,
                    ),
                },
                // MPEG-1 audio (0x6B) and MPEG-2 audio at low rates (0x69).
                0x69 | 0x6B => Codec::Mp3,
                other => return Err(format!("mp4a with object type 0x{other:02X}")),
            };
            // The entry's 16.16 rate field cannot say 96 kHz; the media timescale is
            // the sample rate in files written by ffmpeg and by us.
            let rate = match u32::from(b.audio.samplerate.integer) {
                0 => timescale,
                r => r,
            };
            Ok(Track::audio(codec, rate, b.audio.channelcount).with_timescale(timescale))
        }
        SampleEntry::Opus(b) => {
            // dOps holds the OpusHead's fields (Opus in ISOBMFF §4.3.2) without a channel
            // mapping table (shiguredo_mp4 reads mapping family 0 only): RFC 7845 §5.1.
            let d = &b.dops_box;
            let mut head = Vec::with_capacity(19);
            head.extend_from_slice(b"OpusHead");
            head.push(1);
            head.push(d.output_channel_count);
            head.extend_from_slice(&d.pre_skip.to_le_bytes());
            head.extend_from_slice(&d.input_sample_rate.to_le_bytes());
            head.extend_from_slice(&d.output_gain.to_le_bytes());
            head.push(0);
            if d.output_channel_count > 2 {
                return Err("Opus with more than 2 channels needs a channel mapping table".into());
            }
            let codec = Codec::Opus {
                head: Bytes::from(head),
            };
            Ok(
                Track::audio(codec, 48_000, u16::from(d.output_channel_count))
                    .with_timescale(timescale),
            )
        }
        // `avc3`: `avc1` whose parameter sets may also come in band (ISO/IEC 14496-15
        // §5.4.2.1; DASH and CMAF packagers, ffmpeg's `-tag:v avc3`), read as `avc1`
        // when its record holds them (written as `avc1`, the sets in band kept).
        SampleEntry::Unknown(b) if b.box_type.as_bytes() == b"avc3" => {
            let size = u32::try_from(8 + b.payload.len()).map_err(|_| "avc3 too large")?;
            let avc1 = [&size.to_be_bytes()[..], b"avc1", &b.payload].concat();
            let (avc1, _) = Avc1Box::decode(&avc1).map_err(|e| format!("avc3: {e}"))?;
            if avc1.avcc_box.sps_list.is_empty() || avc1.avcc_box.pps_list.is_empty() {
                return Err(
                    "avc3 whose parameter sets come only in its samples is not supported".into(),
                );
            }
            track_of(&SampleEntry::Avc1(avc1), timescale)
        }
        SampleEntry::Unknown(b) if b.box_type.as_bytes() == b"ac-3" => {
            let dac3 = child_box(&b.payload, b"dac3")
                .filter(|d| d.len() == 3)
                .ok_or("ac-3 without a 3-byte dac3")?;
            let (rate, channels) =
                elementary::ac3_config(&dac3).ok_or("ac-3 with a reserved sample rate")?;
            Ok(Track::audio(Codec::Ac3 { config: dac3 }, rate, channels).with_timescale(timescale))
        }
        SampleEntry::Unknown(b) if b.box_type.as_bytes() == b"ec-3" => {
            let dec3 = child_box(&b.payload, b"dec3")
                .filter(|d| d.len() >= 5)
                .ok_or("ec-3 without a dec3")?;
            let (rate, channels) =
                elementary::eac3_dec3_config(&dec3).ok_or("ec-3 with a short dec3")?;
            let rate = rate.unwrap_or(timescale);
            Ok(
                Track::audio(Codec::Eac3 { config: dec3 }, rate, channels)
                    .with_timescale(timescale),
            )
        }
        other => Err(format!(
            "sample entry {} is not supported",
            entry_name(other)
        )),
    }
}

/// The body of the `fourcc` box among those after an audio sample entry's 28 bytes of
/// fields (`dac3` in `ac-3`, `dec3` in `ec-3`: ETSI TS 102 366 F.3, F.5).
fn child_box(entry: &[u8], fourcc: &[u8; 4]) -> Option<Bytes> {
    let mut boxes = entry.get(28..)?;
    while boxes.len() >= 8 {
        let size = u32::from_be_bytes([boxes[0], boxes[1], boxes[2], boxes[3]]) as usize;
        let body = boxes.get(8..size.max(8))?;
        if &boxes[4..8] == fourcc {
            return Some(Bytes::copy_from_slice(body));
        }
        boxes = &boxes[size.max(8)..];
    }
    None
}

/// A sample entry's four-character code, for messages.
fn entry_name(entry: &SampleEntry) -> String {
    match entry.encode_to_vec() {
        Ok(bytes) if bytes.len() >= 8 => String::from_utf8_lossy(&bytes[4..8]).into_owned(),
        _ => "(unknown)".into(),
    }
}

/// The `avcC` record. One of a profile with chroma format and bit depths in its SPS
/// (High and up) that leaves them out of the record (ISO/IEC 14496-15 §5.3.3.1.2 asks for
/// them; older muxers and our own TS input before 2026-12-07 wrote none, and ffmpeg reads
/// such files) is made again from its parameter sets, those fields read from the SPS:
/// shiguredo_mp4 decodes it but refuses to write it back.
fn avc_config(avcc: &AvccBox) -> Result<Bytes, String> {
    if avcc.chroma_format.is_some() || matches!(avcc.avc_profile_indication, 66 | 77 | 88) {
        return box_body(avcc);
    }
    let mut sets = elementary::ParameterSets::default();
    sets.sps = avcc
        .sps_list
        .iter()
        .map(|s| Bytes::from(s.clone()))
        .collect();
    sets.pps = avcc
        .pps_list
        .iter()
        .map(|s| Bytes::from(s.clone()))
        .collect();
    elementary::record(elementary::VideoCodec::H264, &sets).map_err(|e| format!("avcC: {e}"))
}

/// A box without its header: the decoder configuration records travel as box bodies.
fn box_body<B: Encode>(b: &B) -> Result<Bytes, String> {
    let bytes = b.encode_to_vec().map_err(|e| e.to_string())?;
    let (_, header_size) = BoxHeader::decode(&bytes).map_err(|e| e.to_string())?;
    Ok(Bytes::from(bytes).slice(header_size..))
}
