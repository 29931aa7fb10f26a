//! Shared helpers of the integration tests: real encoder samples from the fixtures (read by
//! shiguredo_mp4's demuxer, an independent implementation), and read-backs of our output
//! through shiguredo_mp4 and Mozilla's mp4parse.
#![allow(clippy::unwrap_used, dead_code)]

pub mod ivf;

use bmff_writer::{Codec, HevcTag, OpusConfig, ParameterSets, Sample, TrackConfig};
use bytes::Bytes;
use shiguredo_mp4::TrackKind as ShKind;
use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::demux::{DemuxError, Fmp4FileDemuxer, Input, Mp4FileDemuxer};

/// One sample as a demuxer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSample {
    pub dts: i64,
    pub cts: i64,
    pub duration: u32,
    pub sync: bool,
    pub data: Bytes,
}

/// One track read back.
#[derive(Debug, Clone)]
pub struct ReadTrack {
    pub track_id: u32,
    pub timescale: u32,
    pub video: bool,
    pub entries: Vec<SampleEntry>,
    pub samples: Vec<ReadSample>,
}

fn collect(
    file: &[u8],
    mut next: impl FnMut() -> Option<(u32, u32, bool, Option<SampleEntry>, ReadSample)>,
) -> Vec<ReadTrack> {
    let _ = file;
    let mut tracks: Vec<ReadTrack> = Vec::new();
    while let Some((id, timescale, video, entry, s)) = next() {
        let t = match tracks.iter_mut().position(|t| t.track_id == id) {
            Some(i) => &mut tracks[i],
            None => {
                tracks.push(ReadTrack {
                    track_id: id,
                    timescale,
                    video,
                    entries: vec![],
                    samples: vec![],
                });
                tracks.last_mut().unwrap()
            }
        };
        if let Some(e) = entry {
            t.entries.push(e);
        }
        t.samples.push(s);
    }
    tracks.sort_by_key(|t| t.track_id);
    tracks
}

/// Reads a plain MP4 with shiguredo_mp4's `Mp4FileDemuxer`.
pub fn demux_plain(file: &[u8]) -> Vec<ReadTrack> {
    let mut d = Mp4FileDemuxer::new();
    d.handle_input(Input {
        position: 0,
        data: file,
    });
    d.tracks().expect("shiguredo_mp4 reads the tracks");
    collect(file, || {
        let s = d.next_sample().expect("shiguredo_mp4 reads every sample")?;
        let start = s.data_offset as usize;
        Some((
            s.track.track_id,
            s.track.timescale.get(),
            s.track.kind == ShKind::Video,
            s.sample_entry.cloned(),
            ReadSample {
                dts: s.timestamp as i64,
                cts: s.composition_time_offset.unwrap_or(0),
                duration: s.duration,
                sync: s.keyframe,
                data: Bytes::copy_from_slice(&file[start..start + s.data_size]),
            },
        ))
    })
}

/// Reads a fragmented MP4 (init + fragments in one buffer) with `Fmp4FileDemuxer`,
/// feeding it whatever range it asks for.
pub fn demux_fragmented(file: &[u8]) -> Vec<ReadTrack> {
    fn feed(d: &mut Fmp4FileDemuxer, file: &[u8], position: u64, size: Option<usize>) {
        let start = (position as usize).min(file.len());
        let end = size.map_or(file.len(), |s| start.saturating_add(s).min(file.len()));
        d.handle_input(Input {
            position,
            data: &file[start..end],
        });
    }
    let mut d = Fmp4FileDemuxer::new();
    while let Some(r) = d.required_input() {
        feed(&mut d, file, r.position, r.size);
    }
    d.tracks()
        .expect("shiguredo_mp4 reads the fragmented tracks");
    let mut rows = Vec::new();
    loop {
        let r = match d.next_sample() {
            Ok(None) => break,
            Ok(Some(s)) => {
                let start = s.data_offset as usize;
                rows.push((
                    s.track.track_id,
                    s.track.timescale.get(),
                    s.track.kind == ShKind::Video,
                    s.sample_entry.cloned(),
                    ReadSample {
                        dts: s.timestamp as i64,
                        cts: s.composition_time_offset.unwrap_or(0),
                        duration: s.duration,
                        sync: s.keyframe,
                        data: Bytes::copy_from_slice(&file[start..start + s.data_size]),
                    },
                ));
                continue;
            }
            Err(DemuxError::InputRequired(r)) => r,
            Err(e) => panic!("shiguredo_mp4 reads every fragmented sample: {e}"),
        };
        feed(&mut d, file, r.position, r.size);
    }
    let mut rows = rows.into_iter();
    collect(file, || rows.next())
}

/// One sample as mp4parse indexes it: (offset, size, decode time, composition time, sync).
pub type IndexRow = (u64, u64, i64, i64, bool);

/// Per track (id, rows) from Mozilla's mp4parse (Firefox's parser).
pub fn mp4parse_tables(file: &[u8]) -> Vec<(usize, Vec<IndexRow>)> {
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(file)).expect("mp4parse reads the file");
    ctx.tracks
        .iter()
        .map(|t| {
            let table = mp4parse::unstable::create_sample_table(t, 0.into())
                .expect("mp4parse builds the sample table");
            let rows = table
                .iter()
                .map(|i| {
                    let start = i.start_offset.0;
                    (
                        start,
                        i.end_offset.0 - start,
                        i.start_decode.0,
                        i.start_composition.0,
                        i.sync,
                    )
                })
                .collect();
            (t.id, rows)
        })
        .collect()
}

/// A fixture's first track as our track description and samples (4-byte length-prefixed
/// NAL units / raw audio frames, as ffmpeg stored them).
pub fn fixture_track(name: &str, track: usize) -> (TrackConfig, Vec<Sample>) {
    let file = std::fs::read(test_support::fixture(name)).unwrap();
    let mut tracks = demux_plain(&file);
    let t = tracks.remove(0);
    let entry = t.entries[0].clone();
    let config = match entry {
        SampleEntry::Avc1(b) => {
            let p = ParameterSets::Nal {
                vps: vec![],
                sps: b
                    .avcc_box
                    .sps_list
                    .iter()
                    .map(|s| Bytes::copy_from_slice(s))
                    .collect(),
                pps: b
                    .avcc_box
                    .pps_list
                    .iter()
                    .map(|s| Bytes::copy_from_slice(s))
                    .collect(),
            };
            TrackConfig::video(Codec::Avc(p), t.timescale, b.visual.width, b.visual.height)
        }
        SampleEntry::Hvc1(b) => {
            let nal = |ty: u8| -> Vec<Bytes> {
                b.hvcc_box
                    .nalu_arrays
                    .iter()
                    .filter(|a| a.nal_unit_type.get() == ty)
                    .flat_map(|a| a.nalus.iter().map(|n| Bytes::copy_from_slice(n)))
                    .collect()
            };
            let p = ParameterSets::Nal {
                vps: nal(32),
                sps: nal(33),
                pps: nal(34),
            };
            TrackConfig::video(
                Codec::Hevc {
                    parameters: p,
                    tag: HevcTag::Hvc1,
                },
                t.timescale,
                b.visual.width,
                b.visual.height,
            )
        }
        SampleEntry::Mp4a(b) => {
            let asc = b
                .esds_box
                .es
                .dec_config_descr
                .dec_specific_info
                .as_ref()
                .unwrap()
                .payload
                .clone();
            TrackConfig::audio(
                Codec::Aac {
                    audio_specific_config: Bytes::from(asc),
                },
                b.audio.samplerate.integer as u32,
                b.audio.channelcount,
            )
            .with_timescale(t.timescale)
        }
        SampleEntry::Opus(b) => {
            let d = &b.dops_box;
            let mut o = OpusConfig::new(d.output_channel_count, d.pre_skip);
            o.input_sample_rate = d.input_sample_rate;
            o.output_gain = d.output_gain;
            TrackConfig::audio(Codec::Opus(o), 48000, u16::from(d.output_channel_count))
                .with_timescale(t.timescale)
        }
        other => panic!("unexpected sample entry in {name}: {other:?}"),
    };
    let samples = t
        .samples
        .iter()
        .map(|s| {
            Sample::new(track, s.dts, s.sync, s.data.clone())
                .with_cts_offset(s.cts as i32)
                .with_duration(Some(s.duration))
        })
        .collect();
    (config, samples)
}

/// MP3 frames split by their headers (ISO/IEC 11172-3 §2.4.2.3; MPEG-1/2 Layer III only),
/// as (sample rate, channels, frames). Timestamps in samples: 1152 or 576 per frame.
pub fn mp3_frames(name: &str, track: usize) -> (TrackConfig, Vec<Sample>) {
    let file = std::fs::read(test_support::fixture(name)).unwrap();
    let mut pos = 0;
    let mut frames = Vec::new();
    let (mut rate, mut channels, mut per_frame) = (0, 0, 0);
    while pos + 4 <= file.len() {
        let h = &file[pos..pos + 4];
        assert!(h[0] == 0xff && h[1] & 0xe0 == 0xe0, "frame sync at {pos}");
        let mpeg1 = h[1] & 0x08 != 0;
        let bitrate_index = usize::from(h[2] >> 4);
        let rate_index = usize::from((h[2] >> 2) & 3);
        let padding = usize::from((h[2] >> 1) & 1);
        let kbps = if mpeg1 {
            [
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ][bitrate_index]
        } else {
            [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160][bitrate_index]
        };
        rate = if mpeg1 {
            [44100, 48000, 32000][rate_index]
        } else {
            [22050, 24000, 16000][rate_index]
        };
        channels = if h[3] >> 6 == 3 { 1 } else { 2 };
        per_frame = if mpeg1 { 1152 } else { 576 };
        let len = (per_frame / 8) * kbps * 1000 / rate + padding;
        let end = (pos + len).min(file.len());
        frames.push(Bytes::copy_from_slice(&file[pos..end]));
        pos = end;
    }
    let config = TrackConfig::audio(Codec::Mp3, rate as u32, channels);
    let samples = frames
        .into_iter()
        .enumerate()
        .map(|(i, data)| Sample::new(track, (i * per_frame) as i64, true, data))
        .collect();
    (config, samples)
}

/// Merges per-track sample lists into one list ordered by decode time in seconds.
pub fn interleave(tracks: &[(TrackConfig, Vec<Sample>)]) -> Vec<Sample> {
    let mut all: Vec<(f64, Sample)> = tracks
        .iter()
        .flat_map(|(c, s)| {
            s.iter()
                .map(move |s| (s.dts as f64 / f64::from(c.timescale), s.clone()))
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().map(|(_, s)| s).collect()
}
