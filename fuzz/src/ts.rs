//! mpeg-ts targets: what a `.ts` file or an SRT peer hands the demuxer.
//!
//! - `ts_input`: the pipeline's TS input on the bytes as a file.
//! - `stream_input`: the bytes as standard input or an HTTP body: told apart by their
//!   first bytes, then read as they come as MPEG-TS, MP3 or fragmented MP4.
//! - `ts_demux`: the demuxer fed in slices (the first byte picks the slice size), every
//!   event taken, then the Annex B, parameter set, SPS and ADTS readers on every frame.

use bytes::Bytes;
use mpeg_ts::nal::{self, VideoCodec};
use mpeg_ts::{Demuxer, Event, MAX_PES_SIZE, adts, sps};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[
    ("ts_demux", ts_demux),
    ("ts_input", ts_input),
    ("stream_input", stream_input),
];

/// Any bytes as a stream of unknown format (stdin, an HTTP body): events or one error,
/// never a panic; memory bounded by the fragment limit.
pub fn stream_input(data: &[u8]) {
    let _ = pipeline::fuzzing::stream_input(data);
}

/// Any bytes as a `.ts` file through the pipeline's TS input (tracks held until
/// configured, timestamp jumps re-based, parameter-set updates): events or one error,
/// never a panic.
pub fn ts_input(data: &[u8]) {
    let _ = pipeline::fuzzing::ts_input(data);
}

/// The demuxer and the readers the TS input runs on its frames.
pub fn ts_demux(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let slice = usize::from(first).max(1);
    let mut demuxer = Demuxer::new();
    let mut frames = Vec::new();
    for chunk in rest.chunks(slice) {
        if demuxer.push(chunk).is_err() {
            break;
        }
        while let Some(event) = demuxer.poll() {
            if let Event::Frame(f) = event {
                assert!(f.data.len() <= MAX_PES_SIZE);
                frames.push(f.data);
            }
        }
    }
    if let Err(e) = demuxer.finish() {
        let _ = e.to_string();
    }
    while let Some(event) = demuxer.poll() {
        if let Event::Frame(f) = event {
            frames.push(f.data);
        }
    }
    frames.push(Bytes::copy_from_slice(rest));
    for data in frames {
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            let (sample, sets) = nal::to_length_prefixed(codec, &data);
            let units = nal::length_prefixed_units(&sample).expect("our own framing reads back");
            assert!(units.iter().all(|u| !u.is_empty()));
            let _ = nal::avc_record(&sets).map(|r| nal::avc_parameter_sets(&r));
            let _ = nal::hevc_record(&sets).map(|r| nal::hevc_parameter_sets(&r));
            let _ = nal::annex_b_pieces(codec, &data, Some(&sets));
        }
        let _ = (sps::avc_dimensions(&data), sps::hevc_dimensions(&data));
        let _ = adts::split(&data);
        // Opus behind control headers: every packet a slice of the payload.
        if let Ok(packets) = mpeg_ts::opus::packets(&data) {
            assert!(packets.iter().map(Bytes::len).sum::<usize>() <= data.len());
        }
    }
}
