//! Fuzz target bodies: plain functions, so the libFuzzer binaries (fuzz_targets/) and the
//! stable replay test (tests/replay.rs) run the same code. One module per crate.
#![forbid(unsafe_code)]

pub mod bmff;
pub mod data_stream;
pub mod elementary;
pub mod icecast;
pub mod matroska;
pub mod mp3;
pub mod remote;
pub mod rtmp;
pub mod rtp;
pub mod rtsp;
pub mod rtsp_server;
pub mod ts;
pub mod whip_whep;

/// A fuzz target body: must never panic, whatever the bytes.
pub type Body = fn(&[u8]);

/// Every target: name (= the [[bin]] name and the corpus folder) and body.
pub fn targets() -> Vec<(&'static str, Body)> {
    // Each crate's module adds `pub const TARGETS: &[(&str, Body)]` and is chained here.
    let mut all: Vec<(&'static str, Body)> = Vec::new();
    all.extend_from_slice(mp3::TARGETS);
    all.extend_from_slice(bmff::TARGETS);
    all.extend_from_slice(data_stream::TARGETS);
    all.extend_from_slice(rtsp::TARGETS);
    all.extend_from_slice(remote::TARGETS);
    all.extend_from_slice(icecast::TARGETS);
    all.extend_from_slice(elementary::TARGETS);
    all.extend_from_slice(ts::TARGETS);
    all.extend_from_slice(rtmp::TARGETS);
    all.extend_from_slice(rtp::TARGETS);
    all.extend_from_slice(whip_whep::TARGETS);
    all.extend_from_slice(matroska::TARGETS);
    all.extend_from_slice(rtsp_server::TARGETS);
    all
}
