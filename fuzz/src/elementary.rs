//! Targets for `elementary` (Annex B in and out) and the pipeline's file inputs (MP4:
//! shiguredo_mp4 driven by `source/mp4`; Ogg; Matroska: matroska-demuxer driven by
//! `source/matroska`).

use bytes::Bytes;
use elementary::{AnnexBReader, AnnexBWriter, FrameTimes, ParameterSets, VideoCodec};

use crate::Body;

pub const TARGETS: &[(&str, Body)] = &[
    ("annexb_input", annexb_input),
    ("mp4_input", mp4_input),
    ("ogg_input", ogg_input),
    ("mkv_input", mkv_input),
];

/// Any bytes as an H.264 and an H.265 Annex B stream, in chunks the first byte chooses:
/// access units, their presentation order, records from their parameter sets, SPS info,
/// and the units written back through the writer, never panic; nor do VP8/VP9 frame
/// headers and AV1 sequence headers read from the same bytes.
pub fn annexb_input(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let mut reader = AnnexBReader::new(codec);
        let mut sets = ParameterSets::default();
        let mut units = Vec::new();
        for part in data.chunks(chunk) {
            reader.push(part);
            while let Some(unit) = reader.pull() {
                units.push(unit);
            }
        }
        reader.finish();
        while let Some(unit) = reader.pull() {
            units.push(unit);
        }
        let mut times = FrameTimes::new(codec);
        for unit in &units {
            for nal in &unit.nals {
                sets.take(codec, nal);
            }
            let _ = times.push(unit.clone());
        }
        let _ = times.finish();
        if let Some(sps) = sets.sps.first() {
            let _ = elementary::sps_info(codec, sps);
        }
        if let Ok(record) = elementary::record(codec, &sets)
            && let Ok(writer) = AnnexBWriter::new(codec, &record)
        {
            for unit in &units {
                if let Some(sample) = unit.to_length_prefixed() {
                    let _ = writer.access_unit(&sample, unit.key);
                }
            }
        }
        // The bytes as a record and as a length-prefixed sample too.
        let bytes = Bytes::copy_from_slice(data);
        if let Ok(writer) = AnnexBWriter::new(codec, &bytes) {
            let _ = writer.access_unit(&bytes, true);
        }
        let _ = elementary::nal_units(&bytes, 4);
        let _ = elementary::opus_packet_samples(data);
    }
    // The bytes as a VP8, VP9 and AV1 frame: their headers, and the records made from
    // them, which bmff-writer must take back.
    let _ = elementary::vp8_key_frame_size(data);
    if let Some(key) = elementary::vp9_key_frame(data) {
        assert!(bmff_writer::VpConfig::from_record(&key.record()).is_ok());
    }
    if let Some(sequence) = elementary::av1_sequence_header(data) {
        let _ = bmff_writer::Av1Config::from_record(&sequence.record());
    }
}

/// Any bytes as an Ogg Opus file (chained streams too): events or one error, never a panic.
pub fn ogg_input(data: &[u8]) {
    let _ = pipeline::fuzzing::ogg_input(data);
}

/// Any bytes as a Matroska or WebM file (matroska-demuxer, our decode times and audio
/// counts): events or one error, never a panic.
pub fn mkv_input(data: &[u8]) {
    let _ = pipeline::fuzzing::mkv_input(data);
}

/// Any bytes as an MP4 file: tracks and packets or one error, never a panic.
pub fn mp4_input(data: &[u8]) {
    let _ = pipeline::fuzzing::mp4_input(data);
}
